//! A `warden-verifier serve` process for tests, and the mutual-TLS PKI it and its clients use:
//! one CA issuing the server certificate (localhost, 127.0.0.1) and a client certificate, and a
//! second, unrelated CA issuing a client certificate the service must refuse.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

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

use warden_verifier_service::{RemoteVerifier, TlsFiles};

use crate::{binary, spawn_until_ready};

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

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A client of the service at `url` with the certificate `name` (`client`, `broker-b`,
    /// `rogue-client`), checking the server's certificate against `ca.pem`.
    pub fn client(&self, url: &str, name: &str) -> RemoteVerifier {
        let tls = TlsFiles {
            cert: self.file(&format!("{name}.pem")),
            key: self.file(&format!("{name}.key")),
            ca: self.file("ca.pem"),
        };
        RemoteVerifier::connect(url, "localhost", &tls).expect("verifier client")
    }
}

/// A running `warden-verifier serve`, killed on drop.
pub struct VerifierProcess {
    child: Option<Child>,
    pub url: String,
    pub state_dir: PathBuf,
    log: PathBuf,
    args: Vec<String>,
    pki_dir: PathBuf,
}

impl VerifierProcess {
    /// Serves with the PKI's server certificate, requiring clients from its CA, with `client`
    /// as its manager unless `args` choose (`--manager`, `--any-client-may-manage`); `args` are
    /// extra `serve` arguments (e.g. `--insecure-allow-sample`).
    pub fn start(pki: &MtlsPki, state_dir: &Path, args: &[String]) -> Self {
        let mut process = VerifierProcess {
            child: None,
            url: String::new(),
            state_dir: state_dir.to_path_buf(),
            log: state_dir.with_extension("log"),
            args: args.to_vec(),
            pki_dir: pki.dir.clone(),
        };
        process.spawn();
        process
    }

    fn spawn(&mut self) {
        let pki = |name: &str| self.pki_dir.join(name);
        // A restart listens where the first start did, so clients keep their URL.
        let listen = self
            .url
            .strip_prefix("https://")
            .unwrap_or("127.0.0.1:0")
            .to_owned();
        let mut command = Command::new(binary("warden-verifier"));
        command
            .args(["serve", "--listen", &listen, "--tls-cert"])
            .arg(pki("server.pem"))
            .arg("--tls-key")
            .arg(pki("server.key"))
            .arg("--tls-client-ca")
            .arg(pki("ca.pem"))
            .arg("--state-dir")
            .arg(&self.state_dir)
            .args(&self.args);
        let chosen = |flag: &str| self.args.iter().any(|arg| arg == flag);
        if !chosen("--manager") && !chosen("--any-client-may-manage") {
            command.args(["--manager", "client"]);
        }
        let ready = self.state_dir.with_extension("ready");
        let (child, address) = spawn_until_ready(command, &ready, &self.log, "warden-verifier");
        self.child = Some(child);
        self.url = format!("https://{address}");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the service (SIGKILL) and starts it again on the same state directory and address.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for VerifierProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
