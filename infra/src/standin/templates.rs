//! Message templates at the stand-in, per WABA, as Meta's spec describes them:
//! `GET /{version}/{waba-id}/message_templates` (paged, `name` filter), `POST` (create, `PENDING`
//! until told otherwise), `DELETE` (by `name`, or one language with `hsm_id`) and
//! `POST /{version}/{template-id}` (edit). Every WABA starts with an approved `hello_world`
//! (en_US) and whatever [`StandIn::seed_templates`] added. `POST /_standin/templates/{id}`
//! (a [`TemplateChange`]) approves, rejects, pauses, recategorises or re-scores one and posts
//! the matching webhooks; sends of a template it does not hold, or does not deliver, or with
//! the wrong parameters are refused with Meta's codes (132001, 132015, 132016, 132000).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{graph_error, no_such_object, PageQuery, StandIn};

/// A template every new WABA starts with.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TemplateSeed {
    pub name: String,
    pub language: String,
    pub category: String,
    pub components: Vec<Value>,
}

impl TemplateSeed {
    /// A template with a body of `body` (its `{{n}}` are its parameters), approved.
    pub fn body(name: &str, language: &str, body: &str) -> Self {
        Self {
            name: name.into(),
            language: language.into(),
            category: "MARKETING".into(),
            components: vec![json!({"type": "BODY", "text": body})],
        }
    }
}

/// Meta's sample template, approved in every new WABA.
pub fn hello_world() -> TemplateSeed {
    TemplateSeed {
        name: "hello_world".into(),
        language: "en_US".into(),
        category: "UTILITY".into(),
        components: vec![
            json!({"type": "HEADER", "format": "TEXT", "text": "Hello World"}),
            json!({"type": "BODY", "text": "Welcome and congratulations!! This message demonstrates your ability to send a WhatsApp message notification from the Cloud API, hosted by Meta. Thank you for taking the time to test with us."}),
            json!({"type": "FOOTER", "text": "WhatsApp Business Platform sample message"}),
        ],
    }
}

/// The templates this repository's tests and benchmarks send, approved: seed a test's
/// stand-in with them ([`StandIn::seed_templates`]).
pub fn fixtures() -> Vec<TemplateSeed> {
    vec![
        TemplateSeed::body("hello", "en", "Hello from us!"),
        TemplateSeed::body("order_update", "en", "Your order has been updated."),
        TemplateSeed::body("order_update", "en_US", "Your order {{1}} has shipped."),
        TemplateSeed::body(
            "spring_sale",
            "en_GB",
            "Our spring sale: {{1}} off everything.",
        ),
        TemplateSeed::body("bench", "en", "A benchmark's message."),
    ]
}

/// A template as businesses send them: an image header, a body of four parameters, a footer,
/// a URL button with a parameter and a quick reply (the benchmarks' realistic message).
pub fn bench_order() -> TemplateSeed {
    TemplateSeed {
        name: "bench_order".into(),
        language: "en".into(),
        category: "UTILITY".into(),
        components: vec![
            json!({"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2UvanBlZw==:ARb"]}}),
            json!({"type": "BODY", "text": "Hi {{1}}, your order {{2}} will be delivered on {{3}}. Amount due on delivery: {{4}}. Reply to this message if you need to change anything.", "example": {"body_text": [["Maria", "#A-1", "Thursday", "R$ 10,00"]]}}),
            json!({"type": "FOOTER", "text": "Shop Example · reply STOP to opt out"}),
            json!({"type": "BUTTONS", "buttons": [
                {"type": "URL", "text": "Track your order", "url": "https://shop.example.com/{{1}}", "example": ["https://shop.example.com/track/A-1"]},
                {"type": "QUICK_REPLY", "text": "Change the delivery time"},
            ]}),
        ],
    }
}

/// A template the stand-in holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HeldTemplate {
    pub waba_id: String,
    pub id: String,
    pub name: String,
    pub language: String,
    pub status: String,
    pub category: String,
    pub quality_score: String,
    pub components: Vec<Value>,
    /// Paced: sends are answered `held_for_quality_assessment` instead of `accepted`.
    #[serde(default)]
    pub paced: bool,
}

impl HeldTemplate {
    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "language": self.language,
            "status": self.status,
            "category": self.category,
            "components": self.components,
            "quality_score": {"score": self.quality_score},
        })
    }
}

/// What to change of a held template; each change posts its webhook.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TemplateChange {
    /// `APPROVED`, `REJECTED`, `PAUSED`, `DISABLED`, … (`message_template_status_update`).
    pub status: Option<String>,
    /// Why, as Meta says it (`reason`).
    pub reason: Option<String>,
    /// `MARKETING`, `UTILITY`, … (`template_category_update`).
    pub category: Option<String>,
    /// `GREEN`, `YELLOW`, `RED` (`message_template_quality_update`).
    pub quality_score: Option<String>,
    /// Paces the template (no webhook: Meta says so in each send's answer).
    pub paced: Option<bool>,
}

impl StandIn {
    /// Adds templates that every WABA, known now or added later, holds (approved).
    pub fn seed_templates(&self, seeds: Vec<TemplateSeed>) {
        let wabas: Vec<String> = {
            let mut s = self.lock();
            s.seeds.extend(seeds);
            s.businesses.iter().map(|b| b.waba_id.clone()).collect()
        };
        for waba in wabas {
            self.seed_waba(&waba);
        }
    }

    /// Gives a WABA the seeded templates it does not hold yet.
    pub(super) fn seed_waba(&self, waba: &str) {
        let mut s = self.lock();
        let mut seeds = vec![hello_world()];
        seeds.extend(s.seeds.clone());
        for seed in seeds {
            let held = s
                .templates
                .iter()
                .any(|t| t.waba_id == waba && t.name == seed.name && t.language == seed.language);
            if !held {
                s.next_template += 1;
                let id = format!("{}", 1_000_000_000_000u64 + s.next_template);
                s.templates.push(HeldTemplate {
                    waba_id: waba.into(),
                    id,
                    name: seed.name,
                    language: seed.language,
                    status: "APPROVED".into(),
                    category: seed.category,
                    quality_score: "UNKNOWN".into(),
                    components: seed.components,
                    paced: false,
                });
            }
        }
    }

    /// The templates held, every WABA.
    pub fn templates(&self) -> Vec<HeldTemplate> {
        self.lock().templates.clone()
    }

    /// Adds a template as Meta's own manager would (approved unless `status` says otherwise).
    pub fn add_template(&self, waba: &str, seed: TemplateSeed, status: &str) -> HeldTemplate {
        let mut s = self.lock();
        s.next_template += 1;
        let t = HeldTemplate {
            waba_id: waba.into(),
            id: format!("{}", 1_000_000_000_000u64 + s.next_template),
            name: seed.name,
            language: seed.language,
            status: status.into(),
            category: seed.category,
            quality_score: "UNKNOWN".into(),
            components: seed.components,
            paced: false,
        };
        s.templates.push(t.clone());
        t
    }

    /// Removes a template as Meta's own manager would (no webhook); whether it was held.
    pub fn remove_template(&self, id: &str) -> bool {
        let mut s = self.lock();
        let before = s.templates.len();
        s.templates.retain(|t| t.id != id);
        s.templates.len() < before
    }

    /// Changes a held template and answers the webhook payloads Meta would post for it (in
    /// order), or `None` if no template has this id.
    pub fn change_template(&self, id: &str, change: &TemplateChange) -> Option<Vec<Value>> {
        let mut s = self.lock();
        let t = s.templates.iter_mut().find(|t| t.id == id)?;
        let mut payloads = Vec::new();
        if let Some(paced) = change.paced {
            t.paced = paced;
        }
        let base = |t: &HeldTemplate| {
            json!({
                "message_template_id": t.id.parse::<u64>().unwrap_or_default(),
                "message_template_name": t.name,
                "message_template_language": t.language,
            })
        };
        if let Some(status) = &change.status {
            let event = status.to_ascii_uppercase();
            t.status = match event.as_str() {
                "REINSTATED" | "UNLOCKED" => "APPROVED".into(),
                other => other.into(),
            };
            let mut v = base(t);
            v["event"] = json!(event);
            v["reason"] = json!(change.reason.clone().unwrap_or_else(|| "NONE".into()));
            payloads.push(waba_webhook(
                &t.waba_id,
                "message_template_status_update",
                v,
            ));
        }
        if let Some(category) = &change.category {
            let mut v = base(t);
            v["previous_category"] = json!(t.category);
            t.category = category.to_ascii_uppercase();
            v["new_category"] = json!(t.category);
            payloads.push(waba_webhook(&t.waba_id, "template_category_update", v));
        }
        if let Some(score) = &change.quality_score {
            let mut v = base(t);
            v["previous_quality_score"] = json!(t.quality_score);
            t.quality_score = score.to_ascii_uppercase();
            v["new_quality_score"] = json!(t.quality_score);
            payloads.push(waba_webhook(
                &t.waba_id,
                "message_template_quality_update",
                v,
            ));
        }
        Some(payloads)
    }

    /// Whether Meta paces this template (a send of it is held for quality assessment).
    pub(super) fn template_paced(&self, number: &str, name: &str, language: &str) -> bool {
        let Some(waba) = self.owner_of(number).map(|b| b.waba_id) else {
            return false;
        };
        self.lock()
            .templates
            .iter()
            .any(|t| t.waba_id == waba && t.name == name && t.language == language && t.paced)
    }

    /// Why Meta would refuse a send of this template from `number`: (code, title).
    pub(super) fn template_refusal(
        &self,
        number: &str,
        to: &str,
        message: &shared::graph::messages::Template,
    ) -> Option<(i64, &'static str)> {
        let waba = self.owner_of(number)?.waba_id;
        let s = self.lock();
        let Some(t) = s.templates.iter().find(|t| {
            t.waba_id == waba && t.name == message.name && t.language == message.language.code
        }) else {
            return Some((132001, "Template name does not exist in the translation"));
        };
        match t.status.as_str() {
            "APPROVED" | "FLAGGED" => {}
            "PAUSED" => return Some((132015, "Template is Paused")),
            "DISABLED" => return Some((132016, "Template is Disabled")),
            _ => return Some((132001, "Template name does not exist in the translation")),
        }
        let shape = shared::domain::TemplateShape::of(&t.components);
        let otp = shape.buttons.iter().any(|b| b.kind == "OTP");
        if t.category == "AUTHENTICATION" && otp && shared::domain::Bsuid::parse(to).is_ok() {
            return Some((
                131062,
                "Business-scoped user ID recipients are not supported for this message",
            ));
        }
        match shape.check(message) {
            Ok(()) => None,
            Err(_) => Some((
                132000,
                "Number of parameters does not match the expected number of params",
            )),
        }
    }
}

/// A WABA-level webhook as Meta posts it.
pub fn waba_webhook(waba: &str, field: &str, value: Value) -> Value {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": waba,
            "time": time::OffsetDateTime::now_utc().unix_timestamp(),
            "changes": [{"field": field, "value": value}],
        }],
    })
}

#[derive(Deserialize)]
pub(super) struct TemplatesQuery {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    hsm_id: Option<String>,
    // Not flattened: query strings hold text, and a flattened number would not parse.
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    after: Option<String>,
}

/// `GET /{waba-id}/message_templates`: the WABA's templates, to its own tokens, in pages;
/// `name` matches a part of the name, as at Meta.
pub(super) async fn list(
    State(standin): State<StandIn>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(q): Query<TemplatesQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = standin.waba_for(&waba_id, &headers) {
        return *refused;
    }
    let data: Vec<Value> = standin
        .templates()
        .iter()
        .filter(|t| t.waba_id == waba_id)
        .filter(|t| q.name.as_deref().is_none_or(|n| t.name.contains(n)))
        .map(HeldTemplate::json)
        .collect();
    let mut next = format!("{version}/{waba_id}/message_templates?");
    if let Some(n) = &q.name {
        next.push_str(&format!("name={n}&"));
    }
    let page = PageQuery {
        limit: q.limit,
        after: q.after,
    };
    Json(standin.paged(data, &page, &next)).into_response()
}

#[derive(Deserialize)]
pub(super) struct CreateBody {
    name: String,
    language: String,
    category: String,
    #[serde(default)]
    components: Vec<Value>,
}

fn invalid(message: &str) -> Response {
    graph_error(StatusCode::BAD_REQUEST, 100, None, message)
}

/// `POST /{waba-id}/message_templates`: a new template, `PENDING` review.
pub(super) async fn create(
    State(standin): State<StandIn>,
    Path((_version, waba_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(refused) = standin.waba_for(&waba_id, &headers) {
        return *refused;
    }
    let Ok(new) = serde_json::from_slice::<CreateBody>(&body) else {
        return invalid("Invalid parameter");
    };
    if shared::domain::TemplateName::parse(&new.name).is_err()
        || shared::domain::TemplateCategory::parse(&new.category).is_err()
        || shared::domain::check_components(&new.components).is_err()
    {
        return invalid("Invalid parameter");
    }
    let exists = standin
        .templates()
        .iter()
        .any(|t| t.waba_id == waba_id && t.name == new.name && t.language == new.language);
    if exists {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(2388024),
            "Content in this language already exists",
        );
    }
    let t = standin.add_template(
        &waba_id,
        TemplateSeed {
            name: new.name,
            language: new.language,
            category: new.category.to_ascii_uppercase(),
            components: new.components,
        },
        "PENDING",
    );
    Json(json!({"id": t.id, "status": t.status, "category": t.category})).into_response()
}

/// `DELETE /{waba-id}/message_templates?name=…[&hsm_id=…]`.
pub(super) async fn delete(
    State(standin): State<StandIn>,
    Path((_version, waba_id)): Path<(String, String)>,
    Query(q): Query<TemplatesQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = standin.waba_for(&waba_id, &headers) {
        return *refused;
    }
    let Some(name) = q.name else {
        return invalid("The parameter name is required");
    };
    let mut s = standin.lock();
    let before = s.templates.len();
    s.templates.retain(|t| {
        !(t.waba_id == waba_id && t.name == name && q.hsm_id.as_deref().is_none_or(|id| t.id == id))
    });
    if s.templates.len() == before {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(2593002),
            "Message template not found",
        );
    }
    Json(json!({"success": true})).into_response()
}

/// `POST /{template-id}`: edits a template's components or category.
pub(super) async fn edit(
    State(standin): State<StandIn>,
    Path((_version, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(held) = standin.templates().into_iter().find(|t| t.id == id) else {
        return no_such_object(&id);
    };
    if let Err(refused) = standin.waba_for(&held.waba_id, &headers) {
        return *refused;
    }
    let Ok(changes) = serde_json::from_slice::<Value>(&body) else {
        return invalid("Invalid parameter");
    };
    let components = changes.get("components").and_then(Value::as_array).cloned();
    if let Some(c) = &components {
        if shared::domain::check_components(c).is_err() {
            return invalid("Invalid parameter");
        }
    }
    let category = changes.get("category").and_then(Value::as_str);
    let mut s = standin.lock();
    if let Some(t) = s.templates.iter_mut().find(|t| t.id == id) {
        if let Some(c) = components {
            t.components = c;
        }
        if let Some(c) = category {
            t.category = c.to_ascii_uppercase();
        }
    }
    Json(json!({"success": true})).into_response()
}

/// `POST /_standin/templates/{id}`: a [`TemplateChange`]; its webhooks go to the configured
/// webhook URL, and are answered.
pub(super) async fn change(
    State(standin): State<StandIn>,
    Path(id): Path<String>,
    Json(change): Json<TemplateChange>,
) -> Response {
    let Some(payloads) = standin.change_template(&id, &change) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let config = standin.config();
    if let Some(url) = &config.webhook_url {
        for p in &payloads {
            let _ = standin
                .post_webhook(url, config.app_secret.as_deref(), p)
                .await;
        }
    }
    Json(json!({"webhooks": payloads})).into_response()
}
