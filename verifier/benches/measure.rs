//! The SEV-SNP launch-digest calculator on a 4 MiB firmware with 64 vCPUs (QEMU, EPYC-v4),
//! against SHA-384 over the same 4 MiB (aws-lc-rs, which the calculator uses; the sha2 crate;
//! OpenSSL),
//! measured back to back in one process. Prints digests/s, bytes/s and the ratio to raw
//! hashing, and writes them to `bench-results/measure.json`.
// criterion_group! writes undocumented public functions.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{Criterion, Throughput, criterion_group};
use serde_json::json;
use sha2::{Digest, Sha384};
use warden_test_support::bench::{rate, round3};
use warden_verifier::measure::craft;
use warden_verifier::measure::snp::{SnpMeasurementInput, VcpuType, Vmm, launch_digest};

const FIRMWARE_BYTES: usize = 4 << 20;
const VCPUS: u32 = 64;

fn measure(c: &mut Criterion) {
    let firmware = craft::sev_firmware(
        FIRMWARE_BYTES,
        &craft::CRAFTED_A_SECTIONS,
        craft::CRAFTED_A_HASH_TABLE,
    );
    let input = SnpMeasurementInput {
        firmware: &firmware,
        firmware_hash: None,
        vcpus: VCPUS,
        vcpu_signature: Some(VcpuType::Epyc.signature()),
        vmm: Vmm::Qemu,
        guest_features: 0x1,
        kernel: None,
        initrd: None,
        append: None,
    };
    launch_digest(&input).unwrap();
    let mut group = c.benchmark_group("measure");
    group.throughput(Throughput::Bytes(FIRMWARE_BYTES as u64));
    group.bench_function("snp_launch_digest_4mib_64_vcpus", |b| {
        b.iter(|| launch_digest(&input).unwrap())
    });
    group.bench_function("sha384_4mib_sha2", |b| b.iter(|| Sha384::digest(&firmware)));
    group.bench_function("sha384_4mib_aws_lc_rs", |b| {
        b.iter(|| aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, &firmware))
    });
    group.bench_function("sha384_4mib_openssl", |b| {
        b.iter(|| openssl::sha::sha384(&firmware))
    });
    group.finish();

    let digests = rate(&|| {
        launch_digest(&input).unwrap();
    });
    let sha2 = rate(&|| {
        Sha384::digest(&firmware);
    });
    let aws_lc_rs = rate(&|| {
        let _ = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, &firmware);
    });
    let openssl = rate(&|| {
        openssl::sha::sha384(&firmware);
    });
    let mib = |per_s: f64| (per_s * FIRMWARE_BYTES as f64 / f64::from(1 << 20)).round();
    let summary = json!({
        "firmware_bytes": FIRMWARE_BYTES,
        "vcpus": VCPUS,
        "snp_launch_digests_per_s": round3(digests),
        "snp_launch_digest_mib_per_s": mib(digests),
        "sha384_4mib_per_s_sha2": round3(sha2),
        "sha384_mib_per_s_sha2": mib(sha2),
        "sha384_4mib_per_s_aws_lc_rs": round3(aws_lc_rs),
        "sha384_mib_per_s_aws_lc_rs": mib(aws_lc_rs),
        "sha384_4mib_per_s_openssl": round3(openssl),
        "sha384_mib_per_s_openssl": mib(openssl),
        "ratio_digest_to_sha384_aws_lc_rs": round3(digests / aws_lc_rs),
        "ratio_digest_to_sha384_sha2": round3(digests / sha2),
        "ratio_digest_to_sha384_openssl": round3(digests / openssl),
    });
    println!("measure summary (one core): {summary:#}");
    warden_test_support::bench::write_result("measure.json", &summary);
}

criterion_group!(benches, measure);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
