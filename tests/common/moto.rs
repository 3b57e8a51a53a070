//! moto_server as an independent S3 (and SQS) implementation, started per test on a free
//! loopback port. A missing moto_server is a failure, never a skip.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use image_ingest::App;
use serde_json::json;

use super::{BUCKET, REGION, SECRET_KEY, config, origin, sdk_config};

/// moto_server: the pinned one in the checkout's .tools/bin (what `make test` installs) first.
fn program() -> PathBuf {
    let pinned = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/moto_server");
    if pinned.exists() { pinned } else { "moto_server".into() }
}

/// The Python that runs moto_server, which has botocore: an independent SigV4 signer for the
/// tests that check the function's own signing. Fails when moto is not installed.
pub fn python() -> PathBuf {
    let program = program();
    let found = if program.is_absolute() {
        Some(program)
    } else {
        std::env::var_os("PATH")
            .and_then(|path| std::env::split_paths(&path).map(|d| d.join(&program)).find(|p| p.exists()))
    };
    let script = found.and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
    // The script's own interpreter, from its first line: `#!/…/python` or `#!/usr/bin/env python3`.
    let shebang = script.lines().next().and_then(|l| l.strip_prefix("#!")).map(str::trim);
    let interpreter = shebang.map(|s| s.strip_prefix("/usr/bin/env ").unwrap_or(s).trim());
    interpreter
        .filter(|i| !i.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("moto_server is required; `make test` installs moto[server]=={PINNED}"))
}

/// The version `scripts/tools.sh` installs; older ones answer CompleteMultipartUpload with
/// the wrong XML root.
pub const PINNED: &str = "5.2.5";

pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts moto_server on a free loopback port; panics when it is not installed.
    ///
    /// A port found free can be taken by a parallel test's server before this one binds it,
    /// and a probe by connecting would then find the other server. So the server's own
    /// "Running on" line is what says it started, and a lost port is tried again.
    pub async fn start() -> Self {
        for _ in 0..5 {
            if let Some(moto) = tokio::task::spawn_blocking(Self::try_start).await.unwrap() {
                return moto;
            }
        }
        panic!("moto_server could not bind a free port in five tries");
    }

    /// One start on a free port; `None` when another process took the port first.
    fn try_start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let spawned = Command::new(program())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = spawned
            .unwrap_or_else(|e| panic!("moto_server is required ({e}); `make test` installs moto[server]=={PINNED}"));
        let stderr = child.stderr.take().unwrap();
        let (started, running) = std::sync::mpsc::channel();
        // Reads until the server says it runs, then drains its request log so it never blocks.
        std::thread::spawn(move || {
            let mut said = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !said && line.contains("Running on") {
                    said = started.send(()).is_ok();
                }
            }
        });
        let moto = Self { child, endpoint: format!("http://127.0.0.1:{port}") };
        match running.recv_timeout(Duration::from_secs(30)) {
            Ok(()) => Some(moto),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None, // it exited: port taken
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("moto_server did not start within 30 s"),
        }
    }

    pub fn client(&self) -> aws_sdk_s3::Client {
        // moto serves a multipart object's composite checksum without its `-N` suffix, which
        // the SDK would validate as a whole-object one: tests compare digests themselves.
        let conf = aws_sdk_s3::config::Builder::from(&sdk_config(&self.endpoint, SECRET_KEY))
            .force_path_style(true)
            .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    pub async fn create_bucket(&self) {
        self.client()
            .create_bucket()
            .bucket(BUCKET)
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(REGION))
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }

    /// A KMS HMAC key (`HMAC_256`, `GENERATE_VERIFY_MAC`), as the template's gallery key; its id.
    /// Made with the function's own KMS client, the one that then asks for its MAC.
    pub async fn hmac_key(&self) -> String {
        let kms = image_ingest::kms::Kms::new(&sdk_config(&self.endpoint, SECRET_KEY)).unwrap();
        let key =
            kms.call("CreateKey", &json!({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"})).await.unwrap();
        key["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
    }

    /// The function on this server, with the tests' loopback-only fetcher.
    pub fn app(&self) -> App {
        self.app_with(&[])
    }

    /// [`Moto::app`] with settings on top of the defaults.
    pub fn app_with(&self, vars: &[(&str, &str)]) -> App {
        let config = config(vars);
        let fetcher = origin::fetcher(&config, origin::TestLookup(vec![]), true);
        App::with_fetcher(&config, &sdk_config(&self.endpoint, SECRET_KEY), Arc::new(fetcher))
    }
}

/// The Lambda SQS event for `messages` received from the queue `queue_arn`, as the poller
/// builds it.
pub fn lambda_sqs_event(messages: &[aws_sdk_sqs::types::Message], queue_arn: &str) -> serde_json::Value {
    use serde_json::{Value, json};
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, Value> = m
                .attributes()
                .map(|a| a.iter().map(|(k, v)| (k.as_str().to_owned(), json!(v))).collect())
                .unwrap_or_default();
            json!({"messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                   "attributes": attributes, "messageAttributes": {}, "md5OfBody": m.md5_of_body(),
                   "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": REGION})
        })
        .collect();
    json!({ "Records": records })
}

/// One receive of up to ten messages from `queue`, with their system attributes, as Lambda's
/// poller asks for them.
pub async fn receive(sqs: &aws_sdk_sqs::Client, queue: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let received = sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap();
    received.messages.unwrap_or_default()
}
