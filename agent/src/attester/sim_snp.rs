//! `sim-snp`: INSECURE simulated SEV-SNP for development without AMD hardware.
//!
//! A development chain (ARK → ASK → VCEK, ECDSA P-384, laid out like AMD's with the VCEK's hwID
//! and SPL extensions) is minted by `warden-agent sim-snp init`. The agent then signs genuine
//! SNP-format reports (version 3, Genoa CPUID) with the VCEK key and ships the VCEK in the
//! certificate table, exactly as a real guest would. A KBS trusts that chain only when started
//! with `--insecure-dev-roots <dir>`, and marks every result verified through it as insecure.
//! The chain's key files give anyone who reads them the power to forge "SNP" evidence.

use std::fs;
use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer,
    CustomExtension, DnType, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P384_SHA384,
    RevokedCertParams, SerialNumber,
};
use serde_json::Value;
use sha2::{Digest, Sha384};
use time::{Duration, OffsetDateTime};
use warden_wire::snp::{
    CertTableEntry, Generation, ReportWriter, SIGNATURE_ALGO_ECDSA_P384_SHA384, Tcb, cert_guid,
    encode_cert_table, offset,
};

use super::snp::CollectedReport;
use super::{Attester, AttesterError, report_data_field};

/// Why sim-snp evidence proves nothing: [`Attester::insecure_reason`] of [`SimSnpAttester`].
pub const SIM_SNP_INSECURE_REASON: &str =
    "sim-snp: SEV-SNP reports signed by a development key, not by an AMD secure processor";
/// The generation the development chain claims to be.
pub const SIM_GENERATION: Generation = Generation::Genoa;
/// The TCB the simulated firmware reports (and the VCEK certifies).
pub const SIM_TCB: Tcb = Tcb {
    fmc: None,
    bootloader: 10,
    tee: 0,
    snp: 23,
    microcode: 25,
};
/// Serial numbers of the development ASK and VCEK (so CRL tests can name them).
pub const SIM_ASK_SERIAL: u64 = 2;
/// Serial number of the development VCEK.
pub const SIM_VCEK_SERIAL: u64 = 3;
/// Guest policy: SMT allowed, reserved bit 17 set, debug off.
const SIM_POLICY: u64 = 0x30000;

/// The launch measurement of the simulated guest unless the host launched it with another
/// ([`DevChain::launched_with`]); fixed, so it can be a reference value.
pub fn sim_measurement() -> [u8; 48] {
    Sha384::digest(b"warden sim-snp development guest").into()
}

fn failure(what: &str) -> impl FnOnce(rcgen::Error) -> AttesterError + '_ {
    move |e| AttesterError::Evidence(format!("{what}: {e}"))
}

/// A development signing hierarchy and the VCEK key that signs simulated reports.
pub struct DevChain {
    roots_pem: String,
    vcek_der: Vec<u8>,
    vcek_key: Vec<u8>,
    chip_id: [u8; 64],
    /// What the simulated secure processor puts in MEASUREMENT: the launch digest of the image
    /// the host launched.
    measurement: [u8; 48],
    /// Present only right after generation: the ARK can then sign CRLs (for tests).
    ark: Option<CertifiedIssuer<'static, KeyPair>>,
}

/// DER for an AMD SPL extension (INTEGER 0..=255).
fn der_u8(value: u8) -> Vec<u8> {
    if value < 0x80 {
        vec![0x02, 0x01, value]
    } else {
        vec![0x02, 0x02, 0x00, value]
    }
}

fn ca_params(common_name: &str, serial: u64, now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.distinguished_name.push(
        DnType::OrganizationName,
        "Warden INSECURE development roots",
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.serial_number = Some(SerialNumber::from(serial));
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(3650);
    params
}

impl DevChain {
    /// Mints a new chain with a random chip id. Uses the clock only for certificate validity.
    pub fn generate() -> Result<DevChain, AttesterError> {
        let now = OffsetDateTime::now_utc();
        let generation = SIM_GENERATION.name();
        let key = || KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).map_err(failure("key"));
        let ark =
            CertifiedIssuer::self_signed(ca_params(&format!("ARK-{generation}"), 1, now), key()?)
                .map_err(failure("ARK"))?;
        let ask = CertifiedIssuer::signed_by(
            ca_params(&format!("SEV-{generation}"), SIM_ASK_SERIAL, now),
            key()?,
            &ark,
        )
        .map_err(failure("ASK"))?;

        let mut chip_id = [0u8; 64];
        aws_lc_rs::rand::fill(&mut chip_id)
            .map_err(|_| AttesterError::Evidence("no randomness for the chip id".into()))?;
        let vcek_key = key()?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "SEV-VCEK");
        params.serial_number = Some(SerialNumber::from(SIM_VCEK_SERIAL));
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(3650);
        let amd = |arc: &[u64]| [&[1, 3, 6, 1, 4, 1, 3704, 1][..], arc].concat();
        let product = generation.as_bytes();
        let mut product_der = vec![0x16, product.len() as u8];
        product_der.extend_from_slice(product);
        params.custom_extensions = vec![
            CustomExtension::from_oid_content(&amd(&[2]), product_der),
            CustomExtension::from_oid_content(&amd(&[3, 1]), der_u8(SIM_TCB.bootloader)),
            CustomExtension::from_oid_content(&amd(&[3, 2]), der_u8(SIM_TCB.tee)),
            CustomExtension::from_oid_content(&amd(&[3, 3]), der_u8(SIM_TCB.snp)),
            CustomExtension::from_oid_content(&amd(&[3, 8]), der_u8(SIM_TCB.microcode)),
            CustomExtension::from_oid_content(&amd(&[4]), chip_id.to_vec()),
        ];
        let vcek = params.signed_by(&vcek_key, &ask).map_err(failure("VCEK"))?;
        Ok(DevChain {
            roots_pem: format!("{}{}", ask.pem(), ark.pem()),
            vcek_der: vcek.der().to_vec(),
            vcek_key: vcek_key.serialize_der(),
            chip_id,
            measurement: sim_measurement(),
            ark: Some(ark),
        })
    }

    /// Writes the chain: `roots.pem` and `generation` for the KBS (`--insecure-dev-roots`);
    /// `vcek.der`, `vcek.key` (mode 0600), `chip_id` for the agent; `measurement` for operators.
    pub fn write(&self, dir: &Path) -> Result<(), AttesterError> {
        let io = |e: std::io::Error| AttesterError::Evidence(format!("{}: {e}", dir.display()));
        fs::create_dir_all(dir).map_err(io)?;
        fs::write(dir.join("roots.pem"), &self.roots_pem).map_err(io)?;
        fs::write(
            dir.join("generation"),
            format!("{}\n", SIM_GENERATION.name()),
        )
        .map_err(io)?;
        fs::write(dir.join("vcek.der"), &self.vcek_der).map_err(io)?;
        fs::write(dir.join("chip_id"), hex::encode(self.chip_id)).map_err(io)?;
        fs::write(dir.join("measurement"), hex::encode(sim_measurement())).map_err(io)?;
        write_private(&dir.join("vcek.key"), &self.vcek_key).map_err(io)
    }

    /// Reads a chain written by [`DevChain::write`] from `dir`, without the ARK key (so
    /// [`DevChain::crl`] fails). [`AttesterError::Unavailable`] when a file is missing or `chip_id`
    /// is not 64 bytes of hex.
    pub fn load(dir: &Path) -> Result<DevChain, AttesterError> {
        let read = |name: &str| {
            fs::read(dir.join(name)).map_err(|e| {
                AttesterError::Unavailable(format!(
                    "sim-snp chain file {}: {e} (create one with `warden-agent sim-snp init --dir {}`)",
                    dir.join(name).display(),
                    dir.display()
                ))
            })
        };
        let chip_id = hex::decode(String::from_utf8_lossy(&read("chip_id")?).trim())
            .ok()
            .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
            .ok_or_else(|| {
                AttesterError::Unavailable("sim-snp chip_id is not 64 bytes of hex".into())
            })?;
        Ok(DevChain {
            roots_pem: String::from_utf8_lossy(&read("roots.pem")?).into_owned(),
            vcek_der: read("vcek.der")?,
            vcek_key: read("vcek.key")?,
            chip_id,
            measurement: sim_measurement(),
            ark: None,
        })
    }

    /// The chain signing reports of a guest launched with `measurement` (e.g. the digest
    /// `warden-verifier measure snp` predicts for an image), as a real host's launch of that
    /// image would make the secure processor report.
    pub fn launched_with(self, measurement: [u8; 48]) -> Self {
        Self {
            measurement,
            ..self
        }
    }

    /// The development VCEK certificate (DER).
    pub fn vcek_der(&self) -> &[u8] {
        &self.vcek_der
    }

    /// A CRL signed by the development ARK revoking `serials` (tests of revocation checks).
    pub fn crl(
        &self,
        serials: &[u64],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<Vec<u8>, AttesterError> {
        let ark = self.ark.as_ref().ok_or_else(|| {
            AttesterError::Unavailable(
                "the ARK key is kept only in a freshly generated chain".into(),
            )
        })?;
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|serial| RevokedCertParams {
                    serial_number: SerialNumber::from(*serial),
                    revocation_time: this_update,
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params
            .signed_by(ark)
            .map_err(failure("CRL"))?
            .der()
            .to_vec())
    }

    /// A simulated report binding `report_data`, signed by the development VCEK, with the VCEK
    /// in its certificate table.
    pub fn signed_report(&self, report_data: &[u8; 48]) -> Result<CollectedReport, AttesterError> {
        self.signed_report_with_host_data(report_data, &[0; 32])
    }

    /// [`DevChain::signed_report`] for a guest the host launched with `host_data` (on real
    /// hardware the host sets HOST_DATA at launch, e.g. to the init-data digest).
    pub fn signed_report_with_host_data(
        &self,
        report_data: &[u8; 48],
        host_data: &[u8; 32],
    ) -> Result<CollectedReport, AttesterError> {
        let tcb = SIM_TCB.encode().0;
        let mut report_id = [0u8; 32];
        aws_lc_rs::rand::fill(&mut report_id)
            .map_err(|_| AttesterError::Evidence("no randomness for the report id".into()))?;
        let mut writer = ReportWriter::default();
        writer
            .put_u32(offset::VERSION, 3)
            .put_u32(offset::GUEST_SVN, 1)
            .put_u64(offset::POLICY, SIM_POLICY)
            .put_u32(offset::VMPL, 0)
            .put_u32(offset::SIGNATURE_ALGO, SIGNATURE_ALGO_ECDSA_P384_SHA384)
            .put_u64(offset::CURRENT_TCB, tcb)
            .put_u64(offset::PLATFORM_INFO, 0x25)
            .put(offset::REPORT_DATA, &report_data_field(report_data))
            .put(offset::MEASUREMENT, &self.measurement)
            .put(offset::HOST_DATA, host_data)
            .put(offset::REPORT_ID, &report_id)
            .put(offset::REPORT_ID_MA, &[0xFF; 32])
            .put_u64(offset::REPORTED_TCB, tcb)
            .put(offset::CPUID_FAM_ID, &[0x19, 0x11, 0x01])
            .put(offset::CHIP_ID, &self.chip_id)
            .put_u64(offset::COMMITTED_TCB, tcb)
            .put(offset::CURRENT_BUILD, &[40, 55, 1])
            .put(offset::COMMITTED_BUILD, &[40, 55, 1])
            .put_u64(offset::LAUNCH_TCB, tcb);
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &self.vcek_key)
            .map_err(|e| AttesterError::Evidence(format!("sim-snp VCEK key: {e}")))?;
        let signature = key
            .sign(&SystemRandom::new(), writer.signed_bytes())
            .map_err(|e| AttesterError::Evidence(format!("signing the sim-snp report: {e}")))?;
        let (r, s) = signature.as_ref().split_at(48);
        let (Ok(r), Ok(s)) = (<&[u8; 48]>::try_from(r), <&[u8; 48]>::try_from(s)) else {
            return Err(AttesterError::Evidence(
                "P-384 signature is not 96 bytes".into(),
            ));
        };
        writer.put_signature(r, s);
        Ok(CollectedReport {
            report: writer.into_bytes().to_vec(),
            cert_table: encode_cert_table(&[CertTableEntry {
                guid: cert_guid::VCEK,
                data: self.vcek_der.clone(),
            }]),
        })
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The simulated SNP attester. It reports TEE `snp`: the KBS tells it apart only by the roots.
pub struct SimSnpAttester {
    chain: DevChain,
}

impl SimSnpAttester {
    /// The attester signing reports with `chain`'s VCEK key.
    pub fn new(chain: DevChain) -> Self {
        Self { chain }
    }
}

impl Attester for SimSnpAttester {
    fn tee(&self) -> &'static str {
        "snp"
    }

    fn insecure_reason(&self) -> Option<&'static str> {
        Some(SIM_SNP_INSECURE_REASON)
    }

    fn evidence(&self, report_data: &[u8; 48]) -> Result<Value, AttesterError> {
        Ok(self.chain.signed_report(report_data)?.to_evidence())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_round_trips_through_its_directory_and_signs_bound_reports() {
        let dir = tempfile::tempdir().unwrap();
        let chain = DevChain::generate().unwrap();
        chain.write(dir.path()).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &fs::metadata(dir.path().join("vcek.key"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let loaded = DevChain::load(dir.path()).unwrap();
        assert_eq!(loaded.vcek_der(), chain.vcek_der());
        let collected = loaded.signed_report(&[9; 48]).unwrap();
        let report = warden_wire::snp::Report::parse(&collected.report).unwrap();
        assert_eq!(&report.report_data()[..48], &[9; 48]);
        assert_eq!(report.measurement(), &sim_measurement());
        assert_eq!(report.reported_tcb().decode(SIM_GENERATION), SIM_TCB);
        // A guest launched with another image reports that image's measurement.
        let relaunched = DevChain::load(dir.path()).unwrap().launched_with([7; 48]);
        let collected = relaunched.signed_report(&[9; 48]).unwrap();
        let report = warden_wire::snp::Report::parse(&collected.report).unwrap();
        assert_eq!(report.measurement(), &[7; 48]);
        assert!(
            loaded
                .crl(&[3], OffsetDateTime::now_utc(), OffsetDateTime::now_utc())
                .is_err()
        );
    }

    #[test]
    fn a_missing_chain_directory_explains_how_to_create_one() {
        let dir = tempfile::tempdir().unwrap();
        let error = DevChain::load(&dir.path().join("none")).err().unwrap();
        assert!(error.to_string().contains("sim-snp init"), "{error}");
    }
}
