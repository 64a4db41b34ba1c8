//! The TCG2 crypto-agile event log (TCG PC Client Platform Firmware Profile, "TCG_PCR_EVENT2"
//! format) as Intel TDX guests publish it in the ACPI CCEL table, and its replay into RTMRs.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! header:  TCG_PCR_EVENT  pcr_index u32 | event_type u32 (EV_NO_ACTION) | sha1 [20] | size u32
//!                         | TCG_EfiSpecIDEvent: "Spec ID Event03\0" | platform_class u32
//!                           | version minor u8, major u8, errata u8 | uintn_size u8
//!                           | algorithm count u32 | {algorithm_id u16, digest_size u16} × count
//!                           | vendor_info_size u8 | vendor_info
//! records: TCG_PCR_EVENT2 index u32 | event_type u32 | digest count u32
//!                         | {algorithm_id u16, digest [size declared in the header]} × count
//!                         | size u32 | data
//! ```
//!
//! The log lives in a fixed-size buffer (256 KiB on TDVF) padded after the last record. Parsing
//! stops cleanly at the first record boundary whose 8-byte header (index and event type) is all
//! `0xFF` (TDVF's erased buffer) or all `0x00` (a copy into a zeroed buffer), or at the end of the
//! input, and ignores what follows; no real record has index and type both all-ones or all-zeros.
//! A record that starts but does not fit is [`EventLogError::Truncated`]. Work is bounded by
//! [`MAX_LOG_LEN`], [`MAX_EVENTS`], [`MAX_EVENT_DATA_LEN`] and [`MAX_ALGORITHMS`].
//!
//! CCEL indices are measurement registers, not PCRs: 0 = MRTD, 1..=4 = RTMR0..=RTMR3 (UEFI 2.10
//! §38.4.1 maps PCR 1 and 7 to RTMR0, 2..=6 to RTMR1, 8..=15 to RTMR2; TDVF logs its own
//! firmware measurements, such as the TD HOB and configuration volume, to RTMR0, as MRTD is
//! fixed at build time). [`EventLog::replay_rtmrs`] recomputes the RTMRs; the verifier compares
//! them with the quote, which is what makes the log's *digests* trustworthy. Event *data* is not
//! covered by any RTMR: a host can rewrite it freely without changing the replay.
//!
//! ## Boot components ([`EventLog::boot_components`], published as claims)
//!
//! * `boot_applications`: every `EV_EFI_BOOT_SERVICES_APPLICATION` in load order (firmware →
//!   shim → boot loader, or a UKI), with its RTMR, its SHA-384 digest (the PE/COFF
//!   Authenticode hash, not a file hash) and the file path from the event's device path. The
//!   path is event data, so informational only; the digest is what a policy should pin.
//! * `kernel`: the Linux kernel loaded by GRUB. GRUB (≥ 2.06) measures every file it reads as
//!   an `EV_IPL` event (data = path, digest = SHA-384 of the file) and then the kernel command
//!   line as `EV_IPL` "kernel_cmdline: <kernel path> <arguments>". The kernel is the event
//!   extended just before that command line, provided it is an `EV_IPL` in the same RTMR whose
//!   logged path is the command line's first word: the replay fixes the position, the digest of
//!   the command line proves the path, and the logged path is only cross-checked. A
//!   kernel started as an EFI application (UKI, direct boot) is not named here: it is the last
//!   `boot_applications` entry, which the log cannot distinguish from a boot loader.
//! * `kernel_cmdline`: the last command line whose text is proven by its digest: GRUB's
//!   "kernel_cmdline: " `EV_IPL` (UTF-8, the digest covers the text after the prefix) or an
//!   `EV_IPL` whose data hashes to its digest as logged (systemd-boot / systemd-stub, UTF-16LE).
//!   Trailing NULs are stripped. Text whose digest does not match is never exported.
//! * `rtmr_events`: for each RTMR, the events extended into it, in order: event type name (or
//!   `0x…` for unknown types) and SHA-384 digest, hex.

mod pcr;

pub use pcr::{LoggedApplication, LoggedEvent, MAX_PCR, PcrComponents, parse_pcr_log};

use serde::Serialize;
use sha2::{Digest, Sha384};
use thiserror::Error;

/// Larger than any real log (TDVF's buffer is 256 KiB); bounds the parser's work.
pub const MAX_LOG_LEN: usize = 16 * 1024 * 1024;
/// Most records a log may hold.
pub const MAX_EVENTS: usize = 65_536;
/// The largest real events are Secure Boot databases of a few tens of KiB.
pub const MAX_EVENT_DATA_LEN: usize = 1024 * 1024;
/// The TCG algorithm registry has fewer hash algorithms than this.
pub const MAX_ALGORITHMS: usize = 16;
/// SHA-512 and SHA3-512, the longest registered digests.
pub const MAX_DIGEST_LEN: usize = 64;

/// TPM_ALG_SHA1.
pub const ALG_SHA1: u16 = 0x0004;
/// TPM_ALG_SHA256.
pub const ALG_SHA256: u16 = 0x000B;
/// TPM_ALG_SHA384.
pub const ALG_SHA384: u16 = 0x000C;
/// TPM_ALG_SHA512.
pub const ALG_SHA512: u16 = 0x000D;
/// TPM_ALG_SM3_256.
pub const ALG_SM3_256: u16 = 0x0012;
/// TPM_ALG_SHA3_256.
pub const ALG_SHA3_256: u16 = 0x0027;
/// TPM_ALG_SHA3_384.
pub const ALG_SHA3_384: u16 = 0x0028;
/// TPM_ALG_SHA3_512.
pub const ALG_SHA3_512: u16 = 0x0029;
/// Length of a SHA-384 digest, and of an RTMR.
pub const SHA384_LEN: usize = 48;
/// Number of RTMRs (RTMR0..=RTMR3).
pub const RTMR_COUNT: usize = 4;
/// The highest CCEL index: RTMR3.
pub const MAX_CC_INDEX: u32 = 4;

/// EV_NO_ACTION: informational, extends nothing.
pub const EV_NO_ACTION: u32 = 0x0000_0003;
/// EV_EVENT_TAG.
pub const EV_EVENT_TAG: u32 = 0x0000_0006;
/// EV_IPL: boot loader measurements (GRUB's files and command line).
pub const EV_IPL: u32 = 0x0000_000D;
/// EV_EFI_BOOT_SERVICES_APPLICATION: an EFI image loaded by the firmware or shim.
pub const EV_EFI_BOOT_SERVICES_APPLICATION: u32 = 0x8000_0003;

/// Signature that opens the TCG_EfiSpecIDEvent of a crypto-agile log.
pub const SPEC_ID_SIGNATURE: &[u8; 16] = b"Spec ID Event03\0";
/// GRUB's prefix on the measured kernel command line (the digest covers only what follows).
pub const GRUB_KERNEL_CMDLINE_PREFIX: &str = "kernel_cmdline: ";

/// An RTMR value.
pub type Rtmr = [u8; SHA384_LEN];

/// TCG PC Client Platform Firmware Profile 1.06, section 10.4.1 "Event Types".
const EVENT_TYPE_NAMES: &[(u32, &str)] = &[
    (0x0000_0000, "EV_PREBOOT_CERT"),
    (0x0000_0001, "EV_POST_CODE"),
    (0x0000_0002, "EV_UNUSED"),
    (0x0000_0003, "EV_NO_ACTION"),
    (0x0000_0004, "EV_SEPARATOR"),
    (0x0000_0005, "EV_ACTION"),
    (0x0000_0006, "EV_EVENT_TAG"),
    (0x0000_0007, "EV_S_CRTM_CONTENTS"),
    (0x0000_0008, "EV_S_CRTM_VERSION"),
    (0x0000_0009, "EV_CPU_MICROCODE"),
    (0x0000_000A, "EV_PLATFORM_CONFIG_FLAGS"),
    (0x0000_000B, "EV_TABLE_OF_DEVICES"),
    (0x0000_000C, "EV_COMPACT_HASH"),
    (0x0000_000D, "EV_IPL"),
    (0x0000_000E, "EV_IPL_PARTITION_DATA"),
    (0x0000_000F, "EV_NONHOST_CODE"),
    (0x0000_0010, "EV_NONHOST_CONFIG"),
    (0x0000_0011, "EV_NONHOST_INFO"),
    (0x0000_0012, "EV_OMIT_BOOT_DEVICE_EVENTS"),
    (0x0000_0013, "EV_POST_CODE2"),
    (0x8000_0001, "EV_EFI_VARIABLE_DRIVER_CONFIG"),
    (0x8000_0002, "EV_EFI_VARIABLE_BOOT"),
    (0x8000_0003, "EV_EFI_BOOT_SERVICES_APPLICATION"),
    (0x8000_0004, "EV_EFI_BOOT_SERVICES_DRIVER"),
    (0x8000_0005, "EV_EFI_RUNTIME_SERVICES_DRIVER"),
    (0x8000_0006, "EV_EFI_GPT_EVENT"),
    (0x8000_0007, "EV_EFI_ACTION"),
    (0x8000_0008, "EV_EFI_PLATFORM_FIRMWARE_BLOB"),
    (0x8000_0009, "EV_EFI_HANDOFF_TABLES"),
    (0x8000_000A, "EV_EFI_PLATFORM_FIRMWARE_BLOB2"),
    (0x8000_000B, "EV_EFI_HANDOFF_TABLES2"),
    (0x8000_000C, "EV_EFI_VARIABLE_BOOT2"),
    (0x8000_000D, "EV_EFI_GPT_EVENT2"),
    (0x8000_0010, "EV_EFI_HCRTM_EVENT"),
    (0x8000_00E0, "EV_EFI_VARIABLE_AUTHORITY"),
    (0x8000_00E1, "EV_EFI_SPDM_FIRMWARE_BLOB"),
    (0x8000_00E2, "EV_EFI_SPDM_FIRMWARE_CONFIG"),
    (0x8000_00E3, "EV_EFI_SPDM_DEVICE_POLICY"),
    (0x8000_00E4, "EV_EFI_SPDM_DEVICE_AUTHORITY"),
];

/// The TCG name of an event type, e.g. `EV_IPL` for 0xD.
pub fn event_type_name(event_type: u32) -> Option<&'static str> {
    EVENT_TYPE_NAMES
        .iter()
        .find(|(value, _)| *value == event_type)
        .map(|(_, name)| *name)
}

/// Digest lengths fixed by the TCG algorithm registry; a header declaring another length for
/// one of these would make replay hash the wrong number of bytes.
fn registered_digest_len(algorithm: u16) -> Option<usize> {
    match algorithm {
        ALG_SHA1 => Some(20),
        ALG_SHA256 | ALG_SM3_256 | ALG_SHA3_256 => Some(32),
        ALG_SHA384 | ALG_SHA3_384 => Some(48),
        ALG_SHA512 | ALG_SHA3_512 => Some(64),
        _ => None,
    }
}

/// Why an event log was rejected. Event numbers count the records after the Spec ID header,
/// from 0, as in [`EventLog::events`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EventLogError {
    /// The input is empty.
    #[error("the event log is empty")]
    Empty,
    /// The input is longer than [`MAX_LOG_LEN`]; holds its length.
    #[error("the event log is {0} bytes, more than the {MAX_LOG_LEN} accepted")]
    TooLarge(usize),
    /// A field runs past the end of the input.
    #[error("the event log is truncated: {field} at byte {offset} runs past the end")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Its byte offset in the log.
        offset: usize,
    },
    /// The first record is not the Spec ID event.
    #[error("the first event is not a TCG_EfiSpecIDEvent (EV_NO_ACTION, \"Spec ID Event03\")")]
    NotSpecIdEvent,
    /// The Spec ID event declares 0 or more than [`MAX_ALGORITHMS`] algorithms; holds the count.
    #[error("the Spec ID event declares {0} digest algorithms (1 to {MAX_ALGORITHMS} accepted)")]
    AlgorithmCount(u32),
    /// The Spec ID event declares an algorithm twice; holds its TPM_ALG_ID.
    #[error("the Spec ID event declares algorithm {0:#06x} twice")]
    DuplicateAlgorithm(u16),
    /// The Spec ID event declares a digest size the algorithm does not have.
    #[error("the Spec ID event declares {size}-byte digests for algorithm {algorithm:#06x}")]
    DigestSize {
        /// TPM_ALG_ID of the algorithm.
        algorithm: u16,
        /// The declared digest size in bytes.
        size: u16,
    },
    /// The Spec ID event's declared size differs from what its fields take.
    #[error("the Spec ID event is {declared} bytes but its fields take {used}")]
    SpecIdSize {
        /// The event size the header declares.
        declared: usize,
        /// The bytes its fields take.
        used: usize,
    },
    /// The log has more than [`MAX_EVENTS`] records.
    #[error("the event log has more than {MAX_EVENTS} events")]
    TooManyEvents,
    /// A record has more digests than the log declares algorithms.
    #[error("event {event} has {count} digests but the log declares {declared} algorithms")]
    DigestCount {
        /// Number of the record.
        event: usize,
        /// Its digest count.
        count: u32,
        /// The number of algorithms the log declares.
        declared: usize,
    },
    /// A record has a digest for an algorithm the Spec ID event does not declare.
    #[error("event {event} has a digest for algorithm {algorithm:#06x}, not declared by the log")]
    UnknownAlgorithm {
        /// Number of the record.
        event: usize,
        /// TPM_ALG_ID of the algorithm.
        algorithm: u16,
    },
    /// A record has two digests for one algorithm.
    #[error("event {event} has two digests for algorithm {algorithm:#06x}")]
    RepeatedDigest {
        /// Number of the record.
        event: usize,
        /// TPM_ALG_ID of the algorithm.
        algorithm: u16,
    },
    /// A record's data is larger than [`MAX_EVENT_DATA_LEN`].
    #[error("event {event} has {size} bytes of data, more than the {MAX_EVENT_DATA_LEN} accepted")]
    EventDataTooLarge {
        /// Number of the record.
        event: usize,
        /// Its declared data size in bytes.
        size: u32,
    },
    /// A CCEL record's index is above [`MAX_CC_INDEX`].
    #[error("event {event} is for index {index}; CCEL defines 0 (MRTD) to 4 (RTMR3)")]
    InvalidIndex {
        /// Number of the record.
        event: usize,
        /// The index it names.
        index: u32,
    },
    /// A record extends an RTMR but has no SHA-384 digest to replay.
    #[error("event {event} extends RTMR{rtmr} but has no SHA-384 digest")]
    MissingSha384 {
        /// Number of the record.
        event: usize,
        /// The RTMR (0..=3) it extends.
        rtmr: usize,
    },
    /// A PCR log record names a PCR above [`MAX_PCR`].
    #[error("event {event} is for PCR {index}; a TPM has PCRs 0 to {MAX_PCR}")]
    InvalidPcr {
        /// Number of the record.
        event: usize,
        /// The PCR index it names.
        index: u32,
    },
    /// A record extends a PCR but has no digest in the bank being replayed.
    #[error("event {event} extends PCR {pcr} but has no digest for algorithm {algorithm:#06x}")]
    MissingDigest {
        /// Number of the record.
        event: usize,
        /// The PCR it extends.
        pcr: u32,
        /// TPM_ALG_ID of the bank.
        algorithm: u16,
    },
    /// The log declares no digests for the requested bank; holds its TPM_ALG_ID.
    #[error("the event log has no digests for algorithm {0:#06x}")]
    BankNotLogged(u16),
}

/// A parsed event log. The Spec ID header is not an event; its algorithms are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLog {
    /// `(algorithm id, digest size)` as declared by the Spec ID event, in its order.
    pub algorithms: Vec<(u16, u16)>,
    /// The records after the Spec ID header, in log order.
    pub events: Vec<Event>,
}

/// One TCG_PCR_EVENT2 record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// CCEL index: 0 = MRTD, 1..=4 = RTMR0..=RTMR3.
    pub index: u32,
    /// Event type (`EV_*`).
    pub event_type: u32,
    /// `(algorithm id, digest)`, each algorithm declared by the log and present at most once.
    pub digests: Vec<(u16, Vec<u8>)>,
    /// Event data: not covered by the replay, so informational unless a digest is its hash.
    pub data: Vec<u8>,
}

impl Event {
    /// The event's SHA-384 digest, `None` when it has none.
    pub fn sha384(&self) -> Option<&Rtmr> {
        self.digests
            .iter()
            .find(|(algorithm, _)| *algorithm == ALG_SHA384)
            .and_then(|(_, digest)| digest.as_slice().try_into().ok())
    }

    /// The TCG name of the event type, `None` when it is not a known type.
    pub fn type_name(&self) -> Option<&'static str> {
        event_type_name(self.event_type)
    }

    /// The RTMR (0..=3) this event extends, `None` when it extends nothing: EV_NO_ACTION
    /// events are informational by definition, and MRTD (index 0) is fixed by the TDX module
    /// when the TD is built, so a log entry for it cannot be replayed.
    fn extended_rtmr(&self, number: usize) -> Result<Option<usize>, EventLogError> {
        if self.index > MAX_CC_INDEX {
            return Err(EventLogError::InvalidIndex {
                event: number,
                index: self.index,
            });
        }
        if self.event_type == EV_NO_ACTION || self.index == 0 {
            return Ok(None);
        }
        Ok(usize::try_from(self.index - 1).ok())
    }
}

/// Parses a CCEL / TCG2 crypto-agile event log, stopping at the padding after the last record.
pub fn parse(bytes: &[u8]) -> Result<EventLog, EventLogError> {
    if bytes.is_empty() {
        return Err(EventLogError::Empty);
    }
    if bytes.len() > MAX_LOG_LEN {
        return Err(EventLogError::TooLarge(bytes.len()));
    }
    let mut reader = Reader::new(bytes);
    let algorithms = parse_spec_id_event(&mut reader)?;
    let mut events = Vec::new();
    while !at_end_of_log(reader.rest()) {
        if events.len() == MAX_EVENTS {
            return Err(EventLogError::TooManyEvents);
        }
        events.push(parse_event(&mut reader, &algorithms, events.len())?);
    }
    Ok(EventLog { algorithms, events })
}

/// True at the end of the input or at padding. A partial header (under 8 bytes) that is all
/// padding is the tail of the buffer, not a record.
fn at_end_of_log(rest: &[u8]) -> bool {
    let header = rest.get(..8).unwrap_or(rest);
    header.iter().all(|&byte| byte == 0xFF) || header.iter().all(|&byte| byte == 0x00)
}

fn parse_spec_id_event(reader: &mut Reader<'_>) -> Result<Vec<(u16, u16)>, EventLogError> {
    let _pcr_index = reader.u32("Spec ID event index")?;
    let event_type = reader.u32("Spec ID event type")?;
    let _sha1_digest = reader.take(20, "Spec ID event digest")?;
    let declared = reader.len_u32("Spec ID event size")?;
    let start = reader.position;
    let event = reader.take(declared, "Spec ID event")?;
    if event_type != EV_NO_ACTION {
        return Err(EventLogError::NotSpecIdEvent);
    }

    let mut spec = Reader {
        bytes: event,
        position: 0,
        base: start,
    };
    if spec.take(16, "Spec ID signature")? != SPEC_ID_SIGNATURE {
        return Err(EventLogError::NotSpecIdEvent);
    }
    let _platform_class = spec.u32("Spec ID platform class")?;
    // Version minor, major, errata and uintnSize describe the firmware, not the layout below.
    let _version_and_uintn_size = spec.take(4, "Spec ID version")?;
    let count = spec.u32("Spec ID algorithm count")?;
    if count == 0 || count as usize > MAX_ALGORITHMS {
        return Err(EventLogError::AlgorithmCount(count));
    }
    let mut algorithms: Vec<(u16, u16)> = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let algorithm = spec.u16("Spec ID algorithm")?;
        let size = spec.u16("Spec ID digest size")?;
        if algorithms.iter().any(|(known, _)| *known == algorithm) {
            return Err(EventLogError::DuplicateAlgorithm(algorithm));
        }
        let size_ok = match registered_digest_len(algorithm) {
            Some(expected) => usize::from(size) == expected,
            None => (1..=MAX_DIGEST_LEN).contains(&usize::from(size)),
        };
        if !size_ok {
            return Err(EventLogError::DigestSize { algorithm, size });
        }
        algorithms.push((algorithm, size));
    }
    let vendor_info_size = spec.u8("Spec ID vendor info size")?;
    let _vendor_info = spec.take(usize::from(vendor_info_size), "Spec ID vendor info")?;
    // Trailing bytes would mean we misread the structure; refuse rather than guess.
    if spec.position != event.len() {
        return Err(EventLogError::SpecIdSize {
            declared: event.len(),
            used: spec.position,
        });
    }
    Ok(algorithms)
}

fn parse_event(
    reader: &mut Reader<'_>,
    algorithms: &[(u16, u16)],
    number: usize,
) -> Result<Event, EventLogError> {
    let index = reader.u32("event index")?;
    let event_type = reader.u32("event type")?;
    let count = reader.u32("digest count")?;
    if count as usize > algorithms.len() {
        return Err(EventLogError::DigestCount {
            event: number,
            count,
            declared: algorithms.len(),
        });
    }
    let mut digests: Vec<(u16, Vec<u8>)> = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let algorithm = reader.u16("digest algorithm")?;
        let Some(&(_, size)) = algorithms.iter().find(|(known, _)| *known == algorithm) else {
            return Err(EventLogError::UnknownAlgorithm {
                event: number,
                algorithm,
            });
        };
        if digests.iter().any(|(seen, _)| *seen == algorithm) {
            return Err(EventLogError::RepeatedDigest {
                event: number,
                algorithm,
            });
        }
        let digest = reader.take(usize::from(size), "digest")?;
        digests.push((algorithm, digest.to_vec()));
    }
    let size = reader.u32("event size")?;
    if size as usize > MAX_EVENT_DATA_LEN {
        return Err(EventLogError::EventDataTooLarge {
            event: number,
            size,
        });
    }
    let data = reader.take(size as usize, "event data")?.to_vec();
    Ok(Event {
        index,
        event_type,
        digests,
        data,
    })
}

/// A cursor over untrusted bytes: every read is bounds-checked and reports where it failed.
struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
    /// Offset of `bytes` within the whole log, for error messages.
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader {
            bytes,
            position: 0,
            base: 0,
        }
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.position..).unwrap_or_default()
    }

    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], EventLogError> {
        let taken = self
            .position
            .checked_add(len)
            .and_then(|end| self.bytes.get(self.position..end))
            .ok_or(EventLogError::Truncated {
                field,
                offset: self.base.saturating_add(self.position),
            })?;
        self.position += len;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], EventLogError> {
        let bytes = self.take(N, field)?;
        // `take` returned exactly N bytes.
        Ok(bytes.try_into().unwrap_or([0; N]))
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, EventLogError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, EventLogError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, EventLogError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    /// A u32 length; on a (hypothetical) 16-bit target an oversized one reads as truncation.
    fn len_u32(&mut self, field: &'static str) -> Result<usize, EventLogError> {
        Ok(usize::try_from(self.u32(field)?).unwrap_or(usize::MAX))
    }
}

impl EventLog {
    /// Replays the log into RTMR0..=RTMR3: each starts as 48 zero bytes and, for every event
    /// extending it in log order, becomes SHA-384(RTMR ‖ the event's SHA-384 digest).
    pub fn replay_rtmrs(&self) -> Result<[Rtmr; RTMR_COUNT], EventLogError> {
        let mut rtmrs = [[0u8; SHA384_LEN]; RTMR_COUNT];
        for (number, event) in self.events.iter().enumerate() {
            let Some(rtmr) = event.extended_rtmr(number)? else {
                continue;
            };
            let digest = event.sha384().ok_or(EventLogError::MissingSha384 {
                event: number,
                rtmr,
            })?;
            if let Some(value) = rtmrs.get_mut(rtmr) {
                *value = Sha384::new()
                    .chain_update(*value)
                    .chain_update(digest)
                    .finalize()
                    .into();
            }
        }
        Ok(rtmrs)
    }

    /// The boot components described in the module documentation. Never fails: events that
    /// [`EventLog::replay_rtmrs`] would reject (bad index, no SHA-384) are left out, so call
    /// that first and publish these only for a log whose replay matched the quote.
    pub fn boot_components(&self) -> BootComponents {
        let extended: Vec<(usize, &Event, &Rtmr)> = self
            .events
            .iter()
            .enumerate()
            .filter_map(|(number, event)| {
                let rtmr = event.extended_rtmr(number).ok().flatten()?;
                Some((rtmr, event, event.sha384()?))
            })
            .collect();

        let mut rtmr_events: [Vec<MeasuredEvent>; RTMR_COUNT] = Default::default();
        let mut boot_applications = Vec::new();
        let mut kernel_cmdline = None;
        let mut kernel = None;
        for (position, &(rtmr, event, digest)) in extended.iter().enumerate() {
            if let Some(list) = rtmr_events.get_mut(rtmr) {
                list.push(MeasuredEvent {
                    event_type: event
                        .type_name()
                        .map_or_else(|| format!("{:#010x}", event.event_type), str::to_owned),
                    sha384: hex(digest),
                });
            }
            if event.event_type == EV_EFI_BOOT_SERVICES_APPLICATION {
                boot_applications.push(BootApplication {
                    rtmr,
                    path: image_load_event_path(&event.data),
                    sha384: hex(digest),
                });
            }
            if let Some((cmdline, from_grub)) = measured_kernel_cmdline(event, digest) {
                kernel = if from_grub {
                    let previous = position.checked_sub(1).and_then(|p| extended.get(p));
                    previous.and_then(|&previous| grub_kernel(&cmdline, rtmr, previous))
                } else {
                    None
                };
                kernel_cmdline = Some(cmdline);
            }
        }
        BootComponents {
            boot_applications,
            kernel,
            kernel_cmdline,
            rtmr_events,
        }
    }
}

/// Boot components read from a replayed log; see the module documentation for their sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootComponents {
    /// Every EV_EFI_BOOT_SERVICES_APPLICATION, in load order.
    pub boot_applications: Vec<BootApplication>,
    /// The kernel GRUB loaded, when the log proves it.
    pub kernel: Option<Kernel>,
    /// The last command line whose text its digest proves.
    pub kernel_cmdline: Option<String>,
    /// For each RTMR (0..=3), the events extended into it, in order.
    pub rtmr_events: [Vec<MeasuredEvent>; RTMR_COUNT],
}

/// An EV_EFI_BOOT_SERVICES_APPLICATION: an EFI image the firmware or shim loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootApplication {
    /// The RTMR (0..=3) the event extends.
    pub rtmr: usize,
    /// From the event's device path (event data: informational, not covered by the RTMR).
    pub path: Option<String>,
    /// Authenticode (PE/COFF) SHA-384 of the image, hex.
    pub sha384: String,
}

/// The kernel GRUB loaded: its path (as in the measured command line) and file SHA-384, hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kernel {
    /// The kernel path, the first word of the measured command line.
    pub path: String,
    /// SHA-384 of the kernel file, hex.
    pub sha384: String,
}

/// One event extended into an RTMR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeasuredEvent {
    /// TCG event type name, or `0x…` (8 hex digits) for an unknown type.
    pub event_type: String,
    /// The event's SHA-384 digest, hex.
    pub sha384: String,
}

/// A kernel command line whose digest proves its text, and whether GRUB measured it (which
/// also locates the kernel). GRUB's digest covers the text after its prefix. Otherwise the
/// digest must cover the data exactly as logged, as systemd-boot and systemd-stub log the
/// command line (UTF-16LE); no other known `EV_IPL` text hashes to its own digest.
fn measured_kernel_cmdline(event: &Event, digest: &Rtmr) -> Option<(String, bool)> {
    if event.event_type != EV_IPL {
        return None;
    }
    let trimmed = trim_trailing_nuls(&event.data, 1);
    if let Some(measured) = trimmed.strip_prefix(GRUB_KERNEL_CMDLINE_PREFIX.as_bytes()) {
        let text = std::str::from_utf8(measured).ok()?;
        return (Sha384::digest(measured)[..] == digest[..]).then(|| (text.to_owned(), true));
    }
    let text = decode_text(&event.data)?;
    (Sha384::digest(&event.data)[..] == digest[..]).then_some((text, false))
}

/// The kernel file event GRUB logged just before `cmdline` (`previous`, in the same RTMR),
/// provided its logged path is the command line's first word, the kernel path.
fn grub_kernel(cmdline: &str, rtmr: usize, previous: (usize, &Event, &Rtmr)) -> Option<Kernel> {
    let (previous_rtmr, event, digest) = previous;
    let path = cmdline.split(' ').next()?;
    let logged_path = decode_text(&event.data)?;
    (previous_rtmr == rtmr && event.event_type == EV_IPL && !path.is_empty() && logged_path == path)
        .then(|| Kernel {
            path: path.to_owned(),
            sha384: hex(digest),
        })
}

/// The file path of a UEFI_IMAGE_LOAD_EVENT (location u64, length u64, link-time address u64,
/// device path length u64, device path): the text of its media file-path nodes, joined.
fn image_load_event_path(data: &[u8]) -> Option<String> {
    const MEDIA_DEVICE_PATH: u8 = 0x04;
    const MEDIA_FILEPATH: u8 = 0x04;
    const END_OF_DEVICE_PATH: u8 = 0x7F;
    let mut reader = Reader::new(data);
    reader
        .take(24, "image location, length and link-time address")
        .ok()?;
    let device_path_len = reader.array("device path length").ok()?;
    let device_path_len = usize::try_from(u64::from_le_bytes(device_path_len)).ok()?;
    let mut nodes = Reader::new(reader.take(device_path_len, "device path").ok()?);
    let mut path = String::new();
    while let (Ok(node_type), Ok(subtype), Ok(node_len)) = (
        nodes.u8("node type"),
        nodes.u8("node subtype"),
        nodes.u16("node length"),
    ) {
        // The length includes the 4-byte header; shorter would not advance.
        let body = nodes
            .take(usize::from(node_len).checked_sub(4)?, "node")
            .ok()?;
        if node_type == END_OF_DEVICE_PATH {
            break;
        }
        if node_type == MEDIA_DEVICE_PATH && subtype == MEDIA_FILEPATH {
            let part = decode_utf16le(body)?;
            if !path.is_empty() && !path.ends_with('\\') && !part.starts_with('\\') {
                path.push('\\');
            }
            path.push_str(&part);
        }
    }
    (!path.is_empty()).then_some(path)
}

/// Event text as firmware and boot loaders log it: UTF-8 or UTF-16LE, NUL-terminated or not.
/// `None` when it is neither, or contains NULs inside.
fn decode_text(data: &[u8]) -> Option<String> {
    let utf8 = trim_trailing_nuls(data, 1);
    match std::str::from_utf8(utf8) {
        Ok(text) if !text.contains('\0') => Some(text.to_owned()),
        _ => decode_utf16le(data),
    }
}

fn decode_utf16le(data: &[u8]) -> Option<String> {
    if !data.len().is_multiple_of(2) {
        return None;
    }
    let units = trim_trailing_nuls(data, 2)
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]));
    let text: String = char::decode_utf16(units).collect::<Result<_, _>>().ok()?;
    (!text.is_empty() && !text.contains('\0')).then_some(text)
}

/// `data` without trailing NUL code units of `unit` bytes.
fn trim_trailing_nuls(data: &[u8], unit: usize) -> &[u8] {
    let mut rest = data;
    while let Some(shorter) = rest
        .len()
        .checked_sub(unit)
        .filter(|&end| {
            rest.get(end..)
                .is_some_and(|tail| tail.iter().all(|&byte| byte == 0))
        })
        .and_then(|end| rest.get(..end))
    {
        rest = shorter;
    }
    rest
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTMR0: &str = "3fa2f61f395b7f5feefb4ec2df61297f109ad8abcd6410c1b7df60f21f37b19297fc35e544039c7e1edece752afd17f6";
    const RTMR1: &str = "f62dbc072bd5d3f3438b7b35c39a727f5aea2ffc2473f43723953f530daf62504f0a7944aa62c41a86e8a878c2b122c1";
    const RTMR2: &str = "4969684dc87381fc3b3134176c8d8806eaf0a901859f5f70cfae8d17714b46c10a8de219048c9fc09f11f381a6fbe7c1";

    /// The GCE TDX (COS-113) CCEL from go-tdx-guest.
    fn real_log() -> Vec<u8> {
        let path =
            warden_test_support::vectors::set("tdx", "go-tdx-guest-gce-ccel").join("ccel_data.dat");
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Byte ranges of the Spec ID header and of each record, and where each record's SHA-384
    /// digest starts, recomputed from the parsed fields.
    struct Layout {
        header_end: usize,
        records: Vec<(usize, usize)>,
        sha384_at: Vec<usize>,
    }

    fn layout(bytes: &[u8], log: &EventLog) -> Layout {
        let spec_size = u32::from_le_bytes(bytes[28..32].try_into().unwrap()) as usize;
        let header_end = 32 + spec_size;
        let (mut records, mut sha384_at) = (Vec::new(), Vec::new());
        let mut start = header_end;
        for event in &log.events {
            let mut at = start + 12;
            for (algorithm, digest) in &event.digests {
                if *algorithm == ALG_SHA384 {
                    sha384_at.push(at + 2);
                }
                at += 2 + digest.len();
            }
            let end = at + 4 + event.data.len();
            records.push((start, end));
            start = end;
        }
        Layout {
            header_end,
            records,
            sha384_at,
        }
    }

    pub(super) fn spec_id_header(algorithms: &[(u16, u16)]) -> Vec<u8> {
        let mut spec = SPEC_ID_SIGNATURE.to_vec();
        spec.extend_from_slice(&0u32.to_le_bytes());
        spec.extend_from_slice(&[0, 2, 0, 2]);
        spec.extend_from_slice(&(algorithms.len() as u32).to_le_bytes());
        for (algorithm, size) in algorithms {
            spec.extend_from_slice(&algorithm.to_le_bytes());
            spec.extend_from_slice(&size.to_le_bytes());
        }
        spec.push(0);
        let mut header = Vec::new();
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&EV_NO_ACTION.to_le_bytes());
        header.extend_from_slice(&[0; 20]);
        header.extend_from_slice(&(spec.len() as u32).to_le_bytes());
        header.extend_from_slice(&spec);
        header
    }

    pub(super) fn record(
        index: u32,
        event_type: u32,
        digests: &[(u16, &[u8])],
        data: &[u8],
    ) -> Vec<u8> {
        let mut record = Vec::new();
        record.extend_from_slice(&index.to_le_bytes());
        record.extend_from_slice(&event_type.to_le_bytes());
        record.extend_from_slice(&(digests.len() as u32).to_le_bytes());
        for (algorithm, digest) in digests {
            record.extend_from_slice(&algorithm.to_le_bytes());
            record.extend_from_slice(digest);
        }
        record.extend_from_slice(&(data.len() as u32).to_le_bytes());
        record.extend_from_slice(data);
        record
    }

    const SHA1_AND_SHA384: &[(u16, u16)] = &[(ALG_SHA1, 20), (ALG_SHA384, 48)];

    fn extend(rtmr: &Rtmr, digest: &[u8]) -> Rtmr {
        Sha384::new()
            .chain_update(rtmr)
            .chain_update(digest)
            .finalize()
            .into()
    }

    #[test]
    fn real_log_replays_to_the_quoted_rtmrs() {
        let bytes = real_log();
        let log = parse(&bytes).unwrap();
        assert_eq!(log.algorithms, vec![(ALG_SHA384, 48)]);
        assert_eq!(log.events.len(), 43);
        let rtmrs = log.replay_rtmrs().unwrap();
        assert_eq!(hex(&rtmrs[0]), RTMR0);
        assert_eq!(hex(&rtmrs[1]), RTMR1);
        assert_eq!(hex(&rtmrs[2]), RTMR2);
        assert_eq!(rtmrs[3], [0; SHA384_LEN]);
    }

    #[test]
    fn dropping_any_record_changes_exactly_its_rtmr() {
        let bytes = real_log();
        let log = parse(&bytes).unwrap();
        let expected = log.replay_rtmrs().unwrap();
        for (number, &(start, end)) in layout(&bytes, &log).records.iter().enumerate() {
            let mut shortened = bytes[..start].to_vec();
            shortened.extend_from_slice(&bytes[end..]);
            let replayed = parse(&shortened).unwrap().replay_rtmrs().unwrap();
            let dropped = log.events[number].extended_rtmr(number).unwrap().unwrap();
            for rtmr in 0..RTMR_COUNT {
                assert_eq!(
                    replayed[rtmr] != expected[rtmr],
                    rtmr == dropped,
                    "dropping event {number} (RTMR{dropped}), RTMR{rtmr}"
                );
            }
        }
    }

    #[test]
    fn altering_any_digest_byte_changes_exactly_its_rtmr() {
        let bytes = real_log();
        let log = parse(&bytes).unwrap();
        let expected = log.replay_rtmrs().unwrap();
        for (number, &at) in layout(&bytes, &log).sha384_at.iter().enumerate() {
            let mut altered = bytes.clone();
            altered[at + number % SHA384_LEN] ^= 0x01;
            let replayed = parse(&altered).unwrap().replay_rtmrs().unwrap();
            let touched = log.events[number].extended_rtmr(number).unwrap().unwrap();
            for rtmr in 0..RTMR_COUNT {
                assert_eq!(
                    replayed[rtmr] != expected[rtmr],
                    rtmr == touched,
                    "altering event {number} (RTMR{touched}), RTMR{rtmr}"
                );
            }
        }
    }

    #[test]
    fn truncation_inside_the_header_or_a_record_is_an_error() {
        let bytes = real_log();
        let layout = layout(&bytes, &parse(&bytes).unwrap());
        // The header and the first eight records, among them a 4 KiB Secure Boot database.
        let last = layout.records[7].1;
        let boundaries: Vec<usize> = std::iter::once(layout.header_end)
            .chain(layout.records.iter().map(|&(_, end)| end))
            .collect();
        for len in 0..=last {
            let result = parse(&bytes[..len]);
            match boundaries.iter().position(|&end| end == len) {
                Some(records) => assert_eq!(result.unwrap().events.len(), records, "len {len}"),
                None if len == 0 => assert_eq!(result, Err(EventLogError::Empty)),
                None => assert!(
                    matches!(result, Err(EventLogError::Truncated { .. })),
                    "len {len}: {result:?}"
                ),
            }
        }
    }

    #[test]
    fn zero_or_ones_padding_or_the_end_of_input_ends_the_log() {
        let bytes = real_log();
        let layout = layout(&bytes, &parse(&bytes).unwrap());
        let end = layout.records.last().unwrap().1;
        assert!(bytes[end..].iter().all(|&byte| byte == 0xFF));
        for padding in [&[][..], &[0x00; 8], &[0x00; 3], &[0xFF; 5], &[0x00; 4096]] {
            let mut padded = bytes[..end].to_vec();
            padded.extend_from_slice(padding);
            assert_eq!(parse(&padded).unwrap().events.len(), 43);
        }
        // A partial header that is not padding is a truncated record.
        let mut partial = bytes[..end].to_vec();
        partial.extend_from_slice(&[0x02, 0x00, 0x00]);
        assert!(matches!(
            parse(&partial),
            Err(EventLogError::Truncated { .. })
        ));
    }

    #[test]
    fn garbage_and_empty_inputs_are_errors() {
        assert_eq!(parse(&[]), Err(EventLogError::Empty));
        assert_eq!(
            parse(&vec![0; MAX_LOG_LEN + 1]),
            Err(EventLogError::TooLarge(MAX_LOG_LEN + 1))
        );
        assert_eq!(parse(&[0; 1024]), Err(EventLogError::NotSpecIdEvent));
        assert!(matches!(
            parse(&[0xFF; 1024]),
            Err(EventLogError::Truncated { .. })
        ));
        let mut wrong_signature = spec_id_header(&[(ALG_SHA384, 48)]);
        wrong_signature[32 + 14] = b'2';
        assert_eq!(parse(&wrong_signature), Err(EventLogError::NotSpecIdEvent));
        // Pseudo-random bytes of every length up to 2 KiB, with and without a valid header.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut random = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        };
        let header = spec_id_header(SHA1_AND_SHA384);
        for len in 1..2048 {
            let garbage: Vec<u8> = (0..len).map(|_| random()).collect();
            assert!(parse(&garbage).is_err(), "{len} random bytes parsed");
            let mut after_header = header.clone();
            after_header.extend_from_slice(&garbage);
            if let Ok(log) = parse(&after_header) {
                let _ = (log.replay_rtmrs(), log.boot_components());
            }
        }
    }

    #[test]
    fn the_spec_id_event_is_validated() {
        let header_with = |algorithms: &[(u16, u16)]| parse(&spec_id_header(algorithms));
        assert_eq!(header_with(&[]), Err(EventLogError::AlgorithmCount(0)));
        assert_eq!(
            header_with(&[(ALG_SHA384, 48), (ALG_SHA384, 48)]),
            Err(EventLogError::DuplicateAlgorithm(ALG_SHA384))
        );
        assert_eq!(
            header_with(&[(ALG_SHA384, 32)]),
            Err(EventLogError::DigestSize {
                algorithm: ALG_SHA384,
                size: 32
            })
        );
        assert_eq!(
            header_with(&[(0x1234, 65)]),
            Err(EventLogError::DigestSize {
                algorithm: 0x1234,
                size: 65
            })
        );
        assert_eq!(
            header_with(&[(0x1234, 16), (ALG_SHA384, 48)])
                .unwrap()
                .algorithms,
            vec![(0x1234, 16), (ALG_SHA384, 48)]
        );
        // One byte more in the declared size than the fields use.
        let mut trailing = spec_id_header(&[(ALG_SHA384, 48)]);
        trailing[28] += 1;
        trailing.insert(trailing.len(), 0);
        assert_eq!(
            parse(&trailing),
            Err(EventLogError::SpecIdSize {
                declared: 34,
                used: 33
            })
        );
    }

    #[test]
    fn records_with_undeclared_repeated_or_too_many_digests_are_rejected() {
        let sha1 = [1u8; 20];
        let sha384 = [2u8; 48];
        let with = |record: Vec<u8>| {
            let mut bytes = spec_id_header(SHA1_AND_SHA384);
            bytes.extend_from_slice(&record);
            parse(&bytes)
        };
        assert_eq!(
            with(record(1, 1, &[(ALG_SHA256, &[0; 32])], b"")),
            Err(EventLogError::UnknownAlgorithm {
                event: 0,
                algorithm: ALG_SHA256
            })
        );
        assert_eq!(
            with(record(
                1,
                1,
                &[(ALG_SHA384, &sha384), (ALG_SHA384, &sha384)],
                b""
            )),
            Err(EventLogError::RepeatedDigest {
                event: 0,
                algorithm: ALG_SHA384
            })
        );
        let three = record(
            1,
            1,
            &[(ALG_SHA1, &sha1), (ALG_SHA384, &sha384), (ALG_SHA1, &sha1)],
            b"",
        );
        assert_eq!(
            with(three),
            Err(EventLogError::DigestCount {
                event: 0,
                count: 3,
                declared: 2
            })
        );
        let mut huge = record(1, 1, &[(ALG_SHA384, &sha384)], b"");
        let size_at = huge.len() - 4;
        huge[size_at..].copy_from_slice(&(MAX_EVENT_DATA_LEN as u32 + 1).to_le_bytes());
        assert_eq!(
            with(huge),
            Err(EventLogError::EventDataTooLarge {
                event: 0,
                size: MAX_EVENT_DATA_LEN as u32 + 1
            })
        );

        // In the real log (SHA-384 only), a SHA-256 digest in the first record is undeclared.
        let mut bytes = real_log();
        let first_digest = layout(&bytes, &parse(&bytes).unwrap()).sha384_at[0];
        bytes[first_digest - 2..first_digest].copy_from_slice(&ALG_SHA256.to_le_bytes());
        assert_eq!(
            parse(&bytes),
            Err(EventLogError::UnknownAlgorithm {
                event: 0,
                algorithm: ALG_SHA256
            })
        );
    }

    #[test]
    fn replay_skips_informational_events_and_rejects_unreplayable_ones() {
        let sha1 = [1u8; 20];
        let first = [2u8; 48];
        let second = [3u8; 48];
        let mut bytes = spec_id_header(SHA1_AND_SHA384);
        bytes.extend(record(
            2,
            5,
            &[(ALG_SHA1, &sha1), (ALG_SHA384, &first)],
            b"a",
        ));
        // EV_NO_ACTION, also without SHA-384, and MRTD (index 0) events extend nothing.
        bytes.extend(record(2, EV_NO_ACTION, &[(ALG_SHA384, &second)], b""));
        bytes.extend(record(1, EV_NO_ACTION, &[(ALG_SHA1, &sha1)], b""));
        bytes.extend(record(0, 5, &[(ALG_SHA384, &second)], b""));
        bytes.extend(record(2, 5, &[(ALG_SHA384, &second)], b"b"));
        let log = parse(&bytes).unwrap();
        assert_eq!(log.events.len(), 5);
        let zero = [0u8; SHA384_LEN];
        assert_eq!(
            log.replay_rtmrs().unwrap(),
            [zero, extend(&extend(&zero, &first), &second), zero, zero]
        );

        let mut sha1_only = bytes.clone();
        sha1_only.extend(record(4, 5, &[(ALG_SHA1, &sha1)], b""));
        assert_eq!(
            parse(&sha1_only).unwrap().replay_rtmrs(),
            Err(EventLogError::MissingSha384 { event: 5, rtmr: 3 })
        );
        let mut beyond_rtmr3 = bytes.clone();
        beyond_rtmr3.extend(record(5, EV_NO_ACTION, &[(ALG_SHA384, &first)], b""));
        let beyond_rtmr3 = parse(&beyond_rtmr3).unwrap();
        assert_eq!(
            beyond_rtmr3.replay_rtmrs(),
            Err(EventLogError::InvalidIndex { event: 5, index: 5 })
        );
        // Boot components leave out what replay rejects rather than fail.
        let components = beyond_rtmr3.boot_components();
        assert_eq!(components.rtmr_events[1].len(), 2);
    }

    #[test]
    fn boot_components_of_the_real_log() {
        let bytes = real_log();
        let log = parse(&bytes).unwrap();
        let components = log.boot_components();
        assert_eq!(
            components.boot_applications,
            vec![
                BootApplication {
                    rtmr: 1,
                    path: Some(r"\EFI\BOOT\BOOTX64.EFI".into()),
                    sha384: "5a10026c9ad41d1f90dc9cfe88bcabe1842ccfd85495c81b1a1ab926a9ef23b5d2e60eefeba0415bbe5c8c328a899a0a".into(),
                },
                BootApplication {
                    rtmr: 1,
                    path: Some(r"\EFI\BOOT\grub-lakitu.efi".into()),
                    sha384: "b1fb7f4c0689f5a920b800b2607075f4906f8c8282d44e56fc991ec01f1adac176d2040a26f1453df112d7c4f4293fc9".into(),
                },
            ]
        );
        assert_eq!(
            components.kernel,
            Some(Kernel {
                path: "/syslinux/vmlinuz.A".into(),
                sha384: "b1012372f421ad28c9f542e5a1b8c4d312a0d1c8637ffba5e52b632d4b632e504da1b73964f6e8ba047bcd4f1d5a1dfe".into(),
            })
        );
        let cmdline = components.kernel_cmdline.as_deref().unwrap();
        assert!(cmdline.starts_with(
            "/syslinux/vmlinuz.A init=/usr/lib/systemd/systemd rootwait ro noresume loglevel=7 \
             console=tty1 console=ttyS0,115200 security=apparmor "
        ));
        assert!(cmdline.contains(" module.sig_enforce=1 "));
        assert!(cmdline.contains(" root=/dev/dm-0 \"dm-mod.create=vroot,,,ro,0 4077568 verity 0 "));
        assert!(
            cmdline
                .ends_with(" 5d0efafbace0a8274f4875002856103d582a438bd0c479f9d379deae00e66fa0\"")
        );
        assert_eq!(cmdline.len(), 726);

        let counts: Vec<usize> = components.rtmr_events.iter().map(Vec::len).collect();
        assert_eq!(counts, [16, 7, 20, 0]);
        assert_eq!(
            components.rtmr_events[0][0],
            MeasuredEvent {
                event_type: "EV_EFI_HANDOFF_TABLES2".into(),
                sha384: "458994daa60deac8dea19dba79748f6ff93fd0aebb8e3e0be5a65eb12309d342c3ce31cc67af7bbd22af1a44e7d9fe21".into(),
            }
        );
        assert_eq!(components.rtmr_events[1][6].event_type, "EV_EFI_ACTION");
        assert_eq!(components.rtmr_events[2][19].event_type, "EV_IPL");
        // The published lists are exactly what the RTMRs are made of.
        let rtmrs = log.replay_rtmrs().unwrap();
        for (list, rtmr) in components.rtmr_events.iter().zip(rtmrs) {
            let replayed = list.iter().fold([0; SHA384_LEN], |value, event| {
                extend(&value, &unhex(&event.sha384))
            });
            assert_eq!(replayed, rtmr);
        }

        let claims = serde_json::to_value(&components).unwrap();
        assert_eq!(claims["kernel"]["path"], "/syslinux/vmlinuz.A");
        assert_eq!(claims["boot_applications"][1]["rtmr"], 1);
        assert_eq!(claims["rtmr_events"][3], serde_json::json!([]));
    }

    #[test]
    fn event_text_whose_digest_does_not_match_is_not_exported() {
        let bytes = real_log();
        let log = parse(&bytes).unwrap();
        let layout = layout(&bytes, &log);
        let text_at = |number: usize, needle: &[u8]| {
            let (start, end) = layout.records[number];
            start
                + bytes[start..end]
                    .windows(needle.len())
                    .position(|w| w == needle)
                    .unwrap()
        };

        // "rootwait ro" → "rootwait rw": replay cannot see it, the command line digest can.
        let mut forged_cmdline = bytes.clone();
        let at = text_at(40, b"rootwait ro ");
        forged_cmdline[at + 10] = b'w';
        let forged = parse(&forged_cmdline).unwrap();
        assert_eq!(forged.replay_rtmrs(), log.replay_rtmrs());
        let components = forged.boot_components();
        assert_eq!((components.kernel_cmdline, components.kernel), (None, None));

        // Relabelling the kernel file event no longer matches the measured command line.
        let mut relabelled = bytes.clone();
        let at = text_at(39, b"vmlinuz.A");
        relabelled[at + 8] = b'B';
        let components = parse(&relabelled).unwrap().boot_components();
        assert!(components.kernel_cmdline.is_some());
        assert_eq!(components.kernel, None);
    }

    #[test]
    fn a_utf16_command_line_is_exported_when_its_digest_covers_it() {
        let cmdline: Vec<u8> = "console=ttyS0 quiet\0"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let digest: [u8; 48] = Sha384::digest(&cmdline).into();
        let mut bytes = spec_id_header(&[(ALG_SHA384, 48)]);
        bytes.extend(record(3, EV_IPL, &[(ALG_SHA384, &digest)], &cmdline));
        let components = parse(&bytes).unwrap().boot_components();
        assert_eq!(
            components.kernel_cmdline.as_deref(),
            Some("console=ttyS0 quiet")
        );
        assert_eq!(components.kernel, None);

        let mut bytes = spec_id_header(&[(ALG_SHA384, 48)]);
        bytes.extend(record(3, EV_IPL, &[(ALG_SHA384, &[0; 48])], &cmdline));
        assert_eq!(
            parse(&bytes).unwrap().boot_components().kernel_cmdline,
            None
        );
    }

    #[test]
    fn text_is_decoded_from_utf8_or_utf16le_without_nuls() {
        assert_eq!(decode_text(b"grub.cfg\0").as_deref(), Some("grub.cfg"));
        assert_eq!(decode_text(b"a\0b\0\0\0").as_deref(), Some("ab"));
        assert_eq!(decode_text(b"a\0\0\0b\0").as_deref(), None);
        assert_eq!(decode_text(&[0xFF, 0xFE, 0x00]).as_deref(), None);
        assert_eq!(decode_text(b"").as_deref(), Some(""));
        assert_eq!(trim_trailing_nuls(&[0, 0, 0], 2), &[0]);
    }

    #[test]
    fn event_types_have_their_tcg_names() {
        assert_eq!(event_type_name(EV_IPL), Some("EV_IPL"));
        assert_eq!(event_type_name(0x8000_000B), Some("EV_EFI_HANDOFF_TABLES2"));
        assert_eq!(
            event_type_name(EV_EFI_BOOT_SERVICES_APPLICATION),
            Some("EV_EFI_BOOT_SERVICES_APPLICATION")
        );
        assert_eq!(
            event_type_name(0x8000_00E0),
            Some("EV_EFI_VARIABLE_AUTHORITY")
        );
        assert_eq!(event_type_name(0x8000_00FF), None);
        let mut values: Vec<u32> = EVENT_TYPE_NAMES.iter().map(|(value, _)| *value).collect();
        values.dedup();
        assert_eq!(values.len(), EVENT_TYPE_NAMES.len());
    }
}
