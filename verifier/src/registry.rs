//! Which TEE verifiers are enabled. Insecure ones exist only when configured explicitly.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::tee::azure::AzureVtpmVerifier;
use crate::tee::snp::SnpVerifier;
use crate::tee::snp::certs::{AmdRoots, Collateral, ProductRoots};
use crate::tee::tdx::TdxVerifier;
use crate::tee::tdx::collateral::TdxCollateral;
use crate::tee::tpm::TpmVerifier;
use crate::tee::tpm::trust::SharedTpmTrust;
use crate::tee::{Rejection, Tee, Verifier, sample::SampleVerifier};

/// Settings that decide which verifiers a registry holds.
#[derive(Debug, Clone, Default)]
pub struct VerifierSettings {
    /// Enables the software-only `sample` TEE. Insecure; off by default.
    pub allow_insecure_sample: bool,
    /// INSECURE development roots trusted for SNP in addition to AMD's (sim-snp).
    pub snp_dev_roots: Option<ProductRoots>,
    /// Offline SNP endorsements (VCEK/VLEK certificates, AMD CRLs), shared with whatever adds
    /// to them (the KBS's KDS fetcher).
    pub snp_collateral: Arc<Collateral>,
    /// Refuse SNP evidence unless a fresh AMD CRL covers it.
    pub snp_require_crl: bool,
    /// Offline Intel collateral (TCB info, QE identity, CRLs, TCB signing chain), shared with
    /// whatever adds to it (the KBS's PCS fetcher).
    pub tdx_collateral: Arc<TdxCollateral>,
    /// Accept TDX evidence whose PCK chain cannot be checked against Intel CRLs (the check is
    /// then reported as NOT CHECKED). Off by default: missing CRLs refuse the evidence.
    pub tdx_allow_missing_crl: bool,
    /// TPM AK trust: CA certificates, pinned keys, and AKs registered by credential activation
    /// (the KBS adds those at run time).
    pub tpm_trust: Arc<SharedTpmTrust>,
    /// Accept SHA-1 TPM signatures and PCR banks. Off by default.
    pub tpm_allow_sha1: bool,
}

pub struct VerifierRegistry {
    verifiers: BTreeMap<Tee, Arc<dyn Verifier>>,
}

impl VerifierRegistry {
    pub fn new(settings: &VerifierSettings) -> Self {
        let mut verifiers: BTreeMap<Tee, Arc<dyn Verifier>> = BTreeMap::new();
        if settings.allow_insecure_sample {
            verifiers.insert(Tee::Sample, Arc::new(SampleVerifier));
        }
        let mut snp_roots = AmdRoots::pinned();
        if let Some(dev_roots) = &settings.snp_dev_roots {
            snp_roots = snp_roots.with(dev_roots.clone());
        }
        let snp = SnpVerifier::with_shared_collateral(snp_roots, settings.snp_collateral.clone())
            .require_crl(settings.snp_require_crl);
        let snp = Arc::new(snp);
        verifiers.insert(Tee::Snp, snp.clone());
        verifiers.insert(Tee::AzSnpVtpm, Arc::new(AzureVtpmVerifier::snp(snp)));
        let tdx = TdxVerifier::with_shared_collateral(settings.tdx_collateral.clone())
            .require_crl(!settings.tdx_allow_missing_crl);
        let tdx = Arc::new(tdx);
        verifiers.insert(Tee::Tdx, tdx.clone());
        verifiers.insert(Tee::AzTdxVtpm, Arc::new(AzureVtpmVerifier::tdx(tdx)));
        let tpm = TpmVerifier::with_shared_trust(settings.tpm_trust.clone())
            .allow_sha1(settings.tpm_allow_sha1);
        verifiers.insert(Tee::Tpm, Arc::new(tpm));
        Self { verifiers }
    }

    /// Resolves a wire TEE name to its verifier, explaining precisely why when there is none.
    pub fn verifier_for(&self, tee_name: &str) -> Result<Arc<dyn Verifier>, Rejection> {
        let tee = Tee::from_name(tee_name)
            .ok_or_else(|| Rejection::UnknownTee(tee_name.chars().take(64).collect()))?;
        match self.verifiers.get(&tee) {
            Some(verifier) => Ok(verifier.clone()),
            None if tee == Tee::Sample => Err(Rejection::TeeDisabled(
                tee,
                "start the KBS with --insecure-allow-sample to enable it",
            )),
            None => Err(Rejection::UnsupportedTee(tee)),
        }
    }

    pub fn enabled(&self) -> impl Iterator<Item = Tee> + '_ {
        self.verifiers.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_off_by_default() {
        let registry = VerifierRegistry::new(&VerifierSettings::default());
        assert!(matches!(
            registry.verifier_for("sample"),
            Err(Rejection::TeeDisabled(..))
        ));
        assert!(matches!(
            registry.verifier_for("nope"),
            Err(Rejection::UnknownTee(_))
        ));
        assert!(registry.verifier_for("snp").is_ok());
        assert!(registry.verifier_for("tdx").is_ok());
        for tee in ["tpm", "az-snp-vtpm", "az-tdx-vtpm"] {
            assert_eq!(registry.verifier_for(tee).unwrap().tee().name(), tee);
        }
        let enabled = VerifierRegistry::new(&VerifierSettings {
            allow_insecure_sample: true,
            ..Default::default()
        });
        assert!(enabled.verifier_for("sample").is_ok());
    }
}
