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

/// A snapshot of reference values by name, with optional expiries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReferenceValues {
    entries: BTreeMap<String, Value>,
    /// Unix seconds from which an entry is no longer used.
    expiries: BTreeMap<String, i64>,
}

impl ReferenceValues {
    /// A snapshot of these values, none of which expires.
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

    /// The value stored under `name`, expired or not.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries.get(name)
    }

    /// When `name` stops being used (Unix seconds), if it expires.
    pub fn expiry(&self, name: &str) -> Option<i64> {
        self.expiries.get(name).copied()
    }

    /// Every name, expired or not, in name order.
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// A list of lower-case hex strings of this many bytes.
    Digests(usize),
    /// A list of strings, from the given ones when not empty.
    Strings(&'static [&'static str]),
    /// A list of integers up to this maximum.
    Integers(u64),
    /// A non-negative integer.
    Integer,
    /// A boolean.
    Flag,
    /// `{"bootloader", "tee", "snp", "microcode", "fmc"}` → 0..=255.
    MinimumTcb,
    /// `{"<bank>": {"<index 0..23>": [hex of the bank's digest length]}}`.
    Pcrs,
    /// `{"<index 0..23>": [hex of 20, 32, 48 or 64 bytes]}`: allowed event-log digests per PCR.
    EventDigests,
}

/// What a key constrains, as the decision trace compares it (the policy decides).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Constraint {
    /// The claim at this path (`.`-separated; for Azure also under the hardware report) must be
    /// one of the listed values.
    Listed(&'static str),
    /// The claim at this path must be at least the value.
    AtLeast(&'static str),
    /// Each listed PCR (`pcrs.<bank>.<index>`) must hold one of its values.
    Pcrs,
    /// Each listed PCR's events in the verified log must all have listed digests.
    EventDigests,
    /// Applied by the policy only (flags, statuses, minimum TCB): shown, not compared.
    PolicyOnly,
}

/// One key of a TEE's reference values.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    /// The key's name within the TEE's reference values.
    pub name: &'static str,
    /// The type its value must have.
    pub field: Field,
    /// What claim it constrains, for the decision trace.
    pub constraint: Constraint,
    /// What it means to the shipped appraisal policy.
    pub doc: &'static str,
}

/// The reference values of one TEE: every key the shipped appraisal policy reads. The one
/// definition validation ([`validate`]), the decision trace (`explain`) and the documented
/// schema ([`schema_markdown`]) come from; a test checks the policy reads exactly these keys.
#[derive(Clone, Copy, Debug)]
pub struct Schema {
    /// The name values are stored under: the TEE's.
    pub name: &'static str,
    /// What a value without the optional keys needs to affirm.
    pub summary: &'static str,
    /// The keys the shipped appraisal policy reads.
    pub keys: &'static [Key],
}

impl Schema {
    /// The key named `name`; `None` if the schema has no such key.
    pub fn key(&self, name: &str) -> Option<&'static Key> {
        self.keys.iter().find(|key| key.name == name)
    }
}

const fn key(name: &'static str, field: Field, constraint: Constraint, doc: &'static str) -> Key {
    Key {
        name,
        field,
        constraint,
        doc,
    }
}

/// A list of `length`-byte digests, one of which `claim` must be.
const fn digests(name: &'static str, length: usize, claim: &'static str, doc: &'static str) -> Key {
    key(name, Field::Digests(length), Constraint::Listed(claim), doc)
}

/// A switch the policy reads.
const fn flag(name: &'static str, doc: &'static str) -> Key {
    key(name, Field::Flag, Constraint::PolicyOnly, doc)
}

const DEBUG: Key = flag(
    "allow_debug",
    "true to accept a guest that allows debugging (never in production)",
);
const PCRS: Key = key(
    "pcrs",
    Field::Pcrs,
    Constraint::Pcrs,
    "every listed PCR must hold one of its values; at least one PCR must be listed to affirm",
);
const MEASUREMENTS: Key = digests(
    "measurements",
    48,
    "measurement",
    "allowed SNP MEASUREMENT values",
);
const MR_TD: Key = digests("mr_td", 48, "mr_td", "allowed MRTD values");
const TCB_STATUSES: Key = key(
    "accepted_tcb_statuses",
    Field::Strings(&[]),
    Constraint::PolicyOnly,
    "Intel TCB statuses accepted as affirming (default [\"UpToDate\"]); others are a warning, OutOfDate* contraindicated unless listed",
);

/// Every TEE's reference values, in the order they are documented.
pub const SCHEMAS: &[Schema] = &[
    Schema {
        name: "sample",
        summary: "INSECURE sample evidence: affirming when min_svn is met",
        keys: &[key(
            "min_svn",
            Field::Integer,
            Constraint::AtLeast("svn"),
            "minimum SVN",
        )],
    },
    Schema {
        name: "snp",
        summary: "Nothing is affirmed without measurements; the other keys restrict when present",
        keys: &[
            MEASUREMENTS,
            digests("host_data", 32, "host_data", "allowed HOST_DATA values"),
            digests(
                "id_key_digests",
                48,
                "id_key_digest",
                "allowed ID key digests",
            ),
            digests(
                "author_key_digests",
                48,
                "author_key_digest",
                "allowed author key digests",
            ),
            key(
                "min_guest_svn",
                Field::Integer,
                Constraint::AtLeast("guest_svn"),
                "minimum GUEST_SVN",
            ),
            key(
                "min_tcb",
                Field::MinimumTcb,
                Constraint::PolicyOnly,
                "minimum REPORTED_TCB per component",
            ),
            key(
                "vmpls",
                Field::Integers(3),
                Constraint::Listed("vmpl"),
                "allowed VMPLs",
            ),
            key(
                "signing_keys",
                Field::Strings(&["vcek", "vlek"]),
                Constraint::Listed("signing_key"),
                "allowed signing keys",
            ),
            DEBUG,
            flag(
                "allow_migrate_ma",
                "true to accept guests with a migration agent",
            ),
            flag("allow_smt", "false to refuse guests that allow SMT"),
        ],
    },
    Schema {
        name: "tdx",
        summary: "Nothing is affirmed without mr_td; the other keys restrict when present",
        keys: &[
            MR_TD,
            digests("mr_seam", 48, "mr_seam", "allowed TDX module measurements"),
            digests(
                "mr_config_id",
                48,
                "mr_config_id",
                "allowed MRCONFIGID values",
            ),
            digests("mr_owner", 48, "mr_owner", "allowed MROWNER values"),
            digests("rtmr0", 48, "rtmr0", "allowed RTMR0 values"),
            digests("rtmr1", 48, "rtmr1", "allowed RTMR1 values"),
            digests("rtmr2", 48, "rtmr2", "allowed RTMR2 values"),
            digests("rtmr3", 48, "rtmr3", "allowed RTMR3 values"),
            digests(
                "xfam",
                8,
                "xfam",
                "allowed XFAM values (the CPU extended features the TD may use)",
            ),
            TCB_STATUSES,
            DEBUG,
        ],
    },
    Schema {
        name: "tpm",
        summary: "Nothing is affirmed without pcrs",
        keys: &[
            PCRS,
            digests(
                "ak_keys",
                32,
                "ak.spki_sha256",
                "allowed AKs, as SHA-256 of their SubjectPublicKeyInfo; another AK is contraindicated",
            ),
            key(
                "event_digests",
                Field::EventDigests,
                Constraint::EventDigests,
                "a listed PCR must have been replayed from the verified event log, and every event the log extends into it must have one of its digests, to affirm",
            ),
            flag(
                "require_secure_boot",
                "true to contraindicate quotes whose event log does not prove Secure Boot on",
            ),
        ],
    },
    Schema {
        name: "az-snp-vtpm",
        summary: "Nothing is affirmed without pcrs",
        keys: &[PCRS, MEASUREMENTS, DEBUG],
    },
    Schema {
        name: "az-tdx-vtpm",
        summary: "Nothing is affirmed without pcrs",
        keys: &[PCRS, MR_TD, TCB_STATUSES, DEBUG],
    },
];

/// The schema of the values stored under `name`; `None` for free-form names.
pub fn schema(name: &str) -> Option<&'static Schema> {
    SCHEMAS.iter().find(|schema| schema.name == name)
}

/// The claims of `tee`'s annotated evidence that its reference-value schema constrains (the
/// measurements a policy can pin), by claim path: what an attested-signing certificate records
/// of the build it certifies. Absent claims are left out.
pub fn constrained_claims(tee: &str, evidence: &Value) -> BTreeMap<String, Value> {
    let Some(schema) = schema(tee) else {
        return BTreeMap::new();
    };
    schema
        .keys
        .iter()
        .filter_map(|key| match key.constraint {
            Constraint::Listed(path) | Constraint::AtLeast(path) => Some(path),
            Constraint::Pcrs => Some("pcrs"),
            Constraint::EventDigests | Constraint::PolicyOnly => None,
        })
        .filter_map(|path| {
            let value = path
                .split('.')
                .try_fold(evidence, |value, part| value.get(part))?;
            Some((path.to_owned(), value.clone()))
        })
        .collect()
}

/// The documented schema (Markdown), generated from [`SCHEMAS`]: `docs/reference-values.md`
/// is this text, checked by a test.
pub fn schema_markdown() -> String {
    let mut text = String::from(
        "# Reference values\n\n\
         Generated from `verifier/src/reference.rs` (`reference::SCHEMAS`), the one definition\n\
         that validation, the decision trace (`explain`) and this page come from; a test keeps\n\
         this page equal to it. Values stored under a TEE's name are checked against that\n\
         TEE's table wherever they enter (an unknown key or a malformed value is refused);\n\
         values under other names are free-form, for custom policies. Hex digests are\n\
         lower-case.\n",
    );
    for schema in SCHEMAS {
        text.push_str(&format!(
            "\n## `{}`\n\n{}.\n\n| key | type | constrains | meaning |\n|---|---|---|---|\n",
            schema.name, schema.summary
        ));
        for key in schema.keys {
            text.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                key.name,
                describe_field(key.field),
                describe_constraint(key.constraint),
                key.doc
            ));
        }
    }
    text
}

fn describe_field(field: Field) -> String {
    match field {
        Field::Digests(length) => format!("list of {length}-byte hex digests"),
        Field::Strings([]) => "list of strings".into(),
        Field::Strings(allowed) => format!("list of {}", allowed.join(" / ")),
        Field::Integers(max) => format!("list of integers 0..={max}"),
        Field::Integer => "integer ≥ 0".into(),
        Field::Flag => "true / false".into(),
        Field::MinimumTcb => "`{bootloader, tee, snp, microcode, fmc}` → 0..=255".into(),
        Field::Pcrs => "`{<bank>: {<index 0..23>: [hex]}}` (sha1, sha256, sha384, sha512)".into(),
        Field::EventDigests => "`{<index 0..23>: [hex of 20/32/48/64 bytes]}`".into(),
    }
}

fn describe_constraint(constraint: Constraint) -> String {
    match constraint {
        Constraint::Listed(claim) => format!("claim `{claim}` is listed"),
        Constraint::AtLeast(claim) => format!("claim `{claim}` ≥ value"),
        Constraint::Pcrs => "claims `pcrs.<bank>.<index>`".into(),
        Constraint::EventDigests => "claim `event_log.pcr_events`".into(),
        Constraint::PolicyOnly => "the policy".into(),
    }
}

/// A reference value ready to store: a valid name and a value its TEE's schema accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedReferenceValue {
    name: String,
    value: Value,
    /// Unix seconds from which appraisals no longer see it.
    expires: Option<i64>,
}

impl NamedReferenceValue {
    /// Checks the name (1 to 128 of `[A-Za-z0-9._-]`) and, for a TEE's name, the schema.
    pub fn new(name: &str, value: Value, expires: Option<i64>) -> Result<Self, String> {
        if !crate::provenance::valid_reference_value_name(name) {
            return Err(format!("invalid reference value name {name:?}"));
        }
        validate(name, &value)?;
        Ok(Self {
            name: name.to_owned(),
            value,
            expires,
        })
    }

    /// The reference value's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value, valid for its name's schema.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Unix seconds from which appraisals no longer see it; `None` if it never expires.
    pub fn expires(&self) -> Option<i64> {
        self.expires
    }
}

/// Checks a reference value against its TEE's schema (see the module documentation).
pub fn validate(name: &str, value: &Value) -> Result<(), String> {
    let Some(schema) = schema(name) else {
        return Ok(());
    };
    let object = value
        .as_object()
        .ok_or_else(|| format!("{name} reference values must be a JSON object"))?;
    for (key, entry) in object {
        let Some(known) = schema.key(key) else {
            let known: Vec<&str> = schema.keys.iter().map(|key| key.name).collect();
            return Err(format!(
                "unknown key {key:?} in {name} reference values (known: {})",
                known.join(", ")
            ));
        };
        check(known.field, entry).map_err(|e| format!("{name}.{key}: {e}"))?;
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

    /// The keys the shipped appraisal policy reads from `reference`: `reference.<key>`,
    /// `object.get(reference, "<key>", ...)`, the lists its `listed_or_unrestricted*` helpers
    /// are given, and the names an `every name in [...]` hands them.
    fn keys_the_policy_reads() -> std::collections::BTreeSet<String> {
        let source: String = crate::appraisal::DEFAULT_APPRAISAL_POLICY
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let identifier = |text: &str| -> String {
            text.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        };
        let mut keys = std::collections::BTreeSet::new();
        for prefix in [
            "reference.",
            "object.get(reference, \"",
            "listed_or_unrestricted(\"",
            "listed_or_unrestricted_in(hardware_claims, \"",
        ] {
            for (at, _) in source.match_indices(prefix) {
                keys.insert(identifier(&source[at + prefix.len()..]));
            }
        }
        for (at, _) in source.match_indices("every name in [") {
            let list = &source[at..];
            let list = &list[..list.find(']').unwrap()];
            keys.extend(list.split('"').skip(1).step_by(2).map(str::to_owned));
        }
        keys.remove("");
        keys
    }

    #[test]
    fn the_shipped_policy_reads_exactly_the_keys_the_schemas_define() {
        let read = keys_the_policy_reads();
        let defined: std::collections::BTreeSet<String> = SCHEMAS
            .iter()
            .flat_map(|schema| schema.keys.iter().map(|key| key.name.to_owned()))
            .collect();
        assert_eq!(read, defined);
    }

    #[test]
    fn the_documented_schema_is_generated_from_the_schemas() {
        // After a change to SCHEMAS: `warden-verifier reference-schema > docs/reference-values.md`.
        assert_eq!(
            include_str!("../../docs/reference-values.md"),
            schema_markdown()
        );
        for schema in SCHEMAS {
            for key in schema.keys {
                assert!(schema_markdown().contains(&format!("| `{}` |", key.name)));
            }
        }
    }

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
