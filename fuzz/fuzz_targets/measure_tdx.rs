//! TDX launch measurement from untrusted firmware: the TDVF metadata parser and MRTD in both
//! page-add orders.
//!
//! Input: a whole number of 4 KiB pages is taken as the firmware itself; any other length is
//! taken as a `TDVF` descriptor and placed in a crafted 64 KiB image (the layout of
//! crafted-tdvf), so mutations reach the section checks without first having to rebuild a
//! footer table.
//!
//! Property: parsing returns an error or metadata, never panics; parsed sections lie inside the
//! GPA space and their file data inside the firmware; MRTD is computed exactly when the
//! metadata parses. Work is bounded: MRTD runs only when the sections add at most 4096 pages.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_verifier::measure::craft::{TDVF_DESCRIPTOR_FROM_END, tdvf_firmware_with};
use warden_verifier::measure::tdx::{PageAddOrder, TdvfMetadata, mr_td, mr_td_of};

/// Room for a descriptor in the crafted image: up to the footer table.
const MAX_DESCRIPTOR: usize = TDVF_DESCRIPTOR_FROM_END as usize - 32 - 40;

fuzz_target!(|data: &[u8]| {
    if data.len() > 1 << 20 {
        return;
    }
    let crafted;
    let fw = if !data.is_empty() && data.len().is_multiple_of(4096) {
        data
    } else if data.len() <= MAX_DESCRIPTOR {
        crafted = tdvf_firmware_with(data);
        &crafted
    } else {
        return;
    };
    let Ok(metadata) = TdvfMetadata::parse(fw) else {
        // Refusals are cheap: the page bound is checked while parsing.
        assert!(metadata_refused(fw));
        return;
    };
    for s in &metadata.sections {
        assert!(s.memory_size > 0 && s.memory_address.checked_add(s.memory_size).is_some());
        assert!(s.memory_address + s.memory_size <= 1 << 52);
        if s.raw_size > 0 {
            assert!(s.data_offset as usize + s.raw_size as usize <= fw.len());
        }
    }
    if metadata.pages() <= 4096 {
        let single = mr_td_of(fw, &metadata, PageAddOrder::SinglePass);
        assert_eq!(mr_td(fw, PageAddOrder::SinglePass), Ok(single));
        let two = mr_td_of(fw, &metadata, PageAddOrder::TwoPass);
        assert_eq!(mr_td(fw, PageAddOrder::TwoPass), Ok(two));
        // With nothing extended the two orders issue the same records.
        if metadata.sections.iter().all(|s| !s.mr_extend) {
            assert_eq!(single, two);
        }
    }
});

fn metadata_refused(fw: &[u8]) -> bool {
    mr_td(fw, PageAddOrder::SinglePass).is_err() && mr_td(fw, PageAddOrder::TwoPass).is_err()
}
