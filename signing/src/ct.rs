//! Certificate transparency (RFC 6962 §3): the signed certificate timestamp (SCT) Warden's own
//! CT key gives every code-signing certificate, embedded in it as Sigstore clients require.
//!
//! Warden is both the CA and the log, so no precertificate is ever issued: the SCT signs the
//! certificate's TBS *without* the SCT-list extension, which is exactly what a verifier
//! reconstructs from the final certificate (the precertificate TBS of RFC 6962 §3.2, whose
//! poison extension is removed before signing). Structures are TLS-encoded (RFC 5246 §4).

use sha2::{Digest, Sha256};
use warden_wire::signing_key::{KeyAlgorithm, SigningKeyPair};

use crate::SigningError;
use crate::certificate::Extension;

/// The SCT-list extension (`1.3.6.1.4.1.11129.2.4.2`), non-critical.
pub const OID_SCT_LIST: &str = "1.3.6.1.4.1.11129.2.4.2";

/// `sct_version` v1.
const SCT_V1: u8 = 0;
/// `SignatureType.certificate_timestamp`.
const CERTIFICATE_TIMESTAMP: u8 = 0;
/// `LogEntryType.precert_entry`.
const PRECERT_ENTRY: u16 = 1;
/// `HashAlgorithm.sha256` and `SignatureAlgorithm.ecdsa` (RFC 5246 §7.4.1.4.1).
const SHA256_ECDSA: [u8; 2] = [4, 3];

/// The log ID of a CT key: SHA-256 of its DER SubjectPublicKeyInfo (RFC 6962 §3.2).
pub fn log_id(spki_der: &[u8]) -> [u8; 32] {
    Sha256::digest(spki_der).into()
}

fn u24_prefixed(bytes: &[u8]) -> Result<Vec<u8>, SigningError> {
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|len| *len < 1 << 24)
        .ok_or(SigningError::Certificate("TBS too large for an SCT"))?;
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend_from_slice(bytes);
    Ok(out)
}

fn u16_prefixed(bytes: &[u8]) -> Result<Vec<u8>, SigningError> {
    let len = u16::try_from(bytes.len())
        .map_err(|_| SigningError::Certificate("SCT field longer than 65535 bytes"))?;
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    Ok(out)
}

/// The bytes an SCT for a precertificate signs (RFC 6962 §3.2 `digitally-signed struct`):
/// version, signature type, timestamp, entry type, issuer key hash, the TBS, no extensions.
pub fn signed_data(
    timestamp_ms: u64,
    issuer_spki_der: &[u8],
    tbs_without_sct: &[u8],
) -> Result<Vec<u8>, SigningError> {
    let mut data = vec![SCT_V1, CERTIFICATE_TIMESTAMP];
    data.extend_from_slice(&timestamp_ms.to_be_bytes());
    data.extend_from_slice(&PRECERT_ENTRY.to_be_bytes());
    data.extend_from_slice(&Sha256::digest(issuer_spki_der));
    data.extend(u24_prefixed(tbs_without_sct)?);
    data.extend_from_slice(&0u16.to_be_bytes());
    Ok(data)
}

/// A serialized SCT (RFC 6962 §3.2 `SignedCertificateTimestamp`) by `log_key` (ECDSA P-256)
/// over the certificate whose TBS without the SCT-list extension is `tbs_without_sct`.
pub fn sign_sct(
    log_key: &SigningKeyPair,
    timestamp_ms: u64,
    issuer_spki_der: &[u8],
    tbs_without_sct: &[u8],
) -> Result<Vec<u8>, SigningError> {
    if log_key.algorithm() != KeyAlgorithm::EcdsaP256 {
        return Err(SigningError::Certificate("the CT key must be ECDSA P-256"));
    }
    let signature = log_key.sign(&signed_data(
        timestamp_ms,
        issuer_spki_der,
        tbs_without_sct,
    )?)?;
    let mut sct = vec![SCT_V1];
    sct.extend_from_slice(&log_id(log_key.spki_der()));
    sct.extend_from_slice(&timestamp_ms.to_be_bytes());
    sct.extend_from_slice(&0u16.to_be_bytes());
    sct.extend_from_slice(&SHA256_ECDSA);
    sct.extend(u16_prefixed(&signature)?);
    Ok(sct)
}

/// The SCT-list extension holding `scts`: extnValue is an OCTET STRING whose content is the
/// TLS `SignedCertificateTimestampList` (RFC 6962 §3.3).
pub fn sct_list_extension(scts: &[Vec<u8>]) -> Result<Extension, SigningError> {
    let mut list = Vec::new();
    for sct in scts {
        list.extend(u16_prefixed(sct)?);
    }
    Ok(Extension {
        oid: OID_SCT_LIST,
        critical: false,
        value: crate::der::octet_string(&u16_prefixed(&list)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sct_has_the_rfc_6962_layout_and_verifies_over_its_signed_data() {
        let key = SigningKeyPair::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let sct = sign_sct(&key, 1_790_000_000_123, b"issuer spki", b"tbs").unwrap();
        assert_eq!(sct[0], 0);
        assert_eq!(&sct[1..33], &log_id(key.spki_der()));
        assert_eq!(&sct[33..41], &1_790_000_000_123u64.to_be_bytes());
        assert_eq!(&sct[41..43], &[0, 0]);
        assert_eq!(&sct[43..45], &[4, 3]);
        let len = usize::from(u16::from_be_bytes([sct[45], sct[46]]));
        assert_eq!(sct.len(), 47 + len);
        let data = signed_data(1_790_000_000_123, b"issuer spki", b"tbs").unwrap();
        assert!(KeyAlgorithm::EcdsaP256.verify(key.public_key_bits(), &data, &sct[47..]));
        let other = signed_data(1_790_000_000_123, b"issuer spki", b"tbS").unwrap();
        assert!(!KeyAlgorithm::EcdsaP256.verify(key.public_key_bits(), &other, &sct[47..]));
        let ed = SigningKeyPair::generate(KeyAlgorithm::Ed25519).unwrap();
        assert!(sign_sct(&ed, 0, b"", b"").is_err());
    }
}
