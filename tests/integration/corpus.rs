//! The bad-input corpus: every case in `tests/corpus/*.json` goes through the public handler
//! against one s3s-fs server on 127.0.0.1, and its outcome is compared with the case's
//! `expect`. All mismatches are collected and reported together (file, expected, got).
//! The case format is described in `tests/corpus/README.md`.
//!
//! No case reaches anything but 127.0.0.1: a case may open loopback at most
//! (`FETCH_ALLOW_PRIVATE=loopback`; `true` is refused as a bad case), the app's fetcher resolves
//! no name through DNS, and its destination guard, asked on the connect path, panics before any
//! connection to a non-loopback address.

use crate::common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::origin::{self, TestLookup};
use common::*;
use image_ingest::fetch::AddressPolicy;
use image_ingest::{App, Config};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Fewer files than this means the corpus folder was not found or was emptied by mistake.
const MIN_CASES: usize = 60;
/// One case taking longer than this is a failure (nothing in the corpus should wait on anything).
const CASE_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    #[serde(default)]
    vars: BTreeMap<String, String>,
    event: Value,
    expect: Expect,
}

/// What a case expects. Which fields are present decides the kind of outcome (see the README).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed_codes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sqs_failures: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stored: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keys: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_types: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    init_error: Option<String>,
}

/// What actually happened.
#[derive(Debug)]
enum Got {
    /// `Config::from_lookup` refused the case's vars.
    Init(String),
    /// An API Gateway response.
    Api {
        status: u16,
        body: Value,
    },
    /// An SQS batch response: the reported message ids.
    Sqs(BTreeSet<String>),
    /// A successful direct or EventBridge invocation: `{"stored":[...]}`.
    Stored(Value),
    /// A failed invocation.
    Error {
        error_type: String,
        message: String,
    },
    /// Any other successful answer.
    Other(Value),
    /// The handler panicked (for example the fetcher's guard on a non-loopback address).
    Panicked(String),
    TimedOut,
}

impl Got {
    fn summary(&self) -> Value {
        match self {
            Got::Init(message) => json!({ "init_error": short(message) }),
            Got::Api { status, body } => {
                let mut out = json!({ "status": status });
                if let Some(code) = body.pointer("/error/code") {
                    out["code"] = code.clone();
                }
                if let Some(message) = body.pointer("/error/message").and_then(Value::as_str) {
                    out["message"] = json!(short(message));
                }
                if body.get("failed").is_some() {
                    out["failed_codes"] = json!(failed_codes(body));
                }
                if let Some(stored) = body.get("stored").and_then(Value::as_array) {
                    out["stored"] = json!(stored.len());
                }
                out
            }
            Got::Sqs(ids) => json!({ "sqs_failures": ids }),
            Got::Stored(value) => json!({ "stored": stored_list(value).len(), "content_types": content_types(value) }),
            Got::Error { error_type, message } => json!({ "error_type": error_type, "message": short(message) }),
            Got::Other(value) => json!({ "unexpected_response": short(&value.to_string()) }),
            Got::Panicked(message) => json!({ "panicked": short(message) }),
            Got::TimedOut => json!({ "timed_out_after_secs": CASE_TIMEOUT.as_secs() }),
        }
    }
}

fn short(text: &str) -> String {
    const MAX: usize = 300;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}

fn stored_list(value: &Value) -> Vec<Value> {
    value.get("stored").and_then(Value::as_array).cloned().unwrap_or_default()
}

fn content_types(value: &Value) -> Vec<String> {
    stored_list(value).iter().map(|s| s["content_type"].as_str().unwrap_or("?").to_owned()).collect()
}

fn failed_codes(body: &Value) -> Vec<String> {
    body.get("failed")
        .and_then(Value::as_array)
        .map(|failed| failed.iter().map(|f| f.pointer("/error/code").and_then(Value::as_str).unwrap_or("?").to_owned()))
        .into_iter()
        .flatten()
        .collect()
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("corpus")
}

fn case_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// The ids of an SQS-shaped event's records, for "every record failed".
fn record_ids(event: &Value) -> BTreeSet<String> {
    event
        .get("Records")
        .and_then(Value::as_array)
        .map(|records| records.iter().filter_map(|r| r.get("messageId")?.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Runs one case and returns what went wrong (empty: it matched).
async fn run_case(server: &S3Server, stem: &str, case: Case) -> (Vec<String>, Got) {
    let mut problems = Vec::new();
    let expect = &case.expect;
    let kinds = [
        expect.init_error.is_some(),
        expect.status.is_some(),
        expect.sqs_failures.is_some(),
        expect.error_type.is_some(),
        expect.stored.is_some() && expect.status.is_none(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        problems.push(
            "bad case: expect needs exactly one of init_error, status, sqs_failures, error_type, stored".to_owned(),
        );
    }
    if opens_private(&case.vars) {
        problems.push(
            "bad case: FETCH_ALLOW_PRIVATE would let URLs reach private and link-local addresses; not run \
             (loopback is the most a case may open)"
                .to_owned(),
        );
    }
    if !problems.is_empty() {
        return (problems, Got::Other(Value::Null));
    }

    // Every case writes under its own prefix, so cases never see each other's objects.
    let mut vars: HashMap<String, String> = HashMap::from([
        ("BUCKET_NAME".to_owned(), BUCKET.to_owned()),
        ("S3_FORCE_PATH_STYLE".to_owned(), "true".to_owned()),
        ("KEY_PREFIX".to_owned(), format!("{stem}/")),
    ]);
    vars.extend(case.vars.clone());
    let prefix = vars["KEY_PREFIX"].clone();
    let before: BTreeSet<String> = server.keys().into_iter().collect();

    let got = match Config::from_lookup(|k| vars.get(k).cloned()) {
        Err(err) => Got::Init(err.to_string()),
        Ok(config) => {
            // Only the case's own FETCH_ALLOW_PRIVATE (at most `loopback`) opens anything.
            let fetcher = origin::fetcher(&config, TestLookup(vec![]), false);
            let app = App::with_fetcher(&config, &server.sdk(SECRET_KEY), Arc::new(fetcher));
            let event = case.event.clone();
            let mut task = tokio::spawn(async move { invoke(&app, event).await });
            match tokio::time::timeout(CASE_TIMEOUT, &mut task).await {
                Err(_) => {
                    task.abort();
                    Got::TimedOut
                }
                Ok(Err(join)) => Got::Panicked(match join.try_into_panic() {
                    Ok(payload) => payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "a panic".into()),
                    Err(e) => e.to_string(),
                }),
                Ok(Ok(Err(diagnostic))) => {
                    Got::Error { error_type: diagnostic.error_type, message: diagnostic.error_message }
                }
                Ok(Ok(Ok(value))) => classify(value),
            }
        }
    };

    let new_keys: Vec<String> = server
        .keys()
        .into_iter()
        .filter(|k| !before.contains(k))
        .map(|k| k.strip_prefix(&prefix).map(str::to_owned).unwrap_or(k))
        .collect();
    compare(&case, &got, &new_keys, &mut problems);
    (problems, got)
}

/// Whether `vars` set `FETCH_ALLOW_PRIVATE` to a value the function reads as `true`. The
/// function's own parser decides, so an invalid value still reaches the case as an init error.
fn opens_private(vars: &BTreeMap<String, String>) -> bool {
    vars.get("FETCH_ALLOW_PRIVATE").is_some_and(|value| {
        let lookup = |name: &str| match name {
            "BUCKET_NAME" => Some(BUCKET.to_owned()),
            "FETCH_ALLOW_PRIVATE" => Some(value.clone()),
            _ => None,
        };
        Config::from_lookup(lookup).is_ok_and(|config| config.fetch_allow_private == AddressPolicy::Any)
    })
}

fn classify(value: Value) -> Got {
    if let Some(status) = value.get("statusCode").and_then(Value::as_u64) {
        let body = value.get("body").and_then(Value::as_str).unwrap_or_default();
        let body = serde_json::from_str(body).unwrap_or_else(|_| json!({ "unparsed_body": body }));
        return Got::Api { status: status as u16, body };
    }
    if let Some(failures) = value.get("batchItemFailures").and_then(Value::as_array) {
        return Got::Sqs(
            failures.iter().map(|f| f["itemIdentifier"].as_str().unwrap_or("<not a string>").to_owned()).collect(),
        );
    }
    if value.get("stored").is_some() {
        return Got::Stored(value);
    }
    Got::Other(value)
}

fn compare(case: &Case, got: &Got, new_keys: &[String], problems: &mut Vec<String>) {
    let expect = &case.expect;
    let mut mismatch = |what: String| problems.push(what);
    let refusal = match (expect, got) {
        (Expect { init_error: Some(wanted), .. }, Got::Init(message)) => {
            if !message.contains(wanted.as_str()) {
                mismatch(format!("init error does not mention {wanted:?}"));
            }
            true
        }
        (Expect { status: Some(status), .. }, Got::Api { status: got_status, body }) => {
            if status != got_status {
                mismatch(format!("status {got_status}, expected {status}"));
            }
            if let Some(code) = &expect.code {
                let got_code = body.pointer("/error/code").and_then(Value::as_str);
                if got_code != Some(code.as_str()) {
                    mismatch(format!("code {got_code:?}, expected {code:?}"));
                }
            }
            if *got_status >= 400 && body.pointer("/error/message").and_then(Value::as_str).is_none_or(str::is_empty) {
                mismatch("an error response without error.message".into());
            }
            if let Some(codes) = &expect.failed_codes {
                let got_codes = failed_codes(body);
                if &got_codes != codes {
                    mismatch(format!("failed codes {got_codes:?}, expected {codes:?}"));
                }
            }
            check_stored(expect, body, &mut mismatch);
            *status >= 400
        }
        (Expect { sqs_failures: Some(ids), .. }, Got::Sqs(got_ids)) => {
            let wanted: BTreeSet<String> = ids.iter().cloned().collect();
            if &wanted != got_ids {
                let missing: Vec<_> = wanted.difference(got_ids).collect();
                let extra: Vec<_> = got_ids.difference(&wanted).collect();
                mismatch(format!("SQS failures differ: not reported {missing:?}, reported but not expected {extra:?}"));
            }
            let all = record_ids(&case.event);
            !all.is_empty() && wanted == all
        }
        (Expect { error_type: Some(kind), .. }, Got::Error { error_type, .. }) => {
            if kind != error_type {
                mismatch(format!("error type {error_type:?}, expected {kind:?}"));
            }
            true
        }
        (Expect { stored: Some(_), status: None, .. }, Got::Stored(value)) => {
            check_stored(expect, value, &mut mismatch);
            false
        }
        _ => {
            mismatch("a different kind of outcome".into());
            // Whatever happened, a case that expects a refusal must not have stored anything.
            expect.error_type.is_some() || expect.init_error.is_some() || expect.status.is_some_and(|s| s >= 400)
        }
    };
    match &expect.keys {
        Some(keys) => {
            let (mut wanted, mut got_keys) = (keys.clone(), new_keys.to_vec());
            wanted.sort();
            got_keys.sort();
            if wanted != got_keys {
                problems.push(format!("stored keys {got_keys:?}, expected {wanted:?}"));
            }
        }
        None if refusal && !new_keys.is_empty() => {
            problems.push(format!("a refusal stored objects anyway: {new_keys:?}"));
        }
        None => {}
    }
}

fn check_stored(expect: &Expect, value: &Value, mismatch: &mut impl FnMut(String)) {
    if let Some(count) = expect.stored {
        let got = stored_list(value).len();
        if got != count {
            mismatch(format!("{got} objects in \"stored\", expected {count}"));
        }
    }
    if let Some(types) = &expect.content_types {
        let got = content_types(value);
        if &got != types {
            mismatch(format!("content types {got:?}, expected {types:?}"));
        }
    }
}

#[tokio::test]
async fn every_corpus_case_gets_its_expected_outcome() {
    let started = Instant::now();
    let server = S3Server::start().await;
    let files = case_files();
    assert!(files.len() >= MIN_CASES, "only {} case files in {}", files.len(), corpus_dir().display());

    // CORPUS_VERBOSE=1 prints every case's outcome, matched or not.
    let verbose = std::env::var_os("CORPUS_VERBOSE").is_some();
    let mut failures = Vec::new();
    for path in &files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let case: Case = match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()))
        {
            Ok(case) => case,
            Err(err) => {
                failures.push(format!("{file}\n    unreadable case file: {err}"));
                continue;
            }
        };
        let (description, expected) = (case.description.clone(), serde_json::to_string(&case.expect).unwrap());
        let (problems, got) = run_case(&server, &stem, case).await;
        if verbose {
            eprintln!("{} {file}: {}", if problems.is_empty() { "ok  " } else { "FAIL" }, got.summary());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{file}: {description}\n    expected: {expected}\n    got:      {}\n    - {}",
                got.summary(),
                problems.join("\n    - ")
            ));
        }
    }
    eprintln!("corpus: {} cases in {:.1?}", files.len(), started.elapsed());
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases did not get their expected outcome:\n\n{}\n",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}
