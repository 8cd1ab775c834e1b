//! Counters in CloudWatch's Embedded Metric Format: JSON lines on stdout (one per call, which
//! may carry several counts) that CloudWatch turns into metrics of the `WhatATalk` namespace
//! without any API call. Outside Lambda (the runner, tests) a count is a debug log event
//! instead. Dimensions are kinds and codes — never an id or anything personal.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "WhatATalk";

type Sink = Box<dyn Fn(&str) + Send + Sync>;
static SINK: OnceLock<Sink> = OnceLock::new();

/// Hands every EMF line of this process to `sink` instead of stdout (or the debug log): a
/// benchmark weighs the log volume a Lambda would write. The first call wins.
pub fn emit_to(sink: impl Fn(&str) + Send + Sync + 'static) {
    let _ = SINK.set(Box::new(sink));
}

/// Counts `value` of `name` with these dimensions.
pub fn count(name: &str, value: u64, dimensions: &[(&str, &str)]) {
    counts(&[(name, value)], dimensions);
}

/// Several counts sharing dimensions, as one line: an invocation that counts many things
/// (a webhook: messages, statuses, duplicates…) logs one line, not one per count. Zeros are
/// left out; nothing is written when all are zero.
pub fn counts(values: &[(&str, u64)], dimensions: &[(&str, &str)]) {
    let values: Vec<(&str, u64)> = values.iter().copied().filter(|(_, v)| *v > 0).collect();
    if values.is_empty() {
        return;
    }
    if let Some(sink) = SINK.get() {
        sink(&lines(&values, dimensions, now_ms()));
    } else if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        println!("{}", lines(&values, dimensions, now_ms()));
    } else {
        for (name, value) in values {
            tracing::debug!(metric = name, value, dimensions = ?dimensions, "metric");
        }
    }
}

/// The EMF line of one count.
pub fn line(name: &str, value: u64, dimensions: &[(&str, &str)], timestamp_ms: u64) -> String {
    lines(&[(name, value)], dimensions, timestamp_ms)
}

/// The EMF line of several counts with the same dimensions.
pub fn lines(values: &[(&str, u64)], dimensions: &[(&str, &str)], timestamp_ms: u64) -> String {
    let mut root = Map::new();
    let keys: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
    let metrics: Vec<Value> = values
        .iter()
        .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
        .collect();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [keys],
                "Metrics": metrics,
            }],
        }),
    );
    for (k, v) in dimensions {
        root.insert((*k).to_owned(), Value::from(*v));
    }
    for (name, value) in values {
        root.insert((*name).to_owned(), Value::from(*value));
    }
    Value::Object(root).to_string()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_embedded_metric_format() {
        let l = line(
            "messages_failed",
            3,
            &[("code", "131026")],
            1_795_633_000_000,
        );
        let v: Value = serde_json::from_str(&l).unwrap();
        let m = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Namespace"], "WhatATalk");
        assert_eq!(m["Dimensions"], json!([["code"]]));
        assert_eq!(
            m["Metrics"][0],
            json!({"Name": "messages_failed", "Unit": "Count"})
        );
        assert_eq!(v["_aws"]["Timestamp"], 1_795_633_000_000u64);
        assert_eq!(v["code"], "131026");
        assert_eq!(v["messages_failed"], 3);
        let many: Value = serde_json::from_str(&lines(
            &[("webhook_messages", 2), ("webhook_statuses", 5)],
            &[],
            0,
        ))
        .unwrap();
        assert_eq!(
            many["_aws"]["CloudWatchMetrics"][0]["Metrics"],
            json!([{"Name": "webhook_messages", "Unit": "Count"}, {"Name": "webhook_statuses", "Unit": "Count"}])
        );
        assert_eq!(many["webhook_messages"], 2);
        assert_eq!(many["webhook_statuses"], 5);
        let plain: Value = serde_json::from_str(&line("webhooks", 1, &[], 0)).unwrap();
        assert_eq!(
            plain["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
    }
}
