//! Where trust in an attestation key (AK) comes from, chosen by what the operator configures:
//!
//! * **AK certificate**: the evidence's AK certificate chains, through the evidence's or the
//!   configured intermediates, to a configured CA root (e.g. Google's GCE vTPM EK/AK CA).
//! * **Pinned key**: the operator registered the AK's public key (a reference value).
//! * **Registered by credential activation**: the KBS proved, with TPM2_MakeCredential /
//!   TPM2_ActivateCredential, that the AK lives in the same TPM as an EK whose certificate
//!   chains to a configured TPM-manufacturer root, and recorded the AK.
//!
//! Keys are trusted by the SHA-256 of their DER SubjectPublicKeyInfo, not by TPM name: the same
//! key material is trusted whatever `TPMT_PUBLIC` attributes a quote's evidence later claims for
//! it (the attributes were checked once, at registration). A pinned key is revoked by removing
//! its file and restarting; a registered one on the verifier service by `RevokeTpmAk`.
//!
//! CA certificates on a path must be CAs (basicConstraints cA, or a trust anchor without the
//! extension), may sign certificates (keyUsage, when present) and have no more CA certificates
//! below them than their pathLenConstraint allows.
//!
//! [`TpmTrust`] is a [`CollateralSet`]: certificates (DER or PEM), public keys (DER or PEM SPKI)
//! and AK `TPMT_PUBLIC`s (registered AKs) are recognised by content, so a directory of them is
//! the configuration, and the KBS adds registrations to the same shared set at run time.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use warden_wire::tpm::{KeyMaterial, PublicKey};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey as SpkiKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::collateral::{CollateralError, CollateralSet, SharedCollateral};
use crate::tee::rfc3339;
use crate::x509::{CertError, Scheme, X509Cert, pem_certificates};

/// Signature schemes accepted on EK/AK certificate chains.
pub const TPM_CA_SCHEMES: &[Scheme] = &[
    Scheme::RsaPkcs1Sha256,
    Scheme::RsaPkcs1Sha384,
    Scheme::EcdsaP256Sha256,
    Scheme::EcdsaP384Sha384,
];

/// An EK or AK certificate, or a CA certificate on their path.
pub type Cert = X509Cert<PathExtensions>;

/// `tcg-kp-EKCertificate`: the extended key usage the TCG EK credential profile requires.
pub const OID_EK_CERTIFICATE: &str = "2.23.133.8.1";

/// The standard extensions path building obeys (RFC 5280 4.2.1.3, 4.2.1.9, 4.2.1.12).
/// Extensions that cannot be read leave every field at its refusing value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathExtensions {
    /// basicConstraints, `None` when absent: `(cA, pathLenConstraint)`.
    pub basic_constraints: Option<(bool, Option<u32>)>,
    /// False only when keyUsage is present without keyCertSign.
    pub key_cert_sign: bool,
    /// extendedKeyUsage purposes (dotted OIDs); empty when absent.
    pub extended_key_usage: Vec<String>,
}

impl PathExtensions {
    fn read(cert: &x509_parser::certificate::X509Certificate<'_>) -> Self {
        let (Ok(basic), Ok(usage), Ok(extended)) = (
            cert.basic_constraints(),
            cert.key_usage(),
            cert.extended_key_usage(),
        ) else {
            // Duplicated or malformed: neither a CA nor an EK certificate.
            return PathExtensions {
                basic_constraints: Some((false, None)),
                ..PathExtensions::default()
            };
        };
        let mut extended_key_usage = Vec::new();
        if let Some(extended) = extended {
            extended_key_usage.extend(extended.value.other.iter().map(|oid| oid.to_id_string()));
        }
        PathExtensions {
            basic_constraints: basic.map(|b| (b.value.ca, b.value.path_len_constraint)),
            key_cert_sign: usage.is_none_or(|u| u.value.key_cert_sign()),
            extended_key_usage,
        }
    }

    /// Whether a CA certificate may sign the next certificate down, which has
    /// `intermediates_below` CA certificates under it on the path. A trust anchor
    /// (`is_root`) may lack basicConstraints (an X.509 v1 root); an intermediate may not.
    fn may_issue(&self, intermediates_below: u32, is_root: bool) -> Result<(), String> {
        match self.basic_constraints {
            None if is_root => {}
            None | Some((false, _)) => return Err("is not a CA (basicConstraints)".into()),
            Some((true, Some(limit))) if intermediates_below > limit => {
                return Err(format!(
                    "allows {limit} CA certificate(s) below it (pathLenConstraint), the path has {intermediates_below}"
                ));
            }
            Some((true, _)) => {}
        }
        if self.key_cert_sign {
            Ok(())
        } else {
            Err("may not sign certificates (keyUsage lacks keyCertSign)".into())
        }
    }
}

impl Cert {
    /// Parses one DER certificate and its path extensions.
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        Self::parse_with(der, PathExtensions::read)
    }

    /// Whether the certificate says it is for an EK (`tcg-kp-EKCertificate`).
    pub fn is_ek_certificate(&self) -> bool {
        self.ext
            .extended_key_usage
            .iter()
            .any(|oid| oid == OID_EK_CERTIFICATE)
    }
}

/// Why a key, certificate or certificate path is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// No root is configured, so nothing can chain to one.
    #[error("{label} cannot be checked: no TPM CA root is configured")]
    NoRoots {
        /// What was to be checked.
        label: String,
    },
    /// A certificate sent with the evidence, or a configured one, is malformed.
    #[error("chain certificate: {0}")]
    Certificate(#[from] CertError),
    /// A certificate on the path is not valid at the verification time.
    #[error("{label} is not valid at {at} (valid {from} to {until})")]
    NotValid {
        /// The certificate.
        label: String,
        /// The verification time (RFC 3339).
        at: String,
        /// Its notBefore (RFC 3339).
        from: String,
        /// Its notAfter (RFC 3339).
        until: String,
    },
    /// The root the path reaches is not valid at the verification time.
    #[error("root {root} is not valid at {at}")]
    RootNotValid {
        /// The root's common name.
        root: String,
        /// The verification time (RFC 3339).
        at: String,
    },
    /// A CA on the path may not issue what it issued.
    #[error("{ca} {reason}")]
    MayNotIssue {
        /// `root <name>` or `CA <name>`.
        ca: String,
        /// What its extensions forbid.
        reason: String,
    },
    /// No configured CA or sent certificate issued the certificate.
    #[error(
        "{label} is not issued by a configured TPM CA (issuer not found or signature does not verify)"
    )]
    NoIssuer {
        /// The certificate.
        label: String,
    },
    /// The path would be longer than is tried.
    #[error("no path to a root within {0} certificates")]
    TooLong(usize),
    /// A key that is not an SPKI or `TPMT_PUBLIC` Warden reads.
    #[error("{0}")]
    Key(String),
    /// An AK a TPM could not have made itself, or that could pass activation without being in it.
    #[error("{0}")]
    NotRegistrable(String),
}

/// Check details and the layers above read trust errors as text.
impl From<TrustError> for String {
    fn from(error: TrustError) -> String {
        error.to_string()
    }
}

/// How a trusted key was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Configured by the operator.
    Pinned,
    /// Recorded by the KBS after credential activation against a trusted EK.
    Registered,
}

impl KeyOrigin {
    /// The origin's name in claims (`pinned`, `registered`).
    pub fn name(self) -> &'static str {
        match self {
            KeyOrigin::Pinned => "pinned",
            KeyOrigin::Registered => "registered",
        }
    }
}

/// CA certificates and trusted AK keys.
#[derive(Debug, Clone, Default)]
pub struct TpmTrust {
    /// Self-issued CA certificates: the trust anchors.
    pub roots: Vec<Arc<Cert>>,
    /// Other CA certificates: usable to build a path, trusted only through a root.
    pub intermediates: Vec<Arc<Cert>>,
    /// Trusted AK keys by SHA-256 of their DER SubjectPublicKeyInfo.
    pub keys: HashMap<[u8; 32], KeyOrigin>,
}

/// The TPM trust shared by the verifiers and whatever adds to it (the KBS's registrations).
pub type SharedTpmTrust = SharedCollateral<TpmTrust>;

impl TpmTrust {
    /// Adds a CA certificate (DER): a self-issued one as a root, any other as an intermediate.
    pub fn add_certificate(&mut self, der: &[u8]) -> Result<(), TrustError> {
        let cert = Arc::new(Cert::from_der(der)?);
        let list = if cert.self_issued() {
            &mut self.roots
        } else {
            &mut self.intermediates
        };
        if !list
            .iter()
            .any(|known| known.fingerprint == cert.fingerprint)
        {
            list.push(cert);
        }
        Ok(())
    }

    /// Trusts a key given as a DER SPKI or an AK `TPMT_PUBLIC`. A key the operator pinned stays
    /// pinned when it is also registered (so revoking the registration cannot drop it).
    pub fn add_key(&mut self, bytes: &[u8], origin: KeyOrigin) -> Result<(), TrustError> {
        let key = AkKey::from_bytes(bytes).map_err(TrustError::Key)?;
        let known = self.keys.entry(key.spki_sha256).or_insert(origin);
        if *known != KeyOrigin::Pinned {
            *known = origin;
        }
        Ok(())
    }

    /// Stops trusting a key registered by credential activation (`bytes` as for
    /// [`TpmTrust::add_key`]); a key the operator pinned stays. Whether one was removed.
    pub fn remove_registered_key(&mut self, bytes: &[u8]) -> Result<bool, TrustError> {
        let key = AkKey::from_bytes(bytes).map_err(TrustError::Key)?;
        if self.keys.get(&key.spki_sha256) == Some(&KeyOrigin::Registered) {
            self.keys.remove(&key.spki_sha256);
            return Ok(true);
        }
        Ok(false)
    }

    /// How `key` came to be trusted; `None` when it is not a trusted key.
    pub fn key_origin(&self, key: &AkKey) -> Option<KeyOrigin> {
        self.keys.get(&key.spki_sha256).copied()
    }
}

impl CollateralSet for TpmTrust {
    fn add_bytes(&mut self, bytes: &[u8]) -> Result<(), CollateralError> {
        if bytes.starts_with(b"-----BEGIN") {
            let mut added = 0;
            for der in pem_certificates(bytes)? {
                self.add_certificate(&der)?;
                added += 1;
            }
            for item in x509_parser::pem::Pem::iter_from_buffer(bytes) {
                let item = item.map_err(|e| format!("PEM: {e}"))?;
                if item.label == "PUBLIC KEY" {
                    self.add_key(&item.contents, KeyOrigin::Pinned)?;
                    added += 1;
                }
            }
            return if added == 0 {
                Err("PEM without a CERTIFICATE or PUBLIC KEY block".into())
            } else {
                Ok(())
            };
        }
        if Cert::from_der(bytes).is_ok() {
            return Ok(self.add_certificate(bytes)?);
        }
        self.add_key(bytes, KeyOrigin::Pinned).map_err(|e| {
            format!("neither an X.509 certificate nor a public key (SPKI or TPMT_PUBLIC): {e}")
                .into()
        })
    }
}

/// Longest certificate path tried (leaf, intermediates, root).
const MAX_CHAIN_DEPTH: usize = 6;

/// Whether `ak_public` (a `TPMT_PUBLIC`) may be registered as an AK: one a TPM can only have
/// made itself: restricted, fixedTPM and fixedParent signing key (a key loaded from outside
/// with its private part must have fixedTPM clear), named with
/// SHA-256, and with an empty authPolicy. A public-only key loaded with `TPM2_LoadExternal` may
/// carry any attributes, but without a policy it has no authorisation that
/// `TPM2_ActivateCredential` could accept for it.
pub fn registrable_ak(ak_public: &[u8]) -> Result<PublicKey, TrustError> {
    let ak = PublicKey::parse(ak_public).map_err(|e| TrustError::Key(format!("ak_public: {e}")))?;
    use warden_wire::tpm::attributes::{DECRYPT, FIXED_PARENT, FIXED_TPM, RESTRICTED, SIGN};
    if !ak.has_attributes(RESTRICTED | SIGN | FIXED_TPM | FIXED_PARENT)
        || ak.has_attributes(DECRYPT)
        || ak.name_alg != warden_wire::tpm::HashAlg::Sha256
    {
        return Err(TrustError::NotRegistrable(format!(
            "the AK must be a restricted, fixedTPM, fixedParent signing key named with SHA-256 (attributes {:#010x})",
            ak.attributes
        )));
    }
    if !ak.auth_policy.is_empty() {
        return Err(TrustError::NotRegistrable(
            "the AK has an authPolicy: an AK must have none, or a key that never was in the TPM could pass activation"
                .into(),
        ));
    }
    Ok(ak)
}

/// Builds a path from `leaf` (called `label` in messages) to one of `trust`'s roots, through the
/// certificates `sent` with the evidence and `trust`'s intermediates, every certificate valid at
/// `at`. `issued(cert, ca)` says whether `ca` signed `cert` (callers cache it). Returns the
/// root's name. Shared by AK certificates (verifier) and EK certificates (KBS registration).
pub fn chain_to_root(
    trust: &TpmTrust,
    leaf: &Cert,
    label: &str,
    sent: &[Vec<u8>],
    at: i64,
    issued: &dyn Fn(&Cert, &Cert) -> bool,
) -> Result<String, TrustError> {
    if trust.roots.is_empty() {
        return Err(TrustError::NoRoots {
            label: label.to_owned(),
        });
    }
    let sent: Vec<Arc<Cert>> = sent
        .iter()
        .map(|der| Cert::from_der(der).map(Arc::new))
        .collect::<Result<_, _>>()?;
    let mut current = Arc::new(leaf.clone());
    let mut label = label.to_owned();
    for depth in 0..MAX_CHAIN_DEPTH {
        // The CA certificates between the leaf and current's issuer.
        let intermediates_below = depth as u32;
        if !current.valid_at(at) {
            return Err(TrustError::NotValid {
                label,
                at: rfc3339(at),
                from: rfc3339(current.not_before),
                until: rfc3339(current.not_after),
            });
        }
        if let Some(root) = trust.roots.iter().find(|root| issued(&current, root)) {
            root.ext
                .may_issue(intermediates_below, true)
                .map_err(|reason| TrustError::MayNotIssue {
                    ca: format!("root {}", root.name()),
                    reason,
                })?;
            if !root.valid_at(at) {
                return Err(TrustError::RootNotValid {
                    root: root.name().to_owned(),
                    at: rfc3339(at),
                });
            }
            return Ok(root.name().to_owned());
        }
        let Some(next) = sent
            .iter()
            .chain(&trust.intermediates)
            .find(|ca| ca.fingerprint != current.fingerprint && issued(&current, ca))
        else {
            return Err(TrustError::NoIssuer { label });
        };
        next.ext
            .may_issue(intermediates_below, false)
            .map_err(|reason| TrustError::MayNotIssue {
                ca: format!("CA {}", next.name()),
                reason,
            })?;
        current = next.clone();
        label = format!("CA {}", current.name());
    }
    Err(TrustError::TooLong(MAX_CHAIN_DEPTH))
}

/// Whether `ca` issued `cert`, by name and by signature with a TPM CA scheme (uncached).
pub fn issued_by(cert: &Cert, ca: &Cert) -> bool {
    cert.names_issuer(ca) && cert.verify_issued_by_with(ca, TPM_CA_SCHEMES).is_ok()
}

/// An AK's public key in every form the checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AkKey {
    /// The key itself (RSA or EC).
    pub material: KeyMaterial,
    /// SHA-256 of the DER SubjectPublicKeyInfo: the identity keys are pinned and reported by.
    pub spki_sha256: [u8; 32],
    /// Present when the evidence gave a `TPMT_PUBLIC`: attributes and TPM name are known.
    pub tpm_public: Option<PublicKey>,
}

impl AkKey {
    /// From a DER SPKI (first byte 0x30, a SEQUENCE) or a `TPMT_PUBLIC`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        if bytes.first() == Some(&0x30) {
            Self::from_spki(bytes)
        } else {
            PublicKey::parse(bytes)
                .map_err(|e| e.to_string())
                .and_then(Self::from_tpm)
        }
    }

    /// From a parsed `TPMT_PUBLIC`.
    pub fn from_tpm(public: PublicKey) -> Result<Self, String> {
        let spki = spki_der(&public.key)?;
        Ok(AkKey {
            material: public.key.clone(),
            spki_sha256: Sha256::digest(&spki).into(),
            tpm_public: Some(public),
        })
    }

    /// A key known only by its material (Azure's AK from the HCL runtime claims).
    pub fn from_tpm_material(material: KeyMaterial) -> Result<Self, String> {
        let spki = spki_der(&material)?;
        Ok(AkKey {
            material,
            spki_sha256: Sha256::digest(&spki).into(),
            tpm_public: None,
        })
    }

    /// From a DER SubjectPublicKeyInfo (RSA, or EC on P-256 or P-384); nothing may follow it.
    pub fn from_spki(der: &[u8]) -> Result<Self, String> {
        let (rest, spki) = SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| format!("not a DER SubjectPublicKeyInfo: {e}"))?;
        if !rest.is_empty() {
            return Err("bytes follow the SubjectPublicKeyInfo".into());
        }
        let material = match spki.parsed() {
            Ok(SpkiKey::RSA(rsa)) => KeyMaterial::Rsa {
                modulus: strip_leading_zeros(rsa.modulus).to_vec(),
                exponent: u32::try_from(rsa.try_exponent().map_err(|e| e.to_string())?)
                    .map_err(|_| "RSA exponent larger than 32 bits")?,
            },
            Ok(SpkiKey::EC(point)) => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|params| params.as_oid().ok())
                    .and_then(|oid| curve_for_oid(&oid.to_id_string()))
                    .ok_or("EC key on a curve other than P-256 or P-384")?;
                let coordinate = coordinate_len(curve);
                let bytes = point.data();
                if bytes.len() != 1 + 2 * coordinate || bytes[0] != 0x04 {
                    return Err("EC point is not uncompressed".into());
                }
                KeyMaterial::Ecc {
                    curve,
                    x: bytes[1..=coordinate].to_vec(),
                    y: bytes[1 + coordinate..].to_vec(),
                }
            }
            _ => return Err("public key is neither RSA nor EC".into()),
        };
        Ok(AkKey {
            material,
            spki_sha256: Sha256::digest(der).into(),
            tpm_public: None,
        })
    }

    /// What the key is, for claims and messages.
    pub fn describe(&self) -> String {
        match &self.material {
            KeyMaterial::Rsa { modulus, .. } => format!("RSA-{}", modulus.len() * 8),
            KeyMaterial::Ecc { curve, .. } => match *curve {
                warden_wire::tpm::ECC_NIST_P256 => "ECC P-256".into(),
                warden_wire::tpm::ECC_NIST_P384 => "ECC P-384".into(),
                other => format!("ECC curve {other:#06x}"),
            },
        }
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";

fn curve_for_oid(oid: &str) -> Option<u16> {
    match oid {
        OID_P256 => Some(warden_wire::tpm::ECC_NIST_P256),
        OID_P384 => Some(warden_wire::tpm::ECC_NIST_P384),
        _ => None,
    }
}

fn coordinate_len(curve: u16) -> usize {
    if curve == warden_wire::tpm::ECC_NIST_P384 {
        48
    } else {
        32
    }
}

/// The DER SubjectPublicKeyInfo of a TPM key, so keys are identified the same way whether the
/// evidence gave a `TPMT_PUBLIC`, a certificate or an SPKI.
pub fn spki_der(key: &KeyMaterial) -> Result<Vec<u8>, String> {
    match key {
        KeyMaterial::Rsa { modulus, exponent } => {
            let exponent = if *exponent == 0 { 65_537 } else { *exponent };
            let rsa_key = der::sequence(&[
                der::unsigned_integer(strip_leading_zeros(modulus)),
                der::unsigned_integer(strip_leading_zeros(&exponent.to_be_bytes())),
            ]);
            // rsaEncryption, NULL parameters.
            let algorithm = der::sequence(&[
                der::oid(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01]),
                vec![0x05, 0x00],
            ]);
            Ok(der::sequence(&[algorithm, der::bit_string(&rsa_key)]))
        }
        KeyMaterial::Ecc { curve, x, y } => {
            let (curve_oid, len): (&[u8], usize) = match *curve {
                warden_wire::tpm::ECC_NIST_P256 => {
                    (&[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07], 32)
                }
                warden_wire::tpm::ECC_NIST_P384 => (&[0x2B, 0x81, 0x04, 0x00, 0x22], 48),
                other => return Err(format!("ECC curve {other:#06x} is not supported")),
            };
            if x.len() > len || y.len() > len {
                return Err("ECC coordinate longer than the curve".into());
            }
            let mut point = vec![0x04];
            point.extend(std::iter::repeat_n(0, len - x.len()));
            point.extend(x);
            point.extend(std::iter::repeat_n(0, len - y.len()));
            point.extend(y);
            // id-ecPublicKey with the named curve.
            let algorithm = der::sequence(&[
                der::oid(&[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]),
                der::oid(curve_oid),
            ]);
            Ok(der::sequence(&[algorithm, der::bit_string(&point)]))
        }
    }
}

/// The few DER encodings an SPKI needs.
mod der {
    fn tagged(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let significant = &bytes[bytes.iter().position(|&b| b != 0).unwrap_or(0)..];
            out.push(0x80 | significant.len() as u8);
            out.extend(significant);
        }
        out.extend(content);
        out
    }

    pub(super) fn sequence(parts: &[Vec<u8>]) -> Vec<u8> {
        tagged(0x30, &parts.concat())
    }

    pub(super) fn oid(encoded: &[u8]) -> Vec<u8> {
        tagged(0x06, encoded)
    }

    /// A non-negative INTEGER from big-endian bytes without leading zeros.
    pub(super) fn unsigned_integer(bytes: &[u8]) -> Vec<u8> {
        let mut content = Vec::with_capacity(bytes.len() + 1);
        if bytes.first().is_none_or(|&b| b & 0x80 != 0) {
            content.push(0);
        }
        content.extend(bytes);
        tagged(0x02, &content)
    }

    pub(super) fn bit_string(bytes: &[u8]) -> Vec<u8> {
        let mut content = vec![0];
        content.extend(bytes);
        tagged(0x03, &content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_key_stays_pinned_when_registered_and_is_not_revoked_with_the_registration() {
        use p256::pkcs8::EncodePublicKey as _;
        let spki = p256::SecretKey::random(&mut rand::rngs::OsRng)
            .public_key()
            .to_public_key_der()
            .unwrap();
        let key = AkKey::from_bytes(spki.as_bytes()).unwrap();
        let mut trust = TpmTrust::default();
        trust.add_key(spki.as_bytes(), KeyOrigin::Pinned).unwrap();
        trust
            .add_key(spki.as_bytes(), KeyOrigin::Registered)
            .unwrap();
        assert_eq!(trust.key_origin(&key), Some(KeyOrigin::Pinned));
        assert!(!trust.remove_registered_key(spki.as_bytes()).unwrap());
        assert_eq!(trust.key_origin(&key), Some(KeyOrigin::Pinned));

        let mut registered = TpmTrust::default();
        registered
            .add_key(spki.as_bytes(), KeyOrigin::Registered)
            .unwrap();
        assert!(registered.remove_registered_key(spki.as_bytes()).unwrap());
        assert_eq!(registered.key_origin(&key), None);
    }

    #[test]
    fn rsa_and_ec_keys_round_trip_through_spki() {
        let rsa = KeyMaterial::Rsa {
            modulus: [vec![0xC1], vec![7; 255]].concat(),
            exponent: 0,
        };
        let der = spki_der(&rsa).unwrap();
        let parsed = AkKey::from_spki(&der).unwrap();
        let KeyMaterial::Rsa { modulus, exponent } = &parsed.material else {
            panic!("not RSA")
        };
        assert_eq!((modulus.len(), *exponent), (256, 65_537));
        assert_eq!(parsed.spki_sha256, <[u8; 32]>::from(Sha256::digest(&der)));

        let ec = KeyMaterial::Ecc {
            curve: warden_wire::tpm::ECC_NIST_P256,
            x: vec![1; 32],
            y: vec![2; 31],
        };
        let parsed = AkKey::from_spki(&spki_der(&ec).unwrap()).unwrap();
        let KeyMaterial::Ecc { x, y, .. } = &parsed.material else {
            panic!("not EC")
        };
        assert_eq!(x, &vec![1; 32]);
        assert_eq!(y[0], 0);
        assert_eq!(parsed.describe(), "ECC P-256");
    }

    #[test]
    fn trust_material_is_recognised_by_content() {
        let mut trust = TpmTrust::default();
        assert!(trust.add_bytes(b"not a key").is_err());
        assert!(
            trust
                .add_bytes(b"-----BEGIN NOTHING-----\n-----END NOTHING-----\n")
                .is_err()
        );
        let der = spki_der(&KeyMaterial::Rsa {
            modulus: vec![0xC1; 256],
            exponent: 65_537,
        })
        .unwrap();
        trust.add_bytes(&der).unwrap();
        let key = AkKey::from_spki(&der).unwrap();
        assert_eq!(trust.key_origin(&key), Some(KeyOrigin::Pinned));
    }

    mod paths {
        use super::*;
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
            KeyUsagePurpose,
        };

        fn params(name: &str, is_ca: IsCa) -> CertificateParams {
            let mut params = CertificateParams::default();
            params.distinguished_name.push(DnType::CommonName, name);
            params.is_ca = is_ca;
            params
        }

        fn ca(
            params: CertificateParams,
            issuer: &CertifiedIssuer<'_, KeyPair>,
        ) -> CertifiedIssuer<'static, KeyPair> {
            CertifiedIssuer::signed_by(params, KeyPair::generate().unwrap(), issuer).unwrap()
        }

        fn leaf(issuer: &CertifiedIssuer<'_, KeyPair>) -> Cert {
            let der = params("leaf", IsCa::ExplicitNoCa)
                .signed_by(&KeyPair::generate().unwrap(), issuer)
                .unwrap();
            Cert::from_der(der.der()).unwrap()
        }

        /// Chains a leaf issued by the last of `cas` (each issued by the one before, the first
        /// by `root`) to `root`.
        fn chain(
            root: &CertifiedIssuer<'_, KeyPair>,
            cas: &[&CertifiedIssuer<'_, KeyPair>],
        ) -> Result<String, TrustError> {
            let mut trust = TpmTrust::default();
            trust.add_certificate(root.der()).unwrap();
            let issuer = cas.last().copied().unwrap_or(root);
            let sent: Vec<Vec<u8>> = cas.iter().map(|ca| ca.der().to_vec()).collect();
            chain_to_root(&trust, &leaf(issuer), "the leaf", &sent, AT, &issued_by)
        }

        /// Inside rcgen's default validity (1975 to 4096).
        const AT: i64 = 1_800_000_000;

        #[test]
        fn only_ca_certificates_that_may_sign_and_within_their_path_length_issue() {
            let root_params = params("root", IsCa::Ca(BasicConstraints::Unconstrained));
            let root =
                CertifiedIssuer::self_signed(root_params, KeyPair::generate().unwrap()).unwrap();
            let good = ca(
                params("good CA", IsCa::Ca(BasicConstraints::Constrained(0))),
                &root,
            );
            assert_eq!(chain(&root, &[&good]).unwrap(), "root");

            let not_ca = ca(params("leaf-shaped", IsCa::ExplicitNoCa), &root);
            let error = chain(&root, &[&not_ca]).unwrap_err();
            assert!(
                matches!(&error, TrustError::MayNotIssue { ca, .. } if ca == "CA leaf-shaped"),
                "{error}"
            );
            assert!(
                error.to_string().contains("leaf-shaped is not a CA"),
                "{error}"
            );
            let unmarked = ca(params("unmarked", IsCa::NoCa), &root);
            assert!(
                chain(&root, &[&unmarked])
                    .unwrap_err()
                    .to_string()
                    .contains("is not a CA")
            );

            let mut signing_only =
                params("signing only", IsCa::Ca(BasicConstraints::Unconstrained));
            signing_only.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            let signing_only = ca(signing_only, &root);
            assert!(
                chain(&root, &[&signing_only])
                    .unwrap_err()
                    .to_string()
                    .contains("keyCertSign")
            );

            // good allows no CA below it; a second CA under it breaks that.
            let below = ca(
                params("below", IsCa::Ca(BasicConstraints::Unconstrained)),
                &good,
            );
            let error = chain(&root, &[&good, &below]).unwrap_err().to_string();
            assert!(error.contains("good CA allows 0"), "{error}");
            let open = ca(
                params("open", IsCa::Ca(BasicConstraints::Unconstrained)),
                &root,
            );
            let under_open = ca(
                params("under open", IsCa::Ca(BasicConstraints::Unconstrained)),
                &open,
            );
            assert_eq!(chain(&root, &[&open, &under_open]).unwrap(), "root");

            let tight_root_params =
                params("tight root", IsCa::Ca(BasicConstraints::Constrained(0)));
            let tight_root =
                CertifiedIssuer::self_signed(tight_root_params, KeyPair::generate().unwrap())
                    .unwrap();
            assert!(chain(&tight_root, &[]).is_ok());
            let middle = ca(
                params("middle", IsCa::Ca(BasicConstraints::Unconstrained)),
                &tight_root,
            );
            let error = chain(&tight_root, &[&middle]).unwrap_err().to_string();
            assert!(error.contains("root tight root allows 0"), "{error}");
        }

        #[test]
        fn the_ek_purpose_is_read_from_the_extended_key_usage() {
            let root_params = params("root", IsCa::Ca(BasicConstraints::Unconstrained));
            let root =
                CertifiedIssuer::self_signed(root_params, KeyPair::generate().unwrap()).unwrap();
            assert!(!leaf(&root).is_ek_certificate());
            let mut ek = params("ek", IsCa::ExplicitNoCa);
            ek.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::Other(vec![
                2, 23, 133, 8, 1,
            ])];
            let der = ek.signed_by(&KeyPair::generate().unwrap(), &root).unwrap();
            assert!(Cert::from_der(der.der()).unwrap().is_ek_certificate());
        }
    }
}
