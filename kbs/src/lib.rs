//! Warden key broker service.
//!
//! Layering (each crossed once per request): `http` translates HTTP ⇄ calls on [`service::Kbs`];
//! `service` drives the pure `protocol` state machine, the embedded verifier, the `release`
//! policies and the `store`; nothing below `http` knows about sockets.
#![forbid(unsafe_code)]
// Tests may unwrap: a panic is how they fail. Production code may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod admin;
pub mod admin_client;
pub mod audit;
pub mod config;
pub mod error;
pub mod http;
pub mod init;
pub mod keyfile;
pub mod metrics;
pub mod migrate;
pub mod protocol;
pub mod ratelimit;
pub mod release;
pub mod sealing;
pub mod server;
pub mod service;
pub mod signing;
pub mod tpm_registration;
pub mod transparency;

pub use config::Config;
pub use error::KbsError;
pub use service::Kbs;
