//! Compiles `warden/verifier/v1/verifier.proto` with protox (a pure-Rust protoc: the build
//! needs no `protoc` binary) and generates the tonic client and server.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    const PROTO: &str = "warden/verifier/v1/verifier.proto";
    println!("cargo:rerun-if-changed={PROTO}");
    let descriptors = protox::compile([PROTO], ["."])?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
