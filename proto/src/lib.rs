//! The gRPC contracts of the Warden verifier service, generated from
//! `proto/warden/verifier/v1/verifier.proto`.
#![forbid(unsafe_code)]
// Tests may unwrap: a panic is how they fail. Production code may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod verifier {
    pub mod v1 {
        tonic::include_proto!("warden.verifier.v1");
    }
}
