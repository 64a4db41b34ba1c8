//! Names both sides of attested code signing agree on: the certificate extensions Warden's
//! signing CA writes and deployers' verifiers read, and the in-toto / SLSA identifiers.

/// Fulcio's deprecated "Issuer" (V1) extension: the issuer URL as raw bytes, without DER.
/// sigstore-python 4.5.1 `verify identity --cert-oidc-issuer` reads only this one
/// (`verify/policy.py`, `OIDCIssuer`), so Warden's leaves carry it beside the V2 extension.
pub const OID_FULCIO_ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
/// Fulcio's "Issuer (V2)" extension: the issuer URL as a DER UTF8String.
pub const OID_FULCIO_ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
/// Content octets of [`OID_FULCIO_ISSUER_V2`], for matching parsed extensions.
pub const OID_FULCIO_ISSUER_V2_DER: &[u8] =
    &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01, 0x08];
/// Warden's OID arc: `2.25.<UUID e6eb7b8d-e380-4421-a3ca-130ab303a82c>` (ITU-T X.667), fixed
/// once; Warden has no IANA enterprise number.
pub const WARDEN_OID_ARC: &str = "2.25.306945134770246660403135696116780345388";
/// Warden's attested-facts extension (non-critical): a DER UTF8String holding RFC 8785 JSON of
/// the attestation the certificate was issued on (see `docs/attested-signing.md`).
pub const OID_WARDEN_ATTESTED_FACTS: &str = "2.25.306945134770246660403135696116780345388.1";
/// Content octets of [`OID_WARDEN_ATTESTED_FACTS`]: its 128-bit arc is beyond most OID types.
pub const OID_WARDEN_ATTESTED_FACTS_DER: &[u8] = &[
    0x69, 0x83, 0xcd, 0xeb, 0xbd, 0xe3, 0xbc, 0xb8, 0x82, 0x90, 0xc3, 0xa3, 0xe5, 0x84, 0xe1, 0xab,
    0x98, 0x8e, 0xd0, 0x2c, 0x01,
];
/// The policy OID of Warden's RFC 3161 timestamps (`<arc>.2`).
pub const OID_WARDEN_TSA_POLICY: &str = "2.25.306945134770246660403135696116780345388.2";
/// `predicateType` of SLSA Provenance v1.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// Path under the issuer URL where builder identities live: `<issuer>/builders/<name>`.
pub const BUILDERS_PATH: &str = "/builders/";
