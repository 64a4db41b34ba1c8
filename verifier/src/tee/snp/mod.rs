//! AMD SEV-SNP: attestation reports v2, v3 and v5 signed by a VCEK or VLEK.
//!
//! Checks, in order (each reported by name, see [`crate::tee::Check`]):
//! `evidence_format`, `report_format`, `signature_algorithm`, `vek_chain` (VEK ← ASK/ASVK ←
//! pinned ARK), `generation` (CPUID and VEK product name agree with the chain), `validity`
//! (every certificate at the verification time), `revocation` (AMD CRLs when supplied; required
//! when configured), `vek_hwid` (VCEK hwID = CHIP_ID), `vek_tcb` (VEK SPLs = REPORTED_TCB, decoded
//! for the generation), `report_signature` (ECDSA P-384 over bytes 0x000..0x2A0), `report_data`,
//! and `host_data` (= init-data digest, when init-data was presented).
//!
//! Where the VEK comes from: the evidence's certificate table, else the offline collateral given
//! at construction. The verifier never fetches anything (see `kds` for the optional fetcher that
//! fills the collateral directory ahead of time).
//!
//! Claims (hex lower-case): `version`, `guest_svn`, `policy`, `abi_major`, `abi_minor`, `smt`,
//! `migrate_ma`, `debug`, `single_socket`, `cxl_allowed`, `mem_aes_256_xts`, `rapl_dis`,
//! `ciphertext_hiding`, `page_swap_disable`, `family_id`, `image_id`, `vmpl`, `signature_algo`,
//! `platform_info` and its bits (`platform_smt_enabled`, `platform_tsme_enabled`,
//! `platform_ecc_enabled`, `platform_rapl_disabled`, `platform_ciphertext_hiding_enabled`,
//! `platform_alias_check_complete`, `platform_tio_enabled`), `author_key_en`, `mask_chip_key`, `signing_key` (`vcek`|`vlek`),
//! `report_data`, `measurement`, `host_data`, `id_key_digest`, `author_key_digest`, `report_id`,
//! `report_id_ma`, `chip_id`, `reported_tcb`, `current_tcb`, `committed_tcb`, `launch_tcb` (each
//! `{bootloader, tee, snp, microcode[, fmc], raw}`), `current_version`, `committed_version`
//! (`major.minor.build`), `cpuid_fam_id`, `cpuid_mod_id`, `cpuid_step` (v3+),
//! `launch_mit_vector`, `current_mit_vector` (v5), `generation`, and from the VEK
//! `vek_product_name`, `vek_csp_id` when present.

pub mod certs;
pub mod evidence;

use std::sync::Arc;

use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED, ParsedPublicKey};
use serde_json::{Value, json};
use time::OffsetDateTime;
use warden_wire::snp::{
    Generation, RawTcb, Report, SIGNATURE_ALGO_ECDSA_P384_SHA384, SigningKey, Tcb,
};

use super::{
    Check, Claims, DecodingVerifier, Examination, ExpectedBinding, Tee, check_report_data, rfc3339,
};
use crate::cache::BoundedCache;
use certs::{AmdRoots, Cert, Collateral, Crl, Endorsements, VekExtensions};
pub use evidence::SnpEvidence;

/// A VEK whose chain to a trusted ARK has been verified (the expensive part, cached).
#[derive(Debug)]
struct VerifiedVek {
    product: usize,
    /// The ASK (VCEK) or ASVK (VLEK) that signed it.
    intermediate: Cert,
    /// Parsed once with the chain, so a cached appraisal does only the signature arithmetic.
    public_key: ParsedPublicKey,
    cert: Cert,
    extensions: VekExtensions,
}

/// Endorsement blobs read from one piece of evidence, and collateral VEKs tried for a chip that
/// has none of its own there (only to explain the failure).
const MAX_UNMATCHED_CANDIDATES: usize = 8;

/// The SEV-SNP verifier: trusted roots, offline collateral and the chain cache.
pub struct SnpVerifier {
    roots: AmdRoots,
    collateral: Arc<Collateral>,
    require_crl: bool,
    /// Verified VEK chains by (VEK fingerprint, signing-key kind).
    chains: BoundedCache<([u8; 32], u8), Arc<VerifiedVek>>,
    /// Whether a CRL's signature by a product's ARK verifies (failures too: a CRL that does not
    /// is not re-checked on every appraisal), by (CRL fingerprint, product index).
    crls: BoundedCache<([u8; 32], usize), bool>,
}

impl SnpVerifier {
    /// A verifier trusting `roots`, with fixed offline collateral; CRLs are not required.
    pub fn new(roots: AmdRoots, collateral: Endorsements) -> Self {
        Self::with_shared_collateral(roots, Arc::new(Collateral::new(collateral)))
    }

    /// A verifier reading collateral that others may add to (e.g. the KBS's KDS fetcher).
    pub fn with_shared_collateral(roots: AmdRoots, collateral: Arc<Collateral>) -> Self {
        Self {
            roots,
            collateral,
            require_crl: false,
            chains: BoundedCache::default(),
            crls: BoundedCache::default(),
        }
    }

    /// Refuse evidence unless a fresh AMD CRL for its generation is available.
    pub fn require_crl(mut self, require: bool) -> Self {
        self.require_crl = require;
        self
    }

    /// Examines already-decoded evidence (the CLI reads raw reports into this form).
    pub fn examine_decoded(
        &self,
        evidence: &SnpEvidence,
        expected: &ExpectedBinding,
        at: OffsetDateTime,
    ) -> Examination {
        let mut ex = Examination::default();
        let report = match Report::parse(&evidence.report) {
            Ok(report) => report,
            Err(e) => {
                ex.push(Check::fail("report_format", e.to_string()));
                return ex;
            }
        };
        ex.push(Check::pass(
            "report_format",
            format!("version {} report", report.version()),
        ));
        let cpuid_generation = report
            .cpuid()
            .and_then(|(family, model, _)| Generation::from_cpuid(family, model));
        // Until the chain names the generation, claims use the CPUID's (Milan's layout for v2
        // reports, which Genoa shares); they are rebuilt once the chain is known.
        let provisional_claims = |ex: &mut Examination| {
            ex.claims = report_claims(&report, cpuid_generation.unwrap_or(Generation::Milan));
        };

        let kind = report.signing_key();
        let algorithm_ok = report.signature_algo() == SIGNATURE_ALGO_ECDSA_P384_SHA384
            && matches!(kind, SigningKey::Vcek | SigningKey::Vlek);
        if !ex.push(if algorithm_ok {
            Check::pass("signature_algorithm", format!("ECDSA P-384 by the {}", kind.name()))
        } else {
            Check::fail(
                "signature_algorithm",
                format!(
                    "signature algorithm {} by signing key {} (need 1 = ECDSA P-384 by VCEK or VLEK)",
                    report.signature_algo(),
                    kind.name()
                ),
            )
        }) {
            provisional_claims(&mut ex);
            return ex;
        }

        let mut supplied = Endorsements::default();
        // Blobs we cannot read are set aside: only a verifying chain can make evidence pass. A
        // host attaches a handful (VEK, ASK, ARK, CRL); more would only buy an attacker signature
        // checks, so the rest are not read.
        let mut refused = Vec::new();
        for (index, blob) in (1..)
            .zip(&evidence.endorsements)
            .take(MAX_UNMATCHED_CANDIDATES)
        {
            if let Err(e) = supplied.add_bytes(blob) {
                refused.push(format!(
                    "; endorsement {index} of the evidence refused: {e}"
                ));
            }
        }
        let collateral = self.collateral.snapshot();
        let vek = match self.find_vek(&report, kind, &supplied, &collateral) {
            Ok(vek) => vek,
            Err(detail) => {
                // A refused blob may have been the VEK: the failure says why it was refused.
                ex.push(Check::fail("vek_chain", detail + &refused.concat()));
                provisional_claims(&mut ex);
                return ex;
            }
        };
        let product = &self.roots.products[vek.product];
        let generation = product.generation;
        let intermediate = &vek.intermediate;
        ex.push(Check::pass(
            "vek_chain",
            format!(
                "{} ({}) <- {} <- {}",
                kind.name().to_uppercase(),
                vek.extensions
                    .product_name
                    .as_deref()
                    .unwrap_or("no product name"),
                intermediate.name(),
                product.ark.name()
            ),
        ));
        if let Some(reason) = &product.insecure {
            ex.insecure.push(reason.clone());
        }
        ex.claims = report_claims(&report, generation);
        add_vek_claims(&mut ex.claims, &vek.extensions);

        ex.push(check_generation(
            generation,
            cpuid_generation,
            &report,
            &vek.extensions,
        ));
        ex.push(check_validity(at, [&vek.cert, intermediate, &product.ark]));
        ex.push(self.check_revocation(
            at,
            vek.product,
            [intermediate, &vek.cert],
            [&supplied, &collateral],
        ));
        ex.push(check_hw_id(&report, kind, generation, &vek.extensions));
        ex.push(check_tcb(&report, generation, &vek.extensions));
        ex.push(check_signature(&report, &vek.public_key));
        ex.push(check_report_data(report.report_data(), expected));
        if let Some(digest) = &expected.init_data_digest {
            ex.push(check_host_data(&report, digest));
        }
        ex
    }

    /// Picks the VEK for this report: candidates from the evidence first, then the offline
    /// collateral. Prefers a candidate whose chain verifies and, for a VCEK, whose hwID is this
    /// chip; otherwise explains why the first candidate failed.
    fn find_vek(
        &self,
        report: &Report,
        kind: SigningKey,
        supplied: &Endorsements,
        collateral: &Endorsements,
    ) -> Result<Arc<VerifiedVek>, String> {
        // From a large collateral directory only the VEKs that can sign this report are worth a
        // chain check: VCEKs naming this chip, or VLEKs (which name no chip). If there are none,
        // a few others are tried so that the failure can be explained; never the whole directory.
        let chip_id = report.chip_id();
        let could_sign = |cert: &&Cert| {
            cert.ext
                .as_ref()
                .is_some_and(|vek| match (kind, vek.hw_id.as_deref()) {
                    (SigningKey::Vlek, hw_id) => hw_id.is_none(),
                    (_, Some(hw_id)) => !hw_id.is_empty() && chip_id.starts_with(hw_id),
                    (_, None) => false,
                })
        };
        let mut from_collateral: Vec<&Cert> = collateral.certs.iter().filter(could_sign).collect();
        if from_collateral.is_empty() {
            from_collateral = collateral
                .certs
                .iter()
                .filter(|cert| cert.ext.is_some())
                .take(MAX_UNMATCHED_CANDIDATES)
                .collect();
        }
        let candidates: Vec<&Cert> = supplied
            .certs
            .iter()
            .chain(from_collateral)
            // Only certificates carrying AMD's VEK extensions can be a VCEK or VLEK; ARK/ASK
            // copies in a host's certificate table are not candidates (the roots are pinned).
            .filter(|cert| cert.ext.is_some())
            .collect();
        if candidates.is_empty() {
            return Err(format!(
                "no {} certificate: none in the evidence and none in the offline collateral",
                kind.name().to_uppercase()
            ));
        }
        let mut first_error = None;
        let mut verified = Vec::new();
        for cert in candidates {
            match self.verify_chain(cert, kind) {
                Ok(vek) => verified.push(vek),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let chip_matches = |vek: &&Arc<VerifiedVek>| {
            let generation = self.roots.products[vek.product].generation;
            vek.extensions.hw_id.as_deref() == Some(&report.chip_id()[..generation.chip_id_len()])
        };
        if let Some(vek) = verified.iter().find(chip_matches) {
            return Ok(vek.clone());
        }
        verified
            .into_iter()
            .next()
            .ok_or_else(|| first_error.unwrap_or_default())
    }

    fn verify_chain(&self, cert: &Cert, kind: SigningKey) -> Result<Arc<VerifiedVek>, String> {
        let key = (cert.fingerprint, kind_tag(kind));
        if let Some(hit) = self.chains.get(&key) {
            return Ok(hit);
        }
        let extensions = cert.ext.clone().ok_or_else(|| {
            format!(
                "{} is not a VCEK/VLEK: it lacks AMD's SPL extensions",
                cert.name()
            )
        })?;
        let mut tried = Vec::new();
        for (index, product) in self.roots.products.iter().enumerate() {
            let intermediate = match kind {
                SigningKey::Vlek => product.asvk.as_ref(),
                _ => Some(&product.ask),
            };
            let Some(intermediate) = intermediate else {
                continue;
            };
            tried.push(intermediate.name().to_owned());
            if cert.verify_issued_by(intermediate).is_ok() {
                let public_key =
                    ParsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &extensions.public_key)
                        .map_err(|e| format!("{}: not a P-384 public key: {e}", cert.name()))?;
                let vek = Arc::new(VerifiedVek {
                    intermediate: intermediate.clone(),
                    public_key,
                    product: index,
                    cert: cert.clone(),
                    extensions,
                });
                self.chains.insert(key, vek.clone());
                return Ok(vek);
            }
        }
        Err(format!(
            "{} certificate {:?} is not signed by any trusted {} ({})",
            kind.name().to_uppercase(),
            cert.name(),
            if kind == SigningKey::Vlek {
                "ASVK"
            } else {
                "ASK"
            },
            tried.join(", ")
        ))
    }

    /// Whether `crl` is signed by the ARK of product `index` (verified once per CRL).
    fn crl_signed_by_ark(&self, crl: &Crl, index: usize) -> bool {
        self.crls.get_or_compute((crl.fingerprint, index), || {
            crl.verify_issued_by(&self.roots.products[index].ark, certs::AMD_SCHEMES)
                .is_ok()
        })
    }

    /// AMD CRLs signed by the product's ARK, from the evidence or the collateral.
    fn check_revocation(
        &self,
        at: OffsetDateTime,
        product_index: usize,
        certs: [&Cert; 2],
        sources: [&Endorsements; 2],
    ) -> Check {
        const NAME: &str = "revocation";
        let product = &self.roots.products[product_index];
        let at_unix = at.unix_timestamp();
        let crls: Vec<&Crl> = sources
            .iter()
            .flat_map(|source| source.crls.iter())
            .filter(|crl| self.crl_signed_by_ark(crl, product_index))
            .collect();
        if crls.is_empty() {
            return if self.require_crl {
                Check::fail(
                    NAME,
                    format!("no CRL signed by {} is available", product.ark.name()),
                )
            } else {
                Check::pass(
                    NAME,
                    format!(
                        "not checked: no CRL signed by {} supplied",
                        product.ark.name()
                    ),
                )
            };
        }
        let Some(fresh) = crls.iter().find(|crl| crl.fresh_at(at_unix)) else {
            return Check::fail(
                NAME,
                format!(
                    "every CRL from {} is outside its validity at {}",
                    product.ark.name(),
                    rfc3339(at_unix)
                ),
            );
        };
        match certs.iter().find(|cert| fresh.revokes(cert)) {
            Some(revoked) => Check::fail(NAME, format!("{} is revoked", revoked.name())),
            None => Check::pass(
                NAME,
                format!("not revoked per the CRL of {}", product.ark.name()),
            ),
        }
    }
}

fn kind_tag(kind: SigningKey) -> u8 {
    match kind {
        SigningKey::Vcek => 0,
        SigningKey::Vlek => 1,
        SigningKey::None => 7,
        SigningKey::Reserved(other) => other,
    }
}

fn check_generation(
    chain: Generation,
    cpuid: Option<Generation>,
    report: &Report,
    vek: &VekExtensions,
) -> Check {
    const NAME: &str = "generation";
    if let Some((family, model, _)) = report.cpuid() {
        match cpuid {
            None => {
                return Check::fail(
                    NAME,
                    format!(
                        "CPUID family {family:#x} model {model:#x} is not a known SEV-SNP processor"
                    ),
                );
            }
            Some(cpuid) if cpuid != chain => {
                return Check::fail(
                    NAME,
                    format!("report CPUID says {cpuid} but the VEK chains to the {chain} ARK"),
                );
            }
            Some(_) => {}
        }
    }
    if let Some(name) = &vek.product_name
        && Generation::from_product_name(name) != Some(chain)
    {
        return Check::fail(
            NAME,
            format!("VEK product name {name:?} does not belong to the {chain} ARK"),
        );
    }
    Check::pass(NAME, chain.name())
}

fn check_validity<const N: usize>(at: OffsetDateTime, certs: [&Cert; N]) -> Check {
    const NAME: &str = "validity";
    let at_unix = at.unix_timestamp();
    for cert in certs {
        if !cert.valid_at(at_unix) {
            return Check::fail(
                NAME,
                format!(
                    "{} is valid {} .. {}, not at {}",
                    cert.name(),
                    rfc3339(cert.not_before),
                    rfc3339(cert.not_after),
                    rfc3339(at_unix)
                ),
            );
        }
    }
    Check::pass(
        NAME,
        format!("all certificates valid at {}", rfc3339(at_unix)),
    )
}

fn check_hw_id(
    report: &Report,
    kind: SigningKey,
    generation: Generation,
    vek: &VekExtensions,
) -> Check {
    const NAME: &str = "vek_hwid";
    if kind == SigningKey::Vlek {
        return Check::pass(NAME, "VLEK: endorsed per cloud provider, not per chip");
    }
    let chip_id = report.chip_id();
    let (id, rest) = chip_id.split_at(generation.chip_id_len());
    match &vek.hw_id {
        Some(hw_id) if hw_id.as_slice() == id && rest.iter().all(|b| *b == 0) => {
            Check::pass(NAME, "VCEK hwID equals CHIP_ID")
        }
        Some(hw_id) => Check::fail(
            NAME,
            format!(
                "VCEK hwID {} does not equal CHIP_ID {}",
                hex::encode(hw_id),
                hex::encode(chip_id)
            ),
        ),
        None => Check::fail(NAME, "VCEK has no hwID extension"),
    }
}

fn check_tcb(report: &Report, generation: Generation, vek: &VekExtensions) -> Check {
    const NAME: &str = "vek_tcb";
    let reported = report.reported_tcb().decode(generation);
    if vek.spl == reported {
        Check::pass(
            NAME,
            format!("VEK SPLs equal REPORTED_TCB ({})", tcb_text(&reported)),
        )
    } else {
        Check::fail(
            NAME,
            format!(
                "VEK SPLs ({}) differ from REPORTED_TCB ({}, {generation} layout)",
                tcb_text(&vek.spl),
                tcb_text(&reported)
            ),
        )
    }
}

fn tcb_text(tcb: &Tcb) -> String {
    let fmc = tcb.fmc.map(|fmc| format!("fmc {fmc} ")).unwrap_or_default();
    format!(
        "{fmc}bl {} tee {} snp {} ucode {}",
        tcb.bootloader, tcb.tee, tcb.snp, tcb.microcode
    )
}

fn check_signature(report: &Report, key: &ParsedPublicKey) -> Check {
    const NAME: &str = "report_signature";
    let Some(signature) = report.signature_fixed() else {
        return Check::fail(NAME, "signature component exceeds 48 bytes");
    };
    match key.verify_sig(report.signed_bytes(), &signature) {
        Ok(()) => Check::pass(NAME, "ECDSA P-384 signature verifies with the VEK"),
        Err(_) => Check::fail(NAME, "ECDSA P-384 signature does not verify with the VEK"),
    }
}

fn check_host_data(report: &Report, init_data_digest: &[u8]) -> Check {
    const NAME: &str = "host_data";
    // HOST_DATA is 32 bytes: longer digests are truncated, shorter ones zero-padded (as CoCo does).
    let mut wanted = [0u8; 32];
    for (dst, src) in wanted.iter_mut().zip(init_data_digest) {
        *dst = *src;
    }
    if report.host_data() == &wanted {
        Check::pass(NAME, "HOST_DATA equals the init-data digest")
    } else {
        Check::fail(
            NAME,
            format!(
                "HOST_DATA {} does not equal the init-data digest {}",
                hex::encode(report.host_data()),
                hex::encode(wanted)
            ),
        )
    }
}

fn tcb_claim(raw: RawTcb, generation: Generation) -> Value {
    let tcb = raw.decode(generation);
    let mut claim = json!({
        "bootloader": tcb.bootloader,
        "tee": tcb.tee,
        "snp": tcb.snp,
        "microcode": tcb.microcode,
        "raw": format!("{:016x}", raw.0),
    });
    if let (Some(fmc), Some(object)) = (tcb.fmc, claim.as_object_mut()) {
        object.insert("fmc".into(), fmc.into());
    }
    claim
}

/// PLATFORM_INFO bits (SEV-SNP ABI; bit 6 is reserved).
const PLATFORM_INFO_BITS: [(&str, u32); 7] = [
    ("platform_smt_enabled", 0),
    ("platform_tsme_enabled", 1),
    ("platform_ecc_enabled", 2),
    ("platform_rapl_disabled", 3),
    ("platform_ciphertext_hiding_enabled", 4),
    ("platform_alias_check_complete", 5),
    ("platform_tio_enabled", 7),
];

/// Every report field as a claim; TCBs decoded with `generation`'s layout.
fn report_claims(report: &Report, generation: Generation) -> Claims {
    let policy = report.policy();
    let version =
        |v: warden_wire::snp::FirmwareVersion| format!("{}.{}.{}", v.major, v.minor, v.build);
    let mut claims = json!({
        "version": report.version(),
        "guest_svn": report.guest_svn(),
        "policy": policy.0,
        "abi_major": policy.abi_major(),
        "abi_minor": policy.abi_minor(),
        "smt": policy.smt_allowed(),
        "migrate_ma": policy.migrate_ma_allowed(),
        "debug": policy.debug_allowed(),
        "single_socket": policy.single_socket_required(),
        "cxl_allowed": policy.cxl_allowed(),
        "mem_aes_256_xts": policy.mem_aes_256_xts_required(),
        "rapl_dis": policy.rapl_disable_required(),
        "ciphertext_hiding": policy.ciphertext_hiding_required(),
        "page_swap_disable": policy.page_swap_disabled(),
        "family_id": hex::encode(report.family_id()),
        "image_id": hex::encode(report.image_id()),
        "vmpl": report.vmpl(),
        "signature_algo": report.signature_algo(),
        "platform_info": report.platform_info(),
        "author_key_en": report.author_key_en(),
        "mask_chip_key": report.mask_chip_key(),
        "signing_key": report.signing_key().name(),
        "report_data": hex::encode(report.report_data()),
        "measurement": hex::encode(report.measurement()),
        "host_data": hex::encode(report.host_data()),
        "id_key_digest": hex::encode(report.id_key_digest()),
        "author_key_digest": hex::encode(report.author_key_digest()),
        "report_id": hex::encode(report.report_id()),
        "report_id_ma": hex::encode(report.report_id_ma()),
        "chip_id": hex::encode(report.chip_id()),
        "reported_tcb": tcb_claim(report.reported_tcb(), generation),
        "current_tcb": tcb_claim(report.current_tcb(), generation),
        "committed_tcb": tcb_claim(report.committed_tcb(), generation),
        "launch_tcb": tcb_claim(report.launch_tcb(), generation),
        "current_version": version(report.current_version()),
        "committed_version": version(report.committed_version()),
        "generation": generation.name(),
    });
    let Some(object) = claims.as_object_mut() else {
        return Claims::new();
    };
    for (name, bit) in PLATFORM_INFO_BITS {
        let set = report.platform_info() >> bit & 1 == 1;
        object.insert(name.into(), set.into());
    }
    if let Some((family, model, stepping)) = report.cpuid() {
        object.insert("cpuid_fam_id".into(), family.into());
        object.insert("cpuid_mod_id".into(), model.into());
        object.insert("cpuid_step".into(), stepping.into());
    }
    if let Some(vector) = report.launch_mit_vector() {
        object.insert("launch_mit_vector".into(), vector.into());
    }
    if let Some(vector) = report.current_mit_vector() {
        object.insert("current_mit_vector".into(), vector.into());
    }
    std::mem::take(object)
}

fn add_vek_claims(claims: &mut Claims, vek: &VekExtensions) {
    if let Some(name) = &vek.product_name {
        claims.insert("vek_product_name".into(), name.clone().into());
    }
    if let Some(csp) = &vek.csp_id {
        claims.insert("vek_csp_id".into(), csp.clone().into());
    }
}

impl DecodingVerifier for SnpVerifier {
    type Evidence = SnpEvidence;
    type DecodeError = String;

    fn tee(&self) -> Tee {
        Tee::Snp
    }

    fn decode(evidence: &Value) -> Result<SnpEvidence, String> {
        SnpEvidence::from_json(evidence)
    }

    fn examine_evidence(
        &self,
        evidence: &SnpEvidence,
        expected: &ExpectedBinding,
        at: OffsetDateTime,
    ) -> Examination {
        let mut examination = self.examine_decoded(evidence, expected, at);
        examination
            .checks
            .insert(0, Check::pass("evidence_format", "SNP evidence decoded"));
        examination
    }
}
