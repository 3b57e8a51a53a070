//! What image-ingest's tests, its bench and its fuzzing build on, in one place: PNGs made chunk
//! by chunk, JPEGs of any size, test images of every type with their fixtures, a Lambda Runtime API, local HTTP
//! origins, function processes run as Lambda runs them, per-key locks for local S3 servers, and
//! (feature `browser`) a headless Chromium
//! with an HTTP front that turns requests into API Gateway events. Everything listens on 127.0.0.1.
//!
//! This crate does not depend on image-ingest (it is one of its dev-dependencies).

#[cfg(feature = "browser")]
pub mod browser;
pub mod function;
#[cfg(feature = "browser")]
pub mod http_front;
#[cfg(feature = "images")]
pub mod images;
pub mod jpeg;
pub mod key_locks;
pub mod origin;
pub mod png;
pub mod runtime_api;
