//! The PE/COFF Authenticode SHA-384 of an EFI image, as edk2 computes it when it measures an
//! image it loads (`docs/design/measure.md` §4.3; edk2 `MeasureBootPeCoff.c`, the same rules in
//! `DxeTpm2MeasureBootLib`):
//!
//! 1. the headers up to `SizeOfHeaders`, skipping the 4-byte `CheckSum` and, when the image has
//!    more than four data directories, the 8-byte Certificate Table entry;
//! 2. every section with `SizeOfRawData > 0`, in `PointerToRawData` order;
//! 3. the trailing data from `SizeOfHeaders + Σ SizeOfRawData` up to the file's end minus the
//!    certificate table's size.
//!
//! Strict: only x86-64 PE32+ images are accepted, and shapes on which edk2 and other tools
//! would disagree (or edk2 would fail) are refused rather than hashed one way or the other:
//! sections overlapping each other or the headers, a certificate table not at the end of the
//! file, any file whose length is not a multiple of 8 (dstack-mr pads the hash input with
//! zeros to a multiple of 8, edk2 does not; see [`authenticode_sha384`]), and an unsigned file
//! with data after its sections (edk2 hashes it, dstack-mr hashes trailing data only when the
//! image has a certificate table).

use sha2::{Digest, Sha384};

use super::MeasureError;
use super::ovmf::{u16_at, u32_at};

/// IMAGE_FILE_MACHINE_AMD64.
const MACHINE_AMD64: u16 = 0x8664;
/// The PE32+ optional-header magic.
const PE32_PLUS: u16 = 0x20B;
/// The PE format's own limit on the section count.
const MAX_SECTIONS: usize = 96;
/// Data directories a PE32+ optional header can hold.
const MAX_DIRECTORIES: u32 = 16;
/// Index of the Certificate Table (security) directory.
const SECURITY_DIRECTORY: u32 = 4;

fn refuse(reason: impl Into<String>) -> MeasureError {
    MeasureError::Kernel(reason.into())
}

/// The Authenticode SHA-384 of `image` (an x86-64 PE32+ file) under edk2's rules (module
/// documentation). The kernel's RTMR1 event carries this digest.
///
/// Decision on the open question of `docs/design/measure.md` §5.5 item 1: edk2 hashes the
/// trailing data as it is; dstack-mr appends zero bytes up to a multiple of 8. Without a log
/// from real hardware to settle it, a file whose length is not a multiple of 8 is refused
/// (both rules agree on every other file); the caller can give the digest from a measured log
/// instead (`--kernel-authenticode`).
pub fn authenticode_sha384(image: &[u8]) -> Result<[u8; 48], MeasureError> {
    let len = image.len();
    if !len.is_multiple_of(8) {
        return Err(refuse(format!(
            "length {len} is not a multiple of 8: edk2 and dstack-mr hash such a file differently; give --kernel-authenticode"
        )));
    }
    if image.get(..2) != Some(b"MZ".as_slice()) {
        return Err(refuse(
            "no MZ header: not a PE image (a bzImage with an EFI stub)",
        ));
    }
    let pe = u32_at(image, 0x3C).ok_or_else(|| refuse("truncated DOS header"))? as usize;
    if image.get(pe..pe.saturating_add(4)) != Some(b"PE\0\0".as_slice()) {
        return Err(refuse("no PE signature at e_lfanew"));
    }
    let file_header = pe + 4;
    let field16 = |at: usize, name: &str| {
        u16_at(image, at).ok_or_else(|| refuse(format!("truncated PE header ({name})")))
    };
    let field32 = |at: usize, name: &str| {
        u32_at(image, at).ok_or_else(|| refuse(format!("truncated PE header ({name})")))
    };
    let machine = field16(file_header, "Machine")?;
    if machine != MACHINE_AMD64 {
        return Err(refuse(format!(
            "PE machine {machine:#06x} is not x86-64 (0x8664)"
        )));
    }
    let sections = usize::from(field16(file_header + 2, "NumberOfSections")?);
    let optional_size = usize::from(field16(file_header + 16, "SizeOfOptionalHeader")?);
    let optional = file_header + 20;
    let magic = field16(optional, "Magic")?;
    if magic != PE32_PLUS {
        return Err(refuse(format!(
            "optional header magic {magic:#06x} is not PE32+"
        )));
    }
    let size_of_headers = field32(optional + 60, "SizeOfHeaders")? as usize;
    let checksum_at = optional + 64;
    let directories = field32(optional + 108, "NumberOfRvaAndSizes")?;
    if directories > MAX_DIRECTORIES || optional_size < 112 + 8 * directories as usize {
        return Err(refuse(format!(
            "{directories} data directories do not fit an optional header of {optional_size} bytes"
        )));
    }
    if sections > MAX_SECTIONS {
        return Err(refuse(format!(
            "{sections} sections, at most {MAX_SECTIONS}"
        )));
    }
    let section_table = optional + optional_size;
    let headers_end = section_table + 40 * sections;
    if size_of_headers < headers_end || size_of_headers > len {
        return Err(refuse(format!(
            "SizeOfHeaders {size_of_headers:#x} does not cover the section table (ends at {headers_end:#x}) inside the file"
        )));
    }
    let security_at = optional + 112 + 8 * SECURITY_DIRECTORY as usize;
    let (cert_offset, cert_size) = if directories > SECURITY_DIRECTORY {
        (
            field32(security_at, "Certificate Table")? as usize,
            field32(security_at + 4, "Certificate Table")? as usize,
        )
    } else {
        (0, 0)
    };
    // edk2 subtracts the table's size from the end of the file, assuming it is the last thing
    // there; a table anywhere else would make it hash the wrong bytes.
    if cert_size > 0 && cert_offset.checked_add(cert_size) != Some(len) {
        return Err(refuse(format!(
            "certificate table at {cert_offset:#x} size {cert_size:#x} is not at the end of the file"
        )));
    }

    let mut raw: Vec<(usize, usize)> = Vec::with_capacity(sections);
    for index in 0..sections {
        let at = section_table + 40 * index;
        let size = field32(at + 16, "SizeOfRawData")? as usize;
        let offset = field32(at + 20, "PointerToRawData")? as usize;
        if size == 0 {
            continue;
        }
        let end = offset.checked_add(size).filter(|&e| e <= len - cert_size);
        if offset < size_of_headers || end.is_none() {
            return Err(refuse(format!(
                "section {index}: raw data {offset:#x}+{size:#x} overlaps the headers or lies outside the file"
            )));
        }
        raw.push((offset, size));
    }
    // edk2 sorts by PointerToRawData with a stable insertion sort.
    raw.sort_by_key(|&(offset, _)| offset);
    if raw.windows(2).any(|w| w[0].0 + w[0].1 > w[1].0) {
        return Err(refuse("two sections' raw data overlap"));
    }

    let mut hash = Sha384::new();
    let mut update = |from: usize, to: usize| -> Result<(), MeasureError> {
        let bytes = image
            .get(from..to)
            .ok_or_else(|| refuse("a hashed range lies outside the file"))?;
        hash.update(bytes);
        Ok(())
    };
    update(0, checksum_at)?;
    if directories > SECURITY_DIRECTORY {
        update(checksum_at + 4, security_at)?;
        update(security_at + 8, size_of_headers)?;
    } else {
        update(checksum_at + 4, size_of_headers)?;
    }
    let mut hashed = size_of_headers;
    for &(offset, size) in &raw {
        update(offset, offset + size)?;
        hashed += size;
    }
    if len > hashed + cert_size && cert_size == 0 {
        return Err(refuse(format!(
            "{} bytes after the last section of an unsigned image: edk2 and dstack-mr hash them differently; give --kernel-authenticode",
            len - hashed
        )));
    }
    if len > hashed {
        match len.checked_sub(cert_size).filter(|&end| end >= hashed) {
            Some(end) => update(hashed, end)?,
            None => return Err(refuse("the certificate table overlaps the hashed data")),
        }
    }
    Ok(hash.finalize().into())
}
