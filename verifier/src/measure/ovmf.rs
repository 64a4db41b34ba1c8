//! The OVMF GUIDed footer table and the SEV metadata (`ASEV`) it points to
//! (`docs/design/measure.md` §1.3). Strict: anything sev-snp-measure would slice silently
//! (over-long entries, duplicate GUIDs, overlapping or misaligned sections) is refused.

use super::MeasureError;

/// Size of a guest page.
pub const PAGE_SIZE: usize = 4096;

/// A GUID in the UEFI mixed-endian ("bytes_le") form it has in the firmware.
pub type Guid = [u8; 16];

/// The firmware form of the GUID written `a-b-c-d`.
pub(crate) const fn guid(a: u32, b: u16, c: u16, d: [u8; 8]) -> Guid {
    let a = a.to_le_bytes();
    let b = b.to_le_bytes();
    let c = c.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6],
        d[7],
    ]
}

/// `96b582de-1fb2-45f7-baea-a366c55a082d`: the footer entry closing the table.
pub const FOOTER_GUID: Guid = guid(
    0x96b5_82de,
    0x1fb2,
    0x45f7,
    [0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d],
);
/// `00f771de-1a7e-4fcb-890e-68c77e2fb44e`: SEV-ES reset block (`u32` AP reset EIP).
pub const SEV_ES_RESET_BLOCK_GUID: Guid = guid(
    0x00f7_71de,
    0x1a7e,
    0x4fcb,
    [0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e],
);
/// `dc886566-984a-4798-a75e-5585a7bf67cc`: SEV metadata offset (`u32`, from the file's end).
pub const SEV_METADATA_GUID: Guid = guid(
    0xdc88_6566,
    0x984a,
    0x4798,
    [0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc],
);
/// `7255371f-3a3b-4b04-927b-1da6efa8d454`: SEV hash table block (`u32` base, `u32` size).
pub const SEV_HASH_TABLE_GUID: Guid = guid(
    0x7255_371f,
    0x3a3b,
    0x4b04,
    [0x92, 0x7b, 0x1d, 0xa6, 0xef, 0xa8, 0xd4, 0x54],
);

/// `e47a6535-984a-4798-865e-4685a7bf8ec2`: TDX metadata offset (`u32`, from the file's end to
/// the `TDVF` descriptor; §4.1).
pub const TDX_METADATA_GUID: Guid = guid(
    0xe47a_6535,
    0x984a,
    0x4798,
    [0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2],
);
/// `e9eaf9f3-168e-44d5-a8eb-7f4d8738f6ae`: the GUID edk2 writes just before the `TDVF`
/// descriptor. QEMU does not read it, so neither does Warden; crafted images carry it.
pub const TDVF_DESCRIPTOR_GUID: Guid = guid(
    0xe9ea_f9f3,
    0x168e,
    0x44d5,
    [0xa8, 0xeb, 0x7f, 0x4d, 0x87, 0x38, 0xf6, 0xae],
);

/// Length of an entry's trailer: `u16` length and GUID.
const ENTRY_HEADER: usize = 18;
/// The footer table ends this many bytes before the end of the file.
const TABLE_END_FROM_FILE_END: usize = 32;

/// Bytes needed by the SEV hashes table in its page (168-byte table padded to 176).
pub(crate) const HASH_TABLE_PADDED_LEN: usize = 176;

/// The firmware length both TEEs accept: a non-empty whole number of pages, at most 4 GiB
/// (the image is mapped to end at 4 GiB).
pub(crate) fn check_firmware_length(fw: &[u8]) -> Result<(), MeasureError> {
    if fw.is_empty() || !fw.len().is_multiple_of(PAGE_SIZE) || fw.len() as u64 > 1 << 32 {
        return Err(MeasureError::FirmwareLength(fw.len()));
    }
    Ok(())
}

/// The entries of an OVMF footer table, borrowed from the firmware.
#[derive(Debug, Clone)]
pub struct FooterTable<'a> {
    entries: Vec<(Guid, &'a [u8])>,
}

pub(crate) fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

pub(crate) fn guid_at(b: &[u8], at: usize) -> Option<Guid> {
    b.get(at..at.checked_add(16)?)?.try_into().ok()
}

/// Formats a `bytes_le` GUID the usual way.
pub fn guid_string(g: &Guid) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{}-{}",
        u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
        u16::from_le_bytes([g[4], g[5]]),
        u16::from_le_bytes([g[6], g[7]]),
        hex::encode(&g[8..10]),
        hex::encode(&g[10..16])
    )
}

impl<'a> FooterTable<'a> {
    /// Parses the table ending 32 bytes before the end of `fw`. Refuses a missing footer,
    /// a total length that does not fit, entries shorter than 18 bytes or longer than what is
    /// left, leftover bytes and duplicate GUIDs.
    pub fn parse(fw: &'a [u8]) -> Result<Self, MeasureError> {
        let len = fw.len();
        let footer_end = len
            .checked_sub(TABLE_END_FROM_FILE_END)
            .ok_or(MeasureError::NoFooterTable)?;
        let footer_guid_at = footer_end
            .checked_sub(16)
            .ok_or(MeasureError::NoFooterTable)?;
        if guid_at(fw, footer_guid_at) != Some(FOOTER_GUID) {
            return Err(MeasureError::NoFooterTable);
        }
        let total_at = footer_guid_at
            .checked_sub(2)
            .ok_or(MeasureError::NoFooterTable)?;
        let total = usize::from(u16_at(fw, total_at).ok_or(MeasureError::NoFooterTable)?);
        if total < ENTRY_HEADER || total > footer_end {
            return Err(MeasureError::FooterTableLength(total));
        }
        let start = footer_end - total;
        // The body: the entries between the table's start and the footer entry.
        let mut end = footer_end - ENTRY_HEADER;
        let mut entries: Vec<(Guid, &'a [u8])> = Vec::new();
        while end > start {
            let left = end - start;
            if left < ENTRY_HEADER {
                return Err(MeasureError::TableEntryLength { end, length: left });
            }
            let g = guid_at(fw, end - 16).ok_or(MeasureError::NoFooterTable)?;
            let entry_len =
                usize::from(u16_at(fw, end - ENTRY_HEADER).ok_or(MeasureError::NoFooterTable)?);
            if entry_len < ENTRY_HEADER || entry_len > left {
                return Err(MeasureError::TableEntryLength {
                    end,
                    length: entry_len,
                });
            }
            let data = fw
                .get(end - entry_len..end - ENTRY_HEADER)
                .ok_or(MeasureError::NoFooterTable)?;
            if entries.iter().any(|(seen, _)| *seen == g) {
                return Err(MeasureError::DuplicateGuid(guid_string(&g)));
            }
            entries.push((g, data));
            end -= entry_len;
        }
        Ok(FooterTable { entries })
    }

    /// The data of the entry with GUID `g`.
    pub fn get(&self, g: &Guid) -> Option<&'a [u8]> {
        self.entries
            .iter()
            .find(|(seen, _)| seen == g)
            .map(|(_, d)| *d)
    }

    /// The number of entries (the footer not counted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no entries besides the footer.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn exact(
        &self,
        g: &Guid,
        name: &'static str,
        n: usize,
    ) -> Result<Option<&'a [u8]>, MeasureError> {
        match self.get(g) {
            None => Ok(None),
            Some(d) if d.len() == n => Ok(Some(d)),
            Some(d) => Err(MeasureError::EntryDataLength {
                name,
                len: d.len(),
                expected: n,
            }),
        }
    }
}

/// Type of an SEV metadata section (edk2 `OVMF_SECTION_TYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionType {
    /// 1: pre-validated memory, measured as zero pages (unmeasured for gce).
    SnpSecMem,
    /// 2: the SNP secrets page.
    SnpSecrets,
    /// 3: the CPUID page.
    Cpuid,
    /// 4: the SVSM calling-area page(s), zero pages.
    SvsmCaa,
    /// 0x10: the page receiving the kernel/initrd/cmdline hashes table.
    SnpKernelHashes,
}

impl SectionType {
    fn from_u32(t: u32) -> Option<Self> {
        Some(match t {
            1 => Self::SnpSecMem,
            2 => Self::SnpSecrets,
            3 => Self::Cpuid,
            4 => Self::SvsmCaa,
            0x10 => Self::SnpKernelHashes,
            _ => return None,
        })
    }
}

/// One section of the SEV metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// Guest-physical address, page-aligned.
    pub gpa: u32,
    /// Size in bytes, a non-zero multiple of 4096.
    pub size: u32,
    /// What the VMM puts there.
    pub kind: SectionType,
}

/// What an SEV-SNP launch needs from an OVMF image, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SevFirmware {
    /// The AP reset EIP from the SEV-ES reset block (0: the firmware starts no APs).
    pub ap_reset_eip: u32,
    /// The SEV metadata sections, in table order.
    pub sections: Vec<Section>,
    /// Offset of the hashes table within the kernel-hashes page, when there is one.
    pub hash_table_offset: Option<usize>,
}

const SECTION_LEN: usize = 12;
const METADATA_HEADER: usize = 16;
/// edk2 emits at most 7 sections; more than this is refused (bounds the overlap check).
const MAX_SECTIONS: u32 = 64;

impl SevFirmware {
    /// Parses and checks the footer table, the SEV-ES reset block and the SEV metadata of
    /// `fw`. The firmware length itself must already be valid (non-zero, page multiple).
    pub fn parse(fw: &[u8]) -> Result<Self, MeasureError> {
        let table = FooterTable::parse(fw)?;
        let reset = table
            .exact(&SEV_ES_RESET_BLOCK_GUID, "SEV-ES reset block", 4)?
            .ok_or(MeasureError::NoResetBlock)?;
        let ap_reset_eip = u32_at(reset, 0).ok_or(MeasureError::NoResetBlock)?;
        let meta = table
            .exact(&SEV_METADATA_GUID, "SEV metadata offset", 4)?
            .ok_or(MeasureError::NoSevMetadata)?;
        let offset = u32_at(meta, 0).ok_or(MeasureError::NoSevMetadata)?;
        let hash_block = table.exact(&SEV_HASH_TABLE_GUID, "SEV hash table block", 8)?;
        let hash_base = hash_block.and_then(|d| u32_at(d, 0));

        let off = usize::try_from(offset).map_err(|_| MeasureError::MetadataOffset(offset))?;
        let start = fw
            .len()
            .checked_sub(off)
            .ok_or(MeasureError::MetadataOffset(offset))?;
        let header = fw
            .get(start..start.saturating_add(METADATA_HEADER))
            .filter(|h| h.len() == METADATA_HEADER)
            .ok_or(MeasureError::MetadataOffset(offset))?;
        if &header[0..4] != b"ASEV" {
            return Err(MeasureError::MetadataSignature);
        }
        let length = u32_at(header, 4).ok_or(MeasureError::MetadataSignature)?;
        let version = u32_at(header, 8).ok_or(MeasureError::MetadataSignature)?;
        let count = u32_at(header, 12).ok_or(MeasureError::MetadataSignature)?;
        if version != 1 {
            return Err(MeasureError::MetadataVersion(version));
        }
        let bad_length = || MeasureError::MetadataLength {
            length,
            sections: count,
        };
        let expected = u64::from(count) * SECTION_LEN as u64 + METADATA_HEADER as u64;
        if u64::from(length) != expected || count > MAX_SECTIONS {
            return Err(bad_length());
        }
        let body = usize::try_from(length)
            .ok()
            .and_then(|l| fw.get(start..start.checked_add(l)?))
            .ok_or_else(bad_length)?;

        let mut sections = Vec::new();
        for (index, raw) in body[METADATA_HEADER..]
            .chunks_exact(SECTION_LEN)
            .enumerate()
        {
            let (gpa, size, ty) = match (u32_at(raw, 0), u32_at(raw, 4), u32_at(raw, 8)) {
                (Some(g), Some(s), Some(t)) => (g, s, t),
                _ => return Err(bad_length()),
            };
            let kind = SectionType::from_u32(ty).ok_or(MeasureError::SectionType {
                index,
                section_type: ty,
            })?;
            let end = u64::from(gpa) + u64::from(size);
            if size == 0 || !gpa.is_multiple_of(4096) || !size.is_multiple_of(4096) || end > 1 << 32
            {
                return Err(MeasureError::SectionExtent { index, gpa, size });
            }
            if matches!(
                kind,
                SectionType::SnpSecrets | SectionType::Cpuid | SectionType::SnpKernelHashes
            ) && size != 4096
            {
                return Err(MeasureError::SectionNotOnePage { index, size });
            }
            let fw_start = (1u64 << 32).saturating_sub(fw.len() as u64);
            if end > fw_start {
                return Err(MeasureError::SectionOverlapsFirmware(index));
            }
            if let Some(first) = sections.iter().position(|s: &Section| {
                u64::from(s.gpa) < end && u64::from(gpa) < u64::from(s.gpa) + u64::from(s.size)
            }) {
                return Err(MeasureError::SectionOverlap {
                    first,
                    second: index,
                });
            }
            if kind == SectionType::SnpKernelHashes
                && sections
                    .iter()
                    .any(|s: &Section| s.kind == SectionType::SnpKernelHashes)
            {
                return Err(MeasureError::DuplicateKernelHashes(index));
            }
            sections.push(Section { gpa, size, kind });
        }

        let hash_table_offset = match sections
            .iter()
            .find(|s| s.kind == SectionType::SnpKernelHashes)
        {
            None => None,
            Some(s) => {
                let base = hash_base.unwrap_or(0);
                let in_page = base & 0xFFF;
                if hash_base.is_none()
                    || base & !0xFFF != s.gpa
                    || in_page as usize > PAGE_SIZE - HASH_TABLE_PADDED_LEN
                {
                    return Err(MeasureError::HashTableBase { base, page: s.gpa });
                }
                Some(in_page as usize)
            }
        };
        Ok(SevFirmware {
            ap_reset_eip,
            sections,
            hash_table_offset,
        })
    }
}
