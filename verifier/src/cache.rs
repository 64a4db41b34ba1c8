//! A bounded map of verification results shared by the TEE modules: chain and signature checks
//! are cached by the fingerprints of what was checked, so repeated appraisals of the same
//! platform only do the per-evidence arithmetic. Entries hold only facts that do not depend on
//! the verification time (time windows are judged on every call).

use std::collections::HashMap;
use std::sync::Mutex;

/// When full it is emptied, which only costs re-verification.
pub(crate) struct BoundedCache<K, V> {
    entries: Mutex<HashMap<K, V>>,
}

const CACHE_CAPACITY: usize = 4096;

impl<K, V> Default for BoundedCache<K, V> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> BoundedCache<K, V> {
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// The cached value, or `compute`'s (run outside the lock, then cached). For facts that are
    /// the same whenever they are computed, failures included (e.g. "this signature verifies").
    pub(crate) fn get_or_compute(&self, key: K, compute: impl FnOnce() -> V) -> V {
        if let Some(hit) = self.get(&key) {
            return hit;
        }
        let value = compute();
        self.insert(key, value.clone());
        value
    }

    pub(crate) fn insert(&self, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_CAPACITY {
            entries.clear();
        }
        entries.insert(key, value);
    }
}
