//! OVMF firmware images from whoever publishes them: the GUIDed footer table and the SEV and
//! TDX metadata it points to.
//!
//! The input is the end of a firmware (padded with zero pages in front to a whole page), since
//! both structures are found from the end. Property: parsing returns an error or metadata,
//! never panics; parsed sections are non-empty, page-aligned, below 4 GiB and pairwise
//! disjoint, and a hash table lies inside its page.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_verifier::measure::ovmf::{FooterTable, PAGE_SIZE, SevFirmware};
use warden_verifier::measure::tdx::TdvfMetadata;

fuzz_target!(|data: &[u8]| {
    let mut firmware = vec![0; data.len().div_ceil(PAGE_SIZE).max(1) * PAGE_SIZE - data.len()];
    firmware.extend_from_slice(data);
    if let Ok(table) = FooterTable::parse(&firmware) {
        assert!(table.len() <= firmware.len());
    }
    // The TDX side is fuzzed with its digest in `measure_tdx`; here it shares the inputs.
    let _ = TdvfMetadata::parse(&firmware);
    let Ok(parsed) = SevFirmware::parse(&firmware) else {
        return;
    };
    let extent = |s: &warden_verifier::measure::ovmf::Section| {
        (u64::from(s.gpa), u64::from(s.gpa) + u64::from(s.size))
    };
    for (i, section) in parsed.sections.iter().enumerate() {
        let (start, end) = extent(section);
        assert!(start < end && end <= 1 << 32);
        assert_eq!(start % PAGE_SIZE as u64, 0);
        assert_eq!(section.size as usize % PAGE_SIZE, 0);
        for other in &parsed.sections[i + 1..] {
            let (other_start, other_end) = extent(other);
            assert!(end <= other_start || other_end <= start, "overlap accepted");
        }
    }
    if let Some(offset) = parsed.hash_table_offset {
        assert!(offset < PAGE_SIZE);
    }
});
