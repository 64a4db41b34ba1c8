//! Operator-managed reference values: an immutable in-memory snapshot handed to the appraisal
//! policy as `input.reference_values`, so appraisal never reads a database.
//!
//! Values are grouped by name (by convention the TEE name, e.g. `sample` → `{"min_svn": 1}`).
//! A value may expire (values imported from signed provenance always do): from its expiry on,
//! appraisals at or after that time do not see it, whatever the snapshot holds.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReferenceValues {
    entries: BTreeMap<String, Value>,
    /// Unix seconds from which an entry is no longer used.
    expiries: BTreeMap<String, i64>,
}

impl ReferenceValues {
    pub fn new(entries: BTreeMap<String, Value>) -> Self {
        Self {
            entries,
            expiries: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) `name`, used only before `expires` (Unix seconds) when given.
    pub fn insert(&mut self, name: String, value: Value, expires: Option<i64>) {
        match expires {
            Some(at) => self.expiries.insert(name.clone(), at),
            None => self.expiries.remove(&name),
        };
        self.entries.insert(name, value);
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Every entry, expired or not.
    pub fn to_json(&self) -> Value {
        self.to_json_filtered(|_| true)
    }

    /// The entries in force at `at` (Unix seconds): what an appraisal at `at` may use.
    pub fn to_json_at(&self, at: i64) -> Value {
        self.to_json_filtered(|name| self.expiries.get(name).is_none_or(|&expiry| at < expiry))
    }

    fn to_json_filtered(&self, keep: impl Fn(&str) -> bool) -> Value {
        Value::Object(
            self.entries
                .iter()
                .filter(|(name, _)| keep(name))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_entries_are_not_in_force_from_their_expiry_on() {
        let mut values = ReferenceValues::default();
        values.insert("kept".into(), Value::from(1), None);
        values.insert("dated".into(), Value::from(2), Some(100));
        assert_eq!(
            values.to_json_at(99),
            serde_json::json!({"kept": 1, "dated": 2})
        );
        assert_eq!(values.to_json_at(100), serde_json::json!({"kept": 1}));
        assert_eq!(values.to_json(), serde_json::json!({"kept": 1, "dated": 2}));
        // Replacing without an expiry lifts it.
        values.insert("dated".into(), Value::from(3), None);
        assert_eq!(
            values.to_json_at(1000),
            serde_json::json!({"kept": 1, "dated": 3})
        );
    }
}
