//! TCG event logs from untrusted guests: the TDX CCEL, and TPM PCR logs (crypto-agile or SHA-1).
//!
//! Property: parsing returns an error or a log, never panics (nor exceeds its bounds); a parsed
//! log replays into RTMRs or is rejected, and yields boot components whose per-RTMR lists hold
//! exactly the events replay extended; a parsed PCR log replays in each bank it declares into
//! values of that bank's size, or is rejected.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_wire::eventlog::{self, EV_NO_ACTION};
use warden_wire::tpm::HashAlg;

fuzz_target!(|data: &[u8]| {
    if let Ok(log) = eventlog::parse_pcr_log(data) {
        for &(id, _) in &log.algorithms {
            let Some(bank) = HashAlg::from_id(id) else {
                continue;
            };
            if let Ok(pcrs) = log.replay_pcrs(bank) {
                assert!(pcrs.values().all(|value| value.len() == bank.digest_len()));
                serde_json::to_value(log.pcr_components(bank)).expect("components serialise");
            }
        }
    }
    let Ok(log) = eventlog::parse(data) else {
        return;
    };
    let replayed = log.replay_rtmrs();
    let components = log.boot_components();
    if replayed.is_ok() {
        let extended = log
            .events
            .iter()
            .filter(|event| event.index != 0 && event.event_type != EV_NO_ACTION)
            .count();
        let listed: usize = components.rtmr_events.iter().map(Vec::len).sum();
        assert_eq!(listed, extended, "boot components disagree with replay");
    }
    serde_json::to_value(&components).expect("boot components serialise");
});
