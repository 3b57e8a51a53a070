//! The same S3 paths against an independent implementation: moto_server, started per test.
//! A missing moto_server fails the test (`make test` installs the pinned version).

use crate::common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::moto::Moto;
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn moto_stores_checks_and_deduplicates() {
    let moto = Moto::start().await;
    moto.create_bucket().await;
    let app = moto.app();
    let (status, body) = invoke_api(&app, fixture("apigw-v2-raw-png.json")).await;
    assert_eq!(status, 201, "{body}");
    let object = moto.client().get_object().bucket(BUCKET).key("2026/11/24/203015/tabby.png").send().await.unwrap();
    assert_eq!(object.content_type(), Some("image/png"));
    let sha = body["stored"][0]["sha256"].as_str().unwrap().to_owned();
    assert_eq!(object.metadata().unwrap()["sha256"], sha);
    let tabby = B64.decode(fixture("apigw-v2-raw-png.json")["body"].as_str().unwrap()).unwrap();
    assert_eq!(&object.body.collect().await.unwrap().into_bytes()[..], &tabby[..]);

    let (status, body) = invoke_api(&app, fixture("apigw-v2-raw-png.json")).await;
    assert_eq!((status, body["stored"][0]["status"].as_str()), (201, Some("existing")), "{body}");

    let other =
        json!({"data": B64.encode(png::small(9)), "file_name": "tabby.png", "posted_at": "2026-11-24T20:30:15Z"});
    let moved = invoke(&app, other).await.unwrap();
    let key = moved["stored"][0]["key"].as_str().unwrap();
    assert!(key.starts_with("2026/11/24/203015/tabby-") && key.ends_with(".png"), "{key}");
}

#[tokio::test]
async fn moto_missing_bucket_and_bucket_deleted_mid_run() {
    let moto = Moto::start().await;
    let app = moto.app();
    let (status, body) = invoke_api(&app, fixture("apigw-v2-raw-png.json")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("bucket_not_found")), "{body}");

    // A fresh environment sees the bucket once it exists.
    moto.create_bucket().await;
    let app = moto.app();
    assert_eq!(invoke_api(&app, fixture("apigw-v2-raw-png.json")).await.0, 201);
    let client = moto.client();
    client.delete_object().bucket(BUCKET).key("2026/11/24/203015/tabby.png").send().await.unwrap();
    client.delete_object().bucket(BUCKET).key("facts/2026/11/24/203015/tabby.png!4x4!-").send().await.unwrap();
    client.delete_bucket().bucket(BUCKET).send().await.unwrap();

    // The cached check says yes, the write says NoSuchBucket and invalidates it...
    let (status, body) = invoke_api(&app, fixture("apigw-v2-raw-query-name.json")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("bucket_not_found")), "{body}");
    // ...so the next request is refused at HeadBucket, and an item is never written.
    let (status, body) = invoke_api(&app, fixture("apigw-v2-raw-png.json")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("bucket_not_found")), "{body}");
}

/// Sends messages to a real (moto) SQS queue, then plays Lambda's poller: receive a batch,
/// turn it into the Lambda event, invoke, delete only what was not reported as failed.
/// The failed messages come back and, after maxReceiveCount receives, reach the DLQ.
#[tokio::test]
async fn moto_sqs_partial_failures_reach_the_dead_letter_queue() {
    use aws_sdk_sqs::types::QueueAttributeName;

    let moto = Moto::start().await;
    moto.create_bucket().await;
    let app = moto.app();
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk_config(&moto.endpoint, SECRET_KEY)).build(),
    );

    let dlq = sqs.create_queue().queue_name("ingest-dlq").send().await.unwrap().queue_url.unwrap();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let max_receives = 2;
    let queue = sqs
        .create_queue()
        .queue_name("ingest")
        .attributes(QueueAttributeName::VisibilityTimeout, "0")
        .attributes(
            QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives}).to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = dlq_arn.replace("ingest-dlq", "ingest");

    let good = json!({"data": B64.encode(png::small(7)), "file_name": "queued.png"}).to_string();
    let bodies = [good.as_str(), "{\"data\": \"%% not base64 %%\"}", "not json at all"];
    for body in bodies {
        sqs.send_message().queue_url(&queue).message_body(body).send().await.unwrap();
    }

    let mut rounds = 0;
    loop {
        let messages = common::moto::receive(&sqs, &queue).await;
        if messages.is_empty() {
            break;
        }
        rounds += 1;
        assert!(rounds <= 2 * max_receives, "the queue should drain");
        let response = invoke(&app, common::moto::lambda_sqs_event(&messages, &queue_arn)).await.unwrap();
        let failed = failed_ids(&response);
        for m in &messages {
            if !failed.iter().any(|id| Some(id.as_str()) == m.message_id()) {
                sqs.delete_message()
                    .queue_url(&queue)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    let mut dead = Vec::new();
    for _ in 0..5 {
        let received = sqs.receive_message().queue_url(&dlq).max_number_of_messages(10).send().await.unwrap();
        dead.extend(received.messages.unwrap_or_default().into_iter().filter_map(|m| m.body));
        if dead.len() >= 2 {
            break;
        }
    }
    dead.sort();
    assert_eq!(dead, ["not json at all", "{\"data\": \"%% not base64 %%\"}"]);
    let stored = moto.client().list_objects_v2().bucket(BUCKET).send().await.unwrap();
    let keys: Vec<&str> = stored.contents().iter().filter_map(|o| o.key()).filter(|k| !k.starts_with(FACTS)).collect();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].ends_with("/queued.png"), "{keys:?}");
}

/// moto produces the notifications itself (S3 → SQS, bucket-wide, no filter): the test message,
/// the staged upload, and then the promotion's own copy, which the function must ignore.
#[tokio::test]
async fn moto_notifications_promote_a_staged_upload_once_and_never_loop() {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    use aws_sdk_sqs::types::QueueAttributeName;

    let moto = Moto::start().await;
    moto.create_bucket().await;
    let app = moto.app_with(&[("KEY_PREFIX", "images/")]);
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk_config(&moto.endpoint, SECRET_KEY)).build(),
    );
    let queue = sqs.create_queue().queue_name("uploads").send().await.unwrap().queue_url.unwrap();
    let attributes =
        sqs.get_queue_attributes().queue_url(&queue).attribute_names(QueueAttributeName::QueueArn).send().await;
    let queue_arn = attributes.unwrap().attributes.unwrap()[&QueueAttributeName::QueueArn].clone();
    let everything = QueueConfiguration::builder().queue_arn(&queue_arn).events(Event::S3ObjectCreated).build();
    let configuration = NotificationConfiguration::builder().queue_configurations(everything.unwrap()).build();
    let s3 = moto.client();
    s3.put_bucket_notification_configuration()
        .bucket(BUCKET)
        .notification_configuration(configuration)
        .send()
        .await
        .unwrap();
    let staged = "incoming/2026/11/25/101500/red panorama.png";
    let body = aws_sdk_s3::primitives::ByteStream::from(png::small(4));
    s3.put_object().bucket(BUCKET).key(staged).body(body).send().await.unwrap();

    let mut notified = Vec::new();
    for _ in 0..10 {
        let messages = common::moto::receive(&sqs, &queue).await;
        if messages.is_empty() {
            break;
        }
        notified.extend(messages.iter().filter_map(|m| m.body().map(str::to_owned)));
        let response = invoke(&app, common::moto::lambda_sqs_event(&messages, &queue_arn)).await.unwrap();
        assert_eq!(failed_ids(&response), Vec::<String>::new(), "nothing is retried");
        for m in &messages {
            sqs.delete_message().queue_url(&queue).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
    let keys_in = |body: &String| -> Vec<String> {
        let value: Value = serde_json::from_str(body).unwrap();
        value["Records"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["s3"]["object"]["key"].as_str().unwrap().to_owned())
            .collect()
    };
    let keys: Vec<String> = notified.iter().flat_map(keys_in).collect();
    assert!(notified.iter().any(|b| b.contains("s3:TestEvent")), "the test message came first: {notified:?}");
    assert_eq!(keys.iter().filter(|k| k.starts_with("incoming")).count(), 1, "{keys:?}");
    assert_eq!(keys.iter().filter(|k| k.starts_with("images")).count(), 1, "the promotion notified again: {keys:?}");
    let listed = s3.list_objects_v2().bucket(BUCKET).send().await.unwrap();
    let stored: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(stored, ["images/2026/11/25/101500/red_panorama.png"], "one promotion, no second");
}

/// Every range after the first asks for the first one's ETag (If-Match), which moto honours:
/// an object replaced while it is read is not promoted, and the retry reads the new one.
#[tokio::test]
async fn moto_a_staged_object_replaced_while_it_is_read_is_not_promoted() {
    use common::faults::{Fault, FaultProxy};
    use sha2::{Digest, Sha256};

    let moto = Moto::start().await;
    moto.create_bucket().await;
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let app = image_ingest::App::new(&config(&[("KEY_PREFIX", "images/")]), &sdk_config(&proxy.endpoint, SECRET_KEY));
    let staged = "incoming/2026/11/25/101500/panorama.png";
    let stage = |bytes: Vec<u8>| {
        let put = moto.client().put_object().bucket(BUCKET).key(staged);
        async move { put.body(aws_sdk_s3::primitives::ByteStream::from(bytes)).send().await.unwrap() }
    };
    let mut notice = fixture("s3-object-created.json");
    notice["Records"][0]["s3"]["bucket"]["name"] = json!(BUCKET);
    notice["Records"][0]["s3"]["object"]["key"] = json!(staged);
    // Three ranges: the first streamed, the other two fetched ahead.
    let (checked, replacement) = (png::sized(1, 9 << 20), png::sized(2, 9 << 20));
    stage(checked).await;
    // HeadBucket and the first range pass; a later range waits while the object is replaced.
    proxy.schedule(&[Fault::Pass, Fault::Pass, Fault::Hold]);
    let (result, ()) = tokio::join!(invoke(&app, notice.clone()), async {
        proxy.held().await;
        stage(replacement.clone()).await;
        proxy.release();
    });
    let failed = result.unwrap_err();
    assert_eq!(failed.error_type, "storage_error", "{failed:?}");
    assert!(failed.error_message.contains("changed while it was read"), "{}", failed.error_message);
    let listed = moto.client().list_objects_v2().bucket(BUCKET).send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, [staged], "nothing promoted; the new version waits for the retry");
    let answer = invoke(&app, notice).await.unwrap();
    assert_eq!(answer["stored"][0]["sha256"], hex::encode(Sha256::digest(&replacement)), "{answer}");
}
