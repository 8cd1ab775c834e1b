use time::Duration;

use super::{now, ContactId, MessageId, PhoneNumberId, Timestamp};

/// The customer service window a contact's message opens: outside it only templates may be
/// sent to the contact from that number (Meta's error 131047).
pub const SERVICE_WINDOW: Duration = Duration::hours(24);

/// A contact's conversation, as listed.
#[derive(Clone, Debug, PartialEq)]
pub struct Conversation {
    pub contact_id: ContactId,
    pub last_message: LastMessage,
    /// Inbound messages since the conversation was last marked read.
    pub unread: u64,
    /// The number the contact last wrote to, and until when it may answer freely.
    pub window: Option<Window>,
    /// The user who answers it, if one was assigned.
    pub assignee: Option<super::UserId>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LastMessage {
    pub id: MessageId,
    pub inbound: bool,
    pub kind: String,
    pub at: Timestamp,
    /// The first characters of its text, if it has any.
    pub preview: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub number: PhoneNumberId,
    pub open_until: Timestamp,
}

impl Window {
    pub fn is_open(&self) -> bool {
        self.open_until > now()
    }
}
