//! The TCG event log read as a TPM's PCR log (`/sys/kernel/security/tpm0/binary_bios_measurements`,
//! Windows' WBCL) rather than as CCEL: indices are PCRs 0..=23 and every bank the log carries
//! can be replayed.
//!
//! Two formats exist. A crypto-agile log starts with the Spec ID event ("Spec ID Event03") and
//! continues with TCG_PCR_EVENT2 records (parsed by [`super::parse`]). A log from a SHA-1-only
//! TPM (and TCG 1.2 firmware) is a plain sequence of TCG_PCR_EVENT records: `pcr u32 | type u32 |
//! sha1 [20] | size u32 | data`; [`parse_pcr_log`] reads it as a log with one SHA-1 bank.
//!
//! Replay ([`super::EventLog::replay_pcrs`]) starts every PCR at zero, except that an
//! `EV_NO_ACTION` "StartupLocality" event sets PCR0's last byte to the locality the CRTM started
//! from (TCG PC Client PFP §10.4.5.3). The verifier compares the replayed PCRs with the quoted
//! ones; only then are the logged digests trusted.
//!
//! Components ([`super::EventLog::pcr_components`], published as claims for a matching log):
//! * `secure_boot`: the `SecureBoot` UEFI variable as measured into PCR7, exported only when the
//!   firmware logged exactly one such event before PCR7's `EV_SEPARATOR` (events after it come
//!   from the OS) and its digest is the hash of its data (so the value is proven, not just logged);
//! * `boot_applications`: `EV_EFI_BOOT_SERVICES_APPLICATION` events in load order, with PCR, path
//!   (event data, informational) and Authenticode digest;
//! * `pcr_events`: for each replayed PCR, its events' type names and digests.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    EV_EFI_BOOT_SERVICES_APPLICATION, EV_NO_ACTION, Event, EventLog, EventLogError,
    MAX_EVENT_DATA_LEN, MAX_EVENTS, MAX_LOG_LEN, Reader, SPEC_ID_SIGNATURE, at_end_of_log,
    decode_utf16le, hex, image_load_event_path,
};
use crate::tpm::HashAlg;

/// PC Client TPMs implement PCRs 0..=23.
pub const MAX_PCR: u32 = 23;
const EV_EFI_VARIABLE_DRIVER_CONFIG: u32 = 0x8000_0001;
const EV_SEPARATOR: u32 = 0x0000_0004;
const STARTUP_LOCALITY_SIGNATURE: &[u8; 16] = b"StartupLocality\0";
/// EFI_GLOBAL_VARIABLE, 8BE4DF61-93CA-11D2-AA0D-00E098032B8C, in its in-memory (mixed-endian) form.
const EFI_GLOBAL_VARIABLE: [u8; 16] = [
    0x61, 0xDF, 0xE4, 0x8B, 0xCA, 0x93, 0xD2, 0x11, 0xAA, 0x0D, 0x00, 0xE0, 0x98, 0x03, 0x2B, 0x8C,
];
const SHA1_LEN: usize = 20;
const ALG_SHA1: u16 = 0x0004;

/// Parses a TPM event log in either format (see the module documentation).
pub fn parse_pcr_log(bytes: &[u8]) -> Result<EventLog, EventLogError> {
    let crypto_agile = bytes.get(4..8) == Some(&EV_NO_ACTION.to_le_bytes()[..])
        && bytes.get(32..48) == Some(&SPEC_ID_SIGNATURE[..]);
    if crypto_agile {
        return super::parse(bytes);
    }
    if bytes.is_empty() {
        return Err(EventLogError::Empty);
    }
    if bytes.len() > MAX_LOG_LEN {
        return Err(EventLogError::TooLarge(bytes.len()));
    }
    let mut reader = Reader::new(bytes);
    let mut events = Vec::new();
    while !at_end_of_log(reader.rest()) {
        if events.len() == MAX_EVENTS {
            return Err(EventLogError::TooManyEvents);
        }
        let index = reader.u32("event index")?;
        let event_type = reader.u32("event type")?;
        let digest = reader.take(SHA1_LEN, "SHA-1 digest")?.to_vec();
        let size = reader.u32("event size")?;
        if size as usize > MAX_EVENT_DATA_LEN {
            return Err(EventLogError::EventDataTooLarge {
                event: events.len(),
                size,
            });
        }
        let data = reader.take(size as usize, "event data")?.to_vec();
        events.push(Event {
            index,
            event_type,
            digests: vec![(ALG_SHA1, digest)],
            data,
        });
    }
    Ok(EventLog {
        algorithms: vec![(ALG_SHA1, SHA1_LEN as u16)],
        events,
    })
}

/// What a replayed PCR log says about the boot; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PcrComponents {
    /// The firmware's `SecureBoot` value from PCR7; `None` unless proven (see the module docs).
    pub secure_boot: Option<bool>,
    /// Every EV_EFI_BOOT_SERVICES_APPLICATION, in load order.
    pub boot_applications: Vec<LoggedApplication>,
    /// For each extended PCR, its events in order.
    pub pcr_events: BTreeMap<u32, Vec<LoggedEvent>>,
}

/// An EV_EFI_BOOT_SERVICES_APPLICATION in a PCR log: an EFI image the firmware or shim loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggedApplication {
    /// The PCR the event extends.
    pub pcr: u32,
    /// From the event's device path (event data: informational, not covered by the PCR).
    pub path: Option<String>,
    /// Authenticode (PE/COFF) digest of the image in the chosen bank, hex.
    pub digest: String,
}

/// One event extended into a PCR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggedEvent {
    /// TCG event type name, or `0x…` (8 hex digits) for an unknown type.
    pub event_type: String,
    /// The event's digest in the chosen bank, hex.
    pub digest: String,
}

impl Event {
    fn digest_for(&self, algorithm: u16) -> Option<&[u8]> {
        self.digests
            .iter()
            .find(|(id, _)| *id == algorithm)
            .map(|(_, digest)| digest.as_slice())
    }

    /// The locality of a "StartupLocality" event, which sets PCR0's initial value.
    fn startup_locality(&self) -> Option<u8> {
        if self.event_type != EV_NO_ACTION || self.index != 0 {
            return None;
        }
        self.data
            .strip_prefix(&STARTUP_LOCALITY_SIGNATURE[..])
            .and_then(|rest| rest.first().copied())
    }
}

impl EventLog {
    /// Replays the log into the PCRs of `bank`: the value of every PCR some event extends.
    pub fn replay_pcrs(&self, bank: HashAlg) -> Result<BTreeMap<u32, Vec<u8>>, EventLogError> {
        let algorithm = bank.id();
        if !self.algorithms.iter().any(|(id, _)| *id == algorithm) {
            return Err(EventLogError::BankNotLogged(algorithm));
        }
        let mut locality = 0u8;
        let mut pcrs: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
        for (number, event) in self.events.iter().enumerate() {
            if event.event_type == EV_NO_ACTION {
                // Only meaningful before PCR0 is first extended.
                if let Some(value) = event.startup_locality().filter(|_| !pcrs.contains_key(&0)) {
                    locality = value;
                }
                continue;
            }
            if event.index > MAX_PCR {
                return Err(EventLogError::InvalidPcr {
                    event: number,
                    index: event.index,
                });
            }
            let digest = event
                .digest_for(algorithm)
                .ok_or(EventLogError::MissingDigest {
                    event: number,
                    pcr: event.index,
                    algorithm,
                })?;
            let value = pcrs.entry(event.index).or_insert_with(|| {
                let mut initial = vec![0u8; bank.digest_len()];
                if event.index == 0
                    && let Some(last) = initial.last_mut()
                {
                    *last = locality;
                }
                initial
            });
            *value = bank.digest([value.as_slice(), digest]);
        }
        Ok(pcrs)
    }

    /// The components described in the module documentation, read with `bank`'s digests. Call
    /// only for a log whose [`EventLog::replay_pcrs`] matched the quote.
    pub fn pcr_components(&self, bank: HashAlg) -> PcrComponents {
        let algorithm = bank.id();
        let mut components = PcrComponents {
            secure_boot: None,
            boot_applications: Vec::new(),
            pcr_events: BTreeMap::new(),
        };
        let extended = self
            .events
            .iter()
            .filter(|event| event.event_type != EV_NO_ACTION && event.index <= MAX_PCR);
        // The SecureBoot variable events firmware measured before it closed PCR7 with a
        // separator; `None` for one whose digest is not the hash of its data.
        let mut secure_boot_events = Vec::new();
        let mut pcr7_separated = false;
        for event in extended {
            let Some(digest) = event.digest_for(algorithm) else {
                continue;
            };
            components
                .pcr_events
                .entry(event.index)
                .or_default()
                .push(LoggedEvent {
                    event_type: event
                        .type_name()
                        .map_or_else(|| format!("{:#010x}", event.event_type), str::to_owned),
                    digest: hex(digest),
                });
            if event.event_type == EV_EFI_BOOT_SERVICES_APPLICATION {
                components.boot_applications.push(LoggedApplication {
                    pcr: event.index,
                    path: image_load_event_path(&event.data),
                    digest: hex(digest),
                });
            }
            if event.index == 7 && !pcr7_separated {
                if event.event_type == EV_SEPARATOR {
                    pcr7_separated = true;
                } else if event.event_type == EV_EFI_VARIABLE_DRIVER_CONFIG
                    && let Some(enabled) = secure_boot_variable(&event.data)
                {
                    let proven = bank.digest([event.data.as_slice()]) == digest;
                    secure_boot_events.push(proven.then_some(enabled));
                }
            }
        }
        // Anything extended into PCR7 after its separator came from the OS, which could log a
        // second, false SecureBoot event: only the firmware's single one counts.
        components.secure_boot = match secure_boot_events.as_slice() {
            [Some(enabled)] if pcr7_separated => Some(*enabled),
            _ => None,
        };
        components
    }
}

/// The value of the `SecureBoot` variable from a UEFI_VARIABLE_DATA (GUID [16] | name length in
/// UTF-16 units u64 | data length u64 | name | data), `None` for any other variable.
fn secure_boot_variable(data: &[u8]) -> Option<bool> {
    let mut reader = Reader::new(data);
    let guid = reader.take(16, "variable GUID").ok()?;
    let name_units = usize::try_from(u64::from_le_bytes(reader.array("name length").ok()?)).ok()?;
    let data_len = usize::try_from(u64::from_le_bytes(reader.array("data length").ok()?)).ok()?;
    let name = reader.take(name_units.checked_mul(2)?, "name").ok()?;
    let value = reader.take(data_len, "data").ok()?;
    if guid != EFI_GLOBAL_VARIABLE || decode_utf16le(name)? != "SecureBoot" {
        return None;
    }
    match value {
        [0] => Some(false),
        [1] => Some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::super::tests::{record, spec_id_header};
    use super::*;
    use crate::eventlog::ALG_SHA256;

    fn secure_boot_event(enabled: u8) -> Vec<u8> {
        let name: Vec<u8> = "SecureBoot"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let mut data = EFI_GLOBAL_VARIABLE.to_vec();
        data.extend(10u64.to_le_bytes());
        data.extend(1u64.to_le_bytes());
        data.extend(name);
        data.push(enabled);
        record(
            7,
            EV_EFI_VARIABLE_DRIVER_CONFIG,
            &[(ALG_SHA256, &Sha256::digest(&data))],
            &data,
        )
    }

    fn secure_boot_of(records: &[Vec<u8>]) -> Option<bool> {
        let mut bytes = spec_id_header(&[(ALG_SHA256, 32)]);
        bytes.extend(records.concat());
        parse_pcr_log(&bytes)
            .unwrap()
            .pcr_components(HashAlg::Sha256)
            .secure_boot
    }

    #[test]
    fn secure_boot_is_the_single_firmware_event_before_the_pcr7_separator() {
        let separator = record(
            7,
            EV_SEPARATOR,
            &[(ALG_SHA256, &Sha256::digest([0u8; 4]))],
            &[0; 4],
        );
        assert_eq!(
            secure_boot_of(&[secure_boot_event(0), separator.clone()]),
            Some(false)
        );
        assert_eq!(
            secure_boot_of(&[secure_boot_event(1), separator.clone()]),
            Some(true)
        );
        // The OS extending a second, false event after the separator changes nothing.
        assert_eq!(
            secure_boot_of(&[
                secure_boot_event(0),
                separator.clone(),
                secure_boot_event(1)
            ]),
            Some(false)
        );
        // Without a separator, or with two candidates, nothing is proven.
        assert_eq!(secure_boot_of(&[secure_boot_event(1)]), None);
        assert_eq!(
            secure_boot_of(&[
                secure_boot_event(0),
                secure_boot_event(1),
                separator.clone()
            ]),
            None
        );
        // A digest that is not the hash of the data proves nothing either.
        let mut forged = secure_boot_event(1);
        let digest_at = 4 + 4 + 4 + 2;
        forged[digest_at] ^= 1;
        assert_eq!(secure_boot_of(&[forged, separator]), None);
    }
}
