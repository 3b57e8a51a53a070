//! The function's KMS client (src/kms.rs). moto answers it in the gallery tests but checks no
//! signature, so here a loopback server records what it sends, and botocore, an independent
//! SigV4 signer, must arrive at the same signature for the same request and secret.

use std::sync::{Arc, Mutex};

use image_ingest::kms::Kms;
use serde_json::{Value, json};
use testkit::http_front::HttpFront;

use crate::common::{ACCESS_KEY, REGION, SECRET_KEY, moto, sdk_config_with_token as sdk};

/// A loopback KMS that records each request (as an API Gateway event) and answers with `answers`
/// in turn, the last one repeated: `(status, body)`.
async fn kms(answers: Vec<(u16, Value)>) -> (HttpFront, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let front = HttpFront::start(move |event| {
        let mut seen = recorded.lock().unwrap();
        seen.push(event);
        let (status, body) = answers[(seen.len() - 1).min(answers.len() - 1)].clone();
        async move { json!({"statusCode": status, "headers": {"content-type": "application/x-amz-json-1.1"}, "body": body.to_string()}) }
    })
    .await;
    (front, seen)
}

/// botocore's SigV4 signature of the recorded request, over the headers it says it signed.
fn botocore_signature(request: &Value, url: &str, token: Option<&str>) -> String {
    let script = r#"
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
r = json.load(sys.stdin)
headers = r["headers"]
signed = headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
request = AWSRequest(method="POST", url=r["url"], data=r["body"].encode(),
                     headers={k: v for k, v in headers.items() if k in signed and k != "host"})
request.context["timestamp"] = headers["x-amz-date"]
signer = SigV4Auth(Credentials(r["access_key"], r["secret"], r["token"]), "kms", r["region"])
print(signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request))
"#;
    let input = json!({"headers": request["headers"], "body": request["body"], "url": url, "access_key": ACCESS_KEY, "secret": SECRET_KEY, "token": token, "region": REGION});
    let mut child = std::process::Command::new(moto::python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("moto's Python (for botocore): {e}"));
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "botocore failed");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn generate_mac_is_signed_as_botocore_signs_it() {
    let mac = [9u8; 32];
    let answer =
        json!({"Mac": base64_of(&mac), "KeyId": "arn:aws:kms:eu-west-1:1:key/k", "MacAlgorithm": "HMAC_SHA_256"});
    for token in [None, Some("session/token=")] {
        let (front, seen) = kms(vec![(200, answer.clone())]).await;
        let got = Kms::new(&sdk(&front.base, token)).unwrap().generate_mac("alias/gallery", b"label").await.unwrap();
        assert_eq!(got, mac);

        let request = seen.lock().unwrap()[0].clone();
        let headers = &request["headers"];
        assert_eq!(request["requestContext"]["http"]["method"], "POST");
        assert_eq!(request["rawPath"], "/");
        assert_eq!(headers["x-amz-target"], "TrentService.GenerateMac");
        assert_eq!(headers["content-type"], "application/x-amz-json-1.1");
        assert_eq!(headers.get("x-amz-security-token").and_then(Value::as_str), token);
        let body: Value = serde_json::from_str(request["body"].as_str().unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"KeyId": "alias/gallery", "Message": base64_of(b"label"), "MacAlgorithm": "HMAC_SHA_256"})
        );

        let authorization = headers["authorization"].as_str().unwrap();
        let scope = format!(
            "Credential={ACCESS_KEY}/{}/{REGION}/kms/aws4_request",
            &headers["x-amz-date"].as_str().unwrap()[..8]
        );
        assert!(authorization.starts_with(&format!("AWS4-HMAC-SHA256 {scope}, SignedHeaders=")), "{authorization}");
        for header in ["content-type", "host", "x-amz-date", "x-amz-target"] {
            assert!(authorization.contains(header), "{header} unsigned: {authorization}");
        }
        let ours = authorization.rsplit("Signature=").next().unwrap();
        assert_eq!(ours, botocore_signature(&request, &format!("{}/", front.base), token), "{token:?}");
    }
}

#[tokio::test]
async fn throttling_is_tried_again_and_a_refusal_is_not() {
    let throttled = json!({"__type": "ThrottlingException", "message": "Rate exceeded"});
    let mac = json!({"Mac": base64_of(&[1u8; 32])});
    let (front, seen) =
        kms(vec![(400, throttled.clone()), (500, json!({"__type": "KMSInternalException"})), (200, mac)]).await;
    let got = Kms::new(&sdk(&front.base, None)).unwrap().generate_mac("k", b"m").await.unwrap();
    assert_eq!((got, seen.lock().unwrap().len()), (vec![1u8; 32], 3));

    let refused = json!({"__type": "com.amazonaws.kms#NotFoundException", "message": "Alias arn:… is not found."});
    let (front, seen) = kms(vec![(400, refused)]).await;
    let err = Kms::new(&sdk(&front.base, None)).unwrap().generate_mac("alias/none", b"m").await.unwrap_err();
    assert_eq!(seen.lock().unwrap().len(), 1, "a refusal is final");
    assert_eq!(
        err.to_string(),
        "KMS TrentService.GenerateMac: HTTP 400 Bad Request NotFoundException: Alias arn:… is not found."
    );

    let (front, seen) = kms(vec![(400, throttled)]).await;
    let err = Kms::new(&sdk(&front.base, None)).unwrap().generate_mac("k", b"m").await.unwrap_err();
    assert_eq!(seen.lock().unwrap().len(), 3, "three attempts in all");
    assert!(err.to_string().contains("ThrottlingException: Rate exceeded"), "{err}");
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn without_a_region_or_credentials_nothing_is_sent() {
    use aws_config::{BehaviorVersion, Region, SdkConfig};
    let (front, seen) = kms(vec![(200, json!({"Mac": base64_of(&[1u8; 32])}))]).await;
    let with_credentials = sdk(&front.base, None);

    let no_region = with_credentials.to_builder().region(None).build();
    let err = Kms::new(&no_region).unwrap().generate_mac("k", b"m").await.unwrap_err();
    assert_eq!(err.to_string(), "KMS no AWS region is configured");

    let no_credentials = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(&front.base)
        .build();
    let err = Kms::new(&no_credentials).unwrap().generate_mac("k", b"m").await.unwrap_err();
    assert_eq!(err.to_string(), "KMS no AWS credentials are configured");
    assert!(seen.lock().unwrap().is_empty(), "nothing reached KMS");
}

/// A KMS that takes each connection and never answers: every attempt ends at its limit (10 s on
/// tokio's paused clock), three in all.
#[tokio::test(start_paused = true)]
async fn an_attempt_without_an_answer_ends_after_ten_seconds_and_is_tried_three_times() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });

    let started = tokio::time::Instant::now();
    let kms = Kms::new(&sdk(&base, None)).unwrap();
    let call = kms.generate_mac("k", b"m");
    let err = tokio::time::timeout(std::time::Duration::from_secs(120), call)
        .await
        .expect("the call is given up within its three attempts")
        .unwrap_err();
    assert_eq!(err.to_string(), format!("KMS GenerateMac: no answer from {base} within 10s"));
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
    assert!(started.elapsed() >= std::time::Duration::from_secs(30), "{:?}", started.elapsed());
}
