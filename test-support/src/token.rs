//! A JWT's claims, read without checking its signature: for tests that look at what a token
//! says after the code under test (or another test) has checked it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// The payload of a compact JWT; panics (failing the test) on anything else.
pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("JWT payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}
