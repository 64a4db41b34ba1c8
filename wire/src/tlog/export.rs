//! The exported-log format (`warden-log-export/v1`) and its offline verifier.
//!
//! An export is JSON lines (UTF-8, one object per line, each line ending in `\n`):
//!
//! 1. the header, `{"format":"warden-log-export/v1","origin":"<log origin>"}`;
//! 2. entry lines in index order, `{"index":N,"leaf":"<hex leaf hash>","entry":"<leaf data>"}`:
//!    `leaf` is the log's recorded leaf hash (64 lower-case hex digits) and `entry` the exact
//!    leaf data, UTF-8 text held as a JSON string, so `leaf` = [`leaf_hash`] of its bytes;
//! 3. checkpoint lines, `{"checkpoint":"<signed note>"}`: a C2SP tlog-checkpoint signed by the
//!    log key, placed right after the entry that completes its size (a checkpoint of size `s`
//!    follows entry `s - 1`; one of size 0 follows the header). The log signs one checkpoint per
//!    append batch, so there are many. The last line is a checkpoint covering every entry.
//!
//! [`ExportWriter`] writes these lines (the line functions [`header_line`], [`entry_line`] and
//! [`checkpoint_line`] give their exact bytes); [`verify_export`] reads them as a stream.
//!
//! **Key name convention**: a log's note key is named after the log's origin (the C2SP
//! convention), so the trusted key also pins which log an export must be: the header's origin
//! must equal the verifier's key name, and every checkpoint's origin must equal the header's.
//!
//! **What verification establishes**: every entry line is at its position and hashes to its
//! recorded leaf; the roots recomputed from the leaves equal the root of every checkpoint,
//! each verified under the trusted key; no two checkpoints sign different roots for one size;
//! the last checkpoint covers every entry; and every checkpoint the operator kept from earlier
//! (verified under the same key) has the root the export's entries give at its size. That last
//! check is offline consistency: stronger than a consistency proof, since the whole prefix is
//! recomputed.
//!
//! **Bounds**: a line is at most [`MAX_LINE_BYTES`] bytes (newline excluded); verification keeps
//! one line and O(log n) hashes (the right edge of the tree), plus one size and root per kept
//! checkpoint, whatever the number of entries.

use std::fmt;
use std::io::{self, BufRead, Write};
use std::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::checkpoint::Checkpoint;
use super::note::{NoteVerifier, SignedNote};
use super::tree::{NodeSource, append_nodes, root};
use super::{Hash, TlogError, leaf_hash};

/// The `format` member of an export's header.
pub const EXPORT_FORMAT: &str = "warden-log-export/v1";

/// The longest line an export may have, in bytes, its newline excluded (1 MiB). The writer
/// refuses to write a longer line, the verifier to read one.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Lines.

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderLine<'a> {
    #[serde(borrow)]
    format: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    origin: std::borrow::Cow<'a, str>,
}

#[derive(Serialize)]
struct EntryLineOut<'a> {
    index: u64,
    leaf: &'a str,
    entry: &'a str,
}

#[derive(Serialize)]
struct CheckpointLineOut<'a> {
    checkpoint: &'a str,
}

/// Any line after the header: an entry (`index`, `leaf`, `entry`) or a checkpoint
/// (`checkpoint`), told apart by which members are present.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BodyLine {
    index: Option<u64>,
    leaf: Option<String>,
    entry: Option<String>,
    checkpoint: Option<String>,
}

fn json_line<T: Serialize>(value: &T) -> String {
    // Serializing these structs of strings and integers cannot fail.
    let mut line = serde_json::to_string(value).unwrap_or_default();
    line.push('\n');
    line
}

/// The header line (with its newline) of an export of the log `origin`.
pub fn header_line(origin: &str) -> String {
    json_line(&HeaderLine {
        format: EXPORT_FORMAT.into(),
        origin: origin.into(),
    })
}

/// The line (with its newline) of entry `index` with recorded leaf hash `leaf` and leaf data
/// `entry`.
pub fn entry_line(index: u64, leaf: &Hash, entry: &str) -> String {
    json_line(&EntryLineOut {
        index,
        leaf: &hex::encode(leaf),
        entry,
    })
}

/// The line (with its newline) of a checkpoint's signed note.
pub fn checkpoint_line(note: &str) -> String {
    json_line(&CheckpointLineOut { checkpoint: note })
}

// ---------------------------------------------------------------------------------------------
// Writer.

fn invalid_input(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Writes an export: the header on creation, then entries and checkpoints in log order.
///
/// It refuses (with [`io::ErrorKind::InvalidInput`]) what the verifier would refuse and the
/// writer can see without the key: an entry out of order or not UTF-8, a line over
/// [`MAX_LINE_BYTES`], a checkpoint whose (unverified) size is not the number of entries
/// written so far or whose origin is not the export's, and, at [`finish`](Self::finish), an
/// export whose last line is not a checkpoint covering every entry. It does not check leaf
/// hashes or signatures: it writes what the log recorded.
#[derive(Debug)]
pub struct ExportWriter<W: Write> {
    out: W,
    origin: String,
    entries: u64,
    /// Whether the last line written is a checkpoint (of size `entries`).
    covered: bool,
}

impl<W: Write> ExportWriter<W> {
    /// Starts an export of the log `origin`, writing the header line.
    pub fn new(mut out: W, origin: &str) -> io::Result<Self> {
        let line = header_line(origin);
        if line.len() - 1 > MAX_LINE_BYTES {
            return Err(invalid_input(format!(
                "the header line is longer than {MAX_LINE_BYTES} bytes"
            )));
        }
        out.write_all(line.as_bytes())?;
        Ok(Self {
            out,
            origin: origin.to_owned(),
            entries: 0,
            covered: false,
        })
    }

    /// Writes entry `index` (the next one: 0, 1, …) with the log's recorded leaf hash and its
    /// leaf data (UTF-8).
    pub fn entry(&mut self, index: u64, leaf: &Hash, data: &[u8]) -> io::Result<()> {
        if index != self.entries {
            return Err(invalid_input(format!(
                "entry {index} written where entry {} is next",
                self.entries
            )));
        }
        let text = std::str::from_utf8(data)
            .map_err(|_| invalid_input(format!("entry {index} is not UTF-8")))?;
        let line = entry_line(index, leaf, text);
        if line.len() - 1 > MAX_LINE_BYTES {
            return Err(invalid_input(format!(
                "the line of entry {index} is longer than {MAX_LINE_BYTES} bytes"
            )));
        }
        self.out.write_all(line.as_bytes())?;
        self.entries += 1;
        self.covered = false;
        Ok(())
    }

    /// Writes a checkpoint's signed note, which must be of size `entries written so far` and of
    /// this export's origin (read without verifying the signature).
    pub fn checkpoint(&mut self, note: &[u8]) -> io::Result<()> {
        let checkpoint = SignedNote::parse(note)
            .and_then(|note| Checkpoint::parse_text(note.text()))
            .map_err(|error| invalid_input(format!("not a checkpoint note: {error}")))?;
        if checkpoint.origin != self.origin {
            return Err(invalid_input(format!(
                "checkpoint of log {:?} in an export of {:?}",
                checkpoint.origin, self.origin
            )));
        }
        if checkpoint.size != self.entries {
            return Err(invalid_input(format!(
                "checkpoint of size {} written after {} entries",
                checkpoint.size, self.entries
            )));
        }
        // A parsed note is UTF-8 and at most MAX_NOTE_BYTES, so its line is within bounds.
        let text = std::str::from_utf8(note)
            .map_err(|_| invalid_input("checkpoint note is not UTF-8".to_owned()))?;
        self.out.write_all(checkpoint_line(text).as_bytes())?;
        self.covered = true;
        Ok(())
    }

    /// The number of entries written.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Ends the export (the last line must be a checkpoint covering every entry), flushes and
    /// returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.covered {
            return Err(invalid_input(format!(
                "the export does not end with a checkpoint of size {}",
                self.entries
            )));
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

// ---------------------------------------------------------------------------------------------
// Faults and summary.

/// A root or other tree hash as checkpoints print it (standard base64).
fn b64(hash: &Hash) -> String {
    STANDARD.encode(hash)
}

/// Why an export was refused. Line numbers count from 1 (the header), and so do kept
/// checkpoints in messages (the first one given is #1; the `kept` fields are positions in
/// `previous`, from 0); indexes and sizes are the log's. The [`Display`](fmt::Display) text is a complete sentence for an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportFault {
    /// Reading the input failed.
    Read {
        /// The line being read.
        line: u64,
        /// The I/O error, as text.
        message: String,
    },
    /// A line longer than [`MAX_LINE_BYTES`].
    LineTooLong {
        /// The line.
        line: u64,
    },
    /// The input ends inside a line (no final newline): the file is truncated.
    Truncated {
        /// The unterminated line.
        line: u64,
    },
    /// The input is empty.
    MissingHeader,
    /// The header names a format other than [`EXPORT_FORMAT`].
    UnsupportedFormat {
        /// The format named.
        format: String,
    },
    /// The trusted key's name is not the header's origin (a log's key is named after its
    /// origin): the key is another log's, or the export is.
    KeyNameMismatch {
        /// The header's origin.
        origin: String,
        /// The trusted key's name.
        key_name: String,
    },
    /// A line that is not a header (line 1), entry or checkpoint line of this format.
    Malformed {
        /// The line.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// An entry line whose `index` is not the next index: an entry is missing, duplicated or
    /// out of order, first at index `expected`.
    UnexpectedIndex {
        /// The line.
        line: u64,
        /// The index due at this position.
        expected: u64,
        /// The index the line gives.
        found: u64,
    },
    /// An entry whose own `index` member (the entry is a JSON object with an integer `index`)
    /// is not its position in the log.
    EntryIndexMismatch {
        /// The line.
        line: u64,
        /// The entry's position.
        index: u64,
        /// The entry's `index` member.
        member: serde_json::Number,
    },
    /// An entry whose data does not hash to its recorded leaf hash: the entry was changed.
    LeafMismatch {
        /// The line.
        line: u64,
        /// The entry's index.
        index: u64,
        /// The leaf hash the line records.
        recorded: Hash,
        /// The leaf hash of the entry data.
        computed: Hash,
    },
    /// A checkpoint that is not a valid note and checkpoint signed by the trusted key.
    BadCheckpoint {
        /// The line.
        line: u64,
        /// Why it was refused.
        error: TlogError,
    },
    /// A checkpoint, signed by the trusted key, of another log than the header's.
    CheckpointOrigin {
        /// The line.
        line: u64,
        /// The header's origin.
        expected: String,
        /// The checkpoint's origin.
        found: String,
    },
    /// A checkpoint whose size is not the number of entries before it: entries are missing or
    /// extra since size `since` (the last size verified), or the checkpoint is out of place.
    CheckpointSize {
        /// The line.
        line: u64,
        /// The checkpoint's size.
        size: u64,
        /// The number of entries before it.
        entries: u64,
        /// The largest size verified so far (by an earlier checkpoint or a kept one).
        since: u64,
    },
    /// A checkpoint whose root is not the root of the entries before it: an entry in
    /// `[since, size)` was changed (with its leaf hash), inserted or removed.
    RootMismatch {
        /// The line.
        line: u64,
        /// The checkpoint's size.
        size: u64,
        /// The checkpoint's root.
        checkpoint_root: Hash,
        /// The root of the export's first `size` entries.
        computed_root: Hash,
        /// The largest size verified before (by an earlier checkpoint or a kept one).
        since: u64,
    },
    /// Two checkpoints, both signed by the trusted key, for one size with different roots: the
    /// log forked (or its key signed a forgery).
    Fork {
        /// The size both sign.
        size: u64,
        /// The line of the first.
        first_line: u64,
        /// The root of the first.
        first_root: Hash,
        /// The line of the second.
        second_line: u64,
        /// The root of the second.
        second_root: Hash,
        /// The root of the export's first `size` entries.
        computed_root: Hash,
    },
    /// The export does not end with a checkpoint covering every entry (truncated, or written
    /// without its last checkpoint).
    MissingFinalCheckpoint {
        /// The number of entries.
        entries: u64,
        /// The largest size verified, by a checkpoint of the export or a kept one (0 when
        /// none).
        last_checkpoint: u64,
    },
    /// A kept checkpoint (`previous[kept]`) that does not verify under the trusted key or is
    /// not of the header's log.
    BadKeptCheckpoint {
        /// Its position in `previous`.
        kept: usize,
        /// Why it was refused.
        error: TlogError,
    },
    /// A kept checkpoint larger than the export: the export lacks entries the log had.
    KeptCheckpointBeyondExport {
        /// Its position in `previous`.
        kept: usize,
        /// Its size.
        size: u64,
        /// The number of entries in the export.
        entries: u64,
    },
    /// A kept checkpoint whose root differs from the root of the export's entries at its size,
    /// although the export is consistent with its own checkpoints: the log's key signed two
    /// histories, and they differ in `[since, size)`.
    InconsistentCheckpoints {
        /// Its position in `previous`.
        kept: usize,
        /// Its size.
        size: u64,
        /// Its root.
        kept_root: Hash,
        /// The root of the export's first `size` entries.
        log_root: Hash,
        /// The largest size below `size` at which a kept checkpoint matched (0 when none).
        since: u64,
    },
}

impl ExportFault {
    /// The index of the first entry known to be bad, when the data names one exactly (an
    /// entry out of place, with a wrong `index` member, or not hashing to its leaf).
    pub fn first_bad_index(&self) -> Option<u64> {
        match self {
            Self::UnexpectedIndex { expected, .. } => Some(*expected),
            Self::EntryIndexMismatch { index, .. } | Self::LeafMismatch { index, .. } => {
                Some(*index)
            }
            _ => None,
        }
    }

    /// The range of indexes holding the first bad entry, when the data narrows it down: the
    /// exact index of [`first_bad_index`](Self::first_bad_index), or the entries between the
    /// last verified size and a checkpoint that does not match them (never an empty range).
    pub fn bad_range(&self) -> Option<Range<u64>> {
        if let Some(index) = self.first_bad_index() {
            return Some(index..index.saturating_add(1));
        }
        let range = match *self {
            Self::RootMismatch { since, size, .. }
            | Self::InconsistentCheckpoints { since, size, .. } => since..size,
            Self::CheckpointSize {
                since,
                size,
                entries,
                ..
            } if size > since => since..size.max(entries),
            _ => return None,
        };
        (!range.is_empty()).then_some(range)
    }
}

impl fmt::Display for ExportFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { line, message } => write!(f, "reading line {line} failed: {message}"),
            Self::LineTooLong { line } => write!(
                f,
                "line {line} is longer than the {MAX_LINE_BYTES}-byte limit of a log export line"
            ),
            Self::Truncated { line } => write!(
                f,
                "line {line} ends without a newline: the export is truncated"
            ),
            Self::MissingHeader => write!(f, "the export is empty: no {EXPORT_FORMAT} header"),
            Self::UnsupportedFormat { format } => write!(
                f,
                "the export's format is {format:?}, not the supported {EXPORT_FORMAT:?}"
            ),
            Self::KeyNameMismatch { origin, key_name } => write!(
                f,
                "the export is of log {origin:?} but the log key given is named {key_name:?} \
                 (a log's key is named after its origin): wrong key or wrong log"
            ),
            Self::Malformed { line, reason } => write!(f, "line {line} is malformed: {reason}"),
            Self::UnexpectedIndex {
                line,
                expected,
                found,
            } => write!(
                f,
                "line {line}: entry {found} where entry {expected} is due: entries are missing, \
                 duplicated or out of order from index {expected}"
            ),
            Self::EntryIndexMismatch {
                line,
                index,
                member,
            } => write!(
                f,
                "line {line}: entry {index} says it is entry {member} (its \"index\" member)"
            ),
            Self::LeafMismatch {
                line,
                index,
                recorded,
                computed,
            } => write!(
                f,
                "line {line}: entry {index} was changed: its data hashes to leaf {} but the log \
                 recorded leaf {}",
                hex::encode(computed),
                hex::encode(recorded)
            ),
            Self::BadCheckpoint { line, error } => {
                write!(f, "line {line}: checkpoint refused: {error}")
            }
            Self::CheckpointOrigin {
                line,
                expected,
                found,
            } => write!(
                f,
                "line {line}: checkpoint of log {found:?} in the export of log {expected:?}"
            ),
            Self::CheckpointSize {
                line,
                size,
                entries,
                since,
            } => write!(
                f,
                "line {line}: checkpoint of size {size} after {entries} entries: entries are \
                 missing or extra after size {since}, or the checkpoint is out of place"
            ),
            Self::RootMismatch {
                line,
                size,
                checkpoint_root,
                computed_root,
                since,
            } => write!(
                f,
                "line {line}: the signed checkpoint of size {size} has root {} but the entries \
                 give root {}: an entry in [{since}, {size}) was changed, inserted or removed",
                b64(checkpoint_root),
                b64(computed_root)
            ),
            Self::Fork {
                size,
                first_line,
                first_root,
                second_line,
                second_root,
                computed_root,
            } => write!(
                f,
                "fork: the signed checkpoints on lines {first_line} and {second_line} give size \
                 {size} two roots, {} and {} (the entries give {})",
                b64(first_root),
                b64(second_root),
                b64(computed_root)
            ),
            Self::MissingFinalCheckpoint {
                entries,
                last_checkpoint,
            } => write!(
                f,
                "the export ends without a checkpoint covering its {entries} entries (the last \
                 verified size is {last_checkpoint}): truncated or incomplete"
            ),
            Self::BadKeptCheckpoint { kept, error } => {
                write!(f, "kept checkpoint #{} refused: {error}", kept + 1)
            }
            Self::KeptCheckpointBeyondExport {
                kept,
                size,
                entries,
            } => write!(
                f,
                "kept checkpoint #{} is of size {size} but the export has only {entries} \
                 entries: the export lacks entries the log had",
                kept + 1
            ),
            Self::InconsistentCheckpoints {
                kept,
                size,
                kept_root,
                log_root,
                since,
            } => write!(
                f,
                "kept checkpoint #{} (size {size}, root {}) is inconsistent with the log, \
                 whose entries give root {} at size {size}: the log's key signed two histories, \
                 which differ in [{since}, {size})",
                kept + 1,
                b64(kept_root),
                b64(log_root)
            ),
        }
    }
}

impl std::error::Error for ExportFault {}

/// What a successful [`verify_export`] checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// The log's origin.
    pub origin: String,
    /// The number of entries (the final checkpoint's size).
    pub entries: u64,
    /// The final checkpoint: its size is `entries`, its root the root of all entries.
    pub checkpoint: Checkpoint,
    /// The final checkpoint's signed note, to keep for the next verification.
    pub note: Vec<u8>,
    /// The number of checkpoint lines verified.
    pub checkpoints: u64,
    /// The number of kept checkpoints matched (all of `previous`).
    pub kept_matched: usize,
}

// ---------------------------------------------------------------------------------------------
// The right edge of the tree.

/// The last stored node of each level: for a tree of `size` leaves, exactly the nodes a root
/// (the binary decomposition of `size`) and the next append (its left siblings) read, so
/// [`append_nodes`] and [`root`] run on O(log n) hashes.
struct Frontier {
    size: u64,
    nodes: [Option<(u64, Hash)>; 64],
}

impl Frontier {
    fn new() -> Self {
        Self {
            size: 0,
            nodes: [None; 64],
        }
    }

    fn append(&mut self, leaf: Hash) -> Result<(), TlogError> {
        for node in append_nodes(self.size, leaf, self)? {
            if let Some(slot) = self.nodes.get_mut(usize::from(node.level)) {
                *slot = Some((node.index, node.hash));
            }
        }
        self.size += 1;
        Ok(())
    }

    fn root(&self) -> Result<Hash, TlogError> {
        root(self.size, self)
    }
}

impl NodeSource for Frontier {
    fn node(&self, level: u8, index: u64) -> Result<Hash, TlogError> {
        match self.nodes.get(usize::from(level)) {
            Some(Some((stored, hash))) if *stored == index => Ok(*hash),
            _ => Err(TlogError::MissingNode { level, index }),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reader.

enum LineRead {
    Line,
    Eof,
    Unterminated,
    TooLong,
}

/// Reads one line (without its newline) into `buf`, at most [`MAX_LINE_BYTES`] bytes.
fn read_line<R: BufRead>(reader: &mut R, buf: &mut Vec<u8>) -> io::Result<LineRead> {
    buf.clear();
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok(if buf.is_empty() {
                LineRead::Eof
            } else {
                LineRead::Unterminated
            });
        }
        let (part, end) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (&available[..at], Some(at + 1)),
            None => (available, None),
        };
        if buf.len() + part.len() > MAX_LINE_BYTES {
            return Ok(LineRead::TooLong);
        }
        buf.extend_from_slice(part);
        let consumed = end.unwrap_or(part.len());
        reader.consume(consumed);
        if end.is_some() {
            return Ok(LineRead::Line);
        }
    }
}

/// Reads the next line into `buf`: `false` at the end of the input.
fn next_line<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    line: u64,
) -> Result<bool, ExportFault> {
    match read_line(reader, buf) {
        Ok(LineRead::Line) => Ok(true),
        Ok(LineRead::Eof) => Ok(false),
        Ok(LineRead::Unterminated) => Err(ExportFault::Truncated { line }),
        Ok(LineRead::TooLong) => Err(ExportFault::LineTooLong { line }),
        Err(error) => Err(ExportFault::Read {
            line,
            message: error.to_string(),
        }),
    }
}

/// The integer `index` member of an entry that is a JSON object with one `index` member
/// holding an integer; `None` for any other entry (not checked).
fn index_member(entry: &str) -> Option<serde_json::Number> {
    struct Probe(Option<serde_json::Number>);

    impl<'de> Deserialize<'de> for Probe {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct ObjectVisitor;
            impl<'de> Visitor<'de> for ObjectVisitor {
                type Value = Probe;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Probe, A::Error> {
                    let mut index: Option<serde_json::Value> = None;
                    while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                        if key == "index" {
                            if index.is_some() {
                                return Err(de::Error::custom("duplicate index"));
                            }
                            index = Some(map.next_value()?);
                        } else {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                    Ok(Probe(match index {
                        Some(serde_json::Value::Number(n)) if n.is_u64() || n.is_i64() => Some(n),
                        _ => None,
                    }))
                }
            }
            deserializer.deserialize_map(ObjectVisitor)
        }
    }

    serde_json::from_str::<Probe>(entry)
        .ok()
        .and_then(|probe| probe.0)
}

/// The checkpoints seen at the current number of entries, until the next entry settles them.
struct AtSize {
    size: u64,
    first_line: u64,
    first_root: Hash,
    /// The first checkpoint at this size with another root.
    other: Option<(u64, Hash)>,
}

/// A kept checkpoint, by size.
struct Kept {
    position: usize,
    size: u64,
    root: Hash,
}

struct State<'a> {
    origin: String,
    verifier: &'a NoteVerifier,
    tree: Frontier,
    /// The largest size verified (by a checkpoint of the export or a kept one).
    verified: u64,
    /// The checkpoints at the current size, not yet compared with the root.
    at_size: Option<AtSize>,
    checkpoints: u64,
    last_note: Option<(Checkpoint, Vec<u8>)>,
    /// Kept checkpoints sorted by size; `next_kept` is the first not yet compared.
    kept: Vec<Kept>,
    next_kept: usize,
    /// The largest size at which a kept checkpoint matched.
    kept_verified: u64,
    /// The first kept checkpoint found inconsistent: reported only once the export proves
    /// consistent with its own checkpoints (otherwise the export's own fault is reported).
    inconsistent: Option<ExportFault>,
}

impl State<'_> {
    fn tree_root(&self) -> Result<Hash, ExportFault> {
        // The frontier always holds the nodes the root reads.
        self.tree.root().map_err(|error| ExportFault::Malformed {
            line: 0,
            reason: format!("internal tree error: {error}"),
        })
    }

    /// Compares the checkpoints at the current size with the root of the entries so far.
    fn settle(&mut self) -> Result<(), ExportFault> {
        let Some(at) = self.at_size.take() else {
            return Ok(());
        };
        let computed_root = self.tree_root()?;
        if let Some((second_line, second_root)) = at.other {
            return Err(ExportFault::Fork {
                size: at.size,
                first_line: at.first_line,
                first_root: at.first_root,
                second_line,
                second_root,
                computed_root,
            });
        }
        if at.first_root != computed_root {
            return Err(ExportFault::RootMismatch {
                line: at.first_line,
                size: at.size,
                checkpoint_root: at.first_root,
                computed_root,
                since: self.verified,
            });
        }
        self.verified = self.verified.max(at.size);
        Ok(())
    }

    /// Compares the kept checkpoints of the current size with the root of the entries so far.
    fn check_kept(&mut self) -> Result<(), ExportFault> {
        let size = self.tree.size;
        // The largest size below this one a kept checkpoint matched.
        let since = self.kept_verified;
        let mut matched = false;
        while let Some(kept) = self.kept.get(self.next_kept) {
            if kept.size != size {
                break;
            }
            let log_root = self.tree_root()?;
            if kept.root == log_root {
                matched = true;
            } else if self.inconsistent.is_none() {
                self.inconsistent = Some(ExportFault::InconsistentCheckpoints {
                    kept: kept.position,
                    size,
                    kept_root: kept.root,
                    log_root,
                    since,
                });
            }
            self.next_kept += 1;
        }
        if matched {
            self.kept_verified = size;
            self.verified = self.verified.max(size);
        }
        Ok(())
    }

    fn entry(&mut self, line: u64, index: u64, leaf: &str, entry: &str) -> Result<(), ExportFault> {
        self.settle()?;
        self.check_kept()?;
        let expected = self.tree.size;
        if index != expected {
            return Err(ExportFault::UnexpectedIndex {
                line,
                expected,
                found: index,
            });
        }
        let recorded = parse_leaf(leaf).ok_or_else(|| ExportFault::Malformed {
            line,
            reason: "\"leaf\" is not 64 lower-case hex digits".to_owned(),
        })?;
        if let Some(member) = index_member(entry)
            && member.as_u64() != Some(index)
        {
            return Err(ExportFault::EntryIndexMismatch {
                line,
                index,
                member,
            });
        }
        let computed = leaf_hash(entry.as_bytes());
        if computed != recorded {
            return Err(ExportFault::LeafMismatch {
                line,
                index,
                recorded,
                computed,
            });
        }
        self.tree
            .append(recorded)
            .map_err(|error| ExportFault::Malformed {
                line,
                reason: format!("entry cannot be appended: {error}"),
            })
    }

    fn checkpoint(&mut self, line: u64, note: &str) -> Result<(), ExportFault> {
        let bad = |error| ExportFault::BadCheckpoint { line, error };
        let signed = SignedNote::open(note.as_bytes(), self.verifier).map_err(bad)?;
        let checkpoint = Checkpoint::parse_text(signed.text()).map_err(bad)?;
        if checkpoint.origin != self.origin {
            return Err(ExportFault::CheckpointOrigin {
                line,
                expected: self.origin.clone(),
                found: checkpoint.origin,
            });
        }
        let entries = self.tree.size;
        if checkpoint.size != entries {
            self.settle()?;
            return Err(ExportFault::CheckpointSize {
                line,
                size: checkpoint.size,
                entries,
                since: self.verified,
            });
        }
        match &mut self.at_size {
            None => {
                self.at_size = Some(AtSize {
                    size: entries,
                    first_line: line,
                    first_root: checkpoint.root,
                    other: None,
                })
            }
            Some(at) => {
                if at.first_root != checkpoint.root && at.other.is_none() {
                    at.other = Some((line, checkpoint.root));
                }
            }
        }
        self.checkpoints += 1;
        self.last_note = Some((checkpoint, note.as_bytes().to_vec()));
        Ok(())
    }
}

fn parse_leaf(leaf: &str) -> Option<Hash> {
    if leaf.len() != 64 || !leaf.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    hex::decode(leaf).ok()?.try_into().ok()
}

/// Verifies an export read from `reader` against the trusted log key `verifier` and the
/// signed checkpoints the operator kept from earlier (`previous`), streaming: one line and
/// O(log n) hashes in memory (see the module documentation for what is established).
///
/// The first fault found is returned, with one exception: a kept checkpoint inconsistent with
/// the export is reported only once the export has proved consistent with its own checkpoints
/// (a fault of the export itself, found later, is reported instead).
pub fn verify_export<R: BufRead>(
    mut reader: R,
    verifier: &NoteVerifier,
    previous: &[&[u8]],
) -> Result<ExportSummary, ExportFault> {
    let mut buf = Vec::new();
    let mut line: u64 = 1;
    // The header.
    if !next_line(&mut reader, &mut buf, line)? {
        return Err(ExportFault::MissingHeader);
    }
    let header: HeaderLine<'_> =
        serde_json::from_slice(&buf).map_err(|error| ExportFault::Malformed {
            line,
            reason: format!("not a {EXPORT_FORMAT} header: {error}"),
        })?;
    if header.format != EXPORT_FORMAT {
        return Err(ExportFault::UnsupportedFormat {
            format: header.format.into_owned(),
        });
    }
    let origin = header.origin.into_owned();
    if origin != verifier.name() {
        return Err(ExportFault::KeyNameMismatch {
            origin,
            key_name: verifier.name().to_owned(),
        });
    }

    // The kept checkpoints, verified and sorted by size.
    let mut kept = Vec::with_capacity(previous.len());
    for (position, note) in previous.iter().enumerate() {
        let checkpoint = Checkpoint::open(note, &origin, verifier).map_err(|error| {
            ExportFault::BadKeptCheckpoint {
                kept: position,
                error,
            }
        })?;
        kept.push(Kept {
            position,
            size: checkpoint.size,
            root: checkpoint.root,
        });
    }
    kept.sort_by_key(|kept| (kept.size, kept.position));

    let mut state = State {
        origin,
        verifier,
        tree: Frontier::new(),
        verified: 0,
        at_size: None,
        checkpoints: 0,
        last_note: None,
        kept,
        next_kept: 0,
        kept_verified: 0,
        inconsistent: None,
    };

    loop {
        line += 1;
        if !next_line(&mut reader, &mut buf, line)? {
            break;
        }
        let body: BodyLine =
            serde_json::from_slice(&buf).map_err(|error| ExportFault::Malformed {
                line,
                reason: format!("not an entry or checkpoint line: {error}"),
            })?;
        match body {
            BodyLine {
                index: Some(index),
                leaf: Some(leaf),
                entry: Some(entry),
                checkpoint: None,
            } => state.entry(line, index, &leaf, &entry)?,
            BodyLine {
                index: None,
                leaf: None,
                entry: None,
                checkpoint: Some(note),
            } => state.checkpoint(line, &note)?,
            _ => {
                return Err(ExportFault::Malformed {
                    line,
                    reason: "an entry line has exactly \"index\", \"leaf\" and \"entry\"; a \
                             checkpoint line exactly \"checkpoint\""
                        .to_owned(),
                });
            }
        }
    }

    // The end: the last checkpoints settled, and the last line must have been one.
    let covered = state.at_size.is_some();
    state.settle()?;
    state.check_kept()?;
    let entries = state.tree.size;
    let last_note = match state.last_note.take() {
        Some(last) if covered => last,
        _ => {
            return Err(ExportFault::MissingFinalCheckpoint {
                entries,
                last_checkpoint: state.verified,
            });
        }
    };
    if let Some(fault) = state.inconsistent.take() {
        return Err(fault);
    }
    if let Some(kept) = state.kept.get(state.next_kept) {
        return Err(ExportFault::KeptCheckpointBeyondExport {
            kept: kept.position,
            size: kept.size,
            entries,
        });
    }
    let (checkpoint, note) = last_note;
    Ok(ExportSummary {
        origin: state.origin,
        entries,
        checkpoint,
        note,
        checkpoints: state.checkpoints,
        kept_matched: state.kept.len(),
    })
}
