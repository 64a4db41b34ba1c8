//! Warden's signing authority, transport-free: the CA that issues short-lived code-signing
//! certificates to attested build enclaves, the RFC 3161 timestamp authority, and named keys
//! that sign in-toto statements for attested callers.
//!
//! Time and randomness come from the caller (times as parameters, serials as arguments), so
//! every output is reproducible in tests; nothing here reads the clock, the network or files.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]
