//! Intel TDX bytes from untrusted sources: DCAP quotes (v4/v5, raw or in CoCo's evidence JSON)
//! and Intel collateral (TCB info / QE identity JSON, dcap-qvl bundles, PEM chains, DER
//! certificates and CRLs).
//!
//! Property: every parser returns an error or a value, never panics; a parsed quote's regions
//! tile the input; decoded evidence can be taken through the whole verification pipeline, which
//! must then reject it (the verifier holds no collateral, so nothing here can verify).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use warden_verifier::ExpectedBinding;
use warden_verifier::collateral::CollateralSet;
use warden_verifier::tee::tdx::collateral::TdxEndorsements;
use warden_verifier::tee::tdx::{TdxEvidence, TdxVerifier};
use warden_wire::tdx::{Quote, TdReport};

static VERIFIER: LazyLock<TdxVerifier> =
    LazyLock::new(|| TdxVerifier::new(TdxEndorsements::default()));

fn touch_body(body: &TdReport<'_>) {
    let _ = (body.bytes(), body.tee_tcb_svn(), body.mr_seam());
    let _ = (body.mr_signer_seam(), body.seam_attributes());
    let _ = (body.td_attributes(), body.xfam(), body.mr_td());
    let _ = (body.mr_config_id(), body.mr_owner(), body.mr_owner_config());
    for index in 0..4 {
        assert!(body.rtmr(index).is_some(), "RTMR{index} missing");
    }
    assert!(body.rtmr(4).is_none(), "RTMR4 exists");
    let _ = (
        body.report_data(),
        body.tee_tcb_svn2(),
        body.mr_service_td(),
    );
}

fn touch_quote(data: &[u8], quote: &Quote<'_>) {
    let kind = quote.body_kind();
    let _ = (quote.version(), kind.size(), kind.name());
    let _ = (quote.header(), quote.qe_svn(), quote.pce_svn());
    let _ = (quote.qe_vendor_id(), quote.user_data());
    let body = quote.body();
    assert_eq!(body.bytes().len(), kind.size(), "body length");
    touch_body(&body);
    let signature = quote.signature();
    let _ = (signature.signature, signature.attestation_key);
    let _ = (signature.qe_report_signature, signature.qe_auth_data);
    let _ = signature.pck_chain;
    let qe = signature.qe_report;
    let _ = (qe.bytes(), qe.cpu_svn(), qe.misc_select(), qe.attributes());
    let _ = (
        qe.mr_enclave(),
        qe.mr_signer(),
        qe.isv_prod_id(),
        qe.isv_svn(),
    );
    let _ = qe.report_data();
    // signed ⊂ declared, and declared ‖ trailing is exactly the input.
    let signed = quote.signed_bytes();
    let declared = quote.declared_bytes();
    assert!(signed.len() < declared.len(), "signed region overruns");
    assert_eq!(
        declared.len() + quote.trailing().len(),
        data.len(),
        "regions do not tile the input"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(quote) = Quote::parse(data) {
        touch_quote(data, &quote);
    }
    let _ = TdxEndorsements::default().add_bytes(data);
    if let Ok(evidence) = TdxEvidence::from_file_bytes(data) {
        let examination = VERIFIER.examine_decoded(
            &evidence,
            &ExpectedBinding::default(),
            time::OffsetDateTime::UNIX_EPOCH,
        );
        assert!(!examination.verified(), "unsigned fuzz input verified");
    }
});
