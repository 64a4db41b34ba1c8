//! Operator-managed reference values: an immutable in-memory snapshot handed to the appraisal
//! policy as `input.reference_values`, so appraisal never reads a database.
//!
//! Values are grouped by name (by convention the TEE name, e.g. `sample` → `{"min_svn": 1}`).
//! A value may expire (values imported from signed provenance always do): from its expiry on,
//! appraisals at or after that time do not see it, whatever the snapshot holds.
//!
//! Values named after a TEE are typed: [`validate`] checks them against that TEE's schema (the
//! keys the shipped appraisal policy reads, each with its type and, for digests, its length)
//! wherever values enter — the KBS admin API, signed provenance, the verifier service, the CLI —
//! so a typo or a truncated digest is refused instead of silently never matching. Values under
//! other names are free-form, for custom policies.

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

    /// When `name` stops being used (Unix seconds), if it expires.
    pub fn expiry(&self, name: &str) -> Option<i64> {
        self.expiries.get(name).copied()
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

    /// The in-memory index of values kept elsewhere (the store): `(name, JSON text, expiry)`.
    /// A value that is not JSON is an error, never skipped. One that its TEE's schema refuses
    /// (kept before a rule existed, e.g. upper-case hex) is left out, loudly: with no value under
    /// its TEE's name nothing of that TEE is affirmed, whereas using it could let a key that
    /// never matches lift a restriction.
    pub fn from_kept<'a>(
        kept: impl IntoIterator<Item = (&'a str, &'a str, Option<i64>)>,
    ) -> Result<Self, String> {
        let mut values = Self::default();
        for (name, value_json, expires_at) in kept {
            let value: Value = serde_json::from_str(value_json)
                .map_err(|e| format!("stored reference value {name}: {e}"))?;
            if let Err(error) = validate(name, &value) {
                tracing::error!(%name, %error, "stored reference value refused by its schema and NOT used: set it again");
                continue;
            }
            values.insert(name.to_owned(), value, expires_at);
        }
        Ok(values)
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

/// The type of one reference-value key.
#[derive(Clone, Copy)]
enum Field {
    /// A list of hex strings of this many bytes.
    Digests(usize),
    /// A list of strings, from `allowed` when not empty.
    Strings(&'static [&'static str]),
    /// A list of integers up to this maximum.
    Integers(u64),
    /// A non-negative integer.
    Integer,
    Flag,
    /// `{"bootloader", "tee", "snp", "microcode", "fmc"}` → 0..=255.
    MinimumTcb,
    /// `{"<bank>": {"<index 0..23>": [hex of the bank's digest length]}}`.
    Pcrs,
    /// `{"<index 0..23>": [hex of 20, 32, 48 or 64 bytes]}`: allowed event-log digests per PCR.
    EventDigests,
}

const SAMPLE: &[(&str, Field)] = &[("min_svn", Field::Integer)];
const SNP: &[(&str, Field)] = &[
    ("measurements", Field::Digests(48)),
    ("host_data", Field::Digests(32)),
    ("id_key_digests", Field::Digests(48)),
    ("author_key_digests", Field::Digests(48)),
    ("min_guest_svn", Field::Integer),
    ("min_tcb", Field::MinimumTcb),
    ("vmpls", Field::Integers(3)),
    ("signing_keys", Field::Strings(&["vcek", "vlek"])),
    ("allow_debug", Field::Flag),
    ("allow_migrate_ma", Field::Flag),
    ("allow_smt", Field::Flag),
];
const TDX: &[(&str, Field)] = &[
    ("mr_td", Field::Digests(48)),
    ("mr_seam", Field::Digests(48)),
    ("mr_config_id", Field::Digests(48)),
    ("mr_owner", Field::Digests(48)),
    ("rtmr0", Field::Digests(48)),
    ("rtmr1", Field::Digests(48)),
    ("rtmr2", Field::Digests(48)),
    ("rtmr3", Field::Digests(48)),
    ("xfam", Field::Digests(8)),
    ("accepted_tcb_statuses", Field::Strings(&[])),
    ("allow_debug", Field::Flag),
];
const TPM: &[(&str, Field)] = &[
    ("pcrs", Field::Pcrs),
    ("ak_keys", Field::Digests(32)),
    ("event_digests", Field::EventDigests),
    ("require_secure_boot", Field::Flag),
];
const AZ_SNP_VTPM: &[(&str, Field)] = &[
    ("pcrs", Field::Pcrs),
    ("measurements", Field::Digests(48)),
    ("allow_debug", Field::Flag),
];
const AZ_TDX_VTPM: &[(&str, Field)] = &[
    ("pcrs", Field::Pcrs),
    ("mr_td", Field::Digests(48)),
    ("accepted_tcb_statuses", Field::Strings(&[])),
    ("allow_debug", Field::Flag),
];

fn schema(name: &str) -> Option<&'static [(&'static str, Field)]> {
    Some(match name {
        "sample" => SAMPLE,
        "snp" => SNP,
        "tdx" => TDX,
        "tpm" => TPM,
        "az-snp-vtpm" => AZ_SNP_VTPM,
        "az-tdx-vtpm" => AZ_TDX_VTPM,
        _ => return None,
    })
}

/// Checks a reference value against its TEE's schema (see the module documentation).
pub fn validate(name: &str, value: &Value) -> Result<(), String> {
    let Some(fields) = schema(name) else {
        return Ok(());
    };
    let object = value
        .as_object()
        .ok_or_else(|| format!("{name} reference values must be a JSON object"))?;
    for (key, entry) in object {
        let Some((_, field)) = fields.iter().find(|(known, _)| known == key) else {
            let known: Vec<&str> = fields.iter().map(|(known, _)| *known).collect();
            return Err(format!(
                "unknown key {key:?} in {name} reference values (known: {})",
                known.join(", ")
            ));
        };
        check(*field, entry).map_err(|e| format!("{name}.{key}: {e}"))?;
    }
    Ok(())
}

fn list(value: &Value) -> Result<&Vec<Value>, String> {
    value.as_array().ok_or_else(|| "must be a list".to_owned())
}

fn digest(value: &Value, length: usize) -> Result<(), String> {
    let text = value.as_str().ok_or("values must be hex strings")?;
    // Claims are lower-case hex and the policy compares exactly: an upper-case value would
    // silently never match.
    if text.bytes().any(|byte| byte.is_ascii_uppercase()) {
        return Err(format!("{text:?} must be lower-case hex"));
    }
    match hex::decode(text) {
        Ok(bytes) if bytes.len() == length => Ok(()),
        Ok(bytes) => Err(format!("{text} is {} bytes, not {length}", bytes.len())),
        Err(_) => Err(format!("{text:?} is not hex")),
    }
}

fn check(field: Field, value: &Value) -> Result<(), String> {
    match field {
        Field::Digests(length) => list(value)?
            .iter()
            .try_for_each(|entry| digest(entry, length)),
        Field::Strings(allowed) => list(value)?
            .iter()
            .try_for_each(|entry| match entry.as_str() {
                Some(text) if allowed.is_empty() || allowed.contains(&text) => Ok(()),
                _ if allowed.is_empty() => Err("values must be strings".to_owned()),
                _ => Err(format!("values must be among {}", allowed.join(", "))),
            }),
        Field::Integers(max) => list(value)?
            .iter()
            .try_for_each(|entry| match entry.as_u64() {
                Some(number) if number <= max => Ok(()),
                _ => Err(format!("values must be integers from 0 to {max}")),
            }),
        Field::Integer => value
            .as_u64()
            .map(drop)
            .ok_or_else(|| "must be a non-negative integer".to_owned()),
        Field::Flag => value
            .as_bool()
            .map(drop)
            .ok_or_else(|| "must be true or false".to_owned()),
        Field::MinimumTcb => {
            const COMPONENTS: [&str; 5] = ["bootloader", "tee", "snp", "microcode", "fmc"];
            let object = value.as_object().ok_or("must be an object")?;
            object.iter().try_for_each(|(component, minimum)| {
                if !COMPONENTS.contains(&component.as_str()) {
                    return Err(format!(
                        "unknown TCB component {component:?} (known: {})",
                        COMPONENTS.join(", ")
                    ));
                }
                match minimum.as_u64() {
                    Some(number) if number <= 255 => Ok(()),
                    _ => Err(format!("{component} must be an integer from 0 to 255")),
                }
            })
        }
        Field::Pcrs => {
            let banks = value.as_object().ok_or("must be an object of banks")?;
            banks.iter().try_for_each(|(bank, pcrs)| {
                let length = match bank.as_str() {
                    "sha1" => 20,
                    "sha256" => 32,
                    "sha384" => 48,
                    "sha512" => 64,
                    other => return Err(format!("unknown PCR bank {other:?}")),
                };
                let pcrs = pcrs
                    .as_object()
                    .ok_or("a bank must map PCR indexes to lists")?;
                pcrs.iter().try_for_each(|(index, values)| {
                    pcr_index(index).map_err(|e| format!("{bank} {e}"))?;
                    list(values)?
                        .iter()
                        .try_for_each(|entry| digest(entry, length))
                        .map_err(|e| format!("{bank} PCR {index}: {e}"))
                })
            })
        }
        Field::EventDigests => {
            let pcrs = value
                .as_object()
                .ok_or("must map PCR indexes to lists of digests")?;
            pcrs.iter().try_for_each(|(index, values)| {
                pcr_index(index)?;
                list(values)?
                    .iter()
                    .try_for_each(|entry| {
                        [20, 32, 48, 64]
                            .iter()
                            .find_map(|&length| digest(entry, length).ok())
                            .ok_or_else(|| {
                                "values must be hex digests of 20, 32, 48 or 64 bytes".to_owned()
                            })
                    })
                    .map_err(|e| format!("PCR {index}: {e}"))
            })
        }
    }
}

/// A PCR index as claims spell it: `0` to `23`, no sign or leading zero (`"04"` would name no
/// claim, and a rule over it would hold vacuously).
fn pcr_index(index: &str) -> Result<(), String> {
    match index.parse::<u8>() {
        Ok(pcr) if pcr <= 23 && pcr.to_string() == index => Ok(()),
        _ => Err(format!("PCR {index:?} is not 0 to 23")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_their_schema_now_refuses_are_left_out() {
        let kept = [
            (
                "tpm",
                serde_json::json!({"pcrs": {}, "event_digests": {"04": []}}).to_string(),
            ),
            (
                "snp",
                serde_json::json!({"measurements": ["AB".repeat(48)]}).to_string(),
            ),
            ("sample", serde_json::json!({"min_svn": 1}).to_string()),
        ];
        let values = ReferenceValues::from_kept(
            kept.iter().map(|(name, json)| (*name, json.as_str(), None)),
        )
        .unwrap();
        assert_eq!(values.names().collect::<Vec<_>>(), ["sample"]);
    }

    #[test]
    fn tee_named_values_are_checked_against_their_schema_and_others_are_free() {
        let measurement = "ab".repeat(48);
        let pcr = "cd".repeat(32);
        let good = [
            (
                "snp",
                serde_json::json!({"measurements": [measurement], "vmpls": [0], "min_tcb": {"snp": 22}, "allow_debug": false}),
            ),
            (
                "tdx",
                serde_json::json!({"mr_td": [measurement], "accepted_tcb_statuses": ["UpToDate"]}),
            ),
            (
                "tpm",
                serde_json::json!({"pcrs": {"sha256": {"7": [pcr], "14": []}}, "ak_keys": [pcr],
                    "event_digests": {"4": [pcr, "ef".repeat(20)]}, "require_secure_boot": true}),
            ),
            ("tdx", serde_json::json!({"xfam": ["e702060000000000"]})),
            ("sample", serde_json::json!({"min_svn": 1})),
            ("my-policy-data", serde_json::json!(["anything", 1])),
        ];
        for (name, value) in good {
            assert_eq!(validate(name, &value), Ok(()), "{name}");
        }
        let bad = [
            (
                "snp",
                serde_json::json!({"measurement": [measurement]}),
                "unknown key \"measurement\"",
            ),
            (
                "snp",
                serde_json::json!({"measurements": ["abcd"]}),
                "2 bytes, not 48",
            ),
            (
                "snp",
                serde_json::json!({"measurements": "ab"}),
                "must be a list",
            ),
            ("snp", serde_json::json!({"vmpls": [4]}), "0 to 3"),
            (
                "snp",
                serde_json::json!({"signing_keys": ["ark"]}),
                "vcek, vlek",
            ),
            (
                "snp",
                serde_json::json!({"min_tcb": {"ucode": 1}}),
                "unknown TCB component",
            ),
            (
                "snp",
                serde_json::json!({"allow_debug": "yes"}),
                "true or false",
            ),
            (
                "tpm",
                serde_json::json!({"pcrs": {"sha256": {"24": [pcr]}}}),
                "not 0 to 23",
            ),
            (
                "tpm",
                serde_json::json!({"pcrs": {"sha256": {"7": ["00"]}}}),
                "1 bytes, not 32",
            ),
            (
                "tpm",
                serde_json::json!({"pcrs": {"md5": {}}}),
                "unknown PCR bank",
            ),
            ("tdx", serde_json::json!([]), "must be a JSON object"),
            (
                "tdx",
                serde_json::json!({"xfam": ["e702"]}),
                "2 bytes, not 8",
            ),
            (
                "tpm",
                serde_json::json!({"event_digests": {"4": ["abcd"]}}),
                "PCR 4: values must be hex digests of 20, 32, 48 or 64 bytes",
            ),
            (
                "tpm",
                serde_json::json!({"event_digests": {"x": []}}),
                "PCR \"x\" is not 0 to 23",
            ),
            (
                "tpm",
                serde_json::json!({"event_digests": {"04": []}}),
                "PCR \"04\" is not 0 to 23",
            ),
            (
                "tpm",
                serde_json::json!({"pcrs": {"sha256": {"+7": []}}}),
                "PCR \"+7\" is not 0 to 23",
            ),
            (
                "snp",
                serde_json::json!({"measurements": ["AB".repeat(48)]}),
                "must be lower-case hex",
            ),
            ("sample", serde_json::json!({"min_svn": -1}), "non-negative"),
        ];
        for (name, value, expected) in bad {
            let error = validate(name, &value).unwrap_err();
            assert!(error.contains(expected), "{name} {value}: {error}");
        }
    }

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
