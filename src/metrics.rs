//! CloudWatch metrics as Embedded Metric Format lines on stdout, which Lambda's log pipeline
//! turns into metrics without an API call or an agent.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "ImageIngest";

/// One EMF record: metric values and the dimensions they are filed under.
#[derive(Debug, Default)]
pub struct Record {
    dimensions: Vec<(&'static str, String)>,
    /// Whether the metrics are also filed with no dimension, for account-wide alarms.
    aggregate: bool,
    metrics: Vec<(&'static str, &'static str, f64)>,
}

impl Record {
    /// A record filed under `name = value`.
    pub fn by(name: &'static str, value: impl Into<String>) -> Self {
        Self { dimensions: vec![(name, value.into())], ..Self::default() }
    }

    /// A record with no dimension.
    pub fn plain() -> Self {
        Self::default()
    }

    /// Also file the metrics with no dimension.
    pub fn and_in_total(mut self) -> Self {
        self.aggregate = true;
        self
    }

    /// Adds a count.
    pub fn count(mut self, name: &'static str, value: u64) -> Self {
        self.metrics.push((name, "Count", value as f64));
        self
    }

    /// Adds a size in bytes.
    pub fn bytes(mut self, name: &'static str, value: u64) -> Self {
        self.metrics.push((name, "Bytes", value as f64));
        self
    }

    /// Adds a duration in milliseconds.
    pub fn millis(mut self, name: &'static str, value: Duration) -> Self {
        self.metrics.push((name, "Milliseconds", value.as_secs_f64() * 1000.0));
        self
    }

    /// The EMF JSON line for this record at `timestamp_ms`.
    pub fn to_line(&self, timestamp_ms: u64) -> String {
        let mut dimension_sets = vec![Value::from(self.dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>())];
        if self.aggregate && !self.dimensions.is_empty() {
            dimension_sets.push(json!([]));
        }
        let definitions: Vec<Value> =
            self.metrics.iter().map(|(name, unit, _)| json!({ "Name": name, "Unit": unit })).collect();
        let mut line = Map::new();
        line.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{ "Namespace": NAMESPACE, "Dimensions": dimension_sets, "Metrics": definitions }]
            }),
        );
        for (name, value) in &self.dimensions {
            line.insert((*name).into(), json!(value));
        }
        for (name, _, value) in &self.metrics {
            line.insert((*name).into(), json!(value));
        }
        Value::Object(line).to_string()
    }

    /// Writes the record to stdout as one line.
    pub fn emit(self) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let line = self.to_line(now);
        let mut out = std::io::stdout().lock();
        // Metrics are best effort: a closed stdout must not fail an invocation.
        let _ = writeln!(out, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_emf_line_with_its_dimensions_and_units() {
        let line = Record::by("Code", "too_large").and_in_total().count("Failures", 1).to_line(1_700_000_000_000);
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["Code"], "too_large");
        assert_eq!(value["Failures"], 1.0);
        let meta = &value["_aws"];
        assert_eq!(meta["Timestamp"], 1_700_000_000_000u64);
        let directive = &meta["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["Code"], []]));
        assert_eq!(directive["Metrics"], json!([{"Name": "Failures", "Unit": "Count"}]));
        assert!(!line.contains('\n'));
    }

    #[test]
    fn durations_are_milliseconds_and_sizes_bytes() {
        let line = Record::plain().millis("S3Latency", Duration::from_micros(2500)).bytes("BytesStored", 73).to_line(0);
        let value: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["S3Latency"], 2.5);
        assert_eq!(value["BytesStored"], 73.0);
        assert_eq!(value["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([[]]));
    }
}
