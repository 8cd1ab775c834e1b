//! Helpers for tests of this crate and the crates above it.

use std::path::Path;

use crate::adapters::local::LocalBackend;
use crate::services::App;

/// An [`App`] on the local adapters under `dir` (blob links are not served).
pub fn local_app(dir: &Path) -> App {
    let url = url::Url::parse("http://127.0.0.1:9/").expect("static url");
    App::new(
        LocalBackend::open(dir, url)
            .expect("open local backend")
            .ports,
    )
}
