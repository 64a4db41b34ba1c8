//! The AMD SEV-SNP attestation report (SEV-SNP ABI specification, `ATTESTATION_REPORT`) and the
//! GHCB certificate table that travels with extended reports.
//!
//! Shared by the agent, which collects (or, for development, synthesises) reports, and the
//! verifier, which appraises them. [`Report`] keeps the exact bytes it was given and reads every
//! field at its fixed offset, so the bytes whose signature is checked are the bytes received.
//! Parsing never panics: the only fallible step is the length and version check.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Every report version (2, 3, 5) is 1184 bytes.
pub const REPORT_LEN: usize = 0x4A0;
/// The signature covers bytes `0x000..0x2A0`.
pub const SIGNED_LEN: usize = 0x2A0;
/// ECDSA P-384 components are stored little-endian, zero-extended to 72 bytes.
pub const SIGNATURE_COMPONENT_LEN: usize = 72;
/// Report versions this parser understands (4 was never released by AMD).
pub const SUPPORTED_VERSIONS: [u32; 3] = [2, 3, 5];
/// `SIGNATURE_ALGO` value for ECDSA P-384 with SHA-384, the only algorithm AMD defines.
pub const SIGNATURE_ALGO_ECDSA_P384_SHA384: u32 = 1;

/// Field offsets within the report.
pub mod offset {
    /// VERSION: report format version (u32).
    pub const VERSION: usize = 0x000;
    /// GUEST_SVN: the guest's security version number (u32).
    pub const GUEST_SVN: usize = 0x004;
    /// POLICY: the guest policy (u64).
    pub const POLICY: usize = 0x008;
    /// FAMILY_ID: 16 bytes from the ID block.
    pub const FAMILY_ID: usize = 0x010;
    /// IMAGE_ID: 16 bytes from the ID block.
    pub const IMAGE_ID: usize = 0x020;
    /// VMPL: the VMPL the report was requested from (u32).
    pub const VMPL: usize = 0x030;
    /// SIGNATURE_ALGO: signature algorithm (u32).
    pub const SIGNATURE_ALGO: usize = 0x034;
    /// CURRENT_TCB: TCB_VERSION of the running firmware (u64).
    pub const CURRENT_TCB: usize = 0x038;
    /// PLATFORM_INFO: platform feature bits (u64).
    pub const PLATFORM_INFO: usize = 0x040;
    /// KEY_INFO: author-key and signing-key flags (u32).
    pub const KEY_INFO: usize = 0x048;
    /// REPORT_DATA: 64 bytes the guest supplied.
    pub const REPORT_DATA: usize = 0x050;
    /// MEASUREMENT: launch digest, 48 bytes.
    pub const MEASUREMENT: usize = 0x090;
    /// HOST_DATA: 32 bytes the hypervisor supplied at launch.
    pub const HOST_DATA: usize = 0x0C0;
    /// ID_KEY_DIGEST: SHA-384 of the ID key, 48 bytes.
    pub const ID_KEY_DIGEST: usize = 0x0E0;
    /// AUTHOR_KEY_DIGEST: SHA-384 of the author key, 48 bytes.
    pub const AUTHOR_KEY_DIGEST: usize = 0x110;
    /// REPORT_ID: the guest's report ID, 32 bytes.
    pub const REPORT_ID: usize = 0x140;
    /// REPORT_ID_MA: the migration agent's report ID, 32 bytes.
    pub const REPORT_ID_MA: usize = 0x160;
    /// REPORTED_TCB: TCB_VERSION the VCEK is derived from (u64).
    pub const REPORTED_TCB: usize = 0x180;
    /// Version 3 and later.
    pub const CPUID_FAM_ID: usize = 0x188;
    /// CPUID_MOD_ID: CPUID model (1 byte; version 3 and later).
    pub const CPUID_MOD_ID: usize = 0x189;
    /// CPUID_STEP: CPUID stepping (1 byte; version 3 and later).
    pub const CPUID_STEP: usize = 0x18A;
    /// CHIP_ID: 64-byte chip identifier.
    pub const CHIP_ID: usize = 0x1A0;
    /// COMMITTED_TCB: TCB_VERSION of the committed firmware (u64).
    pub const COMMITTED_TCB: usize = 0x1E0;
    /// CURRENT_BUILD: build, minor, major of the running firmware (1 byte each).
    pub const CURRENT_BUILD: usize = 0x1E8;
    /// COMMITTED_BUILD: build, minor, major of the committed firmware (1 byte each).
    pub const COMMITTED_BUILD: usize = 0x1EC;
    /// LAUNCH_TCB: TCB_VERSION of the firmware at guest launch (u64).
    pub const LAUNCH_TCB: usize = 0x1F0;
    /// Version 5 and later.
    pub const LAUNCH_MIT_VECTOR: usize = 0x1F8;
    /// CURRENT_MIT_VECTOR: mitigations currently applied (u64; version 5 and later).
    pub const CURRENT_MIT_VECTOR: usize = 0x200;
    /// SIGNATURE: R component, 72 bytes little-endian.
    pub const SIGNATURE_R: usize = 0x2A0;
    /// SIGNATURE: S component, 72 bytes little-endian.
    pub const SIGNATURE_S: usize = 0x2E8;
}

/// Why bytes are not a supported SEV-SNP report.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReportError {
    /// The input is not [`REPORT_LEN`] bytes; holds its length.
    #[error("an SEV-SNP report is {REPORT_LEN} bytes, got {0}")]
    Length(usize),
    /// VERSION is not one of [`SUPPORTED_VERSIONS`]; holds it.
    #[error("unsupported SEV-SNP report version {0} (supported: 2, 3, 5)")]
    Version(u32),
}

/// AMD EPYC generations with SEV-SNP. They differ in root keys and in the TCB_VERSION layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Generation {
    /// Milan (CPUID family 19h, models 00h-0Fh).
    Milan,
    /// Genoa, Siena and Bergamo (family 19h, models 10h-1Fh and A0h-AFh).
    Genoa,
    /// Turin (family 1Ah, models 00h-1Fh).
    Turin,
}

impl Generation {
    /// Every generation, oldest first.
    pub const ALL: [Generation; 3] = [Generation::Milan, Generation::Genoa, Generation::Turin];

    /// The generation's name as AMD writes it ("Milan", "Genoa", "Turin").
    pub fn name(self) -> &'static str {
        match self {
            Generation::Milan => "Milan",
            Generation::Genoa => "Genoa",
            Generation::Turin => "Turin",
        }
    }

    /// The generation a CPUID family/model belongs to (Siena and Bergamo share Genoa's keys).
    pub fn from_cpuid(family: u8, model: u8) -> Option<Generation> {
        match (family, model) {
            (0x19, 0x00..=0x0F) => Some(Generation::Milan),
            (0x19, 0x10..=0x1F | 0xA0..=0xAF) => Some(Generation::Genoa),
            (0x1A, 0x00..=0x1F) => Some(Generation::Turin),
            _ => None,
        }
    }

    /// The VCEK `productName` prefix AMD uses for this generation's chips.
    pub fn from_product_name(name: &str) -> Option<Generation> {
        let family = name.split('-').next().unwrap_or(name);
        match family {
            "Milan" => Some(Generation::Milan),
            "Genoa" | "Siena" | "Bergamo" => Some(Generation::Genoa),
            "Turin" => Some(Generation::Turin),
            _ => None,
        }
    }

    /// Turin moved the TCB fields and added the FMC component.
    pub fn has_fmc(self) -> bool {
        self == Generation::Turin
    }

    /// Bytes of CHIP_ID that identify the chip (the VCEK hwID length): Turin uses 8.
    pub fn chip_id_len(self) -> usize {
        if self == Generation::Turin { 8 } else { 64 }
    }
}

impl std::fmt::Display for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A TCB_VERSION as stored in the report: its meaning depends on the [`Generation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawTcb(pub u64);

/// Security patch levels of the firmware components in a TCB_VERSION.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Tcb {
    /// Turin and later only.
    pub fmc: Option<u8>,
    /// BOOT_LOADER security patch level.
    pub bootloader: u8,
    /// TEE (PSP OS) security patch level.
    pub tee: u8,
    /// SNP firmware security patch level.
    pub snp: u8,
    /// MICROCODE security patch level.
    pub microcode: u8,
}

impl RawTcb {
    /// Milan/Genoa: `[bl, tee, 0, 0, 0, 0, snp, ucode]`; Turin: `[fmc, bl, tee, snp, 0, 0, 0, ucode]`.
    pub fn decode(self, generation: Generation) -> Tcb {
        let b = self.0.to_le_bytes();
        if generation.has_fmc() {
            Tcb {
                fmc: Some(b[0]),
                bootloader: b[1],
                tee: b[2],
                snp: b[3],
                microcode: b[7],
            }
        } else {
            Tcb {
                fmc: None,
                bootloader: b[0],
                tee: b[1],
                snp: b[6],
                microcode: b[7],
            }
        }
    }
}

impl Tcb {
    /// The inverse of [`RawTcb::decode`]; the layout is chosen by whether `fmc` is present.
    pub fn encode(&self) -> RawTcb {
        let mut b = [0u8; 8];
        match self.fmc {
            Some(fmc) => {
                b[0] = fmc;
                b[1] = self.bootloader;
                b[2] = self.tee;
                b[3] = self.snp;
            }
            None => {
                b[0] = self.bootloader;
                b[1] = self.tee;
                b[6] = self.snp;
            }
        }
        b[7] = self.microcode;
        RawTcb(u64::from_le_bytes(b))
    }
}

/// The guest policy the VM was launched with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestPolicy(pub u64);

impl GuestPolicy {
    /// ABI_MINOR: lowest ABI minor version allowed (bits 7:0).
    pub fn abi_minor(self) -> u8 {
        self.0 as u8
    }
    /// ABI_MAJOR: lowest ABI major version allowed (bits 15:8).
    pub fn abi_major(self) -> u8 {
        (self.0 >> 8) as u8
    }
    /// SMT: simultaneous multithreading allowed (bit 16).
    pub fn smt_allowed(self) -> bool {
        self.bit(16)
    }
    /// MIGRATE_MA: association with a migration agent allowed (bit 18).
    pub fn migrate_ma_allowed(self) -> bool {
        self.bit(18)
    }
    /// DEBUG: debugging allowed (bit 19).
    pub fn debug_allowed(self) -> bool {
        self.bit(19)
    }
    /// SINGLE_SOCKET: guest may run on one socket only (bit 20).
    pub fn single_socket_required(self) -> bool {
        self.bit(20)
    }
    /// CXL_ALLOW: CXL may be populated with devices or memory (bit 21).
    pub fn cxl_allowed(self) -> bool {
        self.bit(21)
    }
    /// MEM_AES_256_XTS: AES-256-XTS memory encryption required (bit 22).
    pub fn mem_aes_256_xts_required(self) -> bool {
        self.bit(22)
    }
    /// RAPL_DIS: running average power limit must be disabled (bit 23).
    pub fn rapl_disable_required(self) -> bool {
        self.bit(23)
    }
    /// CIPHERTEXT_HIDING: ciphertext hiding required (bit 24).
    pub fn ciphertext_hiding_required(self) -> bool {
        self.bit(24)
    }
    /// PAGE_SWAP_DISABLE: guest page swapping disabled (bit 25).
    pub fn page_swap_disabled(self) -> bool {
        self.bit(25)
    }
    fn bit(self, n: u32) -> bool {
        self.0 >> n & 1 == 1
    }
}

/// Which key signed the report (KEY_INFO bits 4:2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKey {
    /// The chip-unique Versioned Chip Endorsement Key (0).
    Vcek,
    /// The Versioned Loaded Endorsement Key (1).
    Vlek,
    /// The report is unsigned.
    None,
    /// A reserved value (2-6); holds it.
    Reserved(u8),
}

impl SigningKey {
    /// Lower-case name: "vcek", "vlek", "none" or "reserved".
    pub fn name(self) -> &'static str {
        match self {
            SigningKey::Vcek => "vcek",
            SigningKey::Vlek => "vlek",
            SigningKey::None => "none",
            SigningKey::Reserved(_) => "reserved",
        }
    }
}

/// A firmware version triple (CURRENT_* / COMMITTED_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirmwareVersion {
    /// Major version (*_MAJOR).
    pub major: u8,
    /// Minor version (*_MINOR).
    pub minor: u8,
    /// Build number (*_BUILD).
    pub build: u8,
}

/// A length- and version-checked report; accessors read fixed offsets of the original bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Report {
    bytes: Box<[u8; REPORT_LEN]>,
}

impl std::fmt::Debug for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Report")
            .field("version", &self.version())
            .field("measurement", &hex_string(self.measurement()))
            .finish_non_exhaustive()
    }
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Report {
    /// Checks the length ([`REPORT_LEN`]) and VERSION ([`SUPPORTED_VERSIONS`]) and keeps the bytes.
    pub fn parse(bytes: &[u8]) -> Result<Report, ReportError> {
        let bytes: [u8; REPORT_LEN] = bytes
            .try_into()
            .map_err(|_| ReportError::Length(bytes.len()))?;
        let report = Report {
            bytes: Box::new(bytes),
        };
        if !SUPPORTED_VERSIONS.contains(&report.version()) {
            return Err(ReportError::Version(report.version()));
        }
        Ok(report)
    }

    /// The exact bytes that were parsed.
    pub fn as_bytes(&self) -> &[u8; REPORT_LEN] {
        &self.bytes
    }

    /// The field of `N` bytes at offset `AT`; the bounds are checked when the crate compiles.
    fn array<const AT: usize, const N: usize>(&self) -> &[u8; N] {
        const { assert!(AT + N <= REPORT_LEN) };
        self.bytes[AT..AT + N]
            .try_into()
            .expect("a range of length N converts to [u8; N]")
    }

    fn u32_at<const AT: usize>(&self) -> u32 {
        u32::from_le_bytes(*self.array::<AT, 4>())
    }

    fn u64_at<const AT: usize>(&self) -> u64 {
        u64::from_le_bytes(*self.array::<AT, 8>())
    }

    /// VERSION: report format version.
    pub fn version(&self) -> u32 {
        self.u32_at::<{ offset::VERSION }>()
    }
    /// GUEST_SVN: the guest's security version number.
    pub fn guest_svn(&self) -> u32 {
        self.u32_at::<{ offset::GUEST_SVN }>()
    }
    /// POLICY: the guest policy the VM was launched with.
    pub fn policy(&self) -> GuestPolicy {
        GuestPolicy(self.u64_at::<{ offset::POLICY }>())
    }
    /// FAMILY_ID: 16 bytes from the ID block.
    pub fn family_id(&self) -> &[u8; 16] {
        self.array::<{ offset::FAMILY_ID }, _>()
    }
    /// IMAGE_ID: 16 bytes from the ID block.
    pub fn image_id(&self) -> &[u8; 16] {
        self.array::<{ offset::IMAGE_ID }, _>()
    }
    /// VMPL the report was requested from.
    pub fn vmpl(&self) -> u32 {
        self.u32_at::<{ offset::VMPL }>()
    }
    /// SIGNATURE_ALGO ([`SIGNATURE_ALGO_ECDSA_P384_SHA384`] is the only defined value).
    pub fn signature_algo(&self) -> u32 {
        self.u32_at::<{ offset::SIGNATURE_ALGO }>()
    }
    /// CURRENT_TCB: TCB_VERSION of the running firmware.
    pub fn current_tcb(&self) -> RawTcb {
        RawTcb(self.u64_at::<{ offset::CURRENT_TCB }>())
    }
    /// PLATFORM_INFO: platform feature bits.
    pub fn platform_info(&self) -> u64 {
        self.u64_at::<{ offset::PLATFORM_INFO }>()
    }
    /// KEY_INFO: the raw flags word.
    pub fn key_info(&self) -> u32 {
        self.u32_at::<{ offset::KEY_INFO }>()
    }
    /// KEY_INFO bit 0 (AUTHOR_KEY_EN): AUTHOR_KEY_DIGEST is present.
    pub fn author_key_en(&self) -> bool {
        self.key_info() & 1 == 1
    }
    /// KEY_INFO bit 1 (MASK_CHIP_KEY): the platform's MaskChipKey setting.
    pub fn mask_chip_key(&self) -> bool {
        self.key_info() >> 1 & 1 == 1
    }
    /// KEY_INFO bits 4:2 (SIGNING_KEY): which key signed the report.
    pub fn signing_key(&self) -> SigningKey {
        match (self.key_info() >> 2 & 0b111) as u8 {
            0 => SigningKey::Vcek,
            1 => SigningKey::Vlek,
            7 => SigningKey::None,
            other => SigningKey::Reserved(other),
        }
    }
    /// REPORT_DATA: 64 bytes the guest supplied.
    pub fn report_data(&self) -> &[u8; 64] {
        self.array::<{ offset::REPORT_DATA }, _>()
    }
    /// MEASUREMENT: launch digest, 48 bytes.
    pub fn measurement(&self) -> &[u8; 48] {
        self.array::<{ offset::MEASUREMENT }, _>()
    }
    /// HOST_DATA: 32 bytes the hypervisor supplied at launch.
    pub fn host_data(&self) -> &[u8; 32] {
        self.array::<{ offset::HOST_DATA }, _>()
    }
    /// ID_KEY_DIGEST: SHA-384 of the ID key that signed the ID block, 48 bytes.
    pub fn id_key_digest(&self) -> &[u8; 48] {
        self.array::<{ offset::ID_KEY_DIGEST }, _>()
    }
    /// AUTHOR_KEY_DIGEST: SHA-384 of the author key that signed the ID key, 48 bytes.
    pub fn author_key_digest(&self) -> &[u8; 48] {
        self.array::<{ offset::AUTHOR_KEY_DIGEST }, _>()
    }
    /// REPORT_ID: the guest's report ID, 32 bytes.
    pub fn report_id(&self) -> &[u8; 32] {
        self.array::<{ offset::REPORT_ID }, _>()
    }
    /// REPORT_ID_MA: the migration agent's report ID, 32 bytes.
    pub fn report_id_ma(&self) -> &[u8; 32] {
        self.array::<{ offset::REPORT_ID_MA }, _>()
    }
    /// REPORTED_TCB: TCB_VERSION the VCEK is derived from.
    pub fn reported_tcb(&self) -> RawTcb {
        RawTcb(self.u64_at::<{ offset::REPORTED_TCB }>())
    }
    /// `(family, model, stepping)`; reports before version 3 leave these bytes reserved.
    pub fn cpuid(&self) -> Option<(u8, u8, u8)> {
        (self.version() >= 3).then(|| {
            (
                self.bytes[offset::CPUID_FAM_ID],
                self.bytes[offset::CPUID_MOD_ID],
                self.bytes[offset::CPUID_STEP],
            )
        })
    }
    /// CHIP_ID: 64-byte chip identifier (see [`Generation::chip_id_len`]).
    pub fn chip_id(&self) -> &[u8; 64] {
        self.array::<{ offset::CHIP_ID }, _>()
    }
    /// COMMITTED_TCB: TCB_VERSION of the committed firmware.
    pub fn committed_tcb(&self) -> RawTcb {
        RawTcb(self.u64_at::<{ offset::COMMITTED_TCB }>())
    }
    /// CURRENT_MAJOR/MINOR/BUILD: version of the running firmware.
    pub fn current_version(&self) -> FirmwareVersion {
        self.firmware_version::<{ offset::CURRENT_BUILD }>()
    }
    /// COMMITTED_MAJOR/MINOR/BUILD: version of the committed firmware.
    pub fn committed_version(&self) -> FirmwareVersion {
        self.firmware_version::<{ offset::COMMITTED_BUILD }>()
    }
    fn firmware_version<const AT: usize>(&self) -> FirmwareVersion {
        let [build, minor, major, _] = *self.array::<AT, 4>();
        FirmwareVersion {
            major,
            minor,
            build,
        }
    }
    /// LAUNCH_TCB: TCB_VERSION of the firmware at guest launch.
    pub fn launch_tcb(&self) -> RawTcb {
        RawTcb(self.u64_at::<{ offset::LAUNCH_TCB }>())
    }
    /// Version 5 and later.
    pub fn launch_mit_vector(&self) -> Option<u64> {
        (self.version() >= 5).then(|| self.u64_at::<{ offset::LAUNCH_MIT_VECTOR }>())
    }
    /// Version 5 and later.
    pub fn current_mit_vector(&self) -> Option<u64> {
        (self.version() >= 5).then(|| self.u64_at::<{ offset::CURRENT_MIT_VECTOR }>())
    }
    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.bytes[..SIGNED_LEN]
    }
    /// SIGNATURE R component: 72 bytes, little-endian, zero-extended.
    pub fn signature_r(&self) -> &[u8; SIGNATURE_COMPONENT_LEN] {
        self.array::<{ offset::SIGNATURE_R }, _>()
    }
    /// SIGNATURE S component: 72 bytes, little-endian, zero-extended.
    pub fn signature_s(&self) -> &[u8; SIGNATURE_COMPONENT_LEN] {
        self.array::<{ offset::SIGNATURE_S }, _>()
    }
    /// The signature as `r ‖ s`, 48 bytes each, big-endian (the fixed-width form crypto
    /// libraries take); `None` when a component does not fit 48 bytes.
    pub fn signature_fixed(&self) -> Option<[u8; 96]> {
        let mut signature = [0u8; 96];
        for (component, out) in [self.signature_r(), self.signature_s()]
            .into_iter()
            .zip(signature.chunks_mut(48))
        {
            let (low, high) = component.split_at(48);
            if high.iter().any(|b| *b != 0) {
                return None;
            }
            for (dst, src) in out.iter_mut().zip(low.iter().rev()) {
                *dst = *src;
            }
        }
        Some(signature)
    }
}

/// Writes report fields at their offsets: used by the agent's development simulator and by tests
/// that build reports. Produces bytes, never a parsed [`Report`], so every report still goes
/// through [`Report::parse`].
#[derive(Clone)]
pub struct ReportWriter {
    bytes: Box<[u8; REPORT_LEN]>,
}

impl Default for ReportWriter {
    fn default() -> Self {
        Self {
            bytes: Box::new([0; REPORT_LEN]),
        }
    }
}

impl ReportWriter {
    /// Starts from existing report bytes (e.g. to re-sign a modified report in tests).
    pub fn from_bytes(bytes: &[u8; REPORT_LEN]) -> Self {
        Self {
            bytes: Box::new(*bytes),
        }
    }

    /// Writes `value` at `at`. Callers pass the constant offsets of [`offset`] with values of
    /// their field's width; a write past the end is a programming error, caught in debug builds.
    pub fn put(&mut self, at: usize, value: &[u8]) -> &mut Self {
        let field = self.bytes.get_mut(at..at.saturating_add(value.len()));
        debug_assert!(
            field.is_some(),
            "report write past the end: {at}+{}",
            value.len()
        );
        if let Some(field) = field {
            field.copy_from_slice(value);
        }
        self
    }

    /// Writes `value` little-endian at `at`.
    pub fn put_u32(&mut self, at: usize, value: u32) -> &mut Self {
        self.put(at, &value.to_le_bytes())
    }

    /// Writes `value` little-endian at `at`.
    pub fn put_u64(&mut self, at: usize, value: u64) -> &mut Self {
        self.put(at, &value.to_le_bytes())
    }

    /// The bytes a signature must cover (the first [`SIGNED_LEN`]).
    pub fn signed_bytes(&self) -> &[u8] {
        &self.bytes[..SIGNED_LEN]
    }

    /// Stores a P-384 signature given as big-endian `r` and `s` (48 bytes each).
    pub fn put_signature(&mut self, r_be: &[u8; 48], s_be: &[u8; 48]) -> &mut Self {
        for (at, component) in [(offset::SIGNATURE_R, r_be), (offset::SIGNATURE_S, s_be)] {
            let mut little = [0u8; SIGNATURE_COMPONENT_LEN];
            for (i, byte) in component.iter().rev().enumerate() {
                little[i] = *byte;
            }
            self.put(at, &little);
        }
        self
    }

    /// The finished report bytes.
    pub fn into_bytes(self) -> [u8; REPORT_LEN] {
        *self.bytes
    }
}

/// GUIDs of the GHCB certificate table, in their textual (RFC 4122) byte order.
pub mod cert_guid {
    /// GUID of the VCEK certificate entry.
    pub const VCEK: [u8; 16] = guid("63da758d-e664-4564-adc5-f4b93be8accd");
    /// GUID of the VLEK certificate entry.
    pub const VLEK: [u8; 16] = guid("a8074bc2-a25a-483e-aae6-39c045a0b8a1");
    /// GUID of the ASK (AMD SEV signing key) certificate entry.
    pub const ASK: [u8; 16] = guid("4ab7b379-bbac-4fe4-a02f-05aef327c782");
    /// GUID of the ARK (AMD root key) certificate entry.
    pub const ARK: [u8; 16] = guid("c0b406a4-a803-4952-9743-3fb6014cd0ae");
    /// GUID of the certificate revocation list entry.
    pub const CRL: [u8; 16] = guid("92f81bc3-5811-4d3d-97ff-d19f88dc67ea");

    const fn guid(text: &str) -> [u8; 16] {
        let text = text.as_bytes();
        let mut out = [0u8; 16];
        let (mut i, mut o) = (0, 0);
        while i < text.len() {
            if text[i] == b'-' {
                i += 1;
                continue;
            }
            out[o] = nibble(text[i]) << 4 | nibble(text[i + 1]);
            o += 1;
            i += 2;
        }
        out
    }

    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            _ => c - b'a' + 10,
        }
    }
}

const CERT_TABLE_ENTRY_LEN: usize = 24;
/// Extended-report certificate blobs are a few pages; anything beyond this is not a real table.
pub const MAX_CERT_TABLE_LEN: usize = 64 * 1024;

/// Why a GHCB certificate table was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CertTableError {
    /// The table is larger than [`MAX_CERT_TABLE_LEN`]; holds its length.
    #[error("certificate table of {0} bytes exceeds the {MAX_CERT_TABLE_LEN}-byte limit")]
    TooLarge(usize),
    /// No all-zero entry ends the table.
    #[error("certificate table is not terminated by an all-zero entry")]
    Unterminated,
    /// An entry's data lies outside the table.
    #[error("certificate table entry {index} points outside the table ({offset}+{length})")]
    OutOfBounds {
        /// Index of the entry.
        index: usize,
        /// The entry's offset from the start of the table.
        offset: u32,
        /// The entry's length in bytes.
        length: u32,
    },
}

/// One entry of a GHCB certificate table: a GUID and the bytes it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertTableEntry {
    /// The entry's GUID in textual byte order (see [`cert_guid`]).
    pub guid: [u8; 16],
    /// The bytes the entry points at (a certificate or CRL).
    pub data: Vec<u8>,
}

/// Parses the certificate table returned with an extended report (configfs-tsm `auxblob`,
/// `SNP_GET_EXT_REPORT`): `{guid, offset: u32, length: u32}` entries up to an all-zero entry,
/// offsets relative to the start of the table. An all-zero (empty) blob yields no entries.
pub fn parse_cert_table(table: &[u8]) -> Result<Vec<CertTableEntry>, CertTableError> {
    if table.len() > MAX_CERT_TABLE_LEN {
        return Err(CertTableError::TooLarge(table.len()));
    }
    let mut entries = Vec::new();
    for (index, raw) in table.chunks(CERT_TABLE_ENTRY_LEN).enumerate() {
        let Ok(raw) = <&[u8; CERT_TABLE_ENTRY_LEN]>::try_from(raw) else {
            break;
        };
        if raw.iter().all(|b| *b == 0) {
            return Ok(entries);
        }
        let mut guid = [0u8; 16];
        guid.copy_from_slice(&raw[..16]);
        let offset = u32::from_le_bytes([raw[16], raw[17], raw[18], raw[19]]);
        let length = u32::from_le_bytes([raw[20], raw[21], raw[22], raw[23]]);
        let data = (offset as usize)
            .checked_add(length as usize)
            .and_then(|end| table.get(offset as usize..end))
            .ok_or(CertTableError::OutOfBounds {
                index,
                offset,
                length,
            })?;
        entries.push(CertTableEntry {
            guid,
            data: data.to_vec(),
        });
    }
    if table.iter().all(|b| *b == 0) {
        return Ok(entries);
    }
    Err(CertTableError::Unterminated)
}

/// Builds a certificate table (the inverse of [`parse_cert_table`]).
pub fn encode_cert_table(entries: &[CertTableEntry]) -> Vec<u8> {
    let header_len = (entries.len() + 1) * CERT_TABLE_ENTRY_LEN;
    let mut table = vec![0u8; header_len];
    for (index, entry) in entries.iter().enumerate() {
        let offset = table.len() as u32;
        let at = index * CERT_TABLE_ENTRY_LEN;
        table[at..at + 16].copy_from_slice(&entry.guid);
        table[at + 16..at + 20].copy_from_slice(&offset.to_le_bytes());
        table[at + 20..at + 24].copy_from_slice(&(entry.data.len() as u32).to_le_bytes());
        table.extend_from_slice(&entry.data);
    }
    table
}

/// Warden's SNP evidence JSON: the report and the certificate table exactly as the firmware
/// returned them, base64-encoded (`{"report": ..., "cert_table": ...}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceJson {
    /// Base64 (standard alphabet) of the report bytes.
    pub report: String,
    /// Base64 (standard alphabet) of the certificate table; absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_table: Option<String>,
}

impl EvidenceJson {
    /// Base64-encodes a report and, when given, its certificate table.
    pub fn new(report: &[u8], cert_table: Option<&[u8]>) -> Self {
        Self {
            report: STANDARD.encode(report),
            cert_table: cert_table.map(|table| STANDARD.encode(table)),
        }
    }

    /// The evidence as a JSON value.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::json!(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report_with(version: u32) -> [u8; REPORT_LEN] {
        let mut writer = ReportWriter::default();
        writer.put_u32(offset::VERSION, version);
        writer.into_bytes()
    }

    #[test]
    fn length_and_version_are_checked() {
        assert_eq!(Report::parse(&[0; 10]), Err(ReportError::Length(10)));
        assert_eq!(
            Report::parse(&[0; REPORT_LEN + 1]),
            Err(ReportError::Length(REPORT_LEN + 1))
        );
        assert_eq!(Report::parse(&report_with(4)), Err(ReportError::Version(4)));
        for version in SUPPORTED_VERSIONS {
            assert_eq!(
                Report::parse(&report_with(version)).unwrap().version(),
                version
            );
        }
    }

    #[test]
    fn tcb_layouts_round_trip_per_generation() {
        // Values from real reports: Milan 0x7308000000000003, Turin 0x4700000002000100.
        let milan = RawTcb(0x7308_0000_0000_0003).decode(Generation::Milan);
        assert_eq!(
            milan,
            Tcb {
                fmc: None,
                bootloader: 3,
                tee: 0,
                snp: 8,
                microcode: 115
            }
        );
        let turin = RawTcb(0x4700_0000_0200_0100).decode(Generation::Turin);
        assert_eq!(
            turin,
            Tcb {
                fmc: Some(0),
                bootloader: 1,
                tee: 0,
                snp: 2,
                microcode: 71
            }
        );
        assert_eq!(milan.encode(), RawTcb(0x7308_0000_0000_0003));
        assert_eq!(turin.encode(), RawTcb(0x4700_0000_0200_0100));
    }

    #[test]
    fn signature_components_are_little_endian() {
        let mut writer = ReportWriter::from_bytes(&report_with(2));
        let r: [u8; 48] = std::array::from_fn(|i| i as u8 + 1);
        writer.put_signature(&r, &[0xAA; 48]);
        let report = Report::parse(&writer.into_bytes()).unwrap();
        assert_eq!(report.signature_r()[0], 48);
        assert_eq!(report.signature_r()[47], 1);
        assert!(report.signature_r()[48..].iter().all(|b| *b == 0));
        let fixed = report.signature_fixed().unwrap();
        assert_eq!(&fixed[..48], &r);
        assert_eq!(&fixed[48..], &[0xAA; 48]);
    }

    #[test]
    fn cert_table_round_trips_and_rejects_bad_bounds() {
        let entries = vec![
            CertTableEntry {
                guid: cert_guid::VCEK,
                data: vec![1, 2, 3],
            },
            CertTableEntry {
                guid: cert_guid::ASK,
                data: vec![4; 10],
            },
        ];
        let table = encode_cert_table(&entries);
        assert_eq!(parse_cert_table(&table).unwrap(), entries);
        assert_eq!(parse_cert_table(&[0; 4096]).unwrap(), vec![]);
        let mut bad = table.clone();
        bad[20] = 0xFF; // first entry's length
        assert!(matches!(
            parse_cert_table(&bad),
            Err(CertTableError::OutOfBounds { index: 0, .. })
        ));
        assert!(matches!(
            parse_cert_table(&table[..30]),
            Err(CertTableError::OutOfBounds { .. })
        ));
        let mut unterminated = table[..16].to_vec();
        unterminated.extend_from_slice(&24u32.to_le_bytes());
        unterminated.extend_from_slice(&4u32.to_le_bytes());
        unterminated.extend_from_slice(b"abcd");
        assert_eq!(
            parse_cert_table(&unterminated),
            Err(CertTableError::Unterminated)
        );
    }
}
