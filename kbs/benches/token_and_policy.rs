//! Release-policy decisions (evaluated on every resource fetch).
// criterion_group! writes undocumented public functions.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use warden_kbs::release::ReleasePolicies;
use warden_wire::ResourcePath;

fn release(c: &mut Criterion) {
    let claims = serde_json::from_value(json!({
        "eat_profile": "tag:github.com,2023:veraison/ear", "iss": "b", "iat": 0, "nbf": 0, "exp": 300,
        "jti": "j", "eat_nonce": "n",
        "ear.verifier-id": {"developer": "warden", "build": "bench"},
        "submods": {"cpu0": {
            "ear.status": "affirming",
            "ear.trustworthiness-vector": {"instance-identity": 2, "hardware": 2, "executables": 2},
            "ear.appraisal-policy-id": "default",
            "ear.veraison.annotated-evidence": {"snp": {"debug": false}},
            "warden.tee": "snp"
        }},
        "cnf": {"jwk": {"kty": "EC"}}
    }))
    .expect("claims");
    let policies = ReleasePolicies::build(&[]).expect("policies");
    let path = ResourcePath::parse("default/key/one").expect("path");
    c.bench_function("policy_eval/release_default", |b| {
        b.iter(|| policies.decide(&claims, &path))
    });
}

criterion_group!(benches, release);
criterion_main!(benches);
