//! Every webhook example of Meta's OpenAPI description (a copy is in `tests/data/meta/`) reads
//! into events, with nothing malformed.

use serde_json::Value;
use shared::webhook::{parse, Event};

const SPEC: &str = include_str!("data/meta/business-messaging-api_v23.0.yaml");

fn examples() -> Vec<(String, Value)> {
    let spec: Value = serde_yaml::from_str(SPEC).expect("the spec is YAML");
    let examples = &spec["paths"]["/whatsapp/webhooks"]["post"]["requestBody"]["content"]
        ["application/json"]["examples"];
    examples
        .as_object()
        .expect("examples")
        .iter()
        .map(|(name, e)| (name.clone(), e["value"].clone()))
        .collect()
}

#[test]
fn every_example_reads() {
    let examples = examples();
    assert_eq!(examples.len(), 16);
    let mut kinds = Vec::new();
    for (name, payload) in examples {
        let events = parse(payload.to_string().as_bytes()).expect(&name);
        assert!(!events.is_empty(), "{name}");
        for e in events {
            match e {
                Event::Messages(v) => {
                    assert_eq!(v.metadata.phone_number_id, "106540352242922", "{name}");
                    for m in v.messages {
                        kinds.push(m.kind.clone());
                        assert!(m.wamid.starts_with("wamid."), "{name}");
                        assert!(m.timestamp > 1_700_000_000, "{name}");
                    }
                }
                // The group examples are for a product we do not ingest.
                Event::Ignored { field } => assert!(field.starts_with("group_"), "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
    kinds.sort();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "button",
            "contacts",
            "image",
            "interactive",
            "location",
            "order",
            "reaction",
            "system",
            "text",
            "unsupported"
        ]
    );
}

#[test]
fn statuses_preferences_and_notices_read() {
    let payload = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "waba1", "changes": [
                {"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550001111", "phone_number_id": "111"},
                    "statuses": [{
                        "id": "wamid.A", "status": "failed", "timestamp": "1750000000",
                        "recipient_id": "16505551234",
                        "errors": [{"code": 131050, "title": "Stopped", "error_data": {"details": "d"}}],
                        "pricing": {"billable": true, "pricing_model": "PMP", "category": "marketing"},
                        "biz_opaque_callback_data": "ref-1"
                    }]
                }},
                {"field": "user_preferences", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550001111", "phone_number_id": "111"},
                    "contacts": [{"wa_id": "16505551234", "profile": {"name": "S"}}],
                    "user_preferences": [{"wa_id": "16505551234", "detail": "User requested to stop marketing messages",
                        "category": "marketing_messages", "value": "stop", "timestamp": 1750000001}]
                }},
                {"field": "phone_number_quality_update", "value": {
                    "display_phone_number": "15550001111", "event": "FLAGGED", "current_limit": "TIER_1K"
                }},
                {"field": "calls", "value": {}},
                {"field": "messages", "value": {"metadata": {}}}
            ]}
        ]
    });
    let events = parse(payload.to_string().as_bytes()).unwrap();
    let [Event::Messages(m), Event::UserPreferences(p), Event::Notice(n), Event::Ignored { field }, Event::Malformed { field: bad, .. }] =
        &events[..]
    else {
        panic!("{events:?}")
    };
    let s = &m.statuses[0];
    assert_eq!((s.status.as_str(), s.timestamp), ("failed", 1_750_000_000));
    assert_eq!(s.errors[0].code, 131_050);
    assert_eq!(s.biz_opaque_callback_data.as_deref(), Some("ref-1"));
    assert_eq!(p.preferences[0].value, "stop");
    assert_eq!(p.preferences[0].timestamp, Some(1_750_000_001));
    assert_eq!(
        (n.waba_id.as_str(), n.event.as_deref()),
        ("waba1", Some("FLAGGED"))
    );
    assert_eq!(field, "calls");
    assert_eq!(bad, "messages");
}

#[test]
fn unreadable_envelopes_are_errors() {
    for bad in [
        &b"not json"[..],
        b"{}",
        b"[]",
        br#"{"object":"page","entry":[]}"#,
    ] {
        assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}
