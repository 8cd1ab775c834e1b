//! What the benchmarks share: an account whose number sends at a chosen rate to opted-in
//! contacts, and the template they send.

use shared::domain::{
    parse_tags, AccessToken, AccountId, ApiKeyName, ApiKeySecret, BusinessName, ContactId,
    ContactName, Email, EndpointUrl, PhoneNumber, PhoneNumberId, WabaId,
};
use shared::events::signature::SigningSecret;
use shared::graph::messages::{Content, Language, LanguagePolicy, Template};
use shared::services::{
    App, ConsentInput, NewAccount, NewContact, NewNumber, NumberChanges, Principal,
};

/// The benchmarks' WhatsApp number (Meta's phone_number_id): the stand-in's demo business's.
pub const NUMBER: &str = crate::standin::DEMO_PHONE_NUMBER_ID;

pub struct BenchAccount {
    pub account: AccountId,
    /// The first API key, for benchmarks that go through the API.
    pub api_key: ApiKeySecret,
    pub number: PhoneNumberId,
    pub contacts: Vec<ContactId>,
}

/// The tag every bench contact carries: a broadcast's audience.
pub const TAG: &str = "customers";

/// Signs up, connects [`NUMBER`] at `messages_per_second`, and creates `contacts` opted-in
/// contacts (+55 11 9…, distinct), named and tagged [`TAG`].
pub async fn bench_account(
    app: &App,
    contacts: usize,
    messages_per_second: u32,
) -> anyhow::Result<BenchAccount> {
    let new = NewAccount {
        business_name: BusinessName::parse("Bench")?,
        email: Email::parse("bench@example.com")?,
        default_region: None,
    };
    let (account, _, api_key) = app.signup(new, ApiKeyName::parse("bench")?).await?;
    let number = PhoneNumberId::parse(NUMBER)?;
    app.connect_number(
        &account.id,
        NewNumber {
            phone_number_id: number.clone(),
            waba_id: WabaId::parse(crate::standin::DEMO_WABA_ID)?,
            display_phone_number: None,
            access_token: AccessToken::parse(crate::standin::DEMO_TOKEN)?,
        },
    )
    .await?;
    app.update_number(
        &Principal::system(account.id.clone()),
        &number,
        NumberChanges {
            messages_per_second: Some(messages_per_second),
            ..Default::default()
        },
    )
    .await?;
    let mut ids = Vec::with_capacity(contacts);
    for i in 0..contacts {
        let c = NewContact {
            phone: Some(PhoneNumber::parse(
                &format!("+55119{:08}", 60_000_000 + i),
                None,
            )?),
            name: Some(ContactName::parse(&format!("Customer {i}"))?),
            tags: parse_tags([TAG])?,
            consent: Some(ConsentInput {
                opted_in: true,
                source: None,
                text: None,
            }),
            ..Default::default()
        };
        ids.push(app.create_contact(&account.id, c).await?.id);
    }
    Ok(BenchAccount {
        account: account.id,
        api_key,
        number,
        contacts: ids,
    })
}

/// A template without parameters, as marketing sends are.
pub fn bench_template() -> Content {
    Content::Template {
        template: Template {
            name: "bench".into(),
            language: Language {
                policy: Some(LanguagePolicy::Deterministic),
                code: "en".into(),
            },
            components: vec![],
        },
    }
}

/// A template message as businesses send them (the stand-in's `bench_order`): an image header,
/// four body parameters, a URL button's parameter and a quick reply's payload; its sealed item
/// is over 1 KB, as real ones are.
pub fn realistic_template(recipient: usize) -> anyhow::Result<Content> {
    let order = format!("#A-2026-{:06}", 118_734 + recipient);
    Ok(serde_json::from_value(serde_json::json!({
        "type": "template",
        "template": {
            "name": "bench_order",
            "language": {"policy": "deterministic", "code": "en"},
            "components": [
                {"type": "header", "parameters": [
                    {"type": "image", "image": {"link": "https://cdn.shop.example.com/banners/winter-2026-delivery.jpg"}}
                ]},
                {"type": "body", "parameters": [
                    {"type": "text", "text": "Maria Fernanda"},
                    {"type": "text", "text": order},
                    {"type": "text", "text": "Thursday, 10 December, between 14:00 and 16:00"},
                    {"type": "currency", "currency": {"fallback_value": "R$ 249,90", "code": "BRL", "amount_1000": 249_900}}
                ]},
                {"type": "button", "sub_type": "url", "index": "0", "parameters": [
                    {"type": "text", "text": format!("track/{}?utm_source=whatsapp&utm_campaign=delivery", &order[1..])}
                ]},
                {"type": "button", "sub_type": "quick_reply", "index": "1", "parameters": [
                    {"type": "payload", "payload": format!("RESCHEDULE_{}", &order[1..])}
                ]}
            ]
        }
    }))?)
}

/// The Graph stand-in as the benchmarks want it: takes every send at any rate, with no pause
/// between sends to one recipient, and posts no statuses back (the benchmark posts them).
pub async fn quiet_standin() -> anyhow::Result<(crate::standin::StandIn, url::Url)> {
    let (standin, url) = crate::standin::StandIn::start(crate::standin::StandInConfig {
        rate_per_number: 100_000,
        pair_interval_ms: 0,
        statuses: vec![],
        ..crate::standin::StandInConfig::default()
    })
    .await?;
    let mut seeds = crate::standin::templates::fixtures();
    seeds.push(crate::standin::templates::bench_order());
    standin.seed_templates(seeds);
    Ok((standin, url))
}

/// An app on the local adapters in a fresh directory under the system's temp dir, sending to a
/// quiet stand-in, with the largest plan: what the single-process benchmarks measure.
pub struct LocalBench {
    pub app: std::sync::Arc<shared::services::App>,
    pub dir: std::path::PathBuf,
    pub _standin: crate::standin::StandIn,
}

impl LocalBench {
    pub async fn start(name: &str) -> anyhow::Result<Self> {
        Self::start_with(name, |app| app).await
    }

    /// As [`LocalBench::start`], with the app configured further before it is shared.
    pub async fn start_with(
        name: &str,
        configure: impl FnOnce(shared::services::App) -> shared::services::App,
    ) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("{name}-{}", ulid::Ulid::new()));
        let (standin, graph_url) = quiet_standin().await?;
        let backend = shared::adapters::local::LocalBackend::open(
            &dir,
            url::Url::parse("http://127.0.0.1:9/")?,
            shared::graph::GraphClient::new(shared::graph::GraphConfig::new(
                graph_url,
                shared::graph::DEFAULT_VERSION,
            )),
        )?;
        let app = configure(
            shared::services::App::new(backend.ports)
                .with_billing(shared::testing::unlimited_billing()),
        );
        Ok(Self {
            app: std::sync::Arc::new(app),
            dir,
            _standin: standin,
        })
    }

    /// Connects the stand-in's demo number to `account`.
    pub async fn connect_demo_number(
        &self,
        account: &shared::domain::AccountId,
    ) -> anyhow::Result<shared::domain::PhoneNumberId> {
        use shared::domain::{AccessToken, PhoneNumberId, WabaId};
        let number = PhoneNumberId::parse(crate::standin::DEMO_PHONE_NUMBER_ID)?;
        self.app
            .connect_number(
                account,
                shared::services::NewNumber {
                    phone_number_id: number.clone(),
                    waba_id: WabaId::parse(crate::standin::DEMO_WABA_ID)?,
                    display_phone_number: None,
                    access_token: AccessToken::parse(crate::standin::DEMO_TOKEN)?,
                },
            )
            .await?;
        Ok(number)
    }

    /// `n` contacts with phones `+4479…`, made through the service.
    pub async fn contacts(
        &self,
        account: &shared::domain::AccountId,
        n: usize,
    ) -> anyhow::Result<Vec<shared::domain::ContactId>> {
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let c = shared::services::NewContact {
                phone: Some(shared::domain::PhoneNumber::from_meta(&format!(
                    "4479{i:08}"
                ))?),
                ..Default::default()
            };
            ids.push(self.app.create_contact(account, c).await?.id);
        }
        Ok(ids)
    }
}

/// One JSON POST with its authorising header (an API key, or Meta's signature), prepared
/// before any timing starts.
pub struct Post {
    pub body: String,
    pub header: (&'static str, String),
}

impl Post {
    pub fn with_api_key(body: String, key: &str) -> Self {
        Self {
            body,
            header: ("authorization", format!("Bearer {key}")),
        }
    }

    /// Signed as Meta signs webhooks, with the app secret.
    pub fn signed(body: String, app_secret: &str) -> Self {
        let signature = shared::webhook::signature::sign(app_secret.as_bytes(), body.as_bytes());
        Self {
            body,
            header: (shared::webhook::signature::HEADER, signature),
        }
    }
}

/// What one POST got: the status (0 when no answer came) and body, and how long it took.
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub latency: std::time::Duration,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Posts every request to `url` from `concurrency` keep-alive connections, as fast as the
/// server answers; the answers come back in the order of `posts`.
pub async fn post_all(
    http: &reqwest::Client,
    url: &str,
    posts: Vec<Post>,
    concurrency: usize,
) -> anyhow::Result<Vec<Answer>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let posts = Arc::new(posts);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (posts, next, http, url) = (posts.clone(), next.clone(), http.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(post) = posts.get(i) else {
                    break;
                };
                let started = std::time::Instant::now();
                let sent = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header(post.header.0, &post.header.1)
                    .body(post.body.clone())
                    .send()
                    .await;
                let (status, body) = match sent {
                    Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                    Err(e) => (0, e.to_string()),
                };
                answers.push((
                    i,
                    Answer {
                        status,
                        body,
                        latency: started.elapsed(),
                    },
                ));
            }
            answers
        }));
    }
    let mut answers = Vec::with_capacity(posts.len());
    for t in tasks {
        answers.extend(t.await?);
    }
    answers.sort_by_key(|(i, _)| *i);
    Ok(answers.into_iter().map(|(_, a)| a).collect())
}

/// A business's system on a loopback port that takes events for many endpoints
/// (`/{path}`), checks each one's Standard Webhooks signature with that endpoint's secret,
/// and answers 204 (400 to a bad signature).
pub struct EventReceiver {
    addr: std::net::SocketAddr,
    seen: std::sync::Arc<Seen>,
}

#[derive(Default)]
struct Seen {
    secrets: std::sync::Mutex<std::collections::HashMap<String, SigningSecret>>,
    by_path: std::sync::Mutex<std::collections::HashMap<String, u64>>,
    total: std::sync::atomic::AtomicU64,
    bad: std::sync::atomic::AtomicU64,
}

impl EventReceiver {
    pub async fn start() -> anyhow::Result<Self> {
        use axum::routing::post;
        let seen = std::sync::Arc::new(Seen::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let router = axum::Router::new()
            .route("/{*path}", post(receive_event))
            .with_state(seen.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(Self { addr, seen })
    }

    /// The URL of the endpoint at `path` (no leading slash).
    pub fn url(&self, path: &str) -> anyhow::Result<EndpointUrl> {
        Ok(EndpointUrl::parse(&format!("http://{}/{path}", self.addr))?)
    }

    /// Takes events at `path` signed with `secret`.
    pub fn expect(&self, path: &str, secret: SigningSecret) {
        lock(&self.seen.secrets).insert(path.to_owned(), secret);
    }

    /// Correctly signed events received.
    pub fn total(&self) -> u64 {
        self.seen.total.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Events refused for their signature.
    pub fn bad(&self) -> u64 {
        self.seen.bad.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many expected paths received other than `n` events.
    pub fn paths_not_receiving(&self, n: u64) -> usize {
        let by_path = lock(&self.seen.by_path);
        lock(&self.seen.secrets)
            .keys()
            .filter(|p| by_path.get(*p).copied().unwrap_or(0) != n)
            .count()
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn receive_event(
    axum::extract::State(seen): axum::extract::State<std::sync::Arc<Seen>>,
    axum::extract::Path(path): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    use std::sync::atomic::Ordering;
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let signed = header("webhook-signature");
    let valid = header("webhook-timestamp")
        .parse::<i64>()
        .ok()
        .is_some_and(|t| {
            lock(&seen.secrets).get(&path).is_some_and(|s| {
                let expected = s.sign(header("webhook-id"), t, &body);
                signed.split(' ').any(|one| one == expected)
            })
        });
    if !valid {
        seen.bad.fetch_add(1, Ordering::Relaxed);
        return axum::http::StatusCode::BAD_REQUEST;
    }
    *lock(&seen.by_path).entry(path).or_default() += 1;
    seen.total.fetch_add(1, Ordering::Relaxed);
    axum::http::StatusCode::NO_CONTENT
}
