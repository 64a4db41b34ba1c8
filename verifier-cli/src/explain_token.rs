//! `warden-verifier explain --token`: the trace summary an EAR token carries.

use crate::appraise::{AppraiseArgs, parse_at};
use crate::read;
use serde_json::json;
use std::process::ExitCode;
use warden_verifier::Status;
use warden_verifier::ear::{EarClaims, TokenVerifier};

/// `explain --token`: the status, trust vector and trace summary an EAR token carries. The
/// signature is checked only with `--jwks` (at `--at`), and the output says which. Exit codes:
/// 0 affirming and checked, 1 not affirming, 3 affirming but the signature was not checked
/// (a script must not take an unchecked token for a verdict), 2 errors (incl. a bad signature).
pub(crate) fn explain_token(args: &AppraiseArgs) -> Result<ExitCode, String> {
    let path = args.token.as_ref().ok_or("--token is required")?;
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| format!("standard input: {e}"))?;
        text
    } else {
        read(path)?
    };
    let token = text.trim();
    let (claims, checked): (EarClaims, bool) = match &args.jwks {
        Some(jwks_path) => {
            let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(&read(jwks_path)?)
                .map_err(|e| format!("{}: {e}", jwks_path.display()))?;
            let issuer = match &args.issuer {
                Some(issuer) => issuer.clone(),
                None => unverified_claims(token)?.iss,
            };
            let verifier = TokenVerifier::from_jwks(&jwks, &issuer).map_err(|e| e.to_string())?;
            let claims = verifier
                .verify(token, parse_at(args)?)
                .map_err(|e| format!("token: {e}"))?;
            (claims, true)
        }
        None => (unverified_claims(token)?, false),
    };
    let submod = claims
        .primary()
        .ok_or("the token has no appraised component")?;
    let report = json!({
        "signature_checked": checked,
        "issuer": claims.iss,
        "tee": submod.tee,
        "status": submod.status,
        "trust_vector": submod.trust_vector,
        "policy_id": submod.appraisal_policy_id,
        "trace": submod.trace,
        "insecure": claims.insecure,
    });
    if args.json {
        println!("{report}");
    } else {
        if !checked {
            println!("signature NOT checked (pass --jwks FILE --at TIME to check it)");
        }
        for reason in &claims.insecure {
            println!("INSECURE: {reason}");
        }
        println!("verdict: {} ({} evidence)", submod.status, submod.tee);
        println!(
            "decision trace: {} steps passed, {} failed",
            submod.trace.passed,
            submod.trace.failed.len()
        );
        for failed in &submod.trace.failed {
            println!("  [FAIL] {failed}");
        }
        println!("trust vector: {}", json!(submod.trust_vector));
    }
    if !checked {
        eprintln!("warning: the token's signature was NOT checked; this is not a verdict");
    }
    Ok(match (submod.status == Status::Affirming, checked) {
        (true, true) => ExitCode::SUCCESS,
        (true, false) => ExitCode::from(3),
        (false, _) => ExitCode::from(1),
    })
}

/// The claims of a JWT, read without checking its signature.
pub(crate) fn unverified_claims(token: &str) -> Result<EarClaims, String> {
    use base64::Engine as _;
    let payload = token
        .split('.')
        .nth(1)
        .ok_or("not a JWT (header.payload.signature)")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| "the token's payload is not base64url")?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not an EAR token: {e}"))
}
