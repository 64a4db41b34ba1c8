//! Firmware images shaped like OVMF, with metadata chosen by the caller: the inputs of the
//! known-answer, differential and refusal tests, the benchmarks and the fuzz seeds.
//!
//! Nothing here is a real firmware: the bytes outside the metadata are a counting pattern.
//! The layouts are those of `docs/design/measure.md` §3.1 (crafted-a and crafted-b are
//! rebuilt byte for byte; the tests pin their SHA-256).

use super::ovmf::{
    FOOTER_GUID, Guid, SEV_ES_RESET_BLOCK_GUID, SEV_HASH_TABLE_GUID, SEV_METADATA_GUID,
};

/// An SEV metadata section: GPA, size and type (1 zero, 2 secrets, 3 CPUID, 4 SVSM CAA,
/// 0x10 kernel hashes).
pub type SevSection = (u32, u32, u32);

/// The AP reset address crafted images declare.
pub const AP_RESET_EIP: u32 = 0x0080_B004;

/// Where the SEV metadata lies, counted from the end of the image.
pub const SEV_METADATA_FROM_END: u32 = 0x1000;

/// crafted-a (§3.1): zero, secrets, CPUID, SVSM CAA, kernel hashes.
pub const CRAFTED_A_SECTIONS: [SevSection; 7] = [
    (0x800000, 0x9000, 1),
    (0x80A000, 0x3000, 1),
    (0x80D000, 0x1000, 2),
    (0x80E000, 0x1000, 3),
    (0x80F000, 0x1000, 4),
    (0x811000, 0x1F000, 1),
    (0x810000, 0x1000, 0x10),
];
/// crafted-a's hash-table block, in its kernel-hashes page.
pub const CRAFTED_A_HASH_TABLE: u32 = 0x810C00;

/// crafted-b (§3.1): CPUID first, no SVSM CAA, no kernel hashes.
pub const CRAFTED_B_SECTIONS: [SevSection; 5] = [
    (0x80E000, 0x1000, 3),
    (0x800000, 0x9000, 1),
    (0x80A000, 0x3000, 1),
    (0x80D000, 0x1000, 2),
    (0x811000, 0x1F000, 1),
];

/// The `ASEV` metadata block for `sections`.
pub fn sev_metadata(sections: &[SevSection]) -> Vec<u8> {
    let mut m = b"ASEV".to_vec();
    let n = sections.len() as u32;
    m.extend_from_slice(&(16 + 12 * n).to_le_bytes());
    m.extend_from_slice(&1u32.to_le_bytes());
    m.extend_from_slice(&n.to_le_bytes());
    for (gpa, size, section_type) in sections {
        m.extend_from_slice(&gpa.to_le_bytes());
        m.extend_from_slice(&size.to_le_bytes());
        m.extend_from_slice(&section_type.to_le_bytes());
    }
    m
}

/// A footer table: the SEV metadata offset, the hash-table block (`hash_table_base`, 0x400
/// bytes; base 0 when the image has none), the reset block and the footer entry.
pub fn sev_footer_table(hash_table_base: u32, ap_reset_eip: u32) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&SEV_METADATA_FROM_END.to_le_bytes());
    t.extend_from_slice(&22u16.to_le_bytes());
    t.extend_from_slice(&SEV_METADATA_GUID);
    t.extend_from_slice(&hash_table_base.to_le_bytes());
    t.extend_from_slice(&0x400u32.to_le_bytes());
    t.extend_from_slice(&26u16.to_le_bytes());
    t.extend_from_slice(&SEV_HASH_TABLE_GUID);
    t.extend_from_slice(&ap_reset_eip.to_le_bytes());
    t.extend_from_slice(&22u16.to_le_bytes());
    t.extend_from_slice(&SEV_ES_RESET_BLOCK_GUID);
    t.extend_from_slice(&88u16.to_le_bytes());
    t.extend_from_slice(&FOOTER_GUID);
    t
}

/// A footer table with exactly `entries` (GUID and data), in this order from low to high
/// address, closed by the footer entry: for layouts [`sev_footer_table`] does not make (no
/// hash-table block, other entry orders, a repeated GUID).
///
/// # Panics
/// When the table exceeds the 16-bit length field: a caller's mistake in a test.
pub fn footer_table(entries: &[(Guid, &[u8])]) -> Vec<u8> {
    let mut t = Vec::new();
    for (g, data) in entries {
        t.extend_from_slice(data);
        let len = u16::try_from(data.len() + 18).expect("entry fits u16");
        t.extend_from_slice(&len.to_le_bytes());
        t.extend_from_slice(g);
    }
    let total = u16::try_from(t.len() + 18).expect("table fits u16");
    t.extend_from_slice(&total.to_le_bytes());
    t.extend_from_slice(&FOOTER_GUID);
    t
}

/// An image of `size` bytes (a multiple of 4096, at least 8 KiB) with `metadata` at
/// [`SEV_METADATA_FROM_END`] from the end and `table` ending 32 bytes before the end.
///
/// # Panics
/// When the metadata or the table do not fit: a caller's mistake in a test, not input.
pub fn firmware_with(size: usize, metadata: &[u8], table: &[u8]) -> Vec<u8> {
    let mut fw: Vec<u8> = (0..size).map(|i| i as u8).collect();
    let at = size - SEV_METADATA_FROM_END as usize;
    fw[at..at + metadata.len()].copy_from_slice(metadata);
    let end = size - 32;
    fw[end - table.len()..end].copy_from_slice(table);
    fw[end..].fill(0);
    fw
}

/// An image of `size` bytes with SEV metadata `sections` and the given hash-table base.
pub fn sev_firmware(size: usize, sections: &[SevSection], hash_table_base: u32) -> Vec<u8> {
    firmware_with(
        size,
        &sev_metadata(sections),
        &sev_footer_table(hash_table_base, AP_RESET_EIP),
    )
}

/// crafted-a of §3.1 (64 KiB, kernel hashes at 0x810C00).
pub fn crafted_a() -> Vec<u8> {
    sev_firmware(0x10000, &CRAFTED_A_SECTIONS, CRAFTED_A_HASH_TABLE)
}

/// crafted-b of §3.1 (64 KiB, no kernel hashes).
pub fn crafted_b() -> Vec<u8> {
    sev_firmware(0x10000, &CRAFTED_B_SECTIONS, 0)
}

/// The test kernel of §3.1: 64 KiB counting modulo 251 (not a bzImage; SEV-SNP hashes the
/// kernel as given).
pub fn test_kernel() -> Vec<u8> {
    (0..65536u32).map(|i| (i % 251) as u8).collect()
}

/// The test initrd of §3.1: 32 KiB of 0xA5.
pub fn test_initrd() -> Vec<u8> {
    vec![0xA5; 32768]
}
