//! The few DER encodings certificates need, written out directly.
//!
//! Why not a typed encoder: Warden's certificate extension lives under a `2.25.<UUID>` arc
//! (ITU-T X.667), whose 128-bit component neither `const-oid` (u32 arcs) nor rcgen (u64 arcs)
//! can represent; and the TSA certificate needs a critical ExtendedKeyUsage, which rcgen never
//! writes. Every output is checked by OpenSSL and x509-parser in the tests.

use time::OffsetDateTime;

const TAG_BOOLEAN: u8 = 0x01;
const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_UTF8_STRING: u8 = 0x0c;
const TAG_UTC_TIME: u8 = 0x17;
const TAG_GENERALIZED_TIME: u8 = 0x18;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;

/// One TLV with a definite length.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

pub(crate) fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    tlv(TAG_SEQUENCE, &parts.concat())
}

pub(crate) fn set(parts: &[&[u8]]) -> Vec<u8> {
    tlv(TAG_SET, &parts.concat())
}

/// An OBJECT IDENTIFIER from dotted text; arcs up to 128 bits. `None` for malformed text.
pub(crate) fn oid(dotted: &str) -> Option<Vec<u8>> {
    let arcs: Vec<u128> = dotted
        .split('.')
        .map(|a| a.parse::<u128>().ok())
        .collect::<Option<_>>()?;
    let (&first, rest) = arcs.split_first()?;
    let (&second, rest) = rest.split_first()?;
    if first > 2 || (first < 2 && second >= 40) {
        return None;
    }
    let mut content = Vec::new();
    for arc in std::iter::once(first * 40 + second).chain(rest.iter().copied()) {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        content.extend(groups.iter().rev());
    }
    Some(tlv(TAG_OID, &content))
}

/// An OID the code names as a constant; a malformed constant is a programming error caught by
/// the unit tests, so it encodes as an empty OID rather than panicking.
pub(crate) fn known_oid(dotted: &str) -> Vec<u8> {
    oid(dotted).unwrap_or_else(|| tlv(TAG_OID, &[]))
}

/// A non-negative INTEGER from big-endian magnitude bytes.
pub(crate) fn unsigned_integer(magnitude: &[u8]) -> Vec<u8> {
    let trimmed: &[u8] = {
        let skip = magnitude.iter().take_while(|b| **b == 0).count();
        &magnitude[skip.min(magnitude.len().saturating_sub(1))..]
    };
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.is_empty() || trimmed[0] & 0x80 != 0 {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    tlv(TAG_INTEGER, &content)
}

pub(crate) fn small_integer(value: u64) -> Vec<u8> {
    unsigned_integer(&value.to_be_bytes())
}

pub(crate) fn boolean_true() -> Vec<u8> {
    tlv(TAG_BOOLEAN, &[0xff])
}

pub(crate) fn octet_string(content: &[u8]) -> Vec<u8> {
    tlv(TAG_OCTET_STRING, content)
}

pub(crate) fn utf8_string(text: &str) -> Vec<u8> {
    tlv(TAG_UTF8_STRING, text.as_bytes())
}

/// A BIT STRING of whole bytes (no unused bits).
pub(crate) fn bit_string(bytes: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(bytes.len() + 1);
    content.push(0);
    content.extend_from_slice(bytes);
    tlv(TAG_BIT_STRING, &content)
}

/// A named-bit BIT STRING (as KeyUsage) with bits numbered from the most significant bit of
/// the first byte, trailing zero bits removed as DER requires.
pub(crate) fn named_bits(bits: &[u8]) -> Vec<u8> {
    let Some(&highest) = bits.iter().max() else {
        return tlv(TAG_BIT_STRING, &[0]);
    };
    let mut bytes = vec![0u8; usize::from(highest) / 8 + 1];
    for &bit in bits {
        bytes[usize::from(bit) / 8] |= 0x80 >> (bit % 8);
    }
    let unused = 7 - highest % 8;
    let mut content = vec![unused];
    content.extend_from_slice(&bytes);
    tlv(TAG_BIT_STRING, &content)
}

pub(crate) fn context_explicit(number: u8, content: &[u8]) -> Vec<u8> {
    tlv(0xa0 | number, content)
}

pub(crate) fn context_primitive(number: u8, content: &[u8]) -> Vec<u8> {
    tlv(0x80 | number, content)
}

/// X.509 Time: UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5), whole seconds.
pub(crate) fn x509_time(at: OffsetDateTime) -> Vec<u8> {
    let at = at.to_offset(time::UtcOffset::UTC);
    let year = at.year();
    let rest = format!(
        "{:02}{:02}{:02}{:02}{:02}Z",
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    if (1950..2050).contains(&year) {
        tlv(TAG_UTC_TIME, format!("{:02}{rest}", year % 100).as_bytes())
    } else {
        generalized_time(at)
    }
}

/// GeneralizedTime in whole seconds with `Z`, as RFC 3161's genTime and DER require.
pub(crate) fn generalized_time(at: OffsetDateTime) -> Vec<u8> {
    let at = at.to_offset(time::UtcOffset::UTC);
    let text = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    tlv(TAG_GENERALIZED_TIME, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_encode_as_x690_says_including_uuid_arcs() {
        assert_eq!(
            oid("1.2.840.10045.4.3.2").unwrap(),
            [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]
        );
        // X.667's own example: 2.25.329800735698586629295641978511506172918
        let uuid = oid("2.25.329800735698586629295641978511506172918").unwrap();
        assert_eq!(&uuid[..3], &[0x06, 0x14, 0x69]);
        assert_eq!(uuid.len(), 22);
        assert!(oid("3.1").is_none());
        assert!(oid("1.40").is_none());
        assert!(oid("1").is_none());
        assert!(oid("1.2.x").is_none());
    }

    #[test]
    fn the_shared_oid_octets_are_what_this_encoder_writes() {
        use warden_wire::code_signing::*;
        assert_eq!(
            oid(OID_WARDEN_ATTESTED_FACTS).unwrap()[2..],
            *OID_WARDEN_ATTESTED_FACTS_DER
        );
        assert_eq!(
            oid(OID_FULCIO_ISSUER_V2).unwrap()[2..],
            *OID_FULCIO_ISSUER_V2_DER
        );
    }

    #[test]
    fn integers_lengths_and_bits_are_minimal() {
        assert_eq!(unsigned_integer(&[0, 0, 0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(unsigned_integer(&[0, 0]), [0x02, 0x01, 0x00]);
        assert_eq!(small_integer(2), [0x02, 0x01, 0x02]);
        assert_eq!(&tlv(0x04, &[0; 200])[..3], &[0x04, 0x81, 200]);
        assert_eq!(&tlv(0x04, &[0; 300])[..4], &[0x04, 0x82, 0x01, 0x2c]);
        // digitalSignature (0) alone: one byte, seven unused bits.
        assert_eq!(named_bits(&[0]), [0x03, 0x02, 0x07, 0x80]);
        // keyCertSign (5) + cRLSign (6).
        assert_eq!(named_bits(&[5, 6]), [0x03, 0x02, 0x01, 0x06]);
    }

    #[test]
    fn times_switch_to_generalized_after_2049() {
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(x509_time(t), tlv(0x17, b"231114221320Z"));
        let late = OffsetDateTime::from_unix_timestamp(2_600_000_000).unwrap();
        assert_eq!(x509_time(late)[0], 0x18);
        assert_eq!(generalized_time(t), tlv(0x18, b"20231114221320Z"));
    }
}
