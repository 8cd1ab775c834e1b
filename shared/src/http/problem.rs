use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// Base of every problem `type` URI; each type is documented in docs/problems.md.
pub const PROBLEM_BASE: &str = "https://whatatalk.dev/problems/";

/// The stable problem types. The slug is part of the API contract: never rename one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemType {
    MalformedRequest,
    ValidationFailed,
    UnsupportedMediaType,
    PayloadTooLarge,
    Unauthorized,
    SignatureInvalid,
    VerificationFailed,
    LinkInvalid,
    NotFound,
    MethodNotAllowed,
    NumberAlreadyConnected,
    AlreadyRunning,
    RateLimited,
    NumberNotOwned,
    WabaConnectedElsewhere,
    LastApiKey,
    ContactExists,
    ContactChanged,
    ImportNotUploaded,
    NumberNotConnected,
    NumberStopped,
    RecipientNotFound,
    RecipientNotOptedIn,
    RecipientOptedOut,
    OutsideServiceWindow,
    TemplateNotFound,
    TemplateNotApproved,
    BroadcastState,
    InvalidCursor,
    GraphError,
    PaymentRequired,
    CardDataRefused,
    BillingSignatureInvalid,
    Forbidden,
    EmailTaken,
    Internal,
    Unavailable,
}

impl ProblemType {
    pub const ALL: [ProblemType; 37] = [
        ProblemType::MalformedRequest,
        ProblemType::ValidationFailed,
        ProblemType::UnsupportedMediaType,
        ProblemType::PayloadTooLarge,
        ProblemType::Unauthorized,
        ProblemType::SignatureInvalid,
        ProblemType::VerificationFailed,
        ProblemType::LinkInvalid,
        ProblemType::NotFound,
        ProblemType::MethodNotAllowed,
        ProblemType::NumberAlreadyConnected,
        ProblemType::AlreadyRunning,
        ProblemType::RateLimited,
        ProblemType::NumberNotOwned,
        ProblemType::WabaConnectedElsewhere,
        ProblemType::LastApiKey,
        ProblemType::ContactExists,
        ProblemType::ContactChanged,
        ProblemType::ImportNotUploaded,
        ProblemType::NumberNotConnected,
        ProblemType::NumberStopped,
        ProblemType::RecipientNotFound,
        ProblemType::RecipientNotOptedIn,
        ProblemType::RecipientOptedOut,
        ProblemType::OutsideServiceWindow,
        ProblemType::TemplateNotFound,
        ProblemType::TemplateNotApproved,
        ProblemType::BroadcastState,
        ProblemType::InvalidCursor,
        ProblemType::GraphError,
        ProblemType::PaymentRequired,
        ProblemType::CardDataRefused,
        ProblemType::BillingSignatureInvalid,
        ProblemType::Forbidden,
        ProblemType::EmailTaken,
        ProblemType::Internal,
        ProblemType::Unavailable,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            ProblemType::MalformedRequest => "malformed-request",
            ProblemType::ValidationFailed => "validation-failed",
            ProblemType::UnsupportedMediaType => "unsupported-media-type",
            ProblemType::PayloadTooLarge => "payload-too-large",
            ProblemType::Unauthorized => "unauthorized",
            ProblemType::SignatureInvalid => "signature-invalid",
            ProblemType::VerificationFailed => "verification-failed",
            ProblemType::LinkInvalid => "link-invalid",
            ProblemType::NotFound => "not-found",
            ProblemType::MethodNotAllowed => "method-not-allowed",
            ProblemType::NumberAlreadyConnected => "number-already-connected",
            ProblemType::NumberNotOwned => "number-not-owned",
            ProblemType::AlreadyRunning => "already-running",
            ProblemType::RateLimited => "rate-limited",
            ProblemType::WabaConnectedElsewhere => "waba-connected-elsewhere",
            ProblemType::LastApiKey => "last-api-key",
            ProblemType::ContactExists => "contact-exists",
            ProblemType::ContactChanged => "contact-changed",
            ProblemType::ImportNotUploaded => "import-not-uploaded",
            ProblemType::NumberNotConnected => "number-not-connected",
            ProblemType::NumberStopped => "number-stopped",
            ProblemType::RecipientNotFound => "recipient-not-found",
            ProblemType::RecipientNotOptedIn => "recipient-not-opted-in",
            ProblemType::RecipientOptedOut => "recipient-opted-out",
            ProblemType::OutsideServiceWindow => "outside-service-window",
            ProblemType::TemplateNotFound => "template-not-found",
            ProblemType::TemplateNotApproved => "template-not-approved",
            ProblemType::BroadcastState => "broadcast-state",

            ProblemType::InvalidCursor => "invalid-cursor",
            ProblemType::GraphError => "graph-error",
            ProblemType::PaymentRequired => "payment-required",
            ProblemType::CardDataRefused => "card-data-refused",
            ProblemType::BillingSignatureInvalid => "billing-signature-invalid",
            ProblemType::Forbidden => "forbidden",
            ProblemType::EmailTaken => "email-taken",
            ProblemType::Internal => "internal-error",
            ProblemType::Unavailable => "service-unavailable",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ProblemType::MalformedRequest | ProblemType::InvalidCursor => StatusCode::BAD_REQUEST,
            ProblemType::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemType::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemType::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemType::Unauthorized | ProblemType::SignatureInvalid => StatusCode::UNAUTHORIZED,
            ProblemType::VerificationFailed | ProblemType::NumberNotOwned => StatusCode::FORBIDDEN,
            ProblemType::LinkInvalid | ProblemType::Forbidden => StatusCode::FORBIDDEN,
            ProblemType::NotFound => StatusCode::NOT_FOUND,
            ProblemType::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemType::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ProblemType::NumberAlreadyConnected
            | ProblemType::AlreadyRunning
            | ProblemType::WabaConnectedElsewhere
            | ProblemType::LastApiKey
            | ProblemType::EmailTaken
            | ProblemType::ContactExists
            | ProblemType::ContactChanged
            | ProblemType::ImportNotUploaded
            | ProblemType::NumberStopped
            | ProblemType::BroadcastState => StatusCode::CONFLICT,
            ProblemType::NumberNotConnected
            | ProblemType::RecipientNotFound
            | ProblemType::RecipientNotOptedIn
            | ProblemType::RecipientOptedOut
            | ProblemType::OutsideServiceWindow
            | ProblemType::TemplateNotFound
            | ProblemType::TemplateNotApproved => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemType::GraphError => StatusCode::BAD_GATEWAY,
            ProblemType::PaymentRequired => StatusCode::PAYMENT_REQUIRED,
            ProblemType::CardDataRefused => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemType::BillingSignatureInvalid => StatusCode::BAD_REQUEST,
            ProblemType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ProblemType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemType::MalformedRequest => "The request could not be read.",
            ProblemType::ValidationFailed => "Some fields are invalid.",
            ProblemType::UnsupportedMediaType => "This content type is not accepted here.",
            ProblemType::PayloadTooLarge => "The request body is larger than the limit.",
            ProblemType::Unauthorized => "A valid API key is required.",
            ProblemType::SignatureInvalid => {
                "X-Hub-Signature-256 is missing or does not match the body."
            }
            ProblemType::VerificationFailed => "The webhook verification request was refused.",
            ProblemType::LinkInvalid => "This link is invalid or has expired.",
            ProblemType::NotFound => "No such resource.",
            ProblemType::MethodNotAllowed => "This method is not allowed on this resource.",
            ProblemType::NumberAlreadyConnected => "This WhatsApp number is already connected.",
            ProblemType::AlreadyRunning => "One of these is already running for this account.",
            ProblemType::RateLimited => "Too many requests; retry after the time given.",
            ProblemType::NumberNotOwned => {
                "Meta does not list this number under this WhatsApp Business Account for this token."
            }
            ProblemType::WabaConnectedElsewhere => {
                "Another account holds this WhatsApp Business Account's numbers."
            }
            ProblemType::LastApiKey => "The last active API key cannot be revoked.",
            ProblemType::ContactExists => "A contact with this phone or user id exists.",
            ProblemType::ContactChanged => "The contact changed while this request ran; retry.",
            ProblemType::ImportNotUploaded => "The import's file has not been uploaded yet.",
            ProblemType::NumberNotConnected => {
                "The sending number is not connected to this account."
            }
            ProblemType::NumberStopped => "This number cannot send until its owner acts.",
            ProblemType::RecipientNotFound => "No contact of this account is the recipient.",
            ProblemType::RecipientNotOptedIn => {
                "The recipient has not opted in to business-initiated messages."
            }
            ProblemType::RecipientOptedOut => "The recipient opted out of marketing messages.",
            ProblemType::OutsideServiceWindow => {
                "Outside the 24-hour customer service window only templates may be sent."
            }
            ProblemType::TemplateNotFound => {
                "The sending number's WhatsApp Business Account has no such template in this language."
            }
            ProblemType::TemplateNotApproved => "Meta does not deliver this template in its status.",
            ProblemType::BroadcastState => "The broadcast cannot do that in its current state.",

            ProblemType::InvalidCursor => "The pagination cursor is invalid.",
            ProblemType::GraphError => "Meta's Graph API refused or failed the request.",
            ProblemType::PaymentRequired => "The subscription or the plan does not cover this.",
            ProblemType::CardDataRefused => "Card numbers are never accepted here.",
            ProblemType::BillingSignatureInvalid => {
                "The payment event's signature is missing, stale or wrong."
            }
            ProblemType::Forbidden => "Your role does not allow this.",
            ProblemType::EmailTaken => "A user with this email address exists.",
            ProblemType::Internal => "Something went wrong on our side.",
            ProblemType::Unavailable => "A backing service is unavailable; retry later.",
        }
    }

    pub fn uri(self) -> String {
        format!("{PROBLEM_BASE}{}", self.slug())
    }
}

/// An RFC 9457 problem detail, answered as `application/problem+json`.
#[derive(Debug)]
pub struct Problem {
    pub kind: ProblemType,
    pub detail: Option<String>,
    pub extensions: Map<String, Value>,
    /// Response headers the problem comes with (a rate limit's `Retry-After`).
    pub headers: Vec<(header::HeaderName, String)>,
}

impl Problem {
    pub fn new(kind: ProblemType) -> Self {
        Self {
            kind,
            detail: None,
            extensions: Map::new(),
            headers: Vec::new(),
        }
    }

    /// `429`, with `Retry-After` (whole seconds) and the `RateLimit-Policy` and `RateLimit`
    /// fields of draft-ietf-httpapi-ratelimit-headers: the policy hit, its quota and window,
    /// nothing remaining until the reset.
    pub fn rate_limited(r: &crate::domain::RateLimited) -> Self {
        let seconds = r.retry_after_ms.div_ceil(1000).max(1);
        let mut p = Problem::new(ProblemType::RateLimited)
            .with_detail(format!(
                "Over the {} limit of {} requests per {} s; retry in {seconds} s.",
                r.policy, r.limit, r.window_seconds
            ))
            .with("policy", Value::from(r.policy))
            .with("limit", Value::from(r.limit))
            .with("retry_after_seconds", Value::from(seconds));
        p.headers = vec![
            (header::RETRY_AFTER, seconds.to_string()),
            (
                header::HeaderName::from_static("ratelimit-policy"),
                format!("\"{}\";q={};w={}", r.policy, r.limit, r.window_seconds),
            ),
            (
                header::HeaderName::from_static("ratelimit"),
                format!("\"{}\";r=0;t={seconds}", r.policy),
            ),
        ];
        p
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a member beside the standard ones (e.g. `errors`).
    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.extensions.insert(name.to_owned(), value);
        self
    }

    pub fn not_found() -> Self {
        Self::new(ProblemType::NotFound)
    }

    /// A 500 whose cause is logged, not shown. Callers pass infrastructure errors only, whose
    /// messages carry no personal data (ids and key hashes at most).
    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %error, "internal error");
        Self::new(ProblemType::Internal)
    }

    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("type".into(), Value::String(self.kind.uri()));
        body.insert("title".into(), Value::String(self.kind.title().into()));
        body.insert("status".into(), Value::from(self.kind.status().as_u16()));
        if let Some(detail) = &self.detail {
            body.insert("detail".into(), Value::String(detail.clone()));
        }
        for (k, v) in &self.extensions {
            body.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Value::Object(body)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (
            self.status(),
            [(header::CONTENT_TYPE, "application/problem+json")],
            self.body().to_string(),
        )
            .into_response();
        for (name, value) in &self.headers {
            if let Ok(v) = header::HeaderValue::from_str(value) {
                response.headers_mut().insert(name.clone(), v);
            }
        }
        if self.kind == ProblemType::Unauthorized {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<crate::services::ServiceError> for Problem {
    fn from(e: crate::services::ServiceError) -> Self {
        use crate::crypto::CryptoError;
        use crate::ports::StoreError;
        use crate::services::ServiceError as E;
        match e {
            E::NotFound | E::AccountClosing => Problem::not_found(),
            E::Invalid(errors) => Problem::new(ProblemType::ValidationFailed)
                .with("errors", serde_json::to_value(errors).unwrap_or_default()),
            E::Unauthorized => Problem::new(ProblemType::Unauthorized),
            E::NumberAlreadyConnected => Problem::new(ProblemType::NumberAlreadyConnected),
            E::NumberNotProven { graph_code } => {
                let problem = Problem::new(ProblemType::NumberNotOwned).with_detail(
                    "Use a token of the business that owns the number (a system user token with whatsapp_business_management and whatsapp_business_messaging), and the WABA id Meta lists the number under.",
                );
                match graph_code {
                    Some(code) => problem.with("graph_error_code", serde_json::Value::from(code)),
                    None => problem,
                }
            }
            E::WabaConnectedElsewhere => Problem::new(ProblemType::WabaConnectedElsewhere),
            E::AlreadyRunning(what) => Problem::new(ProblemType::AlreadyRunning)
                .with_detail(format!("A {what} of this account is queued or running; wait for it to finish."))
                .with("running", serde_json::Value::from(what)),
            E::RateLimited(r) => Problem::rate_limited(&r),
            E::Forbidden(what) => Problem::new(ProblemType::Forbidden)
                .with_detail(match what {
                    crate::domain::Permission::CloseAccount => "Only the account's owner closes it.".to_owned(),
                    _ => format!("Only the account's owner or an admin manages {}.", what.as_str()),
                }),
            E::EmailTaken => Problem::new(ProblemType::EmailTaken),
            E::LastApiKey => Problem::new(ProblemType::LastApiKey)
                .with_detail("Create another key first, then revoke this one."),
            E::ContactExists { existing_id } => Problem::new(ProblemType::ContactExists).with(
                "existing_id",
                serde_json::Value::String(existing_id.to_string()),
            ),
            E::ContactChanged => Problem::new(ProblemType::ContactChanged),
            E::NumberNotConnected => Problem::new(ProblemType::NumberNotConnected),
            E::NumberStopped { code, reason } => Problem::new(ProblemType::NumberStopped)
                .with_detail(format!("Meta error {code}: {reason}. Update the number's access_token, or resolve the account's status with Meta."))
                .with("graph_error_code", serde_json::Value::from(code)),
            E::RecipientNotFound => Problem::new(ProblemType::RecipientNotFound)
                .with_detail("Create the contact (with consent, for templates) before messaging it."),
            E::RecipientNotOptedIn => Problem::new(ProblemType::RecipientNotOptedIn)
                .with_detail("Record the contact's consent (consent.opted_in) before sending templates."),
            E::RecipientOptedOut => Problem::new(ProblemType::RecipientOptedOut),
            E::TemplateNotFound { name, language } => Problem::new(ProblemType::TemplateNotFound)
                .with_detail(format!("No template {name} in {language} under the number's WABA, here or at Meta. See GET /v1/templates."))
                .with("errors", serde_json::json!([{"field": "template.name", "message": format!("no template {name} in {language}")}])),
            E::TemplateNotApproved { name, status } => Problem::new(ProblemType::TemplateNotApproved)
                .with_detail(format!("The template {name} is {status}; only approved templates are delivered."))
                .with("template_status", serde_json::Value::from(status.clone()))
                .with("errors", serde_json::json!([{"field": "template.name", "message": format!("the template is {status}")}])),
            E::BroadcastState(state) => Problem::new(ProblemType::BroadcastState)
                .with_detail(format!("The broadcast is {state}."))
                .with("broadcast_status", serde_json::Value::from(state)),
            E::OutsideServiceWindow => Problem::new(ProblemType::OutsideServiceWindow)
                .with_detail("The contact has not written to this number in the last 24 hours; send a template."),
            E::ImportNotUploaded => Problem::new(ProblemType::ImportNotUploaded).with_detail(
                "PUT the CSV file to the upload_url first, with Content-Type: text/csv.",
            ),
            E::Store(StoreError::InvalidCursor) => Problem::new(ProblemType::InvalidCursor),
            E::PaymentRequired {
                reason,
                plan,
                state,
                included,
                used,
            } => Problem::new(ProblemType::PaymentRequired)
                .with_detail(format!("Sending is refused: {reason}. See GET /v1/billing."))
                .with("plan", serde_json::Value::from(plan))
                .with(
                    "subscription_state",
                    state.map_or(serde_json::Value::Null, serde_json::Value::from),
                )
                .with(
                    "usage",
                    serde_json::json!({"included_template_messages": included, "template_messages_used": used}),
                ),
            E::CardDataRefused { field } => Problem::new(ProblemType::CardDataRefused)
                .with_detail(format!(
                    "`{field}` looks like a payment card number. Cards are entered at the payment provider's checkout, never here."
                ))
                .with("field", serde_json::Value::from(field)),
            E::Graph { code: Some(code), message } => Problem::new(ProblemType::GraphError)
                .with_detail(format!("Meta error {code}: {message}"))
                .with("graph_error_code", serde_json::Value::from(code)),
            E::Graph { code: None, message } => {
                tracing::warn!(error = %message, "graph api unavailable");
                Problem::new(ProblemType::Unavailable)
            }
            E::Busy
            | E::Blob(_)
            | E::Queue(_)
            | E::Store(StoreError::Throttled | StoreError::Unavailable(_))
            | E::Crypto(CryptoError::Vault(crate::ports::VaultError::Unavailable(_))) => {
                tracing::warn!(error = %e, "backing service unavailable");
                Problem::new(ProblemType::Unavailable)
            }
            e => Problem::internal(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_unique() {
        let mut slugs: Vec<_> = ProblemType::ALL.iter().map(|p| p.slug()).collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), ProblemType::ALL.len());
    }

    #[test]
    fn body_has_the_standard_members() {
        let p = Problem::new(ProblemType::NotFound).with_detail("no contact c_1");
        let b = p.body();
        assert_eq!(b["type"], "https://whatatalk.dev/problems/not-found");
        assert_eq!(b["status"], 404);
        assert_eq!(b["detail"], "no contact c_1");
    }
}
