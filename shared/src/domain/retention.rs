use serde::Serialize;

use super::Invalid;

/// A tenant's retention policy, in days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RetentionPolicy {
    pub message_days: u32,
    pub media_days: u32,
    pub export_days: u32,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            message_days: 365,
            media_days: 90,
            export_days: 7,
        }
    }
}

/// A change of the policy; `None` keeps a value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionChanges {
    pub message_days: Option<u32>,
    pub media_days: Option<u32>,
    pub export_days: Option<u32>,
}

impl RetentionChanges {
    /// Bounds: messages and media 1 to 3,650 days, exports 1 to 7 (the bucket's lifecycle
    /// removes export files after 7 days whatever the policy).
    pub fn check(&self) -> Result<(), (&'static str, Invalid)> {
        for (field, value, max) in [
            ("retention.message_days", self.message_days, 3650),
            ("retention.media_days", self.media_days, 3650),
            ("retention.export_days", self.export_days, 7),
        ] {
            if let Some(v) = value {
                if v == 0 || v > max {
                    return Err((field, Invalid::new(format!("must be 1 to {max} days"))));
                }
            }
        }
        Ok(())
    }
}
