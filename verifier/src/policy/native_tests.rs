//! Differential test: the native default policy against its Rego text, evaluated by regorus,
//! on generated claims and reference values of every TEE (matching, missing, empty, flags set
//! either way, and values of the wrong type that must send the caller to Rego).

use serde_json::{Map, Value, json};

use super::{DefaultPolicyInput, TDX_OPTIONAL_REGISTERS, default_trust_vector};
use crate::appraisal::{APPRAISAL_RULE, Appraiser, DEFAULT_APPRAISAL_POLICY};
use crate::ear::TrustVector;
use crate::tee::Tee;

/// A small deterministic generator (xorshift64*), so a failure names a reproducible case.
struct Rng(std::cell::Cell<u64>);

impl Rng {
    fn next(&self) -> u64 {
        let mut x = self.0.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
}

const DIGESTS: [&str; 3] = ["aa11", "bb22", "cc33"];
const TCB_STATUSES: [&str; 5] = [
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
];

/// Occasionally a value of another type than the schema's (the native side must then defer
/// to Rego or agree with it).
fn maybe_wrong(rng: &Rng, value: Value) -> Value {
    if !rng.chance(3) {
        return value;
    }
    match rng.below(6) {
        0 => Value::from("7"),
        1 => json!({"0": 1}),
        2 => Value::Null,
        3 => Value::from(false),
        4 => Value::from(1.5),
        _ => json!([["aa11"]]),
    }
}

fn digest_list(rng: &Rng) -> Value {
    let list: Vec<&str> = DIGESTS.iter().copied().filter(|_| rng.chance(50)).collect();
    maybe_wrong(rng, json!(list))
}

fn flag(rng: &Rng) -> Value {
    maybe_wrong(rng, Value::from(rng.chance(50)))
}

fn small(rng: &Rng, below: u64) -> Value {
    maybe_wrong(rng, Value::from(rng.below(below)))
}

/// Inserts `key` with `value` at roughly `percent` % of calls.
fn sometimes(map: &mut Map<String, Value>, rng: &Rng, percent: u64, key: &str, value: Value) {
    if rng.chance(percent) {
        map.insert(key.to_owned(), value);
    }
}

fn snp_claims(rng: &Rng) -> Map<String, Value> {
    let mut claims = Map::new();
    for key in [
        "measurement",
        "host_data",
        "id_key_digest",
        "author_key_digest",
        "signing_key",
    ] {
        let value = Value::from(rng.pick(&DIGESTS));
        sometimes(&mut claims, rng, 90, key, maybe_wrong(rng, value));
    }
    let tcb: Map<String, Value> = ["bootloader", "tee", "snp", "microcode"]
        .into_iter()
        .map(|component| (component.to_owned(), small(rng, 10)))
        .collect();
    sometimes(&mut claims, rng, 90, "reported_tcb", Value::Object(tcb));
    for key in ["debug", "migrate_ma", "smt"] {
        let value = flag(rng);
        sometimes(&mut claims, rng, 90, key, value);
    }
    for (key, below) in [("guest_svn", 4), ("vmpl", 4)] {
        let value = small(rng, below);
        sometimes(&mut claims, rng, 90, key, value);
    }
    claims
}

fn snp_reference(rng: &Rng, reference: &mut Map<String, Value>) {
    for key in [
        "measurements",
        "host_data",
        "id_key_digests",
        "author_key_digests",
        "signing_keys",
    ] {
        let value = digest_list(rng);
        sometimes(reference, rng, 50, key, value);
    }
    let minimums: Map<String, Value> = ["bootloader", "tee", "snp", "microcode"]
        .into_iter()
        .filter(|_| rng.chance(50))
        .map(|component| (component.to_owned(), small(rng, 10)))
        .collect();
    sometimes(reference, rng, 40, "min_tcb", Value::Object(minimums));
    let min_guest_svn = small(rng, 4);
    sometimes(reference, rng, 40, "min_guest_svn", min_guest_svn);
    let vmpls: Vec<u64> = (0..4).filter(|_| rng.chance(50)).collect();
    let vmpls = maybe_wrong(rng, json!(vmpls));
    sometimes(reference, rng, 40, "vmpls", vmpls);
    for key in ["allow_debug", "allow_migrate_ma", "allow_smt"] {
        let value = flag(rng);
        sometimes(reference, rng, 40, key, value);
    }
}

fn tdx_claims(rng: &Rng) -> Map<String, Value> {
    let mut claims = Map::new();
    for key in std::iter::once("mr_td").chain(TDX_OPTIONAL_REGISTERS) {
        let value = Value::from(rng.pick(&DIGESTS));
        sometimes(&mut claims, rng, 95, key, maybe_wrong(rng, value));
    }
    let status = maybe_wrong(rng, Value::from(rng.pick(&TCB_STATUSES)));
    sometimes(&mut claims, rng, 90, "tcb_status", status);
    let debug = flag(rng);
    sometimes(&mut claims, rng, 90, "debug", debug);
    claims
}

fn tdx_reference(rng: &Rng, reference: &mut Map<String, Value>) {
    for key in std::iter::once("mr_td").chain(TDX_OPTIONAL_REGISTERS) {
        let value = digest_list(rng);
        sometimes(
            reference,
            rng,
            if key == "mr_td" { 80 } else { 30 },
            key,
            value,
        );
    }
    let statuses: Vec<&str> = TCB_STATUSES
        .into_iter()
        .filter(|_| rng.chance(40))
        .collect();
    let statuses = maybe_wrong(rng, json!(statuses));
    sometimes(reference, rng, 50, "accepted_tcb_statuses", statuses);
    let allow_debug = flag(rng);
    sometimes(reference, rng, 30, "allow_debug", allow_debug);
}

const PCRS: [&str; 3] = ["0", "4", "7"];

fn tpm_claims(rng: &Rng) -> Map<String, Value> {
    let mut claims = Map::new();
    let bank: Map<String, Value> = PCRS
        .into_iter()
        .filter(|_| rng.chance(90))
        .map(|pcr| {
            (
                pcr.to_owned(),
                maybe_wrong(rng, Value::from(rng.pick(&DIGESTS))),
            )
        })
        .collect();
    sometimes(&mut claims, rng, 95, "pcrs", json!({"sha256": bank}));
    let replayed: Vec<u64> = [0u64, 4, 7]
        .into_iter()
        .filter(|_| rng.chance(70))
        .collect();
    let events: Map<String, Value> = PCRS
        .into_iter()
        .filter(|_| rng.chance(80))
        .map(|pcr| {
            let events: Vec<Value> = (0..rng.below(3))
                .map(|_| json!({"digest": maybe_wrong(rng, Value::from(rng.pick(&DIGESTS)))}))
                .collect();
            (pcr.to_owned(), Value::from(events))
        })
        .collect();
    let mut log = Map::new();
    log.insert("replayed_pcrs".into(), maybe_wrong(rng, json!(replayed)));
    log.insert("pcr_events".into(), Value::Object(events));
    let secure_boot = flag(rng);
    sometimes(&mut log, rng, 80, "secure_boot", secure_boot);
    sometimes(&mut claims, rng, 85, "event_log", Value::Object(log));
    let ak = Value::from(rng.pick(&DIGESTS));
    sometimes(&mut claims, rng, 80, "ak", json!({ "spki_sha256": ak }));
    claims
}

fn tpm_reference(rng: &Rng, reference: &mut Map<String, Value>) {
    let listed: Map<String, Value> = PCRS
        .into_iter()
        .filter(|_| rng.chance(50))
        .map(|pcr| (pcr.to_owned(), digest_list(rng)))
        .collect();
    let bank = rng.pick(&["sha256", "sha256", "sha384"]);
    sometimes(reference, rng, 80, "pcrs", json!({ bank: listed }));
    let mut digests: Map<String, Value> = PCRS
        .into_iter()
        .filter(|_| rng.chance(40))
        .map(|pcr| (pcr.to_owned(), digest_list(rng)))
        .collect();
    if rng.chance(5) {
        digests.insert("04".into(), digest_list(rng));
    }
    let digests = maybe_wrong(rng, Value::Object(digests));
    sometimes(reference, rng, 50, "event_digests", digests);
    for key in ["ak_keys", "measurements", "mr_td"] {
        let value = digest_list(rng);
        sometimes(reference, rng, 30, key, value);
    }
    let secure_boot = flag(rng);
    sometimes(reference, rng, 30, "require_secure_boot", secure_boot);
}

/// One generated input: the TEE, its claims and the reference values of every name.
fn generate(rng: &Rng) -> (String, Map<String, Value>, Value, bool) {
    // Every TEE Warden knows, and one it does not (no body of the policy names it).
    let names: Vec<&str> = Tee::ALL
        .iter()
        .map(|tee| tee.name())
        .chain(["nitro"])
        .collect();
    let tee = rng.pick(&names);
    let mut reference = Map::new();
    let claims = match tee {
        "sample" => {
            let svn = small(rng, 4);
            sometimes(&mut reference, rng, 80, "min_svn", small(rng, 4));
            let mut claims = Map::new();
            sometimes(&mut claims, rng, 95, "svn", svn);
            claims
        }
        "snp" => {
            snp_reference(rng, &mut reference);
            snp_claims(rng)
        }
        "tdx" => {
            tdx_reference(rng, &mut reference);
            tdx_claims(rng)
        }
        "tpm" | "az-snp-vtpm" | "az-tdx-vtpm" => {
            tpm_reference(rng, &mut reference);
            let mut claims = tpm_claims(rng);
            if tee == "az-snp-vtpm" {
                snp_reference(rng, &mut reference);
                let nested = maybe_wrong(rng, Value::Object(snp_claims(rng)));
                sometimes(&mut claims, rng, 95, "snp", nested);
            } else if tee == "az-tdx-vtpm" {
                tdx_reference(rng, &mut reference);
                let nested = maybe_wrong(rng, Value::Object(tdx_claims(rng)));
                sometimes(&mut claims, rng, 95, "tdx", nested);
            }
            claims
        }
        _ => snp_claims(rng),
    };
    let mut values = Map::new();
    if rng.chance(85) {
        values.insert(tee.to_owned(), Value::Object(reference));
    }
    values.insert("other".into(), json!({"measurements": ["aa11"]}));
    (
        tee.to_owned(),
        claims,
        Value::Object(values),
        rng.chance(10),
    )
}

#[test]
fn the_native_default_policy_agrees_with_its_rego_text() {
    let policy = Appraiser::compile_policy("default", DEFAULT_APPRAISAL_POLICY).unwrap();
    let rng = Rng(std::cell::Cell::new(0x005e_ed0f_da7a));
    let cases = 12_000;
    let (mut decided, mut affirmed, mut deferred) = (0, 0, 0);
    for case in 0..cases {
        let (tee, claims, reference_values, insecure) = generate(&rng);
        let input = json!({
            "tee": tee,
            "claims": claims,
            "reference_values": reference_values,
            "insecure": insecure,
            "init_data": null,
        });
        let native = default_trust_vector(&DefaultPolicyInput {
            tee: &tee,
            claims: &claims,
            reference_values: &reference_values,
            insecure,
        });
        let Some(native) = native else {
            deferred += 1;
            continue;
        };
        let rego: TrustVector = policy
            .evaluate(APPRAISAL_RULE, &input)
            .map(|output| serde_json::from_value(output).unwrap())
            .unwrap_or_else(|e| {
                panic!("case {case}: Rego failed where native answered: {e}\n{input:#}")
            });
        assert_eq!(native, rego, "case {case}: {input:#}");
        decided += 1;
        affirmed += usize::from(native.executables == Some(2) && native.configuration == Some(0));
    }
    eprintln!(
        "native default policy: {decided} of {cases} decided (agreeing with Rego), {affirmed} of them affirmed executables and configuration, {deferred} deferred to Rego"
    );
    // The generator keeps most inputs in the typed domain; a native side that deferred on
    // most of them would test nothing.
    assert!(
        decided > cases * 3 / 4,
        "only {decided} of {cases} decided natively"
    );
    assert!(affirmed > cases / 50, "only {affirmed} affirming cases");
    assert!(
        deferred > 0,
        "no input outside the typed domain was generated"
    );
}
