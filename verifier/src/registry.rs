//! Which TEE verifiers are enabled. Insecure ones exist only when configured explicitly.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tracing::warn;

use crate::collateral::CollateralSet;
use crate::tee::snp::certs::Endorsements;
use crate::tee::tdx::collateral::TdxEndorsements;
use crate::tee::tpm::trust::TpmTrust;

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

/// Where the verifiers' offline trust material lives and how strict they are: what the KBS's
/// configuration and `warden-verifier serve` both name.
#[derive(Debug, Clone, Default)]
pub struct VerifierSources {
    /// Enables the software-only `sample` TEE. Insecure; off by default.
    pub allow_insecure_sample: bool,
    /// VCEK/VLEK certificates and AMD CRLs.
    pub snp_collateral_dir: Option<PathBuf>,
    /// INSECURE development roots (sim-snp).
    pub snp_insecure_dev_roots: Option<PathBuf>,
    /// Refuse SNP evidence unless a fresh AMD CRL covers it.
    pub snp_require_crl: bool,
    /// Intel collateral.
    pub tdx_collateral_dir: Option<PathBuf>,
    /// Accept TDX evidence whose PCK chain cannot be checked against Intel CRLs. Off by default.
    pub tdx_allow_missing_crl: bool,
    /// AK CA certificates and pinned AK keys.
    pub tpm_trust_dir: Option<PathBuf>,
    /// Accept SHA-1 TPM signatures and PCR banks. Off by default.
    pub tpm_allow_sha1: bool,
}

impl VerifierSettings {
    /// Reads every directory `sources` names now, so appraisal never touches the filesystem,
    /// and says loudly which insecure modes are on.
    pub fn load(sources: &VerifierSources) -> Result<Self, String> {
        if sources.allow_insecure_sample {
            warn!(
                "INSECURE: the software-only sample TEE is enabled; its results carry no hardware assurance and are marked insecure"
            );
        }
        if sources.tdx_allow_missing_crl {
            warn!(
                "WEAKENED: TDX evidence is accepted when no Intel CRL covers its PCK chain (allow_missing_crl); a revoked platform would pass"
            );
        }
        if sources.tpm_allow_sha1 {
            warn!(
                "WEAKENED: SHA-1 TPM quote signatures and SHA-1 PCR banks are accepted (allow_sha1); SHA-1 collisions are practical"
            );
        }
        let snp_dev_roots = match &sources.snp_insecure_dev_roots {
            Some(dir) => {
                let roots = AmdRoots::load_dev_roots(dir)?;
                warn!(
                    dir = %dir.display(),
                    "INSECURE: trusting SNP development roots (sim-snp); results verified through them are marked insecure"
                );
                Some(roots)
            }
            None => None,
        };
        Ok(VerifierSettings {
            allow_insecure_sample: sources.allow_insecure_sample,
            snp_dev_roots,
            snp_collateral: Arc::new(Collateral::new(Endorsements::from_optional_dir(
                sources.snp_collateral_dir.as_deref(),
            )?)),
            snp_require_crl: sources.snp_require_crl,
            tdx_collateral: Arc::new(TdxCollateral::new(TdxEndorsements::from_optional_dir(
                sources.tdx_collateral_dir.as_deref(),
            )?)),
            tdx_allow_missing_crl: sources.tdx_allow_missing_crl,
            tpm_trust: Arc::new(SharedTpmTrust::new(TpmTrust::from_optional_dir(
                sources.tpm_trust_dir.as_deref(),
            )?)),
            tpm_allow_sha1: sources.tpm_allow_sha1,
        })
    }
}

/// The enabled TEE verifiers, by TEE.
pub struct VerifierRegistry {
    verifiers: BTreeMap<Tee, Arc<dyn Verifier>>,
    /// The TPM trust its TPM verifiers read, for whatever adds registered AKs to it.
    tpm_trust: Arc<SharedTpmTrust>,
}

impl VerifierRegistry {
    /// Builds the verifiers `settings` enable: every hardware TEE always, `sample` only when
    /// allowed.
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
        Self {
            verifiers,
            tpm_trust: settings.tpm_trust.clone(),
        }
    }

    /// The TPM trust its TPM verifiers read (AKs registered at run time are added here).
    pub fn tpm_trust(&self) -> &Arc<SharedTpmTrust> {
        &self.tpm_trust
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

    /// The TEEs with a verifier, in [`Tee`] order.
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
