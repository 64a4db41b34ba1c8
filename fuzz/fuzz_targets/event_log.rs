//! TCG2 crypto-agile event logs (the TDX CCEL) from untrusted guests.
//!
//! Property: parsing returns an error or a log, never panics (nor exceeds its bounds); a parsed
//! log replays into RTMRs or is rejected, and yields boot components whose per-RTMR lists hold
//! exactly the events replay extended.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_wire::eventlog::{self, EV_NO_ACTION};

fuzz_target!(|data: &[u8]| {
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
