//! Operator-managed reference values: an immutable in-memory snapshot handed to the appraisal
//! policy as `input.reference_values`, so appraisal never reads a database.
//!
//! Values are grouped by name (by convention the TEE name, e.g. `sample` → `{"min_svn": 1}`).
//! Typed, versioned reference values with provenance come with the gRPC verifier service.

use std::collections::BTreeMap;

use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReferenceValues {
    entries: BTreeMap<String, Value>,
}

impl ReferenceValues {
    pub fn new(entries: BTreeMap<String, Value>) -> Self {
        Self { entries }
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn to_json(&self) -> Value {
        Value::Object(
            self.entries
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }
}
