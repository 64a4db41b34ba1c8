//! Launch-measurement calculators: predict a TEE's launch measurement from the bytes the host
//! loads (issue 19; design in `docs/design/measure.md`).
//!
//! Pure functions over bytes: no I/O, no clock. Every input is untrusted; malformed firmware
//! is refused with a [`MeasureError`] naming the input and the reason, never a panic.
//!
//! - [`snp`]: the AMD SEV-SNP launch digest, as sev-snp-measure 0.0.13 computes it for mode
//!   `snp` (VMM types QEMU, ec2, gce).
//! - [`ovmf`]: the OVMF GUIDed footer table and the SEV metadata it points to.
//! - [`tdx`]: Intel TDX: MRTD from the TDVF metadata, RTMR1/RTMR2 for QEMU direct kernel boot
//!   with OVMF, and the `tdx` reference value.
//! - [`pe`] and [`linux`]: the PE/COFF Authenticode digest and the bzImage checks and QEMU
//!   setup-header patch that RTMR1 needs.

pub mod craft;
pub mod linux;
pub mod ovmf;
pub mod pe;
pub mod snp;
pub mod tdx;

/// One-shot SHA-384 for both calculators, through aws-lc-rs (the crate's crypto backend; on
/// the 4 MiB bench it hashes about as fast as the sha2 crate, 401 vs 384 MiB/s).
pub(crate) fn sha384(bytes: &[u8]) -> [u8; 48] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, bytes);
    let mut out = [0; 48];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Why a launch measurement could not be computed. One variant per refusal; [`Self::field`]
/// names the input (as the CLI spells it) that is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MeasureError {
    /// The firmware is empty, not a whole number of 4 KiB pages, or larger than 4 GiB.
    #[error("--firmware: length {0} is not a non-zero multiple of 4096 of at most 4 GiB")]
    FirmwareLength(usize),
    /// No OVMF footer GUID 32 bytes before the end of the firmware.
    #[error("--firmware: no OVMF footer table")]
    NoFooterTable,
    /// The footer's total length does not fit the firmware or is shorter than the footer.
    #[error("--firmware: footer table length {0} out of range")]
    FooterTableLength(usize),
    /// A footer-table entry is shorter than its header, longer than what is left, or the
    /// table has bytes left over that do not form an entry.
    #[error(
        "--firmware: footer table entry ending at offset {end:#x}: length {length} out of range"
    )]
    TableEntryLength {
        /// File offset just past the entry.
        end: usize,
        /// The entry's declared length (or the leftover byte count).
        length: usize,
    },
    /// The same GUID appears twice in the footer table.
    #[error("--firmware: footer table GUID {0} appears twice")]
    DuplicateGuid(String),
    /// A footer-table entry Warden reads has data of the wrong size.
    #[error("--firmware: footer table entry {name}: {len} data bytes, expected {expected}")]
    EntryDataLength {
        /// The entry's name.
        name: &'static str,
        /// Its data length.
        len: usize,
        /// The length Warden expects.
        expected: usize,
    },
    /// No SEV-ES reset block: the AP reset vector is unknown.
    #[error("--firmware: no SEV-ES reset block in the footer table")]
    NoResetBlock,
    /// No SEV metadata offset entry: not an SEV-capable build.
    #[error("--firmware: no SEV metadata (not an SEV-capable build)")]
    NoSevMetadata,
    /// The SEV metadata offset points outside the firmware (or leaves no room for the header).
    #[error("--firmware: SEV metadata offset {0:#x} from the end is outside the firmware")]
    MetadataOffset(u32),
    /// The SEV metadata does not start with `ASEV`.
    #[error("--firmware: SEV metadata signature is not \"ASEV\"")]
    MetadataSignature,
    /// The SEV metadata version is not 1.
    #[error("--firmware: SEV metadata version {0}, expected 1")]
    MetadataVersion(u32),
    /// The SEV metadata length is not `16 + 12 n` or the sections run past the firmware.
    #[error(
        "--firmware: SEV metadata length {length} does not hold {sections} sections inside the firmware"
    )]
    MetadataLength {
        /// The declared length.
        length: u32,
        /// The declared section count.
        sections: u32,
    },
    /// A section has a type Warden does not know.
    #[error("--firmware: SEV metadata section {index}: unknown type {section_type:#x}")]
    SectionType {
        /// Index in the table.
        index: usize,
        /// The type found.
        section_type: u32,
    },
    /// A section is empty, not page-aligned, not a whole number of pages, or ends above 4 GiB.
    #[error(
        "--firmware: SEV metadata section {index}: GPA {gpa:#x} size {size:#x} is empty, misaligned or above 4 GiB"
    )]
    SectionExtent {
        /// Index in the table.
        index: usize,
        /// Its GPA.
        gpa: u32,
        /// Its size.
        size: u32,
    },
    /// A secrets, CPUID or kernel-hashes section is not exactly one page.
    #[error(
        "--firmware: SEV metadata section {index}: size {size:#x}, this type must be exactly one page"
    )]
    SectionNotOnePage {
        /// Index in the table.
        index: usize,
        /// Its size.
        size: u32,
    },
    /// Two sections overlap in guest-physical memory.
    #[error("--firmware: SEV metadata sections {first} and {second} overlap")]
    SectionOverlap {
        /// Index of one section.
        first: usize,
        /// Index of the other.
        second: usize,
    },
    /// A section overlaps the firmware image itself (mapped just below 4 GiB).
    #[error("--firmware: SEV metadata section {0} overlaps the firmware image")]
    SectionOverlapsFirmware(usize),
    /// More than one kernel-hashes section.
    #[error("--firmware: SEV metadata section {0}: a second kernel-hashes section")]
    DuplicateKernelHashes(usize),
    /// The kernel-hashes section has no usable hash-table block: missing, in another page, or
    /// too close to the page's end for the 176-byte table.
    #[error(
        "--firmware: the SEV hash table block (base {base:#x}) does not lie in the kernel-hashes page {page:#x}"
    )]
    HashTableBase {
        /// The hash-table base from the footer (0 when missing).
        base: u32,
        /// The kernel-hashes section's GPA.
        page: u32,
    },
    /// A kernel was given but the firmware has no kernel-hashes section.
    #[error("--kernel: firmware has no kernel-hashes section (use an AmdSev build)")]
    NoKernelHashes,
    /// An initrd was given without a kernel.
    #[error("--initrd: needs --kernel")]
    InitrdWithoutKernel,
    /// A command line was given without a kernel.
    #[error("--append: needs --kernel")]
    AppendWithoutKernel,
    /// The vCPU count is 0 or above 1024.
    #[error("--vcpus: {0} is not in 1..=1024")]
    Vcpus(u32),
    /// More than one vCPU but the firmware's AP reset address is 0.
    #[error("--vcpus: {0} vCPUs but the firmware's AP reset address is 0")]
    NoApResetAddress(u32),
    /// QEMU puts the vCPU signature into the VMSA: it must be given.
    #[error("--vcpu-type: required for VMM type QEMU")]
    VcpuSignatureMissing,
    /// ec2 and gce do not put the vCPU signature into the VMSA; a given one would be ignored.
    #[error("--vcpu-type: VMM type {0} does not put the CPU signature in the VMSA; omit it")]
    VcpuSignatureUnused(&'static str),
    /// An unknown vCPU type name.
    #[error("--vcpu-type: unknown type {0:?} (known: {known})", known = snp::VcpuType::NAMES.join(", "))]
    VcpuTypeName(String),
    /// Family, model or stepping out of range.
    #[error("--vcpu-family: family {family}, model {model}, stepping {stepping} out of range")]
    VcpuFamily {
        /// Family.
        family: u32,
        /// Model.
        model: u32,
        /// Stepping.
        stepping: u32,
    },
    /// An unknown VMM type name.
    #[error("--vmm: {0:?} not supported: QEMU, ec2, gce")]
    VmmName(String),
    /// No TDX metadata offset entry in the footer table: not a TDX-capable (TDVF) build.
    #[error("--firmware: no TDX metadata (not a TDVF build)")]
    NoTdxMetadata,
    /// The TDX metadata offset leaves no room for the `TDVF` descriptor inside the firmware.
    #[error("--firmware: TDX metadata offset {0:#x} from the end is outside the firmware")]
    TdvfOffset(u32),
    /// The descriptor does not start with `TDVF`.
    #[error("--firmware: TDX metadata signature is not \"TDVF\"")]
    TdvfSignature,
    /// The descriptor version is not 1.
    #[error("--firmware: TDX metadata version {0}, expected 1")]
    TdvfVersion(u32),
    /// The descriptor length is not `16 + 32 n`, the count is outside 2..=64, or the sections
    /// run past the firmware.
    #[error(
        "--firmware: TDX metadata length {length} does not hold {sections} sections (2 to 64) inside the firmware"
    )]
    TdvfLength {
        /// The declared length.
        length: u32,
        /// The declared section count.
        sections: u32,
    },
    /// A TDVF section type other than BFV, CFV, TD_HOB or TEMP_MEM.
    #[error(
        "--firmware: TDX metadata section {index}: type {section_type} is not BFV, CFV, TD_HOB or TEMP_MEM"
    )]
    TdvfSectionType {
        /// Index in the descriptor.
        index: usize,
        /// The type found.
        section_type: u32,
    },
    /// Attributes other than `MR_EXTEND`, or `MR_EXTEND` on a section without file data.
    #[error("--firmware: TDX metadata section {index}: attributes {attributes:#x} not allowed")]
    TdvfSectionAttributes {
        /// Index in the descriptor.
        index: usize,
        /// The attributes found.
        attributes: u32,
    },
    /// A section's memory range is empty, not 4 KiB-aligned or beyond the 52-bit GPA space.
    #[error(
        "--firmware: TDX metadata section {index}: address {address:#x} size {size:#x} is empty, misaligned or beyond 2^52"
    )]
    TdvfSectionExtent {
        /// Index in the descriptor.
        index: usize,
        /// MemoryAddress.
        address: u64,
        /// MemoryDataSize.
        size: u64,
    },
    /// A section's file data is wrong for its type: BFV/CFV data outside the file or of a
    /// size other than the memory size, TD_HOB/TEMP_MEM with file data.
    #[error(
        "--firmware: TDX metadata section {index}: data offset {offset:#x} raw size {raw:#x} memory size {memory:#x} not valid for its type"
    )]
    TdvfSectionData {
        /// Index in the descriptor.
        index: usize,
        /// DataOffset.
        offset: u32,
        /// RawDataSize.
        raw: u32,
        /// MemoryDataSize.
        memory: u64,
    },
    /// Two sections overlap in guest-physical memory.
    #[error("--firmware: TDX metadata sections {first} and {second} overlap")]
    TdvfSectionOverlap {
        /// Index of one section.
        first: usize,
        /// Index of the other.
        second: usize,
    },
    /// The sections add more pages than a TDVF plausibly has (bounds the work).
    #[error("--firmware: TDX metadata sections add {0} pages, more than {max}", max = tdx::MAX_TD_PAGES)]
    TdvfTooManyPages(u64),
    /// An option RTMR prediction needs was not given; Warden does not guess it.
    #[error("{0}: required for RTMR prediction; not guessed")]
    Required(&'static str),
    /// An option that only makes sense with a direct-boot kernel was given without one.
    #[error("{0}: needs --kernel or --kernel-authenticode")]
    NeedsKernel(&'static str),
    /// The kernel Authenticode digest is not 96 hex digits.
    #[error("--kernel-authenticode: {0:?} is not a SHA-384 digest (96 hex digits)")]
    KernelAuthenticodeHex(String),
    /// Both the kernel and its Authenticode digest were given.
    #[error("--kernel-authenticode: give either --kernel or --kernel-authenticode, not both")]
    KernelAndAuthenticode,
    /// The kernel is not an x86-64 bzImage with an EFI stub (PE32+), or has a shape whose
    /// measurement Warden cannot predict without guessing.
    #[error("--kernel: {0}")]
    Kernel(String),
    /// The initrd is empty or does not fit below the guest's 4 GiB memory.
    #[error("--initrd: {0}")]
    Initrd(String),
    /// The command line holds what QEMU or OVMF would change (`vga=`, non-ASCII, NUL, too long).
    #[error("--append: {0}")]
    Append(String),
    /// The guest memory size is 0 or too large.
    #[error("--memory-mib: {0} is not in 1..=16777216")]
    MemoryMib(u64),
    /// An unknown page-add order name.
    #[error("--page-add-order: {0:?} not supported: single, two-pass")]
    PageAddOrderName(String),
    /// An unknown LoadOptions layout name.
    #[error("--load-options: {0:?} not supported: suffix, prefix")]
    LoadOptionsName(String),
    /// Guest features without SNPActive (bit 0) or with a reserved bit (11, 13, 16–63).
    #[error(
        "--guest-features: {0:#x} lacks bit 0 (SNPActive) or sets a reserved bit (11, 13, 16-63)"
    )]
    GuestFeatures(u64),
}

impl MeasureError {
    /// The input at fault, as the CLI spells it (`--firmware`, `--kernel`, …).
    pub fn field(&self) -> &'static str {
        use MeasureError as E;
        match self {
            E::FirmwareLength(_)
            | E::NoFooterTable
            | E::FooterTableLength(_)
            | E::TableEntryLength { .. }
            | E::DuplicateGuid(_)
            | E::EntryDataLength { .. }
            | E::NoResetBlock
            | E::NoSevMetadata
            | E::MetadataOffset(_)
            | E::MetadataSignature
            | E::MetadataVersion(_)
            | E::MetadataLength { .. }
            | E::SectionType { .. }
            | E::SectionExtent { .. }
            | E::SectionNotOnePage { .. }
            | E::SectionOverlap { .. }
            | E::SectionOverlapsFirmware(_)
            | E::DuplicateKernelHashes(_)
            | E::HashTableBase { .. }
            | E::NoTdxMetadata
            | E::TdvfOffset(_)
            | E::TdvfSignature
            | E::TdvfVersion(_)
            | E::TdvfLength { .. }
            | E::TdvfSectionType { .. }
            | E::TdvfSectionAttributes { .. }
            | E::TdvfSectionExtent { .. }
            | E::TdvfSectionData { .. }
            | E::TdvfSectionOverlap { .. }
            | E::TdvfTooManyPages(_) => "--firmware",
            E::Required(option) | E::NeedsKernel(option) => option,
            E::KernelAndAuthenticode | E::KernelAuthenticodeHex(_) => "--kernel-authenticode",
            E::Kernel(_) => "--kernel",
            E::Initrd(_) => "--initrd",
            E::Append(_) => "--append",
            E::MemoryMib(_) => "--memory-mib",
            E::PageAddOrderName(_) => "--page-add-order",
            E::LoadOptionsName(_) => "--load-options",
            E::NoKernelHashes => "--kernel",
            E::InitrdWithoutKernel => "--initrd",
            E::AppendWithoutKernel => "--append",
            E::Vcpus(_) | E::NoApResetAddress(_) => "--vcpus",
            E::VcpuSignatureMissing | E::VcpuSignatureUnused(_) | E::VcpuTypeName(_) => {
                "--vcpu-type"
            }
            E::VcpuFamily { .. } => "--vcpu-family",
            E::VmmName(_) => "--vmm",
            E::GuestFeatures(_) => "--guest-features",
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tdx_tests;
