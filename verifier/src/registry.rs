//! Which TEE verifiers are enabled. Insecure ones exist only when configured explicitly.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::tee::snp::SnpVerifier;
use crate::tee::snp::certs::{AmdRoots, Collateral, ProductRoots};
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
        verifiers.insert(Tee::Snp, Arc::new(snp));
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
        assert!(matches!(
            registry.verifier_for("tdx"),
            Err(Rejection::UnsupportedTee(Tee::Tdx))
        ));
        let enabled = VerifierRegistry::new(&VerifierSettings {
            allow_insecure_sample: true,
            ..Default::default()
        });
        assert!(enabled.verifier_for("sample").is_ok());
    }
}
