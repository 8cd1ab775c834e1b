//! Answers remembered briefly by a warm function: values read on every request that change
//! rarely, where a bounded delay before a change is seen elsewhere is acceptable. A change made
//! through this process is seen at once (the writer calls [`Recent::forget`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most entries held; past it the map starts over rather than tracking age order.
const MAX_ENTRIES: usize = 10_000;

pub(crate) struct Recent<V> {
    entries: Mutex<HashMap<String, (V, Instant)>>,
}

impl<V> Default for Recent<V> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<V: Clone> Recent<V> {
    /// The value stored for `key` if it is younger than what `ttl` says for it.
    pub(crate) fn get(&self, key: &str, ttl: impl Fn(&V) -> Duration) -> Option<V> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (value, at) = map.get(key)?;
        (at.elapsed() < ttl(value)).then(|| value.clone())
    }

    pub(crate) fn put(&self, key: &str, value: V) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key.to_owned(), (value, Instant::now()));
    }

    pub(crate) fn forget(&self, key: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_lives_for_its_ttl_and_until_forgotten() {
        let recent: Recent<u32> = Recent::default();
        recent.put("a", 1);
        assert_eq!(recent.get("a", |_| Duration::from_secs(60)), Some(1));
        assert_eq!(recent.get("a", |_| Duration::ZERO), None);
        assert_eq!(recent.get("b", |_| Duration::from_secs(60)), None);
        recent.forget("a");
        assert_eq!(recent.get("a", |_| Duration::from_secs(60)), None);
    }

    #[test]
    fn a_full_map_starts_over() {
        let recent: Recent<usize> = Recent::default();
        for i in 0..=MAX_ENTRIES {
            recent.put(&i.to_string(), i);
        }
        assert_eq!(recent.get("0", |_| Duration::from_secs(60)), None);
        let last = MAX_ENTRIES.to_string();
        assert_eq!(
            recent.get(&last, |_| Duration::from_secs(60)),
            Some(MAX_ENTRIES)
        );
    }
}
