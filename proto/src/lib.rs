//! The gRPC contracts of the Warden verifier service, generated from
//! `proto/warden/verifier/v1/verifier.proto`.
#![forbid(unsafe_code)]

pub mod verifier {
    pub mod v1 {
        tonic::include_proto!("warden.verifier.v1");
    }
}
