//! How much one tenant, one key or one client address may ask of the shared service.

/// Requests per second the API takes from one account, and from one of its API keys. Fixed
/// one-second windows: a client may see up to twice a limit across a window's edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiLimits {
    pub per_account: u32,
    pub per_key: u32,
    /// Accounts one client address may create per hour.
    pub signups_per_hour: u32,
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            // A key sending at a number's 80 or 200 messages a second tier, and polling
            // besides, stays within these; ten tenants at their limit stay within the stage's.
            per_account: 300,
            per_key: 200,
            signups_per_hour: 5,
        }
    }
}

/// Why a request was refused for its rate, and when to come back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimited {
    /// The policy that was hit: `account`, `key` or `signup`.
    pub policy: &'static str,
    /// Its quota per window.
    pub limit: u32,
    /// The window, in seconds.
    pub window_seconds: u32,
    /// Milliseconds until the window resets.
    pub retry_after_ms: u64,
}
