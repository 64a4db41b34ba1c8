//! Intel TDX verification on the real quotes and Intel collateral in `tests/vectors/tdx` (see
//! MANIFEST.md and each set's PROVENANCE.toml for sources, windows and verdicts). No TDX set is
//! valid at 2026-11: every set is verified at a time inside its collateral window, and also shown
//! to be refused for expired collateral at 2026-11-01.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::vectors;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use warden_verifier::appraisal::DEFAULT_APPRAISAL_POLICY;
use warden_verifier::collateral::CollateralSet;
use warden_verifier::tee::tdx::collateral::TdxCollateral;
use warden_verifier::tee::tdx::collateral::TdxEndorsements;
use warden_verifier::tee::tdx::{TdxEvidence, TdxVerifier};
use warden_verifier::tee::{Examination, ExpectedBinding};
use warden_verifier::{
    AppraisalRequest, Appraiser, ReferenceValues, Status, VerifierRegistry, VerifierSettings,
};

fn at(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

const EXPIRED_AT: &str = "2026-11-01T00:00:00Z";
const RENEWED_TCB_CHAIN: &str = "intel-roots/tcb_signing_chain_2025-05_renewed.pem";
const ROOT_CRL_2025: &str = "intel-roots/root_ca_crl_2025-03-20_to_2026-04-03.der";

/// What a set should yield at its verify-at time.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    /// Verified with this converged TCB status.
    Verified(&'static str),
    /// Refused; this check names the reason.
    Refused(&'static str),
}

/// One MANIFEST set (or one of its collateral windows).
struct Set {
    name: &'static str,
    quote: &'static str,
    /// Collateral files, relative to the `tdx` vector directory.
    collateral: Vec<&'static str>,
    at: &'static str,
    verdict: Verdict,
    claims: Value,
}

fn in_dir(dir: &'static str, files: &[&'static str]) -> Vec<&'static str> {
    files
        .iter()
        .map(|file| &*Box::leak(format!("{dir}/{file}").into_boxed_str()))
        .collect()
}

fn gce_claims() -> Value {
    json!({
        "quote_version": 4, "tdx_version": "1.0", "debug": false,
        "tee_tcb_svn": "04010700000000000000000000000000",
        "td_attributes": "0000001000000000", "sept_ve_disable": true,
        "mr_td": "dae67181d3d65e073ad8f95b7907d5e927bfe9761c9ff3e9b89734a45d8954dba41394c7717cb2735396c1d04231f94a",
        "rtmr0": "3fa2f61f395b7f5feefb4ec2df61297f109ad8abcd6410c1b7df60f21f37b19297fc35e544039c7e1edece752afd17f6",
        "rtmr1": "f62dbc072bd5d3f3438b7b35c39a727f5aea2ffc2473f43723953f530daf62504f0a7944aa62c41a86e8a878c2b122c1",
        "rtmr2": "4969684dc87381fc3b3134176c8d8806eaf0a901859f5f70cfae8d17714b46c10a8de219048c9fc09f11f381a6fbe7c1",
        "rtmr3": "0".repeat(96), "report_data": "0".repeat(128),
        "fmspc": "00806f050000", "cpu_svn": "07070202030100030000000000000000",
        "tdx_module_id": "TDX_01", "advisory_ids": [],
    })
}

fn oak_claims() -> Value {
    json!({
        "quote_version": 4, "tee_tcb_svn": "08010800000000000000000000000000",
        "mr_td": "7b5ee9a304d036f963dbd194c329cb2524817ee91bcf1cff23efe88a25af827c11e04cbf264ae401e5b17fc2e18736be",
        "rtmr2": "3b5936af913e65c22eb7e9cf8a1460f05e48653d606389a57cad30e144b87cec1bea6a9d2a19008d2a0ca02730c5e1d7",
        "rtmr0": "0".repeat(96), "report_data": "0".repeat(128),
        "cpu_svn": "08080202040100060000000000000000", "debug": false,
    })
}

fn june_2025(quote: &'static str, claims: Value) -> Set {
    Set {
        name: "window 2025-06",
        quote,
        collateral: vec![
            "intel-collateral/2025-06_automata/tcbinfo_tdx_fmspc_00806f050000.json",
            "intel-collateral/2025-06_automata/qe_identity_td_qe.json",
            "intel-collateral/2025-06_automata/pck_crl_platform_from_dcap-qvl.der",
            RENEWED_TCB_CHAIN,
            ROOT_CRL_2025,
        ],
        at: "2025-06-25T00:00:00Z",
        verdict: Verdict::Verified("UpToDate"),
        claims,
    }
}

fn october_2025(quote: &'static str, claims: Value) -> Set {
    Set {
        name: "window 2025-10",
        quote,
        collateral: vec![
            "intel-collateral/2025-10_automata/tcbinfo_tdx_fmspc_00806f050000.json",
            "intel-collateral/2025-10_automata/qe_identity_td_qe.json",
            "intel-collateral/2025-10_automata/pck_crl_platform.der",
            RENEWED_TCB_CHAIN,
            ROOT_CRL_2025,
        ],
        at: "2025-10-25T00:00:00Z",
        verdict: Verdict::Verified("UpToDate"),
        claims,
    }
}

const SPR_2023: [&str; 6] = [
    "pck_crl_issuer_chain.pem",
    "pck_crl_platform.der",
    "qe_identity_td_qe.json",
    "root_ca_crl.der",
    "tcb_info_issuer_chain.pem",
    "tcbinfo_fmspc_50806f000000.json",
];

const DCAP_RS_2025_02: [&str; 5] = [
    "intel_root_ca_crl.der",
    "pck_platform_crl.der",
    "qeidentityv2_apiv4.json",
    "tcb_signing_cert.pem",
    "tcbinfov3_00806f050000.json",
];

fn sets() -> Vec<Set> {
    vec![
        Set {
            name: "dcap-qvl-tdx",
            quote: "dcap-qvl-tdx/tdx_quote.bin",
            collateral: vec!["dcap-qvl-tdx/collateral.json"],
            at: "2025-07-01T00:00:00Z",
            verdict: Verdict::Verified("UpToDate"),
            claims: json!({
                "quote_version": 4, "tdx_version": "1.0",
                "tee_tcb_svn": "06010300000000000000000000000000",
                "mr_seam": "5b38e33a6487958b72c3c12a938eaa5e3fd4510c51aeeab58c7d5ecee41d7c436489d6c8e4f92f160b7cad34207b00c1",
                "td_attributes": "0000001000000000", "debug": false, "sept_ve_disable": true,
                "xfam": "e702060000000000",
                "mr_td": "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7",
                "rtmr0": "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0",
                "rtmr1": "0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b3093d54e579e9378",
                "rtmr2": "d833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3ba80b70870d7330733642e01d48c3132",
                "rtmr3": "0".repeat(96), "mr_config_id": "0".repeat(96), "mr_owner": "0".repeat(96),
                "mr_owner_config": "0".repeat(96),
                "report_data": "9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20",
                "fmspc": "b0c06f000000", "pck_pce_svn": 11, "cpu_svn": "03030202040100050000000000000000",
                "platform_tcb_status": "UpToDate", "tdx_module_tcb_status": "UpToDate",
                "qe_tcb_status": "UpToDate", "tdx_module_id": "TDX_01", "tcb_date": "2024-03-13T00:00:00Z",
                "advisory_ids": [], "collateral_expiry": "2025-07-19T10:00:35Z",
            }),
        },
        Set {
            name: "dcap-qvl-tdx-outdated",
            quote: "dcap-qvl-tdx-outdated/tdx_quote_outdated.bin",
            collateral: vec!["dcap-qvl-tdx-outdated/collateral.json"],
            at: "2026-03-01T00:00:00Z",
            verdict: Verdict::Refused("tcb_level"),
            claims: json!({
                "quote_version": 5, "tdx_version": "1.5",
                "tee_tcb_svn": "07010300000000000000000000000000",
                "tee_tcb_svn2": "0d010300000000000000000000000000",
                "mr_td": "273828c46252fcbdd8ad2dd907130222b03466d52a2911d70c1a5950895d6bd1ae451d382d5a9b1b4c0ed0e5ae9a3dbd",
                "rtmr0": "0".repeat(96),
                "report_data": format!("d2142b643598eb5fae2bc8529dd79a558b29f868ccbb6531cb28dab9dce47728{}", "0".repeat(64)),
                "fmspc": "90c06f000000", "pck_pce_svn": 13,
            }),
        },
        Set {
            name: "go-tdx-guest-v5",
            quote: "go-tdx-guest-v5/quote_v5_sample.dat",
            collateral: vec![
                "go-tdx-guest-v5/collateral_2026-02_fmspc90c06f_from_dcap-qvl.json",
                "go-tdx-guest-v5/tcbinfo_fmspc_90c06f000000.json",
            ],
            at: "2026-03-01T00:00:00Z",
            verdict: Verdict::Verified("UpToDate"),
            claims: json!({
                "quote_version": 5, "tdx_version": "1.5",
                "tee_tcb_svn": "0b010400000000000000000000000000",
                "tee_tcb_svn2": "0d010400000000000000000000000000",
                "mr_td": "7348651a34b2d2d3462822e3a750ec6110125f36757c78480bbfc69cc0d21fb001a1ced3ee19747dda8f750c3bc8f876",
                "rtmr0": "5c8daf76063a71ac8fcef4067564661fc682ed7944c7a5d21dbbced02f61ceff4ba0678c6aef3bdae8cbc614cec24619",
                "rtmr1": "463acaace1b6e97c76e92e41fe312aa66f3fd4dad60ec7acf169859db0343e3d1e591646795cdc80fbc0ca5f7041d253",
                "rtmr2": "6369b9c9a3b791ebcbdc5a0bb9536cfb57f50df2b393b33c8b29616d3568baa61f4b59dc6092e31ea8764bcbdfc69f20",
                "report_data": "945eaacf5abc1f719d8666a942fda03d1edcb4490277396093dc5a5289ab9f1e094aed63060cd4a4933a4dd537ed1255c9c79ecb3ed82cd1b486233e31c25c3a",
                "fmspc": "90c06f000000", "tcb_date": "2024-11-13T00:00:00Z",
                "tdx_module_id": "TDX_01", "tdx_module_tcb_status": "UpToDate",
            }),
        },
        Set {
            name: "go-tdx-guest-spr-v4 (appended text refused)",
            quote: "go-tdx-guest-spr-v4/tdx_prod_quote_SPR_E4.dat",
            collateral: in_dir("go-tdx-guest-spr-v4", &SPR_2023),
            at: "2023-07-01T01:00:00Z",
            verdict: Verdict::Refused("quote_format"),
            claims: json!({"quote_version": 4}),
        },
        Set {
            name: "trustee-tdx-q4-2023 (debug TD)",
            quote: "trustee-tdx-q4-2023/tdx_quote_4.dat",
            collateral: in_dir("trustee-tdx-q4-2023", &SPR_2023),
            at: "2023-07-01T01:00:00Z",
            verdict: Verified("UpToDate"),
            claims: json!({
                "tee_tcb_svn": "03000500000000000000000000000000",
                "td_attributes": "0100001000000000", "debug": true,
                "mr_td": "705ee9381b8633a9fbe532b52345e8433343d2868959f57889d84ca377c395b689cac1599ccea1b7d420483a9ce5f031",
                "rtmr0": "e940da7c2712d2790e2961e00484f4fa8e6f9eed71361655ae22699476b14f9e63867eb41edd4b480fef0c59f496b288",
                "rtmr1": "559cfcf42716ed6c40a48a73d5acb7da255435012f0a9f00fbe8c1c57612ede486a5684c4c9ff3ddf52315fcdca3a596",
                "rtmr2": "0".repeat(96),
                "report_data": "7c71fe2c86eff65a7cf8dbc22b3275689fd0464a267baced1bf94fc1324656aeb755da3d44d098c0c87382f3a5f85b45c8a28fee1d3bdb38342bf96671501429",
                "cpu_svn": "05050d02030100030000000000000000", "pck_pce_svn": 11, "fmspc": "50806f000000",
            }),
        },
        Set {
            name: "trustee-tdx-q6-2025 (no PCK CRL published for its window)",
            quote: "trustee-tdx-q6-2025/tdx_quote_6.dat",
            collateral: in_dir(
                "trustee-tdx-q6-2025",
                &[
                    "qe_identity_td_qe.json",
                    "root_ca_crl.der",
                    "tcb_info_issuer_chain.pem",
                    "tcbinfo_fmspc_00a06d080000.json",
                ],
            ),
            at: "2025-11-01T00:00:00Z",
            verdict: Verdict::Refused("revocation"),
            claims: json!({
                "tee_tcb_svn": "05030200000000000000000000000000", "sgx_type": 2,
                "mr_td": "21e8dead92d6c69d7cbba79816686c03a48485c7df0c11f6f04792d5e1d378f6b8c46615ba6946adccac6becffbb1e88",
                "report_data": format!("26cae1c77185617fb6a03fc29bf1f924596e52352b9b7594940b576ae126cd4a570cc3202a900c5d19a6eb0a95b32cfd{}", "0".repeat(32)),
                "fmspc": "00a06d080000", "pck_pce_svn": 11, "cpu_svn": "02020707040100020000000000000000",
                "tcb_status": "OutOfDate", "platform_tcb_status": "OutOfDate",
                "tdx_module_id": "TDX_03", "tdx_module_tcb_status": "UpToDate",
            }),
        },
        Set {
            name: "trustee-tdx-q5-v5",
            quote: "trustee-tdx-q5-v5/tdx_quote_5.dat",
            collateral: vec!["trustee-tdx-q5-v5/collateral_2026-02_fmspc90c06f_from_dcap-qvl.json"],
            at: "2026-03-01T00:00:00Z",
            verdict: Verdict::Refused("tcb_level"),
            claims: json!({
                "quote_version": 5, "tee_tcb_svn": "05010200000000000000000000000000",
                "tee_tcb_svn2": "05010200000000000000000000000000",
                "mr_td": "dfba221b48a22af8511542ee796603f37382800840dcd978703909bf8e64d4c8a1e9de86e7c9638bfcba422f3886400a",
                "cpu_svn": "01010202030100030000000000000000",
            }),
        },
        Set {
            name: "automata-dcap-rs-00806f05",
            quote: "automata-dcap-rs-00806f05/quote_tdx_00806f050000.dat",
            collateral: in_dir("automata-dcap-rs-00806f05", &DCAP_RS_2025_02),
            at: "2025-03-01T00:00:00Z",
            verdict: Verdict::Verified("OutOfDate"),
            claims: json!({
                "tee_tcb_svn": "04010700000000000000000000000000",
                "mr_td": "935be7742dd89c6a4df6dba8353d89041ae0f052beef993b1e7f4524d3bc57650df20e5582158352e1240b3f1fed55d8",
                "rtmr0": "0".repeat(96), "report_data": "0".repeat(128),
                "cpu_svn": "06060202030100030000000000000000", "pck_pce_svn": 11,
                "platform_tcb_status": "OutOfDate", "tdx_module_tcb_status": "UpToDate",
                "tcb_date": "2023-08-09T00:00:00Z",
                "advisory_ids": ["INTEL-SA-00960", "INTEL-SA-00982", "INTEL-SA-00986"],
            }),
        },
        Set {
            name: "go-tdx-guest-gce-ccel (window 2025-02)",
            quote: "go-tdx-guest-gce-ccel/cos-113-tdx-quote.dat",
            collateral: in_dir("go-tdx-guest-gce-ccel/collateral_2025-02", &DCAP_RS_2025_02),
            at: "2025-03-01T00:00:00Z",
            verdict: Verdict::Verified("UpToDate"),
            claims: gce_claims(),
        },
        june_2025("go-tdx-guest-gce-ccel/cos-113-tdx-quote.dat", gce_claims()),
        october_2025("go-tdx-guest-gce-ccel/cos-113-tdx-quote.dat", gce_claims()),
        Set {
            name: "automata-alibaba-v5",
            quote: "automata-alibaba-v5/alibaba_quote_5.dat",
            collateral: in_dir(
                "automata-alibaba-v5",
                &[
                    "pck_crl_platform_from_dcap-qvl.der",
                    "qe_identity_td_qe.json",
                    "root_ca_crl_2025-03-20_to_2026-04-03.der",
                    "tcb_signing_chain_2025-05_renewed.pem",
                    "tcbinfo_tdx_fmspc_90c06f000000.json",
                ],
            ),
            at: "2025-06-25T00:00:00Z",
            verdict: Verdict::Verified("UpToDate"),
            claims: json!({
                "quote_version": 5, "tdx_version": "1.5",
                "tee_tcb_svn": "05010200000000000000000000000000",
                "mr_td": "157768a71a6a31f5561978c4cde665809d22976ef5dead2952839b7b3ea23b6c2931c9148fe1d117c99faefac18bb73b",
                "report_data": "83ded8a0ee745596dbd961624da760cf1c8b0e48364959396c5c76ff96be4c1a9c24ba8b980f2173e883d5352a360546c1138ef75ce730c843a6c7da6413f400",
                "fmspc": "90c06f000000",
            }),
        },
        june_2025("oak-gcp-tdx/tdx_quote.bin", oak_claims()),
        october_2025("oak-gcp-tdx/tdx_quote.bin", oak_claims()),
    ]
}

use Verdict::Verified;

fn collateral(dir: &Path, files: &[&str]) -> TdxEndorsements {
    let mut endorsements = TdxEndorsements::default();
    for file in files {
        endorsements
            .add_file(&dir.join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    endorsements
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn examine(dir: &Path, set: &Set, quote: Vec<u8>, when: &str) -> Examination {
    let verifier = TdxVerifier::new(collateral(dir, &set.collateral));
    let evidence = TdxEvidence {
        quote,
        event_log: None,
    };
    verifier.examine_decoded(&evidence, &ExpectedBinding::default(), at(when))
}

fn failed(examination: &Examination) -> Vec<&'static str> {
    examination
        .failed_checks()
        .into_iter()
        .map(|check| check.name)
        .collect()
}

fn assert_claims(set: &Set, examination: &Examination) {
    for (name, want) in set.claims.as_object().unwrap() {
        assert_eq!(
            examination.claims.get(name),
            Some(want),
            "{}: claim {name}",
            set.name
        );
    }
}

#[test]
fn every_set_gets_its_manifest_verdict_and_claims_at_its_verify_at_time() {
    let dir = vectors::tee("tdx");
    for set in sets() {
        let examination = examine(&dir, &set, read(&dir, set.quote), set.at);
        match set.verdict {
            Verdict::Verified(status) => {
                assert!(
                    examination.verified(),
                    "{}: {:?}",
                    set.name,
                    examination.failed_checks()
                );
                assert_eq!(
                    examination.claims["tcb_status"],
                    json!(status),
                    "{}",
                    set.name
                );
            }
            Verdict::Refused(check) => {
                assert_eq!(failed(&examination), vec![check], "{}", set.name);
            }
        }
        assert_claims(&set, &examination);
    }
}

#[test]
fn at_2026_11_every_set_is_refused_for_expired_collateral() {
    let dir = vectors::tee("tdx");
    for set in sets() {
        let mut quote = read(&dir, set.quote);
        if set.verdict == Verdict::Refused("quote_format") {
            // The SPR quote without the text go-tdx-guest appended, so appraisal gets that far.
            quote.truncate(4935);
        }
        let examination = examine(&dir, &set, quote, EXPIRED_AT);
        let freshness = examination
            .checks
            .iter()
            .find(|check| check.name == "collateral_freshness")
            .unwrap_or_else(|| panic!("{}: no freshness check", set.name));
        assert!(!freshness.ok, "{}", set.name);
        assert!(freshness.detail.contains("expired"), "{}", freshness.detail);
        assert!(!examination.verified());
    }
}

#[test]
fn the_spr_quote_without_its_appended_text_is_genuine_but_has_no_tcb_level() {
    let dir = vectors::tee("tdx");
    let set = &sets()[3];
    let mut quote = read(&dir, set.quote);
    assert_eq!(quote.len(), 4974);
    assert!(quote.ends_with(b"\nextra bytes(only for testing purpose)\n"));
    quote.truncate(4935);
    let examination = examine(&dir, set, quote, set.at);
    assert_eq!(failed(&examination), vec!["tcb_level"]);
    let level = examination.failed_checks()[0].detail.clone();
    assert!(level.contains("no TCB level matches"), "{level}");
}

#[test]
fn q6_without_a_pck_crl_is_out_of_date_only_when_crls_are_not_required() {
    let dir = vectors::tee("tdx");
    let set = sets()
        .into_iter()
        .find(|s| s.name.starts_with("trustee-tdx-q6"))
        .unwrap();
    let default = examine(&dir, &set, read(&dir, set.quote), set.at);
    let revocation = &default.failed_checks()[0];
    assert!(
        revocation.detail.contains("missing collateral")
            && revocation.detail.contains("PCK Platform CA CRL"),
        "{}",
        revocation.detail
    );
    let relaxed = TdxVerifier::new(collateral(&dir, &set.collateral)).require_crl(false);
    let examination = relaxed.examine_decoded(
        &TdxEvidence {
            quote: read(&dir, set.quote),
            event_log: None,
        },
        &ExpectedBinding::default(),
        at(set.at),
    );
    assert!(examination.verified(), "{:?}", examination.failed_checks());
    assert_eq!(examination.claims["tcb_status"], json!("OutOfDate"));
    let revocation = examination
        .checks
        .iter()
        .find(|c| c.name == "revocation")
        .unwrap();
    assert!(
        revocation.detail.starts_with("NOT CHECKED"),
        "{}",
        revocation.detail
    );
}

#[test]
fn a_pck_revoked_by_its_cas_crl_is_refused() {
    let dir = vectors::tee("tdx");
    for revoke in [false, true] {
        let sim = common::sim_tdx::build(&dir, revoke);
        let mut endorsements = TdxEndorsements::default();
        for item in &sim.collateral {
            endorsements.add_bytes(item).unwrap();
        }
        let verifier = TdxVerifier::new(endorsements)
            .with_insecure_root(&sim.root_der)
            .unwrap();
        let examination = verifier.examine_decoded(
            &TdxEvidence {
                quote: sim.quote.clone(),
                event_log: None,
            },
            &ExpectedBinding::default(),
            at("2025-07-01T00:00:00Z"),
        );
        assert!(examination.insecure[0].contains("INSECURE root"));
        if revoke {
            assert_eq!(failed(&examination), vec!["revocation"]);
            let detail = &examination.failed_checks()[0].detail;
            assert!(
                detail.contains("revoked: Sim SGX PCK Certificate (serial 77)"),
                "{detail}"
            );
        } else {
            assert!(examination.verified(), "{:?}", examination.failed_checks());
            assert_eq!(examination.claims["tcb_status"], json!("UpToDate"));
        }
        // The pinned Intel root does not trust the synthetic chain.
        let pinned = TdxVerifier::new(TdxEndorsements::default());
        let refused = pinned.examine_decoded(
            &TdxEvidence {
                quote: sim.quote,
                event_log: None,
            },
            &ExpectedBinding::default(),
            at("2025-07-01T00:00:00Z"),
        );
        assert_eq!(failed(&refused), vec!["pck_chain"]);
    }
}

fn appraise(
    dir: &Path,
    set: &Set,
    reference: Value,
) -> Result<warden_verifier::AttestationResult, warden_verifier::Rejection> {
    let registry = VerifierRegistry::new(&VerifierSettings {
        tdx_collateral: std::sync::Arc::new(TdxCollateral::new(collateral(dir, &set.collateral))),
        ..Default::default()
    });
    let policy = Appraiser::compile_policy("default", DEFAULT_APPRAISAL_POLICY).unwrap();
    let appraiser = Appraiser::new(
        registry,
        policy,
        ReferenceValues::new(serde_json::from_value(json!({ "tdx": reference })).unwrap()),
    );
    let evidence = TdxEvidence {
        quote: read(dir, set.quote),
        event_log: None,
    }
    .to_json();
    let request = AppraisalRequest {
        init_data: None,
        tee: "tdx",
        evidence: &evidence,
        expected: ExpectedBinding::default(),
    };
    common::both_ways::appraise(appraiser, &request, at(set.at))
}

fn named(name: &str) -> Set {
    sets()
        .into_iter()
        .find(|s| s.name.starts_with(name))
        .unwrap()
}

#[test]
fn default_policy_affirms_known_tds_and_refuses_debug_and_out_of_date_ones() {
    let dir = vectors::tee("tdx");
    let mr_td = |set: &Set| json!([set.claims["mr_td"]]);

    let gcp = named("go-tdx-guest-gce-ccel");
    let affirmed = appraise(&dir, &gcp, json!({"mr_td": mr_td(&gcp)})).unwrap();
    assert_eq!(affirmed.status, Status::Affirming);
    let unknown = appraise(&dir, &gcp, json!({"mr_td": ["00".repeat(48)]})).unwrap();
    assert_eq!(unknown.status, Status::Warning);
    assert_eq!(unknown.trust_vector.executables, Some(33));
    let wrong_rtmr = appraise(
        &dir,
        &gcp,
        json!({"mr_td": mr_td(&gcp), "rtmr1": ["00".repeat(48)]}),
    )
    .unwrap();
    assert_eq!(wrong_rtmr.trust_vector.executables, Some(33));
    // XFAM (the CPU extended features the TD may use) pinned: its own value affirms, another not.
    let xfam = affirmed.claims["xfam"].clone();
    assert_eq!(xfam.as_str().unwrap().len(), 16, "{xfam}");
    let pinned = appraise(&dir, &gcp, json!({"mr_td": mr_td(&gcp), "xfam": [xfam]})).unwrap();
    assert_eq!(pinned.status, Status::Affirming);
    let other = appraise(
        &dir,
        &gcp,
        json!({"mr_td": mr_td(&gcp), "xfam": ["0000000000000000"]}),
    )
    .unwrap();
    assert_eq!(other.status, Status::Warning);
    assert!(
        other
            .trace
            .failed
            .contains(&"reference_values.tdx.xfam".to_owned()),
        "{:?}",
        other.trace
    );

    let debug = named("trustee-tdx-q4-2023");
    let refused = appraise(&dir, &debug, json!({"mr_td": mr_td(&debug)})).unwrap();
    assert_eq!(refused.status, Status::Contraindicated);
    assert_eq!(refused.trust_vector.configuration, Some(96));
    let allowed = appraise(
        &dir,
        &debug,
        json!({"mr_td": mr_td(&debug), "allow_debug": true}),
    )
    .unwrap();
    assert_eq!(allowed.status, Status::Affirming);

    let outdated = named("automata-dcap-rs-00806f05");
    let refused = appraise(&dir, &outdated, json!({"mr_td": mr_td(&outdated)})).unwrap();
    assert_eq!(refused.status, Status::Contraindicated);
    assert_eq!(refused.trust_vector.hardware, Some(96));
    let tolerated = appraise(
        &dir,
        &outdated,
        json!({"mr_td": mr_td(&outdated), "accepted_tcb_statuses": ["UpToDate", "OutOfDate"]}),
    )
    .unwrap();
    assert_eq!(tolerated.status, Status::Affirming);

    let no_level = named("dcap-qvl-tdx-outdated");
    assert!(matches!(
        appraise(&dir, &no_level, json!({"mr_td": mr_td(&no_level)})),
        Err(warden_verifier::Rejection::Evidence(failed)) if failed[0].name == "tcb_level"
    ));
}

fn examine_with(
    set: &Set,
    endorsements: TdxEndorsements,
    evidence: TdxEvidence,
    expected: &ExpectedBinding,
) -> Examination {
    TdxVerifier::new(endorsements).examine_decoded(&evidence, expected, at(set.at))
}

fn quote_only(quote: Vec<u8>) -> TdxEvidence {
    TdxEvidence {
        quote,
        event_log: None,
    }
}

#[test]
fn bit_flips_in_header_body_qe_report_and_signatures_are_caught_by_the_right_check() {
    let dir = vectors::tee("tdx");
    // v4 layout: header 0..48, body 48..632, sig_data_len 632..636, quote signature 636..700,
    // attestation key 700..764, cert type/len 764..770, QE report 770..1154, its signature
    // 1154..1218, auth data length 1218.
    let cases: [(&str, usize, &[&str]); 7] = [
        ("header user data", 28, &["quote_signature"]),
        ("MRTD", 48 + 136, &["quote_signature"]),
        ("TD_ATTRIBUTES debug bit", 48 + 120, &["quote_signature"]),
        ("quote signature r", 640, &["quote_signature"]),
        ("attestation key", 710, &["quote_signature", "qe_binding"]),
        ("QE report ISV SVN", 770 + 258, &["qe_report_signature"]),
        ("QE report signature s", 1200, &["qe_report_signature"]),
    ];
    for name in [
        "dcap-qvl-tdx",
        "go-tdx-guest-gce-ccel",
        "automata-dcap-rs-00806f05",
    ] {
        let set = named(name);
        let quote = read(&dir, set.quote);
        for (what, offset, expected) in cases {
            let mut flipped = quote.clone();
            flipped[offset] ^= 0x01;
            let examination = examine(&dir, &set, flipped, set.at);
            assert_eq!(failed(&examination), expected, "{name}: {what}");
        }
    }
    // v5: the body descriptor (type, size) is signed too; a different size no longer parses.
    let v5 = named("go-tdx-guest-v5");
    let mut quote = read(&dir, v5.quote);
    quote[50] ^= 0x01;
    assert_eq!(failed(&examine(&dir, &v5, quote, v5.at)), ["quote_format"]);
}

/// The base64 characters of the `index`th PEM certificate in `quote`: their positions (line
/// breaks excluded) and the text.
fn pem_body(quote: &[u8], index: usize) -> (Vec<usize>, String) {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let find = |from: usize, what: &[u8]| {
        from + quote[from..]
            .windows(what.len())
            .position(|window| window == what)
            .unwrap()
    };
    let mut start = 0;
    for _ in 0..=index {
        start = find(start, BEGIN) + BEGIN.len();
    }
    let positions: Vec<usize> = (start..find(start, END))
        .filter(|at| !quote[*at].is_ascii_whitespace())
        .collect();
    let text = positions.iter().map(|at| quote[*at] as char).collect();
    (positions, text)
}

/// `quote` with the DER of its chain's `index`th certificate changed by `edit` (to the same
/// length) and written back as base64 over the same characters: nothing else moves.
fn edit_chain_cert(quote: &[u8], index: usize, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let (positions, text) = pem_body(quote, index);
    let mut der = STANDARD.decode(&text).unwrap();
    edit(&mut der);
    let encoded = STANDARD.encode(&der);
    assert_eq!(encoded.len(), positions.len());
    let mut edited = quote.to_vec();
    for (at, byte) in positions.into_iter().zip(encoded.bytes()) {
        edited[at] = byte;
    }
    edited
}

fn pck_chain_failure(examination: &Examination) -> String {
    assert_eq!(failed(examination), ["pck_chain"]);
    examination.failed_checks()[0].detail.clone()
}

#[test]
fn a_pck_certificate_whose_outer_signature_algorithm_differs_from_the_signed_one_is_refused() {
    let dir = vectors::tee("tdx");
    let set = named("dcap-qvl-tdx");
    let quote = read(&dir, set.quote);
    assert!(examine(&dir, &set, quote.clone(), set.at).verified());
    // ecdsa-with-SHA256, once in the signed tbsCertificate and once after it.
    const ECDSA_SHA256: [u8; 12] = [
        0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02,
    ];
    let edited = edit_chain_cert(&quote, 0, |der| {
        let at: Vec<usize> = (0..der.len() - ECDSA_SHA256.len())
            .filter(|at| der[*at..].starts_with(&ECDSA_SHA256))
            .collect();
        assert_eq!(at.len(), 2);
        // The outer copy's last OID byte: ecdsa-with-SHA384 (…4.3.3) outside what Intel signed.
        der[at[1] + ECDSA_SHA256.len() - 1] = 0x03;
    });
    let detail = pck_chain_failure(&examine(&dir, &set, edited, set.at));
    assert!(
        detail.contains(
            "certificate signatureAlgorithm differs from the signed tbsCertificate.signature"
        ),
        "{detail}"
    );
}

#[test]
fn an_intel_root_copy_in_the_quote_that_is_not_the_pinned_root_is_refused() {
    let dir = vectors::tee("tdx");
    let set = named("dcap-qvl-tdx");
    let quote = read(&dir, set.quote);
    let (positions, root_copy) = pem_body(&quote, 2);
    let pinned = read(&dir, "intel-roots/Intel_SGX_RootCA.der");
    assert_eq!(STANDARD.decode(&root_copy).unwrap(), pinned);
    // One base64 character changed: in the signature (still a certificate, no longer the root's
    // bytes), then the first (the outer tag: no longer a certificate at all).
    for (at, why) in [
        (
            positions.len() - 10,
            "(Intel SGX Root CA is not its issuer)",
        ),
        (0, "(not a DER X.509 certificate"),
    ] {
        let mut edited = quote.clone();
        edited[positions[at]] = if root_copy.as_bytes()[at] == b'A' {
            b'B'
        } else {
            b'A'
        };
        let detail = pck_chain_failure(&examine(&dir, &set, edited, set.at));
        assert!(
            detail.starts_with(
                "certificate 3 of the quote's PCK chain differs from the pinned Intel SGX Root CA \
                 and is not the PCK certificate's issuer"
            ) && detail.contains(why),
            "{detail}"
        );
    }
}

#[test]
fn collateral_for_another_fmspc_or_an_edited_tcb_info_is_refused() {
    let dir = vectors::tee("tdx");
    let v5 = named("go-tdx-guest-v5");
    let phala = collateral(&dir, &["dcap-qvl-tdx/collateral.json"]);
    let examination = examine_with(
        &v5,
        phala,
        quote_only(read(&dir, v5.quote)),
        &ExpectedBinding::default(),
    );
    let tcb_info = examination
        .failed_checks()
        .into_iter()
        .find(|c| c.name == "tcb_info")
        .expect("tcb_info fails");
    assert!(
        tcb_info
            .detail
            .contains("no TDX TCB info for FMSPC 90c06f000000")
            && tcb_info.detail.contains("b0c06f000000"),
        "{}",
        tcb_info.detail
    );

    // Promote an OutOfDate level to UpToDate in the signed text: the signature breaks.
    let set = named("automata-dcap-rs-00806f05");
    let text = String::from_utf8(read(
        &dir,
        "automata-dcap-rs-00806f05/tcbinfov3_00806f050000.json",
    ))
    .unwrap();
    assert!(text.contains("\"OutOfDate\""));
    let edited = text.replacen("\"OutOfDate\"", "\"UpToDate\"", 1);
    let mut endorsements = collateral(
        &dir,
        &in_dir(
            "automata-dcap-rs-00806f05",
            &DCAP_RS_2025_02[..DCAP_RS_2025_02.len() - 1],
        ),
    );
    endorsements.add_bytes(edited.as_bytes()).unwrap();
    let examination = examine_with(
        &set,
        endorsements,
        quote_only(read(&dir, set.quote)),
        &ExpectedBinding::default(),
    );
    let failures = examination.failed_checks();
    assert_eq!(failures[0].name, "tcb_info");
    assert!(
        failures[0].detail.contains("signature does not verify"),
        "{}",
        failures[0].detail
    );
}

#[test]
fn a_stale_pck_crl_or_tcb_signing_certificate_fails_at_the_verification_time() {
    let dir = vectors::tee("tdx");
    // MANIFEST: the 2025-06 TCB info with the 2025-02 PCK CRL → expired CRL.
    let mut june = june_2025("go-tdx-guest-gce-ccel/cos-113-tdx-quote.dat", gce_claims());
    june.collateral[2] = "go-tdx-guest-gce-ccel/collateral_2025-02/pck_platform_crl.der";
    let examination = examine(&dir, &june, read(&dir, june.quote), june.at);
    assert_eq!(failed(&examination), ["collateral_freshness"]);
    let detail = &examination.failed_checks()[0].detail;
    assert!(detail.contains("PCK CRL expired"), "{detail}");
    // The 2018 TCB signing certificate expired in May 2025; the renewed one (same key) is valid.
    june.collateral[3] = "intel-roots/tcb_signing_chain_2018.pem";
    let examination = examine(&dir, &june, read(&dir, june.quote), june.at);
    let validity = examination
        .checks
        .iter()
        .find(|c| c.name == "validity")
        .unwrap();
    assert!(
        !validity.ok && validity.detail.contains("Intel SGX TCB Signing"),
        "{}",
        validity.detail
    );
}

#[test]
fn the_ccel_replays_to_the_gcp_quote_and_an_altered_log_does_not() {
    let dir = vectors::tee("tdx");
    let set = named("go-tdx-guest-gce-ccel");
    let log = read(&dir, "go-tdx-guest-gce-ccel/ccel_data.dat");
    let with_log = |log: Vec<u8>, quote: &str| {
        let evidence = TdxEvidence {
            quote: read(&dir, quote),
            event_log: Some(log),
        };
        examine_with(
            &set,
            collateral(&dir, &set.collateral),
            evidence,
            &ExpectedBinding::default(),
        )
    };
    let examination = with_log(log.clone(), set.quote);
    assert!(examination.verified(), "{:?}", examination.failed_checks());
    let boot = &examination.claims["boot"];
    assert_eq!(
        boot["kernel"]["sha384"],
        json!(
            "b1012372f421ad28c9f542e5a1b8c4d312a0d1c8637ffba5e52b632d4b632e504da1b73964f6e8ba047bcd4f1d5a1dfe"
        )
    );
    assert!(
        boot["kernel_cmdline"]
            .as_str()
            .unwrap()
            .starts_with("/syslinux/vmlinuz.A init=/usr/lib/systemd/systemd")
    );

    // Alter one byte of the last event's SHA-384 digest: only its RTMR stops matching.
    let parsed = warden_wire::eventlog::parse(&log).unwrap();
    let last = parsed.events.last().unwrap();
    let position = log
        .windows(48)
        .rposition(|window| window == last.sha384().unwrap())
        .unwrap();
    let mut altered = log.clone();
    altered[position] ^= 0x80;
    let examination = with_log(altered, set.quote);
    assert_eq!(failed(&examination), ["event_log"]);
    let detail = &examination.failed_checks()[0].detail;
    let rtmr = format!("RTMR{}:", last.index - 1);
    assert!(
        detail.contains(&rtmr) && detail.matches(": quote").count() == 1,
        "{detail}"
    );

    // Another TD's quote does not match this log; a truncated log does not parse.
    let examination = with_log(log.clone(), "dcap-qvl-tdx/tdx_quote.bin");
    assert!(failed(&examination).contains(&"event_log"));
    let examination = with_log(log[..1000].to_vec(), set.quote);
    assert_eq!(failed(&examination), ["event_log"]);
}

#[test]
fn report_data_and_init_data_bind_through_reportdata_and_mrconfigid() {
    let dir = vectors::tee("tdx");
    let set = named("dcap-qvl-tdx");
    let report_data = hex::decode(set.claims["report_data"].as_str().unwrap()).unwrap();
    let bound = examine_with(
        &set,
        collateral(&dir, &set.collateral),
        quote_only(read(&dir, set.quote)),
        &ExpectedBinding {
            report_data: Some(report_data),
            init_data_digest: Some(vec![0; 48]),
        },
    );
    assert!(bound.verified(), "{:?}", bound.failed_checks());
    let unbound = examine_with(
        &set,
        collateral(&dir, &set.collateral),
        quote_only(read(&dir, set.quote)),
        &ExpectedBinding {
            report_data: Some(vec![0; 48]),
            init_data_digest: Some(vec![0x11; 32]),
        },
    );
    assert_eq!(failed(&unbound), ["report_data", "mr_config_id"]);
}
