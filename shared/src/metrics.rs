//! Counters in CloudWatch's Embedded Metric Format: one JSON line per count on stdout, which
//! CloudWatch turns into metrics of the `WhatATalk` namespace without any API call. Outside
//! Lambda (the runner, tests) a count is a debug log event instead. Dimensions are kinds and
//! codes — never an id or anything personal.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

pub const NAMESPACE: &str = "WhatATalk";

/// Counts `value` of `name` with these dimensions.
pub fn count(name: &str, value: u64, dimensions: &[(&str, &str)]) {
    if value == 0 {
        return;
    }
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        println!("{}", line(name, value, dimensions, now_ms()));
    } else {
        tracing::debug!(metric = name, value, dimensions = ?dimensions, "metric");
    }
}

/// The EMF line of one count.
pub fn line(name: &str, value: u64, dimensions: &[(&str, &str)], timestamp_ms: u64) -> String {
    let mut root = Map::new();
    let keys: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [keys],
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        }),
    );
    for (k, v) in dimensions {
        root.insert((*k).to_owned(), Value::from(*v));
    }
    root.insert(name.to_owned(), Value::from(value));
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
        let plain: Value = serde_json::from_str(&line("webhooks", 1, &[], 0)).unwrap();
        assert_eq!(
            plain["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
    }
}
