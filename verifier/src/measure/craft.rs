//! Firmware images shaped like OVMF, with metadata chosen by the caller: the inputs of the
//! known-answer, differential and refusal tests, the benchmarks and the fuzz seeds.
//!
//! Nothing here is a real firmware: the bytes outside the metadata are a counting pattern.
//! The layouts are those of `docs/design/measure.md` §3.1 (crafted-a and crafted-b are
//! rebuilt byte for byte; the tests pin their SHA-256).

use super::ovmf::{
    FOOTER_GUID, Guid, SEV_ES_RESET_BLOCK_GUID, SEV_HASH_TABLE_GUID, SEV_METADATA_GUID,
    TDVF_DESCRIPTOR_GUID, TDX_METADATA_GUID,
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

/// A TDVF section: DataOffset, RawDataSize, MemoryAddress, MemoryDataSize, Type (0 BFV, 1 CFV,
/// 2 TD_HOB, 3 TEMP_MEM), Attributes (1 = MR_EXTEND).
pub type TdvfSection = (u32, u32, u64, u64, u32, u32);

/// crafted-tdvf's sections (§4.6): the whole 64 KiB image as an extended BFV just below
/// 4 GiB, a TEMP_MEM and a TD_HOB.
pub const CRAFTED_TDVF_SECTIONS: [TdvfSection; 3] = [
    (0, 0x10000, 0xFFFF_0000, 0x10000, 0, 1),
    (0, 0, 0x80_0000, 0x2000, 3, 0),
    (0, 0, 0x80_9000, 0x2000, 2, 0),
];

/// Where crafted-tdvf's descriptor lies, counted from the end of the image (and from its start).
pub const TDVF_DESCRIPTOR_FROM_END: u32 = 0x8000;

/// The `TDVF` descriptor for `sections`.
pub fn tdvf_descriptor(sections: &[TdvfSection]) -> Vec<u8> {
    let mut d = b"TDVF".to_vec();
    let n = sections.len() as u32;
    d.extend_from_slice(&(16 + 32 * n).to_le_bytes());
    d.extend_from_slice(&1u32.to_le_bytes());
    d.extend_from_slice(&n.to_le_bytes());
    for &(offset, raw, address, size, section_type, attributes) in sections {
        d.extend_from_slice(&offset.to_le_bytes());
        d.extend_from_slice(&raw.to_le_bytes());
        d.extend_from_slice(&address.to_le_bytes());
        d.extend_from_slice(&size.to_le_bytes());
        d.extend_from_slice(&section_type.to_le_bytes());
        d.extend_from_slice(&attributes.to_le_bytes());
    }
    d
}

/// A footer table with only the TDX metadata offset entry and the footer.
pub fn tdx_footer_table(descriptor_from_end: u32) -> Vec<u8> {
    let mut t = descriptor_from_end.to_le_bytes().to_vec();
    t.extend_from_slice(&22u16.to_le_bytes());
    t.extend_from_slice(&TDX_METADATA_GUID);
    t.extend_from_slice(&40u16.to_le_bytes());
    t.extend_from_slice(&FOOTER_GUID);
    t
}

/// A 64 KiB image counting modulo 251, with `descriptor` at [`TDVF_DESCRIPTOR_FROM_END`]
/// (after edk2's descriptor GUID) and a TDX-only footer table.
pub fn tdvf_firmware_with(descriptor: &[u8]) -> Vec<u8> {
    let size = 0x10000;
    let mut fw: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let at = size - TDVF_DESCRIPTOR_FROM_END as usize;
    fw[at - 16..at].copy_from_slice(&TDVF_DESCRIPTOR_GUID);
    fw[at..at + descriptor.len()].copy_from_slice(descriptor);
    let table = tdx_footer_table(TDVF_DESCRIPTOR_FROM_END);
    let end = size - 32;
    fw[end - table.len()..end].copy_from_slice(&table);
    fw[end..].fill(0);
    fw
}

/// crafted-tdvf of §4.6 (64 KiB; the tests pin its SHA-256 and MRTDs).
pub fn crafted_tdvf() -> Vec<u8> {
    tdvf_firmware_with(&tdvf_descriptor(&CRAFTED_TDVF_SECTIONS))
}

/// Length of [`crafted_bzimage`].
pub const BZIMAGE_LEN: usize = 0x2000;

/// A minimal x86-64 bzImage with an EFI-stub PE32+ header, as Warden's checks want it: boot
/// protocol 2.15, 4 setup sectors, `LOADED_HIGH`, `xloadflags` with
/// `XLF_CAN_BE_LOADED_ABOVE_4G`, two sections (`.setup` at 0x200, `.text` at 0xA00) covering
/// the file to its end, no certificate table. Not bootable: the code is a counting pattern.
pub fn crafted_bzimage() -> Vec<u8> {
    let mut k: Vec<u8> = (0..BZIMAGE_LEN).map(|i| (i % 253) as u8).collect();
    let put = |k: &mut Vec<u8>, at: usize, bytes: &[u8]| {
        k[at..at + bytes.len()].copy_from_slice(bytes);
    };
    // DOS header and stub area: zero except MZ and e_lfanew.
    k[..0x200].fill(0);
    put(&mut k, 0, b"MZ");
    put(&mut k, 0x3C, &0x40u32.to_le_bytes());
    put(&mut k, 0x40, b"PE\0\0");
    // COFF header: AMD64, 2 sections, 240-byte optional header, executable image.
    put(&mut k, 0x44, &0x8664u16.to_le_bytes());
    put(&mut k, 0x46, &2u16.to_le_bytes());
    put(&mut k, 0x54, &240u16.to_le_bytes());
    put(&mut k, 0x56, &0x0206u16.to_le_bytes());
    // PE32+ optional header at 0x58.
    put(&mut k, 0x58, &0x20Bu16.to_le_bytes());
    put(&mut k, 0x58 + 16, &0xA00u32.to_le_bytes()); // AddressOfEntryPoint
    put(&mut k, 0x58 + 32, &0x1000u32.to_le_bytes()); // SectionAlignment
    put(&mut k, 0x58 + 36, &0x200u32.to_le_bytes()); // FileAlignment
    put(&mut k, 0x58 + 56, &0x3000u32.to_le_bytes()); // SizeOfImage
    put(&mut k, 0x58 + 60, &0x200u32.to_le_bytes()); // SizeOfHeaders
    put(&mut k, 0x58 + 64, &0x1234_5678u32.to_le_bytes()); // CheckSum (skipped by the hash)
    put(&mut k, 0x58 + 68, &10u16.to_le_bytes()); // Subsystem: EFI application
    put(&mut k, 0x58 + 108, &16u32.to_le_bytes()); // NumberOfRvaAndSizes
    // Section table at 0x148.
    let section = |k: &mut Vec<u8>, at: usize, name: &[u8], raw_offset: u32, raw_size: u32| {
        put(k, at, name);
        put(k, at + 8, &raw_size.to_le_bytes()); // VirtualSize
        put(k, at + 12, &raw_offset.to_le_bytes()); // VirtualAddress
        put(k, at + 16, &raw_size.to_le_bytes());
        put(k, at + 20, &raw_offset.to_le_bytes());
        put(k, at + 36, &0x6000_0020u32.to_le_bytes());
    };
    section(&mut k, 0x148, b".setup", 0x200, 0x800);
    section(&mut k, 0x170, b".text", 0xA00, (BZIMAGE_LEN - 0xA00) as u32);
    // Linux setup header (boot protocol 2.15).
    k[0x1F1] = 4; // setup_sects
    put(&mut k, 0x1FE, &0xAA55u16.to_le_bytes());
    put(&mut k, 0x202, b"HdrS");
    put(&mut k, 0x206, &0x020Fu16.to_le_bytes());
    k[0x210] = 0; // type_of_loader
    k[0x211] = 0x01; // loadflags: LOADED_HIGH
    put(&mut k, 0x218, &[0; 8]); // ramdisk_image, ramdisk_size
    put(&mut k, 0x224, &[0; 8]); // heap_end_ptr, ext_loader_*, cmd_line_ptr
    put(&mut k, 0x22C, &0x7FFF_FFFFu32.to_le_bytes()); // initrd_addr_max
    put(&mut k, 0x236, &0x0003u16.to_le_bytes()); // xloadflags: KERNEL_64, ABOVE_4G
    put(&mut k, 0x238, &2048u32.to_le_bytes()); // cmdline_size
    k
}
