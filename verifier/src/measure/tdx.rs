//! Intel TDX launch measurements (`docs/design/measure.md` §4): MRTD from the TDVF metadata of
//! an OVMF image, and RTMR1/RTMR2 for QEMU direct kernel boot with that OVMF (path A of §4.3).
//!
//! RTMR0 (TD HOB, ACPI tables, variables) and RTMR3 are never predicted. Every input whose
//! effect is not known is refused, never assumed: the LoadOptions layout must be named, the
//! guest memory size is needed to place an initrd, and kernels whose Authenticode digest
//! depends on an unsettled rule are refused (see [`super::pe::authenticode_sha384`]).

use serde_json::{Value, json};
use sha2::{Digest, Sha384};

use super::ovmf::{FooterTable, PAGE_SIZE, TDX_METADATA_GUID, check_firmware_length, u32_at};
use super::{MeasureError, sha384};
use super::{linux, pe};

/// The largest number of pages the sections may add (16 GiB), bounding MRTD's work; a real
/// TDVF adds a few hundred.
pub const MAX_TD_PAGES: u64 = 1 << 22;
/// The highest guest-physical address a TD can have (52-bit GPA width).
const MAX_GPA: u64 = 1 << 52;
/// edk2's `TDX_METADATA_ATTRIBUTES_EXTENDMR`: the section's pages are also MR.EXTENDed.
pub const ATTRIBUTE_MR_EXTEND: u32 = 1;
/// edk2 emits at most 7 sections; more is refused (bounds the overlap check).
const MAX_SECTIONS: u32 = 64;
const DESCRIPTOR_HEADER: usize = 16;
const SECTION_LEN: usize = 32;

/// The type of a TDVF section; edk2 and QEMU define only these four.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TdvfSectionType {
    /// 0: boot firmware volume (code), from the file.
    Bfv,
    /// 1: configuration firmware volume (variable store), from the file.
    Cfv,
    /// 2: the TD HOB page(s), zero memory the VMM fills.
    TdHob,
    /// 3: temporary memory, zero pages.
    TempMem,
}

/// One validated TDVF section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TdvfSection {
    /// Offset of the data in the firmware file (BFV/CFV only).
    pub data_offset: u32,
    /// Bytes of file data: equal to `memory_size` for BFV/CFV, 0 otherwise.
    pub raw_size: u32,
    /// Guest-physical address, page-aligned.
    pub memory_address: u64,
    /// Bytes of guest memory, a non-zero multiple of 4096.
    pub memory_size: u64,
    /// The section's type.
    pub kind: TdvfSectionType,
    /// Whether the pages are MR.EXTENDed (only BFV/CFV may be).
    pub mr_extend: bool,
}

/// The TDVF metadata of a firmware image, validated (§4.1, §4.2 "Warden's checks").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdvfMetadata {
    /// The sections in descriptor order, which is the order QEMU adds them.
    pub sections: Vec<TdvfSection>,
}

impl TdvfMetadata {
    /// Parses the descriptor the footer table's TDX entry points to. Beyond QEMU's checks
    /// (signature, version, `length == 16 + 32 n`, `n ≥ 2`, aligned address and size, file data
    /// only for BFV/CFV) Warden refuses: a descriptor or data outside the file, types other
    /// than 0–3, attributes other than `MR_EXTEND` on BFV/CFV, BFV/CFV whose memory size is not
    /// their raw size (QEMU reads past the data, td-shim zero-fills), empty sections, sections
    /// overlapping in GPA and more than [`MAX_TD_PAGES`] pages.
    pub fn parse(fw: &[u8]) -> Result<Self, MeasureError> {
        check_firmware_length(fw)?;
        let table = FooterTable::parse(fw)?;
        let entry = table
            .exact(&TDX_METADATA_GUID, "TDX metadata offset", 4)?
            .ok_or(MeasureError::NoTdxMetadata)?;
        let offset = u32_at(entry, 0).ok_or(MeasureError::NoTdxMetadata)?;
        let start = fw
            .len()
            .checked_sub(offset as usize)
            .ok_or(MeasureError::TdvfOffset(offset))?;
        let header = fw
            .get(start..start.saturating_add(DESCRIPTOR_HEADER))
            .filter(|h| h.len() == DESCRIPTOR_HEADER)
            .ok_or(MeasureError::TdvfOffset(offset))?;
        if header.get(..4) != Some(b"TDVF".as_slice()) {
            return Err(MeasureError::TdvfSignature);
        }
        let field = |at| u32_at(header, at).ok_or(MeasureError::TdvfSignature);
        let (length, version, count) = (field(4)?, field(8)?, field(12)?);
        if version != 1 {
            return Err(MeasureError::TdvfVersion(version));
        }
        let bad_length = || MeasureError::TdvfLength {
            length,
            sections: count,
        };
        let expected = u64::from(count) * SECTION_LEN as u64 + DESCRIPTOR_HEADER as u64;
        if u64::from(length) != expected || !(2..=MAX_SECTIONS).contains(&count) {
            return Err(bad_length());
        }
        let body = fw
            .get(start..start.saturating_add(length as usize))
            .filter(|b| b.len() == length as usize)
            .ok_or_else(bad_length)?;

        let mut sections: Vec<TdvfSection> = Vec::new();
        let mut pages = 0u64;
        for (index, raw) in body
            .get(DESCRIPTOR_HEADER..)
            .unwrap_or_default()
            .chunks_exact(SECTION_LEN)
            .enumerate()
        {
            let word = |at| u32_at(raw, at).unwrap_or(0);
            let dword = |at| u64::from(word(at)) | u64::from(word(at + 4)) << 32;
            let (data_offset, raw_size) = (word(0), word(4));
            let (memory_address, memory_size) = (dword(8), dword(16));
            let (section_type, attributes) = (word(24), word(28));
            let kind = match section_type {
                0 => TdvfSectionType::Bfv,
                1 => TdvfSectionType::Cfv,
                2 => TdvfSectionType::TdHob,
                3 => TdvfSectionType::TempMem,
                _ => {
                    return Err(MeasureError::TdvfSectionType {
                        index,
                        section_type,
                    });
                }
            };
            let from_file = matches!(kind, TdvfSectionType::Bfv | TdvfSectionType::Cfv);
            if attributes & !ATTRIBUTE_MR_EXTEND != 0 || (attributes != 0 && !from_file) {
                return Err(MeasureError::TdvfSectionAttributes { index, attributes });
            }
            let end = memory_address.checked_add(memory_size);
            if memory_size == 0
                || !memory_address.is_multiple_of(PAGE_SIZE as u64)
                || !memory_size.is_multiple_of(PAGE_SIZE as u64)
                || end.is_none_or(|e| e > MAX_GPA)
            {
                return Err(MeasureError::TdvfSectionExtent {
                    index,
                    address: memory_address,
                    size: memory_size,
                });
            }
            let data_ok = if from_file {
                u64::from(raw_size) == memory_size
                    && u64::from(data_offset) + u64::from(raw_size) <= fw.len() as u64
            } else {
                raw_size == 0
            };
            if !data_ok {
                return Err(MeasureError::TdvfSectionData {
                    index,
                    offset: data_offset,
                    raw: raw_size,
                    memory: memory_size,
                });
            }
            let end = memory_address + memory_size;
            if let Some(first) = sections.iter().position(|s| {
                s.memory_address < end && memory_address < s.memory_address + s.memory_size
            }) {
                return Err(MeasureError::TdvfSectionOverlap {
                    first,
                    second: index,
                });
            }
            pages += memory_size / PAGE_SIZE as u64;
            if pages > MAX_TD_PAGES {
                return Err(MeasureError::TdvfTooManyPages(pages));
            }
            sections.push(TdvfSection {
                data_offset,
                raw_size,
                memory_address,
                memory_size,
                kind,
                mr_extend: attributes & ATTRIBUTE_MR_EXTEND != 0,
            });
        }
        Ok(TdvfMetadata { sections })
    }

    /// The number of 4 KiB pages the sections add.
    pub fn pages(&self) -> u64 {
        self.sections
            .iter()
            .map(|s| s.memory_size / PAGE_SIZE as u64)
            .sum()
    }
}

/// The order in which the host adds and measures the firmware pages (§4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PageAddOrder {
    /// Per page: PAGE.ADD then its 16 MR.EXTENDs (upstream KVM; dstack-mr for QEMU ≥ 9.0).
    #[default]
    SinglePass,
    /// Per section: every PAGE.ADD, then every MR.EXTEND (dstack-mr for QEMU 8.x stacks).
    TwoPass,
}

impl PageAddOrder {
    /// Parses `single` or `two-pass`.
    pub fn from_name(name: &str) -> Result<Self, MeasureError> {
        match name {
            "single" | "single-pass" => Ok(Self::SinglePass),
            "two-pass" => Ok(Self::TwoPass),
            _ => Err(MeasureError::PageAddOrderName(name.to_owned())),
        }
    }
}

/// The 128-byte TDH.MEM.PAGE.ADD record.
fn page_add(gpa: u64) -> [u8; 128] {
    let mut b = [0u8; 128];
    b[..12].copy_from_slice(b"MEM.PAGE.ADD");
    b[16..24].copy_from_slice(&gpa.to_le_bytes());
    b
}

/// The 128-byte TDH.MR.EXTEND record (its 256 data bytes follow it in the hash).
fn mr_extend(gpa: u64) -> [u8; 128] {
    let mut b = [0u8; 128];
    b[..9].copy_from_slice(b"MR.EXTEND");
    b[16..24].copy_from_slice(&gpa.to_le_bytes());
    b
}

/// MRTD for `fw` (a TDVF/OVMF image): one running SHA-384 over the PAGE.ADD and MR.EXTEND
/// records of every section, in descriptor order (§4.2).
pub fn mr_td(fw: &[u8], order: PageAddOrder) -> Result<[u8; 48], MeasureError> {
    let metadata = TdvfMetadata::parse(fw)?;
    Ok(mr_td_of(fw, &metadata, order))
}

/// MRTD for already validated metadata of `fw`.
pub fn mr_td_of(fw: &[u8], metadata: &TdvfMetadata, order: PageAddOrder) -> [u8; 48] {
    let mut h = Sha384::new();
    for s in &metadata.sections {
        let pages = s.memory_size / PAGE_SIZE as u64;
        let extend = |h: &mut Sha384, page: u64| {
            let gpa = s.memory_address + page * PAGE_SIZE as u64;
            // `parse` proved `data_offset + memory_size <= fw.len()` for extended sections.
            let at = s.data_offset as usize + (page as usize) * PAGE_SIZE;
            let data = fw.get(at..at + PAGE_SIZE).unwrap_or_default();
            for (chunk, bytes) in data.chunks(256).enumerate() {
                h.update(mr_extend(gpa + 256 * chunk as u64));
                h.update(bytes);
            }
        };
        match order {
            PageAddOrder::SinglePass => {
                for page in 0..pages {
                    h.update(page_add(s.memory_address + page * PAGE_SIZE as u64));
                    if s.mr_extend {
                        extend(&mut h, page);
                    }
                }
            }
            PageAddOrder::TwoPass => {
                for page in 0..pages {
                    h.update(page_add(s.memory_address + page * PAGE_SIZE as u64));
                }
                if s.mr_extend {
                    for page in 0..pages {
                        extend(&mut h, page);
                    }
                }
            }
        }
    }
    h.finalize().into()
}

/// Where OVMF puts `initrd=initrd` in the kernel's LoadOptions (§4.3). It changed in
/// edk2-stable202508 and cannot be read from the image, so the caller names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadOptionsLayout {
    /// edk2 ≤ stable202505 (Debian bookworm, trixie): `<append> initrd=initrd`.
    Suffix,
    /// edk2 ≥ stable202508: `initrd=initrd <append>`.
    Prefix,
}

impl LoadOptionsLayout {
    /// Parses `suffix` or `prefix`.
    pub fn from_name(name: &str) -> Result<Self, MeasureError> {
        match name {
            "suffix" => Ok(Self::Suffix),
            "prefix" => Ok(Self::Prefix),
            _ => Err(MeasureError::LoadOptionsName(name.to_owned())),
        }
    }
}

/// Parses a `--kernel-authenticode` value: 96 hex digits (either case).
pub fn parse_kernel_authenticode(text: &str) -> Result<[u8; 48], MeasureError> {
    hex::decode(text.trim())
        .ok()
        .and_then(|bytes| <[u8; 48]>::try_from(bytes).ok())
        .ok_or_else(|| MeasureError::KernelAuthenticodeHex(text.to_owned()))
}

/// What a TDX launch measurement is computed from. Without `kernel` or
/// `kernel_authenticode` only MRTD is computed.
#[derive(Debug, Clone, Copy, Default)]
pub struct TdxMeasurementInput<'a> {
    /// The OVMF/TDVF image QEMU gets with `-bios`.
    pub firmware: &'a [u8],
    /// The host's page-add order.
    pub page_add_order: PageAddOrder,
    /// The bzImage given with `-kernel`; its Authenticode digest is computed after QEMU's
    /// setup-header patch.
    pub kernel: Option<&'a [u8]>,
    /// The kernel's Authenticode SHA-384 as OVMF measures it (e.g. from a measured log),
    /// instead of `kernel`.
    pub kernel_authenticode: Option<[u8; 48]>,
    /// The `-initrd` file.
    pub initrd: Option<&'a [u8]>,
    /// The `-append` command line.
    pub append: Option<&'a str>,
    /// Which LoadOptions layout the firmware's edk2 uses; required for direct boot.
    pub load_options: Option<LoadOptionsLayout>,
    /// Guest memory (`-m`) in MiB; required to place an initrd in the patched kernel.
    pub memory_mib: Option<u64>,
}

/// One event the firmware or the kernel's EFI stub logs, as it appears in the CCEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxEvent {
    /// CCEL index (`PCRIndex` of the record): 2 = RTMR1, 3 = RTMR2.
    pub mr_index: u32,
    /// Event type (`EV_*`).
    pub event_type: u32,
    /// Event data as logged. Not covered by the RTMR; where the real value depends on the
    /// guest's memory layout (the image-load event) it is a placeholder.
    pub data: Vec<u8>,
    /// The SHA-384 digest extended into the RTMR.
    pub digest: [u8; 48],
}

/// The predicted launch measurements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxPrediction {
    /// MRTD.
    pub mr_td: [u8; 48],
    /// RTMR1 at kernel start, with direct boot.
    pub rtmr1: Option<[u8; 48]>,
    /// RTMR2 at kernel start, with direct boot.
    pub rtmr2: Option<[u8; 48]>,
    /// The RTMR1 and RTMR2 events in log order.
    pub events: Vec<TdxEvent>,
}

/// EV_SEPARATOR.
pub const EV_SEPARATOR: u32 = 0x0000_0004;
/// EV_EVENT_TAG.
pub const EV_EVENT_TAG: u32 = 0x0000_0006;
/// EV_EFI_BOOT_SERVICES_APPLICATION.
pub const EV_EFI_BOOT_SERVICES_APPLICATION: u32 = 0x8000_0003;
/// EV_EFI_ACTION.
pub const EV_EFI_ACTION: u32 = 0x8000_0007;
/// CCEL index of RTMR1 (PCR 2–6).
pub const MR_INDEX_RTMR1: u32 = 2;
/// CCEL index of RTMR2 (PCR 8–15).
pub const MR_INDEX_RTMR2: u32 = 3;
/// The Linux EFI stub's event tag for the LoadOptions.
pub const TAG_LOAD_OPTIONS: u32 = 0x8F3B_22ED;
/// The Linux EFI stub's event tag for the initrd.
pub const TAG_INITRD: u32 = 0x8F3B_22EC;

/// Largest guest memory accepted (16 TiB).
const MAX_MEMORY_MIB: u64 = 1 << 24;

/// `1428f772-b64a-441e-b8c3-9ebdd7f893c7`, OVMF's QEMU kernel loader file system.
const QEMU_KERNEL_LOADER_FS_MEDIA_GUID: [u8; 16] = super::ovmf::guid(
    0x1428_f772,
    0xb64a,
    0x441e,
    [0xb8, 0xc3, 0x9e, 0xbd, 0xd7, 0xf8, 0x93, 0xc7],
);

fn extend(rtmr: &mut [u8; 48], digest: &[u8; 48]) {
    *rtmr = Sha384::new()
        .chain_update(*rtmr)
        .chain_update(digest)
        .finalize()
        .into();
}

/// EV_EFI_ACTION event data is the text itself; the digest is its SHA-384.
fn action(text: &str) -> TdxEvent {
    TdxEvent {
        mr_index: MR_INDEX_RTMR1,
        event_type: EV_EFI_ACTION,
        data: text.as_bytes().to_vec(),
        digest: sha384(text.as_bytes()),
    }
}

/// A UEFI_IMAGE_LOAD_EVENT for OVMF's `kernel` file: the load address and link-time address
/// are unknown here (0); the device path is the one OVMF loads the kernel from.
fn image_load_event_data(image_len: u64) -> Vec<u8> {
    let mut path = vec![0x04, 0x03, 20, 0];
    path.extend_from_slice(&QEMU_KERNEL_LOADER_FS_MEDIA_GUID);
    let name: Vec<u8> = "kernel\0"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    path.extend_from_slice(&[0x04, 0x04]);
    path.extend_from_slice(&(4 + name.len() as u16).to_le_bytes());
    path.extend_from_slice(&name);
    path.extend_from_slice(&[0x7F, 0xFF, 4, 0]);
    let mut data = Vec::new();
    data.extend_from_slice(&0u64.to_le_bytes());
    data.extend_from_slice(&image_len.to_le_bytes());
    data.extend_from_slice(&0u64.to_le_bytes());
    data.extend_from_slice(&(path.len() as u64).to_le_bytes());
    data.extend_from_slice(&path);
    data
}

/// The RTMR1 events of a direct boot whose kernel has Authenticode digest `kernel` (§4.3):
/// the kernel image load, "Calling EFI Application from Boot Option", the separator and the
/// two Exit Boot Services actions.
pub fn rtmr1_events(kernel: [u8; 48], image_len: u64) -> Vec<TdxEvent> {
    vec![
        TdxEvent {
            mr_index: MR_INDEX_RTMR1,
            event_type: EV_EFI_BOOT_SERVICES_APPLICATION,
            data: image_load_event_data(image_len),
            digest: kernel,
        },
        action("Calling EFI Application from Boot Option"),
        TdxEvent {
            mr_index: MR_INDEX_RTMR1,
            event_type: EV_SEPARATOR,
            data: vec![0; 4],
            digest: sha384(&[0; 4]),
        },
        action("Exit Boot Services Invocation"),
        action("Exit Boot Services Returned with Success"),
    ]
}

/// The LoadOptions OVMF gives the kernel (UTF-16LE with its NUL), `None` when it gives none
/// (no command line and no initrd). `append` must be ASCII: OVMF widens each byte.
pub fn load_options(append: &str, initrd: bool, layout: LoadOptionsLayout) -> Option<Vec<u8>> {
    if append.is_empty() && !initrd {
        return None;
    }
    let text = match (initrd, layout) {
        (false, _) => append.to_owned(),
        (true, LoadOptionsLayout::Suffix) => format!("{append} initrd=initrd"),
        (true, LoadOptionsLayout::Prefix) => format!("initrd=initrd {append}"),
    };
    Some(
        text.encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect(),
    )
}

/// A TCG_PCClientTaggedEvent as the Linux EFI stub logs it: tag, size, NUL-terminated text.
fn tagged_event(tag: u32, text: &str) -> Vec<u8> {
    let mut data = tag.to_le_bytes().to_vec();
    data.extend_from_slice(&(text.len() as u32 + 1).to_le_bytes());
    data.extend_from_slice(text.as_bytes());
    data.push(0);
    data
}

/// The RTMR2 events the kernel's EFI stub logs (§4.3): the LoadOptions, then the initrd.
pub fn rtmr2_events(
    append: &str,
    initrd: Option<&[u8]>,
    layout: LoadOptionsLayout,
) -> Vec<TdxEvent> {
    let mut events = Vec::new();
    if let Some(options) = load_options(append, initrd.is_some(), layout) {
        events.push(TdxEvent {
            mr_index: MR_INDEX_RTMR2,
            event_type: EV_EVENT_TAG,
            data: tagged_event(TAG_LOAD_OPTIONS, "LOADED_IMAGE::LoadOptions"),
            digest: sha384(&options),
        });
    }
    if let Some(initrd) = initrd {
        events.push(TdxEvent {
            mr_index: MR_INDEX_RTMR2,
            event_type: EV_EVENT_TAG,
            data: tagged_event(TAG_INITRD, "Linux initrd"),
            digest: sha384(initrd),
        });
    }
    events
}

/// Replays `events` into the register with CCEL index `mr_index`, from zero.
pub fn replay(events: &[TdxEvent], mr_index: u32) -> [u8; 48] {
    let mut rtmr = [0u8; 48];
    for e in events.iter().filter(|e| e.mr_index == mr_index) {
        extend(&mut rtmr, &e.digest);
    }
    rtmr
}

/// Predicts MRTD and, for a direct boot, RTMR1 and RTMR2 at kernel start.
///
/// Refused rather than guessed: direct-boot options without a kernel; both a kernel and its
/// digest; no LoadOptions layout; a kernel with an initrd but no memory size; an empty initrd
/// (QEMU would then add no `initrd=initrd`); a command line with non-ASCII or NUL characters
/// (OVMF widens bytes, the stub's view of them is not modelled) or, when the kernel is
/// patched here, `vga=` (QEMU then also patches `vid_mode`).
pub fn predict(input: &TdxMeasurementInput<'_>) -> Result<TdxPrediction, MeasureError> {
    let mr_td = mr_td(input.firmware, input.page_add_order)?;
    let direct = input.kernel.is_some() || input.kernel_authenticode.is_some();
    if !direct {
        let stray = [
            (input.initrd.is_some(), "--initrd"),
            (input.append.is_some(), "--append"),
            (input.load_options.is_some(), "--load-options"),
            (input.memory_mib.is_some(), "--memory-mib"),
        ];
        if let Some((_, option)) = stray.iter().find(|(given, _)| *given) {
            return Err(MeasureError::NeedsKernel(option));
        }
        return Ok(TdxPrediction {
            mr_td,
            rtmr1: None,
            rtmr2: None,
            events: Vec::new(),
        });
    }
    if input.kernel.is_some() && input.kernel_authenticode.is_some() {
        return Err(MeasureError::KernelAndAuthenticode);
    }
    let layout = input
        .load_options
        .ok_or(MeasureError::Required("--load-options"))?;
    let append = input.append.unwrap_or("");
    if let Some(bad) = append.chars().find(|c| !c.is_ascii() || *c == '\0') {
        return Err(MeasureError::Append(format!(
            "character {bad:?}: only ASCII without NUL is modelled"
        )));
    }
    if input.initrd.is_some_and(<[u8]>::is_empty) {
        return Err(MeasureError::Initrd(
            "empty: QEMU then passes no initrd, say so by omitting it".to_owned(),
        ));
    }
    if let Some(mib) = input.memory_mib
        && (mib == 0 || mib > MAX_MEMORY_MIB)
    {
        return Err(MeasureError::MemoryMib(mib));
    }
    let (kernel_digest, image_len) = match (input.kernel, input.kernel_authenticode) {
        (_, Some(digest)) => (digest, 0),
        (Some(kernel), None) => {
            if append.contains("vga=") {
                return Err(MeasureError::Append(
                    "vga= makes QEMU patch the kernel's vid_mode, which is not modelled; give --kernel-authenticode".to_owned(),
                ));
            }
            let memory = match (input.initrd, input.memory_mib) {
                (None, _) => 0,
                (Some(_), Some(mib)) => mib << 20,
                (Some(_), None) => return Err(MeasureError::Required("--memory-mib")),
            };
            let patched = linux::qemu_patch(kernel, input.initrd.map(<[u8]>::len), memory)?;
            (pe::authenticode_sha384(&patched)?, patched.len() as u64)
        }
        (None, None) => return Err(MeasureError::NeedsKernel("--load-options")),
    };
    let mut events = rtmr1_events(kernel_digest, image_len);
    events.extend(rtmr2_events(append, input.initrd, layout));
    Ok(TdxPrediction {
        mr_td,
        rtmr1: Some(replay(&events, MR_INDEX_RTMR1)),
        rtmr2: Some(replay(&events, MR_INDEX_RTMR2)),
        events,
    })
}

/// The `tdx` reference value for a prediction: `mr_td` and, when predicted, `rtmr1` and
/// `rtmr2`, each a one-element list of lower-case hex (`docs/reference-values.md`).
pub fn reference_value(prediction: &TdxPrediction) -> Value {
    let mut value = json!({ "mr_td": [hex::encode(prediction.mr_td)] });
    for (key, register) in [("rtmr1", prediction.rtmr1), ("rtmr2", prediction.rtmr2)] {
        if let (Some(register), Some(object)) = (register, value.as_object_mut()) {
            object.insert(key.to_owned(), json!([hex::encode(register)]));
        }
    }
    value
}
