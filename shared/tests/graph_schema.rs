//! Every kind of message body we send validates against the `Message` schema of Meta's own
//! OpenAPI description of the Cloud API (MIT; a copy is in `tests/data/meta/` with its licence).
//!
//! The description is written for OpenAPI tooling, so two mechanical steps make it a strict JSON
//! Schema: `allOf` chains are merged into one object schema (otherwise each part's
//! `additionalProperties: false` would forbid the other parts' properties), and schemas with a
//! `discriminator` become a `oneOf` of their mapped subtypes (otherwise parameters and
//! components would not be checked at all). Six errata, each a known gap between the
//! description and the live API, are patched and named below.

use serde_json::{json, Map, Value};
use shared::graph::messages::*;

const SPEC: &str = include_str!("data/meta/business-messaging-api_v23.0.yaml");

fn schemas() -> Map<String, Value> {
    let spec: Value = serde_yaml::from_str(SPEC).expect("the spec is YAML");
    spec["components"]["schemas"]
        .as_object()
        .expect("schemas")
        .clone()
}

fn deref<'a>(schemas: &'a Map<String, Value>, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            deref(schemas, &schemas[name])
        }
        None => v,
    }
}

/// Merges two schemas of the same object: properties merged key by key, required united, the
/// strictest `additionalProperties` kept.
fn merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        match k.as_str() {
            "properties" => {
                let props = into.entry("properties").or_insert_with(|| json!({}));
                for (name, schema) in v.as_object().into_iter().flatten() {
                    match props.get_mut(name).and_then(Value::as_object_mut) {
                        Some(existing) => {
                            if let Some(s) = schema.as_object() {
                                for (sk, sv) in s {
                                    existing.insert(sk.clone(), sv.clone());
                                }
                            }
                        }
                        None => {
                            props[name] = schema.clone();
                        }
                    }
                }
            }
            "required" => {
                let req = into.entry("required").or_insert_with(|| json!([]));
                for r in v.as_array().into_iter().flatten() {
                    if !req.as_array().unwrap().contains(r) {
                        req.as_array_mut().unwrap().push(r.clone());
                    }
                }
            }
            "additionalProperties" if into.get(k) == Some(&json!(false)) => {}
            "discriminator" | "description" | "example" => {}
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Replaces every `allOf` by the merge of its parts, recursively.
fn flatten(schemas: &Map<String, Value>, v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            if let Some(parts) = o.get("allOf").and_then(Value::as_array) {
                let mut out = Map::new();
                for part in parts {
                    let part = flatten(schemas, deref(schemas, part));
                    if let Some(p) = part.as_object() {
                        merge(&mut out, p);
                    }
                }
                let mut rest = o.clone();
                rest.remove("allOf");
                merge(&mut out, &rest);
                return flatten(schemas, &Value::Object(out));
            }
            Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), flatten(schemas, v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| flatten(schemas, v)).collect()),
        other => other.clone(),
    }
}

/// The strict schema of a `Message`.
fn message_schema() -> Value {
    let original = schemas();
    let mut flat: Map<String, Value> = original
        .iter()
        .map(|(k, v)| (k.clone(), flatten(&original, v)))
        .collect();
    // Discriminated bases become a choice among their (already merged) subtypes.
    for base in [
        "TemplateComponent",
        "ParameterObject",
        "ButtonParameterObject",
    ] {
        let mapping = original[base]["discriminator"]["mapping"]
            .as_object()
            .unwrap()
            .clone();
        let choices: Vec<Value> = mapping.values().map(|r| json!({"$ref": r})).collect();
        flat.insert(base.to_owned(), json!({"oneOf": choices}));
    }
    // Erratum 1: the button index pattern `^[2-6, 11-14]$` rejects "0", the first button, which
    // Meta's own example sends; the API takes 0 to 9.
    flat["ButtonComponent"]["properties"]["index"]["pattern"] = json!("^[0-9]$");
    // Erratum 2: copy-code buttons (coupon codes) are missing from the button sub-types and
    // parameter types.
    flat["ButtonComponent"]["properties"]["sub_type"]["enum"]
        .as_array_mut()
        .unwrap()
        .push(json!("copy_code"));
    flat.insert(
        "ButtonCouponCodeParameter".into(),
        json!({"type": "object", "required": ["type", "coupon_code"], "additionalProperties": false,
               "properties": {"type": {"enum": ["coupon_code"]}, "coupon_code": {"type": "string", "maxLength": 15}}}),
    );
    flat["ButtonParameterObject"]["oneOf"]
        .as_array_mut()
        .unwrap()
        .push(json!({"$ref": "#/components/schemas/ButtonCouponCodeParameter"}));
    // Erratum 3: the call-to-action URL interactive message is missing from the type enum and
    // from the action variants.
    flat["InteractiveObject"]["properties"]["type"]["enum"]
        .as_array_mut()
        .unwrap()
        .push(json!("cta_url"));
    flat["ActionObject"]["oneOf"].as_array_mut().unwrap().push(json!({
        "required": ["name", "parameters"], "additionalProperties": false,
        "properties": {"name": {"enum": ["cta_url"]}, "parameters": {
            "type": "object", "required": ["display_text", "url"], "additionalProperties": false,
            "properties": {"display_text": {"type": "string", "maxLength": 20}, "url": {"type": "string"}}}}
    }));
    // Erratum 4: `language.policy` is marked required, yet Meta's getting-started request and
    // the common SDKs send `{"code": "en_US"}` alone, and the API takes it.
    flat["LanguageObject"]["required"] = json!(["code"]);
    // Erratum 5: a business-scoped user id (2026) goes in `recipient` instead of `to` (`to`
    // wins when both are given); the description knows only `to`.
    for schema in flat.values_mut() {
        let is_message = schema["properties"].get("messaging_product").is_some()
            && schema["properties"].get("to").is_some();
        if !is_message {
            continue;
        }
        schema["properties"]["recipient"] = json!({"type": "string"});
        if let Some(required) = schema["required"].as_array_mut() {
            required.retain(|r| r != "to");
        }
        schema["anyOf"] = json!([{"required": ["to"]}, {"required": ["recipient"]}]);
    }
    // Erratum 6: a location header's parameter (`{"type": "location", "location": {…}}`, in
    // Meta's template documentation) is missing from the parameter types.
    flat.insert(
        "LocationParameter".into(),
        json!({"type": "object", "required": ["type", "location"], "additionalProperties": false,
               "properties": {"type": {"enum": ["location"]}, "location": {
                   "type": "object", "required": ["latitude", "longitude"], "additionalProperties": false,
                   "properties": {"latitude": {"type": "string"}, "longitude": {"type": "string"},
                                  "name": {"type": "string"}, "address": {"type": "string"}}}}}),
    );
    flat["ParameterObject"]["oneOf"]
        .as_array_mut()
        .unwrap()
        .push(json!({"$ref": "#/components/schemas/LocationParameter"}));
    json!({"$ref": "#/components/schemas/Message", "components": {"schemas": flat}})
}

fn media(link: bool) -> Media {
    Media {
        source: if link {
            MediaSource::Link {
                link: "https://example.com/a.jpg".into(),
            }
        } else {
            MediaSource::Id {
                id: "1166846181421424".into(),
            }
        },
        caption: None,
        filename: None,
    }
}

fn every_kind() -> Vec<SendRequest> {
    let to = "447911123456";
    let template = Template {
        name: "order_update".into(),
        language: Language {
            policy: Some(LanguagePolicy::Deterministic),
            code: "en_US".into(),
        },
        components: vec![
            Component::Header {
                parameters: vec![Parameter::Image { image: media(true) }],
            },
            Component::Body {
                parameters: vec![
                    Parameter::Text {
                        text: "Ana".into(),
                        parameter_name: None,
                    },
                    Parameter::Text {
                        text: "A-1043".into(),
                        parameter_name: Some("order_id".into()),
                    },
                    Parameter::Currency {
                        currency: Currency {
                            fallback_value: "$10.00".into(),
                            code: "USD".into(),
                            amount_1000: 10_000,
                        },
                    },
                    Parameter::DateTime {
                        date_time: DateTime {
                            fallback_value: "25 November 2026".into(),
                            rest: Default::default(),
                        },
                    },
                ],
            },
            Component::Button {
                sub_type: ButtonKind::Url,
                index: "0".into(),
                parameters: vec![ButtonParameter::Text {
                    text: "A-1043".into(),
                }],
            },
            Component::Button {
                sub_type: ButtonKind::QuickReply,
                index: "1".into(),
                parameters: vec![ButtonParameter::Payload {
                    payload: "STOP_PROMOS".into(),
                }],
            },
            Component::Button {
                sub_type: ButtonKind::CopyCode,
                index: "2".into(),
                parameters: vec![ButtonParameter::CouponCode {
                    coupon_code: "SAVE25".into(),
                }],
            },
        ],
    };
    let header_kinds = [
        Component::Header {
            parameters: vec![Parameter::Text {
                text: "Hi".into(),
                parameter_name: None,
            }],
        },
        Component::Header {
            parameters: vec![Parameter::Video {
                video: media(false),
            }],
        },
        Component::Header {
            parameters: vec![Parameter::Document {
                document: Media {
                    filename: Some("invoice.pdf".into()),
                    ..media(true)
                },
            }],
        },
    ];
    let mut all = vec![
        SendRequest::new(
            to,
            Content::Text {
                text: Text {
                    body: "Hello".into(),
                    preview_url: Some(true),
                },
            },
        ),
        SendRequest::new(
            to,
            Content::Text {
                text: Text {
                    body: "Re: your question".into(),
                    preview_url: None,
                },
            },
        )
        .replying_to("wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"),
        SendRequest::new(
            to,
            Content::Template {
                template: template.clone(),
            },
        ),
        SendRequest::new(
            to,
            Content::Image {
                image: Media {
                    caption: Some("New stock".into()),
                    ..media(true)
                },
            },
        ),
        SendRequest::new(
            to,
            Content::Image {
                image: media(false),
            },
        ),
        SendRequest::new(
            to,
            Content::Video {
                video: Media {
                    caption: Some("Tour".into()),
                    ..media(false)
                },
            },
        ),
        SendRequest::new(
            to,
            Content::Audio {
                audio: media(false),
            },
        ),
        SendRequest::new(
            to,
            Content::Document {
                document: Media {
                    caption: Some("Your invoice".into()),
                    filename: Some("invoice.pdf".into()),
                    ..media(true)
                },
            },
        ),
        SendRequest::new(
            to,
            Content::Sticker {
                sticker: media(false),
            },
        ),
        SendRequest::new(
            to,
            Content::Interactive {
                interactive: Interactive {
                    kind: InteractiveKind::Button,
                    header: Some(InteractiveHeader::Text {
                        text: "Delivery".into(),
                    }),
                    body: Some(TextOnly {
                        text: "When should we deliver?".into(),
                    }),
                    footer: Some(TextOnly {
                        text: "Reply to choose".into(),
                    }),
                    action: Action::Buttons {
                        buttons: vec![
                            ReplyButton {
                                kind: ReplyKind::Reply,
                                reply: Reply {
                                    id: "am".into(),
                                    title: "Morning".into(),
                                },
                            },
                            ReplyButton {
                                kind: ReplyKind::Reply,
                                reply: Reply {
                                    id: "pm".into(),
                                    title: "Afternoon".into(),
                                },
                            },
                        ],
                    },
                },
            },
        ),
        SendRequest::new(
            to,
            Content::Interactive {
                interactive: Interactive {
                    kind: InteractiveKind::List,
                    header: Some(InteractiveHeader::Image { image: media(true) }),
                    body: Some(TextOnly {
                        text: "Pick a size".into(),
                    }),
                    footer: None,
                    action: Action::List {
                        button: "Sizes".into(),
                        sections: vec![Section {
                            title: Some("Shirts".into()),
                            rows: vec![
                                Row {
                                    id: "s".into(),
                                    title: "Small".into(),
                                    description: Some("Chest 90 cm".into()),
                                },
                                Row {
                                    id: "m".into(),
                                    title: "Medium".into(),
                                    description: None,
                                },
                            ],
                        }],
                    },
                },
            },
        ),
        SendRequest::new(
            to,
            Content::Interactive {
                interactive: Interactive {
                    kind: InteractiveKind::CtaUrl,
                    header: None,
                    body: Some(TextOnly {
                        text: "Track your order".into(),
                    }),
                    footer: None,
                    action: Action::CtaUrl {
                        name: CtaUrlName::CtaUrl,
                        parameters: CtaUrl {
                            display_text: "Track".into(),
                            url: "https://example.com/t/A-1043".into(),
                        },
                    },
                },
            },
        ),
        SendRequest::new(
            to,
            Content::Location {
                location: Location {
                    latitude: "37.4847".into(),
                    longitude: "-122.1486".into(),
                    name: Some("Meta HQ".into()),
                    address: Some("1 Hacker Way".into()),
                },
            },
        ),
        SendRequest::new(
            to,
            Content::Contacts {
                contacts: vec![ContactCard {
                    name: CardName {
                        formatted_name: "Ana Souza".into(),
                        first_name: Some("Ana".into()),
                        last_name: Some("Souza".into()),
                        rest: Default::default(),
                    },
                    phones: vec![CardPhone {
                        phone: "+44 7911 123456".into(),
                        kind: Some("WORK".into()),
                        wa_id: Some("447911123456".into()),
                    }],
                    emails: vec![CardEmail {
                        email: "ana@example.com".into(),
                        kind: Some("WORK".into()),
                    }],
                    rest: Default::default(),
                }],
            },
        ),
        SendRequest::new(
            to,
            Content::Reaction {
                reaction: Reaction {
                    message_id: "wamid.HBgLMTY1MDUwNzY1MjA".into(),
                    emoji: "👍".into(),
                },
            },
        ),
        SendRequest::new(
            "US.13491208655302741918",
            Content::Text {
                text: Text {
                    body: "To a user without a visible number".into(),
                    preview_url: None,
                },
            },
        ),
    ];
    for header in header_kinds {
        let mut t = template.clone();
        t.components[0] = header;
        all.push(SendRequest::new(to, Content::Template { template: t }));
    }
    // A location header.
    let mut located = template.clone();
    located.components[0] = Component::Header {
        parameters: vec![Parameter::Location {
            location: Location {
                latitude: "37.4847".into(),
                longitude: "-122.1486".into(),
                name: Some("Store".into()),
                address: Some("1 Hacker Way".into()),
            },
        }],
    };
    all.push(SendRequest::new(
        to,
        Content::Template { template: located },
    ));
    // As Meta's getting-started request sends it: a bare language, no components, and to a
    // user id (the BSUID goes in `recipient`).
    let hello = Template {
        name: "hello_world".into(),
        language: Language {
            policy: None,
            code: "en_US".into(),
        },
        components: vec![],
    };
    all.push(SendRequest::new(
        to,
        Content::Template {
            template: hello.clone(),
        },
    ));
    all.push(SendRequest::new(
        "US.ENT.13491208655302741918",
        Content::Template { template: hello },
    ));
    all
}

#[test]
fn every_kind_of_message_validates_against_meta_schema() {
    let schema = message_schema();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .expect("the schema compiles");
    let kinds: std::collections::BTreeSet<&str> =
        every_kind().iter().map(|m| m.content.kind()).collect();
    assert_eq!(kinds.len(), 11, "every content kind is covered: {kinds:?}");
    for message in every_kind() {
        let body = serde_json::to_value(&message).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{body}\n{}", errors.join("\n"));
        // And it reads back as the same message.
        assert_eq!(
            serde_json::from_value::<SendRequest>(body).unwrap(),
            message
        );
    }
}

#[test]
fn the_validator_is_strict() {
    let schema = message_schema();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .unwrap();
    let bad = [
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "1", "type": "text", "text": {"body": "x"}, "colour": "red"}),
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "1", "type": "text"}),
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "1", "type": "template",
               "template": {"name": "t", "language": {"policy": "deterministic", "code": "en"}, "components": [{"type": "body", "parameters": [{"type": "text"}]}]}}),
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "1", "type": "image", "image": {"id": "1", "link": "https://x"}}),
        // Neither `to` nor `recipient`.
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "type": "text", "text": {"body": "x"}}),
    ];
    for body in bad {
        assert!(!validator.is_valid(&body), "accepted: {body}");
    }
}

#[test]
fn mark_read_matches_its_schema() {
    let original = schemas();
    let schema = flatten(&original, &original["MarkMessageRequestPayload"]);
    let validator = jsonschema::validator_for(&schema).unwrap();
    let body = serde_json::to_value(MarkRead {
        messaging_product: Whatsapp,
        status: ReadStatus::Read,
        message_id: "wamid.X".into(),
    })
    .unwrap();
    assert!(validator.is_valid(&body), "{body}");
}
