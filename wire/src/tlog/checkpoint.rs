//! C2SP `tlog-checkpoint` (<https://c2sp.org/tlog-checkpoint>, fetched from
//! github.com/C2SP/C2SP `tlog-checkpoint.md`): the note text
//! `<origin>\n<tree size, decimal>\n<base64 root>\n` followed by optional non-empty extension
//! lines, signed as a C2SP signed note.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::note::{NoteSigner, NoteVerifier, SignedNote};
use super::{Hash, TlogError};

/// A log's tree head: origin, size and root, with optional extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity (non-empty, one line; conventionally a schema-less URL).
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The RFC 6962 root at that size.
    pub root: Hash,
    /// Extension lines (each non-empty, without the newline); opaque, usually none.
    pub extensions: Vec<String>,
}

fn bad(reason: &'static str) -> TlogError {
    TlogError::MalformedCheckpoint(reason)
}

/// A checkpoint line: non-empty, no control character (newline included).
fn check_line(line: &str, empty: &'static str) -> Result<(), TlogError> {
    if line.is_empty() {
        return Err(bad(empty));
    }
    if line.chars().any(|c| c < ' ') {
        return Err(bad("control character"));
    }
    Ok(())
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root: Hash) -> Self {
        Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text, checking the origin and extension lines.
    pub fn to_text(&self) -> Result<String, TlogError> {
        check_line(&self.origin, "empty origin")?;
        for line in &self.extensions {
            check_line(line, "empty extension line")?;
        }
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        Ok(text)
    }

    /// Parses a checkpoint note text, strictly: at least three lines, each non-empty; the size
    /// in decimal without leading zeros; the root canonical base64 of exactly 32 bytes.
    pub fn parse_text(text: &str) -> Result<Self, TlogError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(bad("text must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().ok_or(bad("no origin"))?;
        check_line(origin, "empty origin")?;
        let size = lines.next().ok_or(bad("no tree size"))?;
        let size_ok = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        if !size_ok {
            return Err(bad("tree size is not a decimal without leading zeros"));
        }
        let size: u64 = size.parse().map_err(|_| bad("tree size too large"))?;
        let root = lines.next().ok_or(bad("no root hash"))?;
        let root = STANDARD
            .decode(root)
            .map_err(|_| bad("root hash is not base64"))?;
        let root: Hash = root
            .try_into()
            .map_err(|_| bad("root hash is not 32 bytes"))?;
        let mut extensions = Vec::new();
        for line in lines {
            check_line(line, "empty extension line")?;
            extensions.push(line.to_owned());
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The signed note (bytes) of this checkpoint, signed by `signer`.
    pub fn sign(&self, signer: &NoteSigner) -> Result<Vec<u8>, TlogError> {
        Ok(SignedNote::sign(&self.to_text()?, &[signer])?.to_bytes())
    }

    /// Opens a checkpoint note: verifies it with `verifier` (at least one signature by that
    /// key, all of its signatures valid; others ignored), then parses the text and checks it
    /// is `origin`'s.
    pub fn open(note: &[u8], origin: &str, verifier: &NoteVerifier) -> Result<Self, TlogError> {
        let note = SignedNote::open(note, verifier)?;
        let checkpoint = Self::parse_text(note.text())?;
        if checkpoint.origin != origin {
            return Err(TlogError::WrongOrigin {
                expected: origin.to_owned(),
                found: checkpoint.origin,
            });
        }
        Ok(checkpoint)
    }
}
