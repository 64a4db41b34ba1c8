//! TPM `TPMS_ATTEST` quotes and `TPMT_PUBLIC` keys from untrusted evidence.
//!
//! Property: parsing returns an error or a structure, never panics; a parsed quote's PCR
//! selection names only PCRs its bitmap can hold, and its digest can be recomputed; a parsed key
//! has a TPM name of its name algorithm's size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_wire::tpm::{Attest, MAX_PCR_SELECT, PublicKey, pcr_digest};

fuzz_target!(|data: &[u8]| {
    if let Ok(attest) = Attest::parse(data) {
        assert!(attest.extra_data.len() <= warden_wire::tpm::MAX_EXTRA_DATA);
        for selection in &attest.pcr_selection {
            assert!(
                selection
                    .pcrs
                    .iter()
                    .all(|&pcr| (pcr as usize) < MAX_PCR_SELECT * 8)
            );
            assert!(selection.pcrs.windows(2).all(|pair| pair[0] < pair[1]));
        }
        let zero = [0u8; 64];
        let digest = pcr_digest(
            warden_wire::tpm::HashAlg::Sha256,
            &attest.pcr_selection,
            |bank, _| Some(&zero[..bank.digest_len()]),
        );
        assert_eq!(digest.map(|d| d.len()), Ok(32));
    }
    if let Ok(key) = PublicKey::parse(data) {
        assert_eq!(key.name().len(), 2 + key.name_alg.digest_len());
    }
});
