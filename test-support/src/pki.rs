//! The mutual-TLS test PKI (OpenSSL): one CA issuing a server certificate (localhost,
//! 127.0.0.1) and client certificates, and a second, unrelated CA issuing a client certificate
//! a service must refuse. Used by every test and bench of the verifier service.

use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509, X509NameBuilder};

/// One side's PEM files: its certificate chain, its key, and the CA it checks the other side
/// against.
#[derive(Debug, Clone)]
pub struct TlsPaths {
    /// The certificate (PEM) this side presents.
    pub cert: PathBuf,
    /// The private key (PKCS#8 PEM) of that certificate.
    pub key: PathBuf,
    /// The CA certificate (PEM) this side checks the other side's certificate against.
    pub ca: PathBuf,
}

fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
    PKey::from_ec_key(EcKey::generate(&group).expect("EC key")).expect("pkey")
}

enum Role {
    Ca,
    Server,
    Client,
}

fn certificate(
    name: &str,
    key: &PKey<Private>,
    role: Role,
    issuer: Option<(&X509, &PKey<Private>)>,
) -> X509 {
    let mut subject = X509NameBuilder::new().expect("name");
    subject
        .append_entry_by_text("CN", name)
        .expect("common name");
    let subject = subject.build();
    let mut builder = X509::builder().expect("builder");
    builder.set_version(2).expect("v3");
    let mut serial = BigNum::new().expect("serial");
    serial
        .rand(64, MsbOption::MAYBE_ZERO, false)
        .expect("random serial");
    builder
        .set_serial_number(&serial.to_asn1_integer().expect("serial"))
        .expect("serial");
    builder.set_subject_name(&subject).expect("subject");
    builder
        .set_issuer_name(issuer.map_or(&subject, |(ca, _)| ca.subject_name()))
        .expect("issuer");
    builder.set_pubkey(key).expect("public key");
    builder
        .set_not_before(&Asn1Time::days_from_now(0).expect("time"))
        .expect("not before");
    builder
        .set_not_after(&Asn1Time::days_from_now(30).expect("time"))
        .expect("not after");
    match role {
        Role::Ca => {
            builder
                .append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                .unwrap();
            builder
                .append_extension(KeyUsage::new().critical().key_cert_sign().build().unwrap())
                .unwrap();
        }
        Role::Server => {
            let context = builder.x509v3_context(issuer.map(|(ca, _)| &**ca), None);
            let names = SubjectAlternativeName::new()
                .dns("localhost")
                .ip("127.0.0.1")
                .build(&context)
                .unwrap();
            builder.append_extension(names).unwrap();
            builder
                .append_extension(ExtendedKeyUsage::new().server_auth().build().unwrap())
                .unwrap();
        }
        Role::Client => {
            builder
                .append_extension(ExtendedKeyUsage::new().client_auth().build().unwrap())
                .unwrap();
        }
    }
    let signer = issuer.map_or(key, |(_, ca_key)| ca_key);
    builder.sign(signer, MessageDigest::sha256()).expect("sign");
    builder.build()
}

/// The PEM files of the test PKI, in one directory.
pub struct MtlsPki {
    /// The directory holding the files.
    pub dir: PathBuf,
}

impl MtlsPki {
    /// Writes `ca.pem`, `server.pem`/`.key`, `client.pem`/`.key` and `broker-b.pem`/`.key`
    /// (from `ca`), and `rogue-client.pem`/`.key` (from another CA) into `dir`. `client` is the
    /// services' manager; `broker-b` is only a client.
    pub fn generate(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("PKI dir");
        let write = |name: &str, bytes: Vec<u8>| std::fs::write(dir.join(name), bytes).unwrap();
        let ca_key = key();
        let ca = certificate("Warden test verifier CA", &ca_key, Role::Ca, None);
        write("ca.pem", ca.to_pem().unwrap());
        for (name, role) in [
            ("server", Role::Server),
            ("client", Role::Client),
            ("broker-b", Role::Client),
        ] {
            let leaf_key = key();
            let leaf = certificate(name, &leaf_key, role, Some((&ca, &ca_key)));
            write(&format!("{name}.pem"), leaf.to_pem().unwrap());
            write(
                &format!("{name}.key"),
                leaf_key.private_key_to_pem_pkcs8().unwrap(),
            );
        }
        let rogue_ca_key = key();
        let rogue_ca = certificate("Another CA", &rogue_ca_key, Role::Ca, None);
        let rogue_key = key();
        let rogue = certificate(
            "rogue",
            &rogue_key,
            Role::Client,
            Some((&rogue_ca, &rogue_ca_key)),
        );
        write("rogue-client.pem", rogue.to_pem().unwrap());
        write(
            "rogue-client.key",
            rogue_key.private_key_to_pem_pkcs8().unwrap(),
        );
        MtlsPki {
            dir: dir.to_path_buf(),
        }
    }

    /// The path of the file `name` (e.g. `ca.pem`) in the PKI's directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The certificate, key and CA files of `name` (`server`, `client`, `broker-b`,
    /// `rogue-client`): what one side of a connection presents and checks the other against.
    pub fn identity(&self, name: &str) -> TlsPaths {
        TlsPaths {
            cert: self.file(&format!("{name}.pem")),
            key: self.file(&format!("{name}.key")),
            ca: self.file("ca.pem"),
        }
    }
}
