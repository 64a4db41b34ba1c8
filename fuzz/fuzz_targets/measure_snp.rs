//! The SEV-SNP launch-digest calculator over untrusted firmware and parameters.
//!
//! Input: 8 parameter bytes (vCPU count, VMM, vCPU signature, guest features, which of kernel,
//! initrd and command line are given), then the end of a firmware as in `ovmf_metadata`.
//! Property: the digest is computed or refused, never a panic, and computed only for firmware
//! whose metadata parses; the precomputed firmware hash gives the same digest.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_verifier::measure::ovmf::{PAGE_SIZE, SevFirmware};
use warden_verifier::measure::snp::{SnpMeasurementInput, Vmm, firmware_hash, launch_digest};

fuzz_target!(|data: &[u8]| {
    let Some((params, tail)) = data.split_first_chunk::<8>() else {
        return;
    };
    // Bounded: at most 64 KiB of firmware and 16 vCPUs keep each run short.
    if tail.len() > 16 * PAGE_SIZE {
        return;
    }
    let mut firmware = vec![0; tail.len().div_ceil(PAGE_SIZE).max(1) * PAGE_SIZE - tail.len()];
    firmware.extend_from_slice(tail);
    let kernel = [0x4B; 100];
    let initrd = [0x49; 50];
    let vmm = [Vmm::Qemu, Vmm::Ec2, Vmm::Gce][usize::from(params[1] % 3)];
    let mut input = SnpMeasurementInput {
        firmware: &firmware,
        firmware_hash: None,
        vcpus: u32::from(params[0] % 17),
        vcpu_signature: (params[2] & 1 == 1).then(|| u32::from_le_bytes([params[3], params[4], params[5], 0])),
        vmm,
        guest_features: u64::from(u16::from_le_bytes([params[6], params[2] >> 1])),
        kernel: (params[7] & 1 == 1).then_some(&kernel[..]),
        initrd: (params[7] & 2 == 2).then_some(&initrd[..]),
        append: (params[7] & 4 == 4).then_some("console=ttyS0"),
    };
    let Ok(digest) = launch_digest(&input) else {
        return;
    };
    assert!(SevFirmware::parse(&firmware).is_ok(), "digest of unparsable firmware");
    input.firmware_hash = firmware_hash(&firmware).ok();
    assert_eq!(launch_digest(&input), Ok(digest));
});
