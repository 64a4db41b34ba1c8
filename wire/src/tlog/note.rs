//! C2SP signed notes (<https://c2sp.org/signed-note>, fetched from github.com/C2SP/C2SP
//! `signed-note.md`): a text ending in a newline, a blank line, then signature lines
//! `— <key name> <base64(key ID (4 bytes, big-endian) || signature)>`.
//!
//! Two signature types, each with the key-ID rule its specification gives:
//! - **Ed25519** (type `0x01`, C2SP signed-note §"Ed25519 signatures"): RFC 8032 over the note
//!   text; key ID = `SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]`. The
//!   golang.org/x/mod `sumdb/note` vectors are reproduced in the tests.
//! - **ECDSA P-256** (type `0x02`, C2SP signed-note §"Signature types": "ECDSA signatures as
//!   implemented by github.com/transparency-dev/witness … the key ID for these signatures is
//!   the truncated SHA-256 hash of the DER encoded public key in SPKI format"). This is the rule
//!   Rekor v2 follows for its checkpoints: sigstore/rekor-tiles `pkg/note/note.go`
//!   (`ecdsaKeyHash`: `SHA-256(x509.MarshalPKIXPublicKey(key))[:4]`, no key name; signatures
//!   from sigstore's ECDSA signer, ASN.1 DER over SHA-256 of the note text) and `CLIENTS.md`
//!   ("For ECDSA signatures … key ID = SHA-256(PKIX ASN.1 DER-encoded public key, in
//!   SubjectPublicKeyInfo format)[:4]"). The rekor-tiles key-ID test vector is reproduced in the
//!   tests.
//!
//! Verifier keys are `<name>+<hex key ID>+<base64(type || public key)>`. For Ed25519 the public
//! key is the 32-byte RFC 8032 encoding (specified); for ECDSA the signed-note specification
//! does not define the vkey encoding, and Warden writes the DER SubjectPublicKeyInfo, the bytes
//! its key ID hashes.
//!
//! Parsing is strict and bounded: at most [`MAX_NOTE_BYTES`] bytes and [`MAX_SIGNATURES`]
//! signature lines, valid UTF-8 without control characters other than newline, canonical
//! padded base64. Signatures by other keys are ignored; at least one signature by the expected
//! key must verify, and any signature by it that does not is a refusal.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use super::TlogError;
use crate::signing_key::{KeyAlgorithm, SigningKeyPair};

/// The largest note accepted or produced, in bytes.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

/// The most signature lines a note may carry (the specification's minimum to accept).
pub const MAX_SIGNATURES: usize = 16;

/// The signature line prefix: em dash (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// DER SubjectPublicKeyInfo of an uncompressed P-256 key, up to the point:
/// `SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0 unused bits) … }`.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
const P256_SPKI_LEN: usize = 26 + 65;

/// A note signature type Warden signs and verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoteKeyType {
    /// Ed25519, signature type `0x01`.
    Ed25519,
    /// ECDSA P-256 with SHA-256 (DER signatures), signature type `0x02`.
    EcdsaP256,
}

impl NoteKeyType {
    /// The signature type identifier byte.
    pub fn type_byte(self) -> u8 {
        match self {
            Self::Ed25519 => 0x01,
            Self::EcdsaP256 => 0x02,
        }
    }
}

/// Whether `name` is a valid key name: non-empty, no Unicode space, no `+`, and (as note text)
/// no control character.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c < ' ')
}

/// A public key that verifies note signatures, with its name and key ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    /// The hash whose first four bytes are the key ID.
    full_key_id: [u8; 32],
    key_id: u32,
    key_type: NoteKeyType,
    /// Ed25519: the 32-byte key; ECDSA: the DER SubjectPublicKeyInfo.
    public_key: Vec<u8>,
}

impl NoteVerifier {
    /// An Ed25519 verifier for `name` with the 32-byte RFC 8032 public key.
    pub fn ed25519(name: &str, public_key: &[u8]) -> Result<Self, TlogError> {
        if !valid_name(name) {
            return Err(TlogError::BadKey("invalid key name"));
        }
        if public_key.len() != 32 {
            return Err(TlogError::BadKey("an Ed25519 public key is 32 bytes"));
        }
        let mut hasher = Sha256::new();
        hasher.update(name.as_bytes());
        hasher.update([0x0a, NoteKeyType::Ed25519.type_byte()]);
        hasher.update(public_key);
        let full_key_id: [u8; 32] = hasher.finalize().into();
        Ok(Self {
            name: name.to_owned(),
            full_key_id,
            key_id: key_id_of(&full_key_id),
            key_type: NoteKeyType::Ed25519,
            public_key: public_key.to_vec(),
        })
    }

    /// An ECDSA P-256 verifier for `name` with the DER SubjectPublicKeyInfo of an uncompressed
    /// P-256 key; key ID `SHA-256(SPKI)[:4]` (Rekor v2's rule, see the module documentation).
    pub fn ecdsa_p256(name: &str, spki_der: &[u8]) -> Result<Self, TlogError> {
        if !valid_name(name) {
            return Err(TlogError::BadKey("invalid key name"));
        }
        if spki_der.len() != P256_SPKI_LEN
            || spki_der[..P256_SPKI_PREFIX.len()] != P256_SPKI_PREFIX
            || spki_der[P256_SPKI_PREFIX.len()] != 0x04
        {
            return Err(TlogError::BadKey(
                "not the SubjectPublicKeyInfo of an uncompressed P-256 key",
            ));
        }
        let full_key_id: [u8; 32] = Sha256::digest(spki_der).into();
        Ok(Self {
            name: name.to_owned(),
            full_key_id,
            key_id: key_id_of(&full_key_id),
            key_type: NoteKeyType::EcdsaP256,
            public_key: spki_der.to_vec(),
        })
    }

    /// Parses a verifier key `<name>+<hex key ID>+<base64(type || public key)>`; the key ID
    /// must be the one the name and key give.
    pub fn from_vkey(vkey: &str) -> Result<Self, TlogError> {
        // The name and key ID contain no `+`; the base64 key may.
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(TlogError::BadKey("a verifier key has three parts"));
        };
        if id_hex.len() != 8
            || !id_hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(TlogError::BadKey("key ID is not 8 lower-case hex digits"));
        }
        let key_id =
            u32::from_str_radix(id_hex, 16).map_err(|_| TlogError::BadKey("key ID is not hex"))?;
        let key = STANDARD
            .decode(key64)
            .map_err(|_| TlogError::BadKey("key is not base64"))?;
        let verifier = match key.split_first() {
            Some((0x01, public_key)) => Self::ed25519(name, public_key)?,
            Some((0x02, spki)) => Self::ecdsa_p256(name, spki)?,
            _ => return Err(TlogError::BadKey("unsupported signature type")),
        };
        if verifier.key_id != key_id {
            return Err(TlogError::BadKey("key ID does not match the name and key"));
        }
        Ok(verifier)
    }

    /// The verifier key text, `<name>+<hex key ID>+<base64(type || public key)>`.
    pub fn to_vkey(&self) -> String {
        let mut key = Vec::with_capacity(1 + self.public_key.len());
        key.push(self.key_type.type_byte());
        key.extend_from_slice(&self.public_key);
        format!("{}+{:08x}+{}", self.name, self.key_id, STANDARD.encode(key))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The key ID before truncation: the SHA-256 whose first four bytes are
    /// [`key_id`](Self::key_id). Rekor v2 uses it as a log's ID (`logId.keyId` of its entries
    /// and `logId`/`checkpointKeyId` in a trusted root; sigstore/rekor-tiles `CLIENTS.md`,
    /// "TrustedRoot lookup by checkpoint key ID").
    pub fn full_key_id(&self) -> [u8; 32] {
        self.full_key_id
    }

    /// The signature type.
    pub fn key_type(&self) -> NoteKeyType {
        self.key_type
    }

    /// The public key: the 32-byte Ed25519 key, or the ECDSA key's DER SubjectPublicKeyInfo.
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// Whether `signature` (without the key ID) is this key's signature over `text`.
    pub fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        match self.key_type {
            NoteKeyType::Ed25519 => KeyAlgorithm::Ed25519.verify(&self.public_key, text, signature),
            NoteKeyType::EcdsaP256 => KeyAlgorithm::EcdsaP256.verify(
                &self.public_key[P256_SPKI_PREFIX.len()..],
                text,
                signature,
            ),
        }
    }
}

fn key_id_of(digest: &[u8]) -> u32 {
    let mut id = [0u8; 4];
    id.copy_from_slice(&digest[..4]);
    u32::from_be_bytes(id)
}

/// A private key that signs notes under a key name.
#[derive(Debug)]
pub struct NoteSigner {
    verifier: NoteVerifier,
    key: SigningKeyPair,
}

impl NoteSigner {
    /// A signer for `name` with an Ed25519 or ECDSA P-256 key (P-384 is refused: Rekor v2 and
    /// the witness ecosystem use P-256).
    pub fn new(name: &str, key: SigningKeyPair) -> Result<Self, TlogError> {
        let verifier = match key.algorithm() {
            KeyAlgorithm::Ed25519 => NoteVerifier::ed25519(name, key.public_key_bits())?,
            KeyAlgorithm::EcdsaP256 => NoteVerifier::ecdsa_p256(name, key.spki_der())?,
            KeyAlgorithm::EcdsaP384 => {
                return Err(TlogError::BadKey("note keys are Ed25519 or ECDSA P-256"));
            }
        };
        Ok(Self { verifier, key })
    }

    /// The matching verifier.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// The key name.
    pub fn name(&self) -> &str {
        self.verifier.name()
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.verifier.key_id()
    }

    /// This key's signature over `text`.
    pub fn sign(&self, text: &[u8]) -> Result<NoteSignature, TlogError> {
        let signature = self.key.sign(text).map_err(|_| TlogError::Signing)?;
        Ok(NoteSignature {
            name: self.name().to_owned(),
            key_id: self.key_id(),
            signature,
        })
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key ID (the first four bytes of the encoded signature, big-endian).
    pub key_id: u32,
    /// The signature proper (after the key ID).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The signature line, with its newline.
    fn line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.signature);
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, STANDARD.encode(raw))
    }
}

/// A signed note, parsed but not yet trusted: read its text only after [`verify`](Self::verify).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    text: String,
    signatures: Vec<NoteSignature>,
}

/// Refuses text that is not note text: empty, not ending in a newline, or with a control
/// character other than newline.
fn check_text(text: &str) -> Result<(), TlogError> {
    if !text.ends_with('\n') {
        return Err(TlogError::MalformedNote("text must end with a newline"));
    }
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(TlogError::MalformedNote("control character"));
    }
    Ok(())
}

impl SignedNote {
    /// Signs `text` (ending in a newline) with each signer, in order.
    pub fn sign(text: &str, signers: &[&NoteSigner]) -> Result<Self, TlogError> {
        check_text(text)?;
        if signers.is_empty() {
            return Err(TlogError::MalformedNote("a note needs a signature"));
        }
        if signers.len() > MAX_SIGNATURES {
            return Err(TlogError::TooManySignatures);
        }
        let signatures = signers
            .iter()
            .map(|signer| signer.sign(text.as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        let note = Self {
            text: text.to_owned(),
            signatures,
        };
        if note.to_bytes().len() > MAX_NOTE_BYTES {
            return Err(TlogError::NoteTooLarge);
        }
        Ok(note)
    }

    /// Parses a note, strictly and within bounds; verifies nothing.
    pub fn parse(bytes: &[u8]) -> Result<Self, TlogError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(TlogError::NoteTooLarge);
        }
        let note = std::str::from_utf8(bytes).map_err(|_| TlogError::MalformedNote("not UTF-8"))?;
        if note.chars().any(|c| c < ' ' && c != '\n') {
            return Err(TlogError::MalformedNote("control character"));
        }
        // The text is separated from the signatures by the last blank line.
        let split = note.rfind("\n\n").ok_or(TlogError::MalformedNote(
            "no blank line before the signatures",
        ))?;
        let (text, block) = (&note[..split + 1], &note[split + 2..]);
        let Some(block) = block.strip_suffix('\n') else {
            return Err(TlogError::MalformedNote(
                "signatures must end with a newline",
            ));
        };
        if block.is_empty() {
            return Err(TlogError::MalformedNote("no signature"));
        }
        let mut signatures = Vec::new();
        for line in block.split('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(TlogError::TooManySignatures);
            }
            let rest = line
                .strip_prefix(SIGNATURE_PREFIX)
                .ok_or(TlogError::MalformedNote("signature line without em dash"))?;
            let (name, encoded) = rest
                .split_once(' ')
                .ok_or(TlogError::MalformedNote("signature line without a name"))?;
            if !valid_name(name) {
                return Err(TlogError::MalformedNote("invalid key name"));
            }
            let raw = STANDARD
                .decode(encoded)
                .map_err(|_| TlogError::MalformedNote("signature is not base64"))?;
            if raw.len() < 5 {
                return Err(TlogError::MalformedNote("signature too short"));
            }
            let (id, signature) = raw.split_at(4);
            let mut key_id = [0u8; 4];
            key_id.copy_from_slice(id);
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id: u32::from_be_bytes(key_id),
                signature: signature.to_vec(),
            });
        }
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Parses `bytes` and verifies it with `verifier` (see [`verify`](Self::verify)).
    pub fn open(bytes: &[u8], verifier: &NoteVerifier) -> Result<Self, TlogError> {
        let note = Self::parse(bytes)?;
        note.verify(verifier)?;
        Ok(note)
    }

    /// Checks the signatures by `verifier`'s key (same name and key ID): at least one, and
    /// every one must verify. Signatures by other keys are ignored.
    pub fn verify(&self, verifier: &NoteVerifier) -> Result<(), TlogError> {
        let mut verified = false;
        for signature in &self.signatures {
            if signature.name != verifier.name || signature.key_id != verifier.key_id {
                continue;
            }
            if !verifier.verify(self.text.as_bytes(), &signature.signature) {
                return Err(TlogError::InvalidSignature {
                    name: verifier.name.clone(),
                    key_id: verifier.key_id,
                });
            }
            verified = true;
        }
        if verified {
            Ok(())
        } else {
            Err(TlogError::NotSigned {
                name: verifier.name.clone(),
                key_id: verifier.key_id,
            })
        }
    }

    /// The note text, with its final newline. Unverified unless [`verify`](Self::verify) passed.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// The note: text, blank line, signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.text.clone();
        out.push('\n');
        for signature in &self.signatures {
            out.push_str(&signature.line());
        }
        out.into_bytes()
    }
}
