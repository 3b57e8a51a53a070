//! One lock per S3 key for the local S3 servers the tests, the bench and the demo run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One lock per key, held while each request on that key is served. s3s-fs 0.14 checks a
/// write's condition and then writes, and writes an object's body and its checksum and
/// metadata separately: two conditional writers could both pass, and a read during a write
/// could pair one writer's body with another's checksum. S3 serves each request on a key
/// atomically and decides conditional writes one at a time; so does this.
#[derive(Clone, Default)]
pub struct KeyLocks(Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>);

impl KeyLocks {
    /// The lock of the object a request is on (`/bucket/key`); none for requests on the
    /// bucket itself.
    pub fn for_request<B>(&self, request: &hyper::Request<B>) -> Option<Arc<tokio::sync::Mutex<()>>> {
        let path = request.uri().path();
        // `/bucket/key`: requests on the bucket itself (HeadBucket, listings) need none.
        let on_object = path.trim_start_matches('/').split_once('/').is_some_and(|(_, key)| !key.is_empty());
        if !on_object {
            return None;
        }
        let mut locks = self.0.lock().unwrap();
        Some(locks.entry(path.to_owned()).or_default().clone())
    }
}
