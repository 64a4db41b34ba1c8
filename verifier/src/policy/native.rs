//! The shipped default appraisal policy (`policies/appraisal.rego`) evaluated natively.
//!
//! Why: the Rego evaluation, with the conversion of ~40 claims and the reference values into
//! regorus values, cost as much as examining the evidence (issue 20). The Rego text stays the
//! definition: this module is used only when the appraisal policy in force is byte for byte the
//! shipped one, and it decides only inputs whose every value read has the type the reference
//! value schema and the TEE verifiers give it. On anything else it answers `None` and the
//! caller evaluates the Rego policy, so an input outside the typed domain can never get a
//! verdict the Rego policy would not give. Each function below names the rule it mirrors; Rego
//! semantics kept: `not x` holds when `x` is undefined or `false`, `x in list` is undefined
//! when either side is, numbers compare by value (`1 == 1.0`).
//!
//! A differential test (`native_tests.rs`) checks this against regorus on generated inputs,
//! and in debug builds every appraisal with the default policy evaluates both and refuses on
//! any disagreement: a change to `policies/appraisal.rego` needs the same change here, or the
//! tests fail.

use serde_json::{Map, Value};

use crate::ear::TrustVector;

/// AR4SI values the policy assigns.
const AFFIRMING: i8 = 2;
const WARNING: i8 = 32;
const UNLISTED_EXECUTABLES: i8 = 33;
const CONTRAINDICATED: i8 = 96;
const NO_CLAIM: i8 = 0;

/// The TDX registers a reference value may restrict beside `mr_td` (which it must list).
pub(super) const TDX_OPTIONAL_REGISTERS: [&str; 8] = [
    "mr_seam",
    "mr_config_id",
    "mr_owner",
    "rtmr0",
    "rtmr1",
    "rtmr2",
    "rtmr3",
    "xfam",
];

/// The input the default policy reads (`input.*`).
pub(crate) struct DefaultPolicyInput<'a> {
    /// `input.tee`.
    pub tee: &'a str,
    /// `input.claims`.
    pub claims: &'a Map<String, Value>,
    /// `input.reference_values` (every name; the policy reads the TEE's own).
    pub reference_values: &'a Value,
    /// `input.insecure`.
    pub insecure: bool,
}

/// `data.warden.appraisal.trust_vector` of the shipped policy, or `None` when the input is
/// outside the typed domain (the caller then evaluates the Rego policy).
pub(crate) fn default_trust_vector(input: &DefaultPolicyInput<'_>) -> Option<TrustVector> {
    let empty = Map::new();
    // reference := object.get(input.reference_values, input.tee, {})
    let reference = match input.reference_values.as_object()?.get(input.tee) {
        None => &empty,
        Some(value) => value.as_object()?,
    };
    let policy = Policy {
        tee: input.tee,
        claims: input.claims,
        reference,
        hardware_claims: hardware_claims(input.tee, input.claims)?,
    };
    Some(TrustVector {
        instance_identity: Some(AFFIRMING),
        hardware: Some(policy.hardware(input.insecure)?),
        configuration: Some(policy.configuration()?),
        executables: Some(policy.executables()?),
        ..TrustVector::default()
    })
}

/// `hardware_claims`: the claims of the hardware report (nested for Azure vTPM evidence).
fn hardware_claims<'a>(
    tee: &str,
    claims: &'a Map<String, Value>,
) -> Option<&'a Map<String, Value>> {
    match tee {
        "az-snp-vtpm" => claims.get("snp")?.as_object(),
        "az-tdx-vtpm" => claims.get("tdx")?.as_object(),
        _ => Some(claims),
    }
}

struct Policy<'a> {
    tee: &'a str,
    claims: &'a Map<String, Value>,
    reference: &'a Map<String, Value>,
    hardware_claims: &'a Map<String, Value>,
}

impl Policy<'_> {
    /// `hardware := 0 if input.insecure else := 96 if tdx_tcb_refused else := 32 if ...`
    fn hardware(&self, insecure: bool) -> Option<i8> {
        if insecure {
            return Some(NO_CLAIM);
        }
        // tdx_tcb_status: undefined unless a TDX result carries one.
        let tcb_status = match self.tee {
            "tdx" | "az-tdx-vtpm" => self.hardware_claims.get("tcb_status"),
            _ => None,
        };
        let default_accepted = Value::from(vec!["UpToDate"]);
        let accepted = self
            .reference
            .get("accepted_tcb_statuses")
            .unwrap_or(&default_accepted);
        // tdx_tcb_not_accepted: a status is defined and not among the accepted ones.
        let not_accepted = match tcb_status {
            Some(status) => !listed(Some(status), Some(accepted))?,
            None => false,
        };
        if not_accepted && tcb_status?.as_str()?.starts_with("OutOfDate") {
            return Some(CONTRAINDICATED);
        }
        Some(if self.tcb_below_minimum()? || not_accepted {
            WARNING
        } else {
            AFFIRMING
        })
    }

    /// `tcb_below_minimum`: some `min_tcb` component above the reported one.
    fn tcb_below_minimum(&self) -> Option<bool> {
        let Some(minimums) = self.reference.get("min_tcb") else {
            return Some(false);
        };
        let reported = self.claims.get("reported_tcb");
        let mut below = false;
        for (component, minimum) in minimums.as_object()? {
            let Some(reported) = reported.and_then(|r| r.as_object()?.get(component)) else {
                continue;
            };
            below |= number(reported)? < number(minimum)?;
        }
        Some(below)
    }

    /// `configuration := 96 if count(configuration_violations) > 0 else := 0`
    fn configuration(&self) -> Option<i8> {
        let reference = |name: &str| self.reference.get(name);
        let claim = |name: &str| self.claims.get(name);
        let is_true = |value: Option<&Value>| value == Some(&Value::Bool(true));
        let checks = [
            // object.get(hardware_claims, "debug", false) == true; not reference.allow_debug == true
            is_true(self.hardware_claims.get("debug")) && !is_true(reference("allow_debug")),
            is_true(claim("migrate_ma")) && !is_true(reference("allow_migrate_ma")),
            is_true(claim("smt")) && reference("allow_smt") == Some(&Value::Bool(false)),
            unlisted(claim("vmpl"), reference("vmpls"))?,
            unlisted(
                claim("ak").and_then(|ak| ak.as_object()?.get("spki_sha256")),
                reference("ak_keys"),
            )?,
            is_true(reference("require_secure_boot"))
                && !is_true(claim("event_log").and_then(|log| log.as_object()?.get("secure_boot"))),
            unlisted(claim("signing_key"), reference("signing_keys"))?,
        ];
        Some(if checks.contains(&true) {
            CONTRAINDICATED
        } else {
            NO_CLAIM
        })
    }

    /// `executables`: 2 when one of the TEE's bodies holds, else 33.
    fn executables(&self) -> Option<i8> {
        let affirmed = match self.tee {
            "sample" => self.sample_executables()?,
            "snp" => self.snp_executables()?,
            "tdx" => self.tdx_executables()?,
            "tpm" | "az-snp-vtpm" | "az-tdx-vtpm" => self.measured_boot_executables()?,
            _ => false,
        };
        Some(if affirmed {
            AFFIRMING
        } else {
            UNLISTED_EXECUTABLES
        })
    }

    /// `min_svn := reference.min_svn; is_number(min_svn); input.claims.svn >= min_svn`
    fn sample_executables(&self) -> Option<bool> {
        let min_svn = match self.reference.get("min_svn") {
            Some(value @ Value::Number(_)) => number(value)?,
            // is_number(min_svn) fails.
            _ => return Some(false),
        };
        at_least(self.claims.get("svn"), min_svn)
    }

    fn snp_executables(&self) -> Option<bool> {
        let min_guest_svn = match self.reference.get("min_guest_svn") {
            None => 0.0,
            Some(value) => number(value)?,
        };
        Some(
            listed(
                self.claims.get("measurement"),
                self.reference.get("measurements"),
            )? && self.listed_or_unrestricted(self.claims, "host_data", "host_data")?
                && self.listed_or_unrestricted(self.claims, "id_key_digests", "id_key_digest")?
                && self.listed_or_unrestricted(
                    self.claims,
                    "author_key_digests",
                    "author_key_digest",
                )?
                && at_least(self.claims.get("guest_svn"), min_guest_svn)?,
        )
    }

    fn tdx_executables(&self) -> Option<bool> {
        if !listed(self.claims.get("mr_td"), self.reference.get("mr_td"))? {
            return Some(false);
        }
        for name in TDX_OPTIONAL_REGISTERS {
            if !self.listed_or_unrestricted(self.claims, name, name)? {
                return Some(false);
            }
        }
        Some(true)
    }

    fn measured_boot_executables(&self) -> Option<bool> {
        Some(
            self.pcrs_listed()?
                && self.listed_or_unrestricted(
                    self.hardware_claims,
                    "measurements",
                    "measurement",
                )?
                && self.listed_or_unrestricted(self.hardware_claims, "mr_td", "mr_td")?
                && self.logged_events_allowed()?,
        )
    }

    /// `listed_or_unrestricted_in(claims, list, claim)`: `not reference[list]`, or the claim is
    /// listed.
    fn listed_or_unrestricted(
        &self,
        claims: &Map<String, Value>,
        list: &str,
        claim: &str,
    ) -> Option<bool> {
        let allowed = self.reference.get(list);
        if rego_not(allowed) {
            return Some(true);
        }
        listed(claims.get(claim), allowed)
    }

    /// `pcrs_listed`: at least one PCR is listed, and each listed PCR holds an allowed value.
    fn pcrs_listed(&self) -> Option<bool> {
        let Some(banks) = self.reference.get("pcrs") else {
            return Some(false);
        };
        let claimed = self.claims.get("pcrs");
        let mut listed_count = 0;
        let mut all_held = true;
        for (bank, values) in banks.as_object()? {
            for (pcr, allowed) in values.as_object()? {
                listed_count += 1;
                let value = claimed
                    .and_then(|c| c.as_object()?.get(bank))
                    .and_then(|b| b.as_object()?.get(pcr));
                all_held &= listed(value, Some(allowed))?;
            }
        }
        Some(listed_count > 0 && all_held)
    }

    /// `logged_events_allowed`: without `event_digests` nothing to check; else every listed PCR
    /// was replayed from the log and each of its logged events is listed.
    fn logged_events_allowed(&self) -> Option<bool> {
        let digests = self.reference.get("event_digests");
        if rego_not(digests) {
            return Some(true);
        }
        let digests = digests?.as_object()?;
        let Some(log) = self.claims.get("event_log") else {
            return Some(false);
        };
        let log = log.as_object()?;
        // format_int(to_number(pcr), 10) == pcr: canonical decimal indexes only. regorus
        // refuses to parse "04" (an evaluation error, not `false`, whichever PCR comes first),
        // so any other index sends the whole input to Rego; the reference-value schema admits
        // none.
        let canonical = |pcr: &str| {
            (pcr == "0" || (!pcr.starts_with('0') && pcr.len() <= 9))
                && pcr.bytes().all(|b| b.is_ascii_digit())
        };
        if !digests.keys().all(|pcr| canonical(pcr)) {
            return None;
        }
        for (pcr, allowed) in digests {
            let index = Value::from(pcr.parse::<u32>().ok()?);
            if !listed(Some(&index), log.get("replayed_pcrs"))? {
                return Some(false);
            }
            // every event in object.get(log.pcr_events, pcr, []): event.digest in allowed
            let events = match log.get("pcr_events")?.as_object()?.get(pcr) {
                Some(events) => events.as_array()?.as_slice(),
                None => &[],
            };
            for event in events {
                let digest = event.as_object()?.get("digest");
                if !listed(digest, Some(allowed))? {
                    return Some(false);
                }
            }
        }
        Some(true)
    }
}

/// `not claim in allowed` once `allowed := reference.<list>` is defined: a violation when the
/// claim is not listed (or undefined).
fn unlisted(claim: Option<&Value>, allowed: Option<&Value>) -> Option<bool> {
    match allowed {
        None => Some(false),
        Some(_) => Some(!listed(claim, allowed)?),
    }
}

/// Rego `not value`: holds when the value is undefined or `false`.
fn rego_not(value: Option<&Value>) -> bool {
    matches!(value, None | Some(Value::Bool(false)))
}

/// `claim in list` as a condition: false when either is undefined; `None` (outside the typed
/// domain) when the list is not an array or a comparison would mix kinds Rego orders
/// differently from JSON.
fn listed(claim: Option<&Value>, list: Option<&Value>) -> Option<bool> {
    let (Some(claim), Some(list)) = (claim, list) else {
        return Some(false);
    };
    let list = list.as_array()?;
    let mut found = false;
    for item in list {
        found |= equal(claim, item)?;
    }
    Some(found)
}

/// `claim >= minimum` as a condition: false when the claim is undefined.
fn at_least(claim: Option<&Value>, minimum: f64) -> Option<bool> {
    match claim {
        None => Some(false),
        Some(value) => Some(number(value)? >= minimum),
    }
}

/// A JSON number as Rego compares it; `None` for other kinds (Rego orders across kinds).
fn number(value: &Value) -> Option<f64> {
    let number = value.as_number()?;
    // Integers beyond 2^53 would compare inexactly as f64.
    match (number.as_i64(), number.as_u64()) {
        (Some(i), _) if i.unsigned_abs() <= 1 << 53 => Some(i as f64),
        (None, Some(_)) | (Some(_), _) => None,
        (None, None) => number.as_f64(),
    }
}

/// Rego equality of two values of the typed domain: strings, booleans, null and numbers
/// (by value); `None` for arrays and objects (no claim the policy lists is one).
fn equal(a: &Value, b: &Value) -> Option<bool> {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => Some(number(a)? == number(b)?),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => None,
        _ => Some(a == b),
    }
}

#[cfg(test)]
#[path = "native_tests.rs"]
mod tests;
