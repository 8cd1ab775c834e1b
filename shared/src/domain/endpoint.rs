//! Webhook endpoints: where a business receives its own events, which events it wants there,
//! and the secret their signatures are made with.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{EndpointId, Invalid, Timestamp};

/// What happened, as a receiver subscribes to it. The wire names are the API's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "message.received")]
    MessageReceived,
    #[serde(rename = "message.status")]
    MessageStatus,
    #[serde(rename = "conversation.assigned")]
    ConversationAssigned,
    #[serde(rename = "contact.created")]
    ContactCreated,
    #[serde(rename = "contact.opted_out")]
    ContactOptedOut,
    #[serde(rename = "contact.opted_in")]
    ContactOptedIn,
    #[serde(rename = "broadcast.completed")]
    BroadcastCompleted,
    #[serde(rename = "broadcast.paused")]
    BroadcastPaused,
    #[serde(rename = "template.status")]
    TemplateStatus,
    #[serde(rename = "import.completed")]
    ImportCompleted,
    #[serde(rename = "export.ready")]
    ExportReady,
    #[serde(rename = "number.sending_stopped")]
    NumberSendingStopped,
    #[serde(rename = "subscription.changed")]
    SubscriptionChanged,
    /// Sent on demand to check an endpoint; every endpoint gets it, whatever it subscribes to.
    #[serde(rename = "endpoint.test")]
    EndpointTest,
}

impl EventType {
    /// Every type an endpoint may subscribe to.
    pub const ALL: [EventType; 13] = [
        EventType::MessageReceived,
        EventType::MessageStatus,
        EventType::ConversationAssigned,
        EventType::ContactCreated,
        EventType::ContactOptedOut,
        EventType::ContactOptedIn,
        EventType::BroadcastCompleted,
        EventType::BroadcastPaused,
        EventType::TemplateStatus,
        EventType::ImportCompleted,
        EventType::ExportReady,
        EventType::NumberSendingStopped,
        EventType::SubscriptionChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::MessageReceived => "message.received",
            EventType::MessageStatus => "message.status",
            EventType::ConversationAssigned => "conversation.assigned",
            EventType::ContactCreated => "contact.created",
            EventType::ContactOptedOut => "contact.opted_out",
            EventType::ContactOptedIn => "contact.opted_in",
            EventType::BroadcastCompleted => "broadcast.completed",
            EventType::BroadcastPaused => "broadcast.paused",
            EventType::TemplateStatus => "template.status",
            EventType::ImportCompleted => "import.completed",
            EventType::ExportReady => "export.ready",
            EventType::NumberSendingStopped => "number.sending_stopped",
            EventType::SubscriptionChanged => "subscription.changed",
            EventType::EndpointTest => "endpoint.test",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .chain([EventType::EndpointTest])
            .find(|t| t.as_str() == s)
            .ok_or_else(|| Invalid::new(format!("unknown event type `{}`", truncate(s))))
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// The event types an endpoint wants: at least one, each at most once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventTypes(BTreeSet<EventType>);

impl EventTypes {
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, Invalid> {
        let mut set = BTreeSet::new();
        for n in names {
            let t = EventType::parse(n)?;
            if t == EventType::EndpointTest {
                return Err(Invalid::new(
                    "endpoint.test is sent on demand, not subscribed to",
                ));
            }
            set.insert(t);
        }
        if set.is_empty() {
            return Err(Invalid::new("name at least one event type"));
        }
        Ok(Self(set))
    }

    /// Whether an endpoint with these types gets `t` (a test event goes to every endpoint).
    pub fn includes(&self, t: EventType) -> bool {
        t == EventType::EndpointTest || self.0.contains(&t)
    }

    pub fn iter(&self) -> impl Iterator<Item = EventType> + '_ {
        self.0.iter().copied()
    }
}

/// Where events go: an absolute `https` URL (or `http` where the deployment allows it, the
/// local runner's loopback receivers), without credentials or a fragment, at most 2,048
/// bytes. Whether its host may be reached is decided when connecting, not here: a name
/// resolves differently over time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointUrl(url::Url);

impl EndpointUrl {
    pub const MAX_LEN: usize = 2048;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let input = input.trim();
        if input.len() > Self::MAX_LEN {
            return Err(Invalid::new(format!(
                "is longer than {} bytes",
                Self::MAX_LEN
            )));
        }
        let url = url::Url::parse(input).map_err(|_| Invalid::new("is not an absolute URL"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(Invalid::new("must be an https URL"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Invalid::new("has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Invalid::new(
                "must not hold credentials; verify our signature instead",
            ));
        }
        if url.fragment().is_some() {
            return Err(Invalid::new("must not have a fragment"));
        }
        Ok(Self(url))
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }

    /// The host as an address when the URL names one literally (no resolution happens).
    pub fn literal_ip(&self) -> Option<IpAddr> {
        match self.0.host()? {
            url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
            url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
            url::Host::Domain(_) => None,
        }
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A short text the business gives an endpoint, to tell several apart: at most 100
/// characters.
pub fn parse_description(input: &str) -> Result<String, Invalid> {
    let d = input.trim();
    if d.chars().count() > 100 {
        return Err(Invalid::new("is longer than 100 characters"));
    }
    if d.chars().any(char::is_control) {
        return Err(Invalid::new("must not hold control characters"));
    }
    Ok(d.to_owned())
}

/// Why an endpoint stopped getting events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DisabledReason {
    /// The business disabled it.
    Manual,
    /// It answered 410 Gone.
    Gone,
    /// Every attempt failed for the whole retry period.
    Failing,
}

impl DisabledReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DisabledReason::Manual => "manual",
            DisabledReason::Gone => "gone",
            DisabledReason::Failing => "failing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Manual, Self::Gone, Self::Failing]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A registered endpoint, without its secret (which only signing reads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub id: EndpointId,
    pub url: EndpointUrl,
    pub description: String,
    pub events: EventTypes,
    /// `None` while it gets events.
    pub disabled: Option<DisabledReason>,
    /// The previous secret still signs until then, after a rotation.
    pub previous_secret_until: Option<Timestamp>,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip_and_refuse_the_unknown() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Ok(t));
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                serde_json::json!(t.as_str())
            );
        }
        assert!(EventTypes::parse(["message.received", "nope"]).is_err());
        assert!(EventTypes::parse([]).is_err());
        assert!(EventTypes::parse(["endpoint.test"]).is_err());
        let some = EventTypes::parse(["message.status", "message.status"]).unwrap();
        assert_eq!(some.iter().count(), 1);
        assert!(some.includes(EventType::EndpointTest));
        assert!(!some.includes(EventType::MessageReceived));
    }

    #[test]
    fn endpoint_urls_are_absolute_web_urls_without_credentials() {
        assert!(EndpointUrl::parse("https://hooks.example.com/whatatalk?x=1").is_ok());
        assert!(EndpointUrl::parse("http://127.0.0.1:8080/in").is_ok());
        for bad in [
            "hooks.example.com/in",
            "ftp://hooks.example.com/",
            "https://user:pw@hooks.example.com/",
            "https://hooks.example.com/#frag",
            "javascript:alert(1)",
        ] {
            assert!(EndpointUrl::parse(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(2100));
        assert!(EndpointUrl::parse(&long).is_err());
        let ip = EndpointUrl::parse("https://[::1]:443/").unwrap();
        assert_eq!(ip.literal_ip(), Some("::1".parse().unwrap()));
    }
}
