//! AMD endorsement certificates: the pinned ARK/ASK/ASVK per generation, VEK (VCEK/VLEK)
//! extensions, chain signatures and CRLs.
//!
//! Certificates are parsed with `x509-parser` and signatures checked with aws-lc-rs. AMD signs
//! with RSASSA-PSS/SHA-384; ECDSA P-384/SHA-384 is also accepted so the development chain of
//! `sim-snp` can be minted without an RSA-PSS certificate writer. Either way a chain counts only
//! when it ends in a root the verifier was configured with, and development roots mark every
//! result they produce as insecure.

use std::path::Path;

use warden_wire::snp::{Generation, Tcb};
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::Oid;

use crate::collateral::{CollateralError, CollateralSet, SharedCollateral};
pub use crate::x509::Crl;
use crate::x509::{CertError, Scheme, X509Cert, pem_certificates};

const MILAN_PEM: &str = include_str!("roots/milan_ask_ark_asvk.pem");
const GENOA_PEM: &str = include_str!("roots/genoa_ask_ark_asvk.pem");
const TURIN_PEM: &str = include_str!("roots/turin_ask_ark_asvk.pem");

/// An AMD certificate: the VEK extensions are read once at parse, when present.
pub type Cert = X509Cert<Option<VekExtensions>>;

/// What AMD signs with (RSA-PSS/SHA-384) and what the development chain uses (ECDSA P-384).
pub const AMD_SCHEMES: &[Scheme] = &[Scheme::RsaPssSha384, Scheme::EcdsaP384Sha384];

impl Cert {
    /// Parses one DER certificate; `ext` holds its VEK extensions when they all read.
    pub fn from_der(der: &[u8]) -> Result<Cert, CertError> {
        X509Cert::parse_with(der, |cert| vek_extensions_of(cert).ok())
    }

    /// Checks that `self` was issued and signed by `issuer` with one of [`AMD_SCHEMES`].
    pub fn verify_issued_by(&self, issuer: &Cert) -> Result<(), CertError> {
        self.verify_issued_by_with(issuer, AMD_SCHEMES)
    }
}

/// Reads every certificate in a PEM text, in order.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<Cert>, CertError> {
    pem_certificates(pem)?
        .iter()
        .map(|der| Cert::from_der(der))
        .collect()
}

/// One generation's signing hierarchy: ARK signs the ASK (VCEK issuer) and ASVK (VLEK issuer).
#[derive(Debug, Clone)]
pub struct ProductRoots {
    /// The processor generation (Milan, Genoa, Turin) these roots certify.
    pub generation: Generation,
    /// AMD Root Key (ARK): the self-signed root.
    pub ark: Cert,
    /// AMD SEV Signing Key (ASK): issues VCEKs.
    pub ask: Cert,
    /// AMD SEV VLEK Signing Key (ASVK): issues VLEKs; `None` when the bundle has none.
    pub asvk: Option<Cert>,
    /// `Some` for development roots: every result verified through them is insecure.
    pub insecure: Option<String>,
}

impl ProductRoots {
    /// Builds a hierarchy from a PEM bundle in AMD's order (ASK, ARK[, ASVK]) and checks that
    /// the ARK is self-signed and signs the others.
    pub fn from_pem_bundle(
        generation: Generation,
        pem: &[u8],
        insecure: Option<String>,
    ) -> Result<ProductRoots, String> {
        let mut certs = certs_from_pem(pem)?.into_iter();
        let (Some(ask), Some(ark)) = (certs.next(), certs.next()) else {
            return Err(
                "a root bundle holds the ASK then the ARK (then optionally the ASVK)".into(),
            );
        };
        let asvk = certs.next();
        ark.verify_issued_by(&ark)
            .map_err(|e| format!("ARK is not self-signed: {e}"))?;
        ask.verify_issued_by(&ark)?;
        if let Some(asvk) = &asvk {
            asvk.verify_issued_by(&ark)?;
        }
        Ok(ProductRoots {
            generation,
            ark,
            ask,
            asvk,
            insecure,
        })
    }
}

/// The trust anchors an SNP verifier accepts.
#[derive(Debug, Clone)]
pub struct AmdRoots {
    /// The trusted hierarchies: AMD's per generation, and any development roots added.
    pub products: Vec<ProductRoots>,
}

impl AmdRoots {
    /// AMD's ARK/ASK/ASVK for Milan, Genoa and Turin, compiled in. Their SHA-256 fingerprints
    /// are asserted by tests against AMD's published values.
    pub fn pinned() -> AmdRoots {
        let products = [
            (Generation::Milan, MILAN_PEM),
            (Generation::Genoa, GENOA_PEM),
            (Generation::Turin, TURIN_PEM),
        ]
        .into_iter()
        .filter_map(|(generation, pem)| {
            // The bundles are constants checked by the `pinned_roots_*` tests; a failure here
            // could only drop a generation (fail closed), never add trust.
            ProductRoots::from_pem_bundle(generation, pem.as_bytes(), None).ok()
        })
        .collect();
        AmdRoots { products }
    }

    /// Loads INSECURE development roots from `dir`: `roots.pem` (ASK, ARK[, ASVK]) and
    /// `generation` (Milan, Genoa or Turin), as written by `warden-agent sim-snp init`.
    pub fn load_dev_roots(dir: &Path) -> Result<ProductRoots, String> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| format!("{}: {e}", dir.join(name).display()))
        };
        let generation_text = String::from_utf8_lossy(&read("generation")?)
            .trim()
            .to_owned();
        let generation = Generation::from_product_name(&generation_text)
            .ok_or_else(|| format!("unknown generation {generation_text:?} in dev roots"))?;
        let reason = format!(
            "SNP evidence verified with INSECURE development roots from {} (sim-snp), not AMD's",
            dir.display()
        );
        ProductRoots::from_pem_bundle(generation, &read("roots.pem")?, Some(reason))
    }

    /// Adds another hierarchy (e.g. development roots) to the trusted ones.
    pub fn with(mut self, product: ProductRoots) -> AmdRoots {
        self.products.push(product);
        self
    }
}

/// OIDs of AMD's VEK certificate extensions (arc 1.3.6.1.4.1.3704.1).
mod oid {
    pub(super) const PRODUCT_NAME: &str = "1.3.6.1.4.1.3704.1.2";
    pub(super) const BL_SPL: &str = "1.3.6.1.4.1.3704.1.3.1";
    pub(super) const TEE_SPL: &str = "1.3.6.1.4.1.3704.1.3.2";
    pub(super) const SNP_SPL: &str = "1.3.6.1.4.1.3704.1.3.3";
    pub(super) const UCODE_SPL: &str = "1.3.6.1.4.1.3704.1.3.8";
    pub(super) const FMC_SPL: &str = "1.3.6.1.4.1.3704.1.3.9";
    pub(super) const HW_ID: &str = "1.3.6.1.4.1.3704.1.4";
    pub(super) const CSP_ID: &str = "1.3.6.1.4.1.3704.1.5";
}

/// What a VCEK or VLEK certificate says about the key it certifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VekExtensions {
    /// The product name extension (e.g. `Milan-B0`), when present.
    pub product_name: Option<String>,
    /// VCEK only: the chip it belongs to (64 bytes; 8 on Turin).
    pub hw_id: Option<Vec<u8>>,
    /// VLEK only: the cloud provider it was issued to.
    pub csp_id: Option<String>,
    /// The security patch levels the VEK was issued for (must equal the report's REPORTED_TCB).
    pub spl: Tcb,
    /// The P-384 public key as an uncompressed point.
    pub public_key: Vec<u8>,
}

/// Reads the VEK extensions of a DER VCEK or VLEK certificate (parsed like every certificate).
pub fn vek_extensions(der: &[u8]) -> Result<VekExtensions, String> {
    X509Cert::parse_with(der, vek_extensions_of)?.ext
}

fn vek_extensions_of(cert: &X509Certificate<'_>) -> Result<VekExtensions, String> {
    let find = |dotted: &str| -> Option<&[u8]> {
        let oid: Oid<'static> = dotted.parse().ok()?;
        cert.extensions()
            .iter()
            .find(|ext| ext.oid == oid)
            .map(|ext| ext.value)
    };
    let spl = |dotted: &str| -> Result<u8, String> {
        let value = find(dotted).ok_or_else(|| format!("missing SPL extension {dotted}"))?;
        der_small_uint(value)
            .ok_or_else(|| format!("SPL extension {dotted} is not a DER INTEGER 0..=255"))
    };
    let fmc = match find(oid::FMC_SPL) {
        Some(value) => {
            Some(der_small_uint(value).ok_or("fmcSPL extension is not a DER INTEGER 0..=255")?)
        }
        None => None,
    };
    Ok(VekExtensions {
        product_name: find(oid::PRODUCT_NAME).and_then(der_ia5_string),
        hw_id: find(oid::HW_ID).map(unwrap_hw_id),
        csp_id: find(oid::CSP_ID).and_then(der_ia5_string),
        spl: Tcb {
            fmc,
            bootloader: spl(oid::BL_SPL)?,
            tee: spl(oid::TEE_SPL)?,
            snp: spl(oid::SNP_SPL)?,
            microcode: spl(oid::UCODE_SPL)?,
        },
        public_key: cert.public_key().subject_public_key.data.to_vec(),
    })
}

/// KDS writes the hwID as the raw bytes; some tools wrap it in an OCTET STRING. Both are read;
/// whichever it is, it must then equal the report's CHIP_ID.
fn unwrap_hw_id(value: &[u8]) -> Vec<u8> {
    match value {
        [0x04, len, rest @ ..]
            if usize::from(*len) == rest.len() && (rest.len() == 64 || rest.len() == 8) =>
        {
            rest.to_vec()
        }
        raw => raw.to_vec(),
    }
}

/// A DER INTEGER holding 0..=255 (a leading zero byte is required for 128..=255).
fn der_small_uint(value: &[u8]) -> Option<u8> {
    match value {
        [0x02, 0x01, v] if *v < 0x80 => Some(*v),
        [0x02, 0x02, 0x00, v] if *v >= 0x80 => Some(*v),
        _ => None,
    }
}

fn der_ia5_string(value: &[u8]) -> Option<String> {
    match value {
        [0x16, len, rest @ ..] if usize::from(*len) == rest.len() => {
            String::from_utf8(rest.to_vec()).ok()
        }
        _ => None,
    }
}

/// Endorsement material recognised by content: certificates and CRLs, DER or PEM.
#[derive(Debug, Clone, Default)]
pub struct Endorsements {
    /// Certificates (VEKs, and any CA certificates), in the order read.
    pub certs: Vec<Cert>,
    /// AMD CRLs.
    pub crls: Vec<Crl>,
}

impl Endorsements {
    /// Adds whatever `bytes` holds: a DER certificate or CRL, or PEM with any number of both.
    pub fn add_bytes(&mut self, bytes: &[u8]) -> Result<(), CollateralError> {
        if bytes.starts_with(b"-----BEGIN") || bytes.iter().take(64).all(u8::is_ascii) {
            let mut found = false;
            for item in x509_parser::pem::Pem::iter_from_buffer(bytes) {
                let item = item.map_err(|e| format!("PEM: {e}"))?;
                match item.label.as_str() {
                    "CERTIFICATE" => self.certs.push(Cert::from_der(&item.contents)?),
                    "X509 CRL" => self.crls.push(Crl::from_der(&item.contents)?),
                    other => return Err(format!("unexpected PEM block {other:?}").into()),
                }
                found = true;
            }
            if found {
                return Ok(());
            }
        }
        let not_cert = match Cert::from_der(bytes) {
            Ok(cert) => {
                self.certs.push(cert);
                return Ok(());
            }
            Err(e) => e,
        };
        match Crl::from_der(bytes) {
            Ok(crl) => {
                self.crls.push(crl);
                Ok(())
            }
            Err(not_crl) => Err(format!(
                "neither a certificate ({not_cert}) nor a CRL ({not_crl}), in DER or PEM"
            )
            .into()),
        }
    }
}

impl CollateralSet for Endorsements {
    fn add_bytes(&mut self, bytes: &[u8]) -> Result<(), CollateralError> {
        Endorsements::add_bytes(self, bytes)
    }
}

/// Offline AMD endorsements, shared with the KBS's KDS fetcher.
pub type Collateral = SharedCollateral<Endorsements>;

impl Collateral {
    /// Whether a VCEK for this chip at this TCB is present (so nothing needs fetching).
    pub fn has_vcek(&self, hw_id: &[u8], tcb: &Tcb) -> bool {
        self.snapshot().certs.iter().any(|cert| {
            cert.ext
                .as_ref()
                .is_some_and(|vek| vek.hw_id.as_deref() == Some(hw_id) && vek.spl == *tcb)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn pinned_roots_match_amd_fingerprints_and_sign_their_intermediates() {
        let roots = AmdRoots::pinned();
        let ark_fingerprints: Vec<(Generation, String)> = roots
            .products
            .iter()
            .map(|p| (p.generation, hex::encode_upper(Sha256::digest(&p.ark.der))))
            .collect();
        // ARK fingerprints as published by AMD KDS (and listed in the vectors' MANIFEST).
        assert_eq!(
            ark_fingerprints,
            vec![
                (
                    Generation::Milan,
                    "69D063B45344D26A2E94E1F4210DE49EF555308287D4C174445C95639A540BCD".into()
                ),
                (
                    Generation::Genoa,
                    "4C6598D19C18719C5DFD4A7D335F674E5BFE1D8F800CEA2CF270C10D103DB2F1".into()
                ),
                (
                    Generation::Turin,
                    "1F084161A44BB6D93778A904877D4819CAFA5D05EF4193B2DED9DD9C73DD3F6A".into()
                ),
            ]
        );
        for product in &roots.products {
            let gen_name = product.generation.name();
            assert_eq!(product.ark.name(), format!("ARK-{gen_name}"));
            assert_eq!(product.ask.name(), format!("SEV-{gen_name}"));
            assert_eq!(
                product.asvk.as_ref().unwrap().name(),
                format!("SEV-VLEK-{gen_name}")
            );
            assert!(product.insecure.is_none());
        }
    }

    #[test]
    fn an_asvk_cannot_stand_in_for_an_ark_and_generations_do_not_cross() {
        let roots = AmdRoots::pinned();
        let (milan, genoa) = (&roots.products[0], &roots.products[1]);
        let asvk = milan.asvk.as_ref().unwrap();
        assert!(milan.ask.verify_issued_by(asvk).is_err());
        assert!(milan.ask.verify_issued_by(&genoa.ark).is_err());
        assert!(genoa.ask.verify_issued_by(&milan.ark).is_err());
    }

    #[test]
    fn a_collateral_directory_skips_hidden_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let ark = &AmdRoots::pinned().products[0].ark;
        std::fs::write(dir.path().join("ark.der"), &ark.der).unwrap();
        std::fs::write(dir.path().join(".kds-vcek.der.tmp"), &ark.der[..100]).unwrap();
        let loaded = Endorsements::from_dir(dir.path()).unwrap();
        assert_eq!(loaded.certs.len(), 1);
        std::fs::write(dir.path().join("broken.der"), &ark.der[..100]).unwrap();
        assert!(
            Endorsements::from_dir(dir.path()).is_err(),
            "visible junk is an error"
        );
    }

    #[test]
    fn der_helpers_accept_only_their_encodings() {
        assert_eq!(der_small_uint(&[2, 1, 115]), Some(115));
        assert_eq!(der_small_uint(&[2, 2, 0, 206]), Some(206));
        assert_eq!(der_small_uint(&[2, 1, 206]), None, "negative INTEGER");
        assert_eq!(
            der_small_uint(&[2, 2, 1, 0]),
            None,
            "256 does not fit an SPL"
        );
        assert_eq!(der_small_uint(&[4, 1, 3]), None);
        assert_eq!(
            der_ia5_string(&[0x16, 5, b'M', b'i', b'l', b'a', b'n']).as_deref(),
            Some("Milan")
        );
        assert_eq!(der_ia5_string(&[0x16, 9, b'M']), None);
        let raw: Vec<u8> = (0..64).collect();
        let wrapped = [&[0x04, 64][..], &raw].concat();
        assert_eq!(unwrap_hw_id(&raw), raw);
        assert_eq!(unwrap_hw_id(&wrapped), raw);
    }
}
