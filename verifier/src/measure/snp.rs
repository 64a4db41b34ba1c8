//! The AMD SEV-SNP launch digest (`docs/design/measure.md` §1), as sev-snp-measure 0.0.13
//! computes it for mode `snp`: firmware pages, SEV metadata sections, optional kernel-hashes
//! page, one VMSA per vCPU, chained through SHA-384 over 112-byte PAGE_INFO structures.

use sha2::{Digest, Sha256};

use super::ovmf::{
    Guid, HASH_TABLE_PADDED_LEN, PAGE_SIZE, SectionType, SevFirmware, check_firmware_length, guid,
};
use super::{MeasureError, sha384};

/// The VMM that launches the guest; it decides the initial register state (§1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vmm {
    /// QEMU/KVM (sev-snp-measure `QEMU`).
    Qemu,
    /// AWS EC2 (`ec2`).
    Ec2,
    /// Google Compute Engine (`gce`).
    Gce,
}

impl Vmm {
    /// Parses the names sev-snp-measure accepts: `QEMU`, `ec2`, `gce` (case-insensitive).
    pub fn from_name(name: &str) -> Result<Self, MeasureError> {
        match name.to_ascii_lowercase().as_str() {
            "qemu" => Ok(Self::Qemu),
            "ec2" => Ok(Self::Ec2),
            "gce" => Ok(Self::Gce),
            _ => Err(MeasureError::VmmName(name.to_owned())),
        }
    }

    /// The name as sev-snp-measure spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Qemu => "QEMU",
            Self::Ec2 => "ec2",
            Self::Gce => "gce",
        }
    }
}

/// The QEMU CPU models sev-snp-measure knows, grouped by signature (§1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VcpuType {
    /// EPYC, EPYC-v1..v4, EPYC-IBPB (Naples): family 23, model 1, stepping 2.
    Epyc,
    /// EPYC-Rome(-v1..v3): 23, 49, 0.
    EpycRome,
    /// EPYC-Milan(-v1, -v2): 25, 1, 1.
    EpycMilan,
    /// EPYC-Genoa(-v1): 25, 17, 0.
    EpycGenoa,
    /// EPYC-Turin: 26, 0, 0.
    EpycTurin,
}

impl VcpuType {
    /// Every accepted name.
    pub const NAMES: [&'static str; 16] = [
        "EPYC",
        "EPYC-v1",
        "EPYC-v2",
        "EPYC-IBPB",
        "EPYC-v3",
        "EPYC-v4",
        "EPYC-Rome",
        "EPYC-Rome-v1",
        "EPYC-Rome-v2",
        "EPYC-Rome-v3",
        "EPYC-Milan",
        "EPYC-Milan-v1",
        "EPYC-Milan-v2",
        "EPYC-Genoa",
        "EPYC-Genoa-v1",
        "EPYC-Turin",
    ];

    /// Parses a QEMU CPU model name (exact spelling).
    pub fn from_name(name: &str) -> Result<Self, MeasureError> {
        Ok(match name {
            "EPYC" | "EPYC-v1" | "EPYC-v2" | "EPYC-IBPB" | "EPYC-v3" | "EPYC-v4" => Self::Epyc,
            "EPYC-Rome" | "EPYC-Rome-v1" | "EPYC-Rome-v2" | "EPYC-Rome-v3" => Self::EpycRome,
            "EPYC-Milan" | "EPYC-Milan-v1" | "EPYC-Milan-v2" => Self::EpycMilan,
            "EPYC-Genoa" | "EPYC-Genoa-v1" => Self::EpycGenoa,
            "EPYC-Turin" => Self::EpycTurin,
            _ => return Err(MeasureError::VcpuTypeName(name.to_owned())),
        })
    }

    /// Family, model and stepping.
    pub fn family_model_stepping(self) -> (u32, u32, u32) {
        match self {
            Self::Epyc => (23, 1, 2),
            Self::EpycRome => (23, 49, 0),
            Self::EpycMilan => (25, 1, 1),
            Self::EpycGenoa => (25, 17, 0),
            Self::EpycTurin => (26, 0, 0),
        }
    }

    /// The CPUID Fn0000_0001_EAX signature.
    pub fn signature(self) -> u32 {
        let (f, m, s) = self.family_model_stepping();
        // In range by construction.
        cpu_signature(f, m, s).unwrap_or(0)
    }
}

/// The CPUID Fn0000_0001_EAX signature of an AMD CPU (§1.7). Family must be at most
/// 0xF + 0xFF, model at most 0xFF, stepping at most 0xF.
pub fn cpu_signature(family: u32, model: u32, stepping: u32) -> Result<u32, MeasureError> {
    if family > 0xF + 0xFF || model > 0xFF || stepping > 0xF {
        return Err(MeasureError::VcpuFamily {
            family,
            model,
            stepping,
        });
    }
    let (base, ext) = if family > 0xF {
        (0xF, family - 0xF)
    } else {
        (family, 0)
    };
    Ok(ext << 20 | (model >> 4) << 16 | base << 8 | (model & 0xF) << 4 | stepping)
}

/// Inputs of an SEV-SNP launch digest.
#[derive(Debug, Clone)]
pub struct SnpMeasurementInput<'a> {
    /// The OVMF image as the VMM maps it (ending at 4 GiB).
    pub firmware: &'a [u8],
    /// The digest of the firmware pages alone ([`firmware_hash`]), used instead of hashing
    /// `firmware` again; the firmware is still parsed for its metadata.
    pub firmware_hash: Option<[u8; 48]>,
    /// Number of vCPUs, 1..=1024.
    pub vcpus: u32,
    /// The vCPU signature ([`VcpuType::signature`], [`cpu_signature`]); required for QEMU,
    /// refused for ec2 and gce (they do not put it in the VMSA).
    pub vcpu_signature: Option<u32>,
    /// The VMM.
    pub vmm: Vmm,
    /// SEV features written into every VMSA (sev-snp-measure's default is 0x1).
    pub guest_features: u64,
    /// Kernel for measured direct boot (hashed as given).
    pub kernel: Option<&'a [u8]>,
    /// Initrd (needs `kernel`).
    pub initrd: Option<&'a [u8]>,
    /// Kernel command line (needs `kernel`).
    pub append: Option<&'a str>,
}

const VMSA_GPA: u64 = 0x0000_FFFF_FFFF_F000;
const PAGE_TYPE_NORMAL: u8 = 1;
const PAGE_TYPE_VMSA: u8 = 2;
const PAGE_TYPE_ZERO: u8 = 3;
const PAGE_TYPE_UNMEASURED: u8 = 4;
const PAGE_TYPE_SECRETS: u8 = 5;
const PAGE_TYPE_CPUID: u8 = 6;
/// Guest-feature bits that must be zero: 11, 13, 16–63.
const RESERVED_FEATURES: u64 = !0xFFFF | 1 << 11 | 1 << 13;

/// The running launch digest.
struct Gctx {
    ld: [u8; 48],
}

impl Gctx {
    fn update(&mut self, page_type: u8, gpa: u64, contents: &[u8; 48]) {
        let mut info = [0u8; 0x70];
        info[..48].copy_from_slice(&self.ld);
        info[48..96].copy_from_slice(contents);
        info[0x60..0x62].copy_from_slice(&0x70u16.to_le_bytes());
        info[0x62] = page_type;
        info[0x68..0x70].copy_from_slice(&gpa.to_le_bytes());
        self.ld = sha384(&info);
    }

    fn pages(&mut self, page_type: u8, gpa: u32, size: u32) {
        for p in 0..size / PAGE_SIZE as u32 {
            self.update(
                page_type,
                u64::from(gpa) + u64::from(p) * PAGE_SIZE as u64,
                &[0; 48],
            );
        }
    }
}

fn firmware_pages(fw: &[u8], seed: [u8; 48]) -> [u8; 48] {
    let mut g = Gctx { ld: seed };
    let base = (1u64 << 32) - fw.len() as u64;
    for (i, page) in fw.chunks_exact(PAGE_SIZE).enumerate() {
        let h = sha384(page);
        g.update(PAGE_TYPE_NORMAL, base + (i * PAGE_SIZE) as u64, &h);
    }
    g.ld
}

/// The digest after the firmware pages only (sev-snp-measure `--mode snp:ovmf-hash`). Only
/// the length is checked: the firmware is not parsed.
pub fn firmware_hash(firmware: &[u8]) -> Result<[u8; 48], MeasureError> {
    check_firmware_length(firmware)?;
    Ok(firmware_pages(firmware, [0; 48]))
}

/// The 4096-byte page holding the SEV hashes table at `offset` (§1.5).
pub fn hashes_page(
    offset: usize,
    kernel: &[u8],
    initrd: Option<&[u8]>,
    append: Option<&str>,
) -> Option<[u8; PAGE_SIZE]> {
    if offset > PAGE_SIZE - HASH_TABLE_PADDED_LEN {
        return None;
    }
    // The table's GUIDs, as the firmware reads them (QEMU's SEV hash table).
    const HEADER: Guid = guid(
        0x9438_d606,
        0x4f22,
        0x4cc9,
        [0xb4, 0x79, 0xa7, 0x93, 0xd4, 0x11, 0xfd, 0x21],
    );
    const CMDLINE: Guid = guid(
        0x97d0_2dd8,
        0xbd20,
        0x4c94,
        [0xaa, 0x78, 0xe7, 0x71, 0x4d, 0x36, 0xab, 0x2a],
    );
    const INITRD: Guid = guid(
        0x44ba_f731,
        0x3a2f,
        0x4bd7,
        [0x9a, 0xf1, 0x41, 0xe2, 0x91, 0x69, 0x78, 0x1d],
    );
    const KERNEL: Guid = guid(
        0x4de7_9437,
        0xabd2,
        0x427f,
        [0xb8, 0x35, 0xd5, 0xb1, 0x72, 0xd2, 0x04, 0x5b],
    );
    let mut cmdline = Sha256::new();
    cmdline.update(append.unwrap_or("").as_bytes());
    cmdline.update([0u8]);
    let entries: [([u8; 16], [u8; 32]); 3] = [
        (CMDLINE, cmdline.finalize().into()),
        (INITRD, Sha256::digest(initrd.unwrap_or(&[])).into()),
        (KERNEL, Sha256::digest(kernel).into()),
    ];
    let mut page = [0u8; PAGE_SIZE];
    let mut at = offset;
    let mut put = |bytes: &[u8]| {
        page[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(&HEADER);
    put(&168u16.to_le_bytes());
    for (g, h) in &entries {
        put(g);
        put(&50u16.to_le_bytes());
        put(h);
    }
    Some(page)
}

/// The VMSA page of a vCPU starting at `eip` (§1.6).
pub fn vmsa_page(eip: u32, vmm: Vmm, vcpu_signature: u32, guest_features: u64) -> [u8; PAGE_SIZE] {
    let mut p = [0u8; PAGE_SIZE];
    let seg = |p: &mut [u8; PAGE_SIZE], at: usize, sel: u16, attrib: u16, base: u64| {
        p[at..at + 2].copy_from_slice(&sel.to_le_bytes());
        p[at + 2..at + 4].copy_from_slice(&attrib.to_le_bytes());
        p[at + 4..at + 8].copy_from_slice(&0xFFFFu32.to_le_bytes());
        p[at + 8..at + 16].copy_from_slice(&base.to_le_bytes());
    };
    let u64_at = |p: &mut [u8; PAGE_SIZE], at: usize, v: u64| {
        p[at..at + 8].copy_from_slice(&v.to_le_bytes());
    };
    let bsp = eip == 0xFFFF_FFF0;
    let (cs, ss, tr, rdx, mxcsr, fcw, pat) = match vmm {
        Vmm::Qemu => (
            0x9B,
            0x93,
            0x8B,
            u64::from(vcpu_signature),
            0x1F80u32,
            0x37Fu16,
            0x0007_0406_0007_0406u64,
        ),
        Vmm::Ec2 => (
            if bsp { 0x9A } else { 0x9B },
            0x92,
            0x83,
            0x600,
            0,
            0,
            0x0007_0406_0007_0406,
        ),
        Vmm::Gce => (0x9B, 0x93, 0x8B, 0x600, 0, 0, 0x0007_0106),
    };
    seg(&mut p, 0x000, 0, 0x93, 0); // es
    seg(&mut p, 0x010, 0xF000, cs, u64::from(eip & 0xFFFF_0000));
    seg(&mut p, 0x020, 0, ss, 0);
    seg(&mut p, 0x030, 0, 0x93, 0); // ds
    seg(&mut p, 0x040, 0, 0x93, 0); // fs
    seg(&mut p, 0x050, 0, 0x93, 0); // gs
    seg(&mut p, 0x060, 0, 0, 0); // gdtr
    seg(&mut p, 0x070, 0, 0x82, 0); // ldtr
    seg(&mut p, 0x080, 0, 0, 0); // idtr
    seg(&mut p, 0x090, 0, tr, 0);
    u64_at(&mut p, 0x0D0, 0x1000); // efer
    u64_at(&mut p, 0x148, 0x40); // cr4
    u64_at(&mut p, 0x158, 0x10); // cr0
    u64_at(&mut p, 0x160, 0x400); // dr7
    u64_at(&mut p, 0x168, 0xFFFF_0FF0); // dr6
    u64_at(&mut p, 0x170, 0x2); // rflags
    u64_at(&mut p, 0x178, u64::from(eip & 0xFFFF)); // rip
    u64_at(&mut p, 0x268, pat);
    u64_at(&mut p, 0x310, rdx);
    u64_at(&mut p, 0x3B0, guest_features);
    u64_at(&mut p, 0x3E8, 0x1); // xcr0
    p[0x408..0x40C].copy_from_slice(&mxcsr.to_le_bytes());
    p[0x410..0x412].copy_from_slice(&fcw.to_le_bytes());
    p
}

/// Checks the inputs other than the firmware bytes.
fn check_inputs(input: &SnpMeasurementInput<'_>) -> Result<u32, MeasureError> {
    if input.vcpus == 0 || input.vcpus > 1024 {
        return Err(MeasureError::Vcpus(input.vcpus));
    }
    if input.guest_features & 1 == 0 || input.guest_features & RESERVED_FEATURES != 0 {
        return Err(MeasureError::GuestFeatures(input.guest_features));
    }
    if input.kernel.is_none() {
        if input.initrd.is_some() {
            return Err(MeasureError::InitrdWithoutKernel);
        }
        if input.append.is_some() {
            return Err(MeasureError::AppendWithoutKernel);
        }
    }
    match (input.vmm, input.vcpu_signature) {
        (Vmm::Qemu, Some(sig)) => Ok(sig),
        (Vmm::Qemu, None) => Err(MeasureError::VcpuSignatureMissing),
        (vmm, Some(_)) => Err(MeasureError::VcpuSignatureUnused(vmm.name())),
        (_, None) => Ok(0),
    }
}

/// The SEV-SNP launch digest (the report's MEASUREMENT) for these inputs.
pub fn launch_digest(input: &SnpMeasurementInput<'_>) -> Result<[u8; 48], MeasureError> {
    let signature = check_inputs(input)?;
    let fw = input.firmware;
    check_firmware_length(fw)?;
    let meta = SevFirmware::parse(fw)?;
    if input.vcpus > 1 && meta.ap_reset_eip == 0 {
        return Err(MeasureError::NoApResetAddress(input.vcpus));
    }
    let hashes = match (input.kernel, meta.hash_table_offset) {
        (None, _) => None,
        (Some(_), None) => return Err(MeasureError::NoKernelHashes),
        // `SevFirmware::parse` already checked that the table fits its page, so the error
        // below cannot occur; it is mapped rather than unwrapped.
        (Some(kernel), Some(off)) => Some(
            hashes_page(off, kernel, input.initrd, input.append)
                .ok_or(MeasureError::HashTableBase { base: 0, page: 0 })?,
        ),
    };

    let mut g = Gctx {
        ld: match input.firmware_hash {
            Some(h) => h,
            None => firmware_pages(fw, [0; 48]),
        },
    };
    for s in &meta.sections {
        match s.kind {
            SectionType::SnpSecMem if input.vmm == Vmm::Gce => {
                g.pages(PAGE_TYPE_UNMEASURED, s.gpa, s.size)
            }
            SectionType::SnpSecMem | SectionType::SvsmCaa => g.pages(PAGE_TYPE_ZERO, s.gpa, s.size),
            SectionType::SnpSecrets => g.update(PAGE_TYPE_SECRETS, u64::from(s.gpa), &[0; 48]),
            SectionType::Cpuid if input.vmm == Vmm::Ec2 => {}
            SectionType::Cpuid => g.update(PAGE_TYPE_CPUID, u64::from(s.gpa), &[0; 48]),
            SectionType::SnpKernelHashes => match &hashes {
                Some(page) => {
                    let h = sha384(page);
                    g.update(PAGE_TYPE_NORMAL, u64::from(s.gpa), &h);
                }
                None => g.pages(PAGE_TYPE_ZERO, s.gpa, s.size),
            },
        }
    }
    if input.vmm == Vmm::Ec2 {
        for s in meta
            .sections
            .iter()
            .filter(|s| s.kind == SectionType::Cpuid)
        {
            g.update(PAGE_TYPE_CPUID, u64::from(s.gpa), &[0; 48]);
        }
    }
    let bsp = sha384(&vmsa_page(
        0xFFFF_FFF0,
        input.vmm,
        signature,
        input.guest_features,
    ));
    g.update(PAGE_TYPE_VMSA, VMSA_GPA, &bsp);
    if input.vcpus > 1 {
        let ap = sha384(&vmsa_page(
            meta.ap_reset_eip,
            input.vmm,
            signature,
            input.guest_features,
        ));
        for _ in 1..input.vcpus {
            g.update(PAGE_TYPE_VMSA, VMSA_GPA, &ap);
        }
    }
    Ok(g.ld)
}

/// The `snp` reference value affirming exactly `measurement` (what `PUT
/// /reference-values/snp` takes; other keys of the schema are the operator's to add).
pub fn reference_value(measurement: &[u8; 48]) -> serde_json::Value {
    serde_json::json!({ "measurements": [hex::encode(measurement)] })
}
