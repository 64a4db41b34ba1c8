//! The agent's side of TPM AK registration by credential activation (the exchange is described
//! in [`warden_wire::tpm::registration`]): create the AK if the state file has none, send the EK
//! certificate and the AK, let the TPM activate the credential, return the secret.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use warden_wire::tpm::registration::{
    ACTIVATE_PATH, ActivateRequest, REGISTER_PATH, RegisterChallenge, RegisterRequest, Registered,
};

use crate::attester::AttesterError;
use crate::attester::tpm_device::{AkAlgorithm, AkBlob, TpmDevice};
use crate::{AgentError, KbsClient};

fn device_error(e: impl std::fmt::Display) -> AgentError {
    AgentError::Attester(AttesterError::Evidence(e.to_string()))
}

/// The AK in `ak_file`, created (and the file written, mode 0600) when it does not exist yet.
pub fn load_or_create_ak(
    tcti: &str,
    ak_file: &Path,
    algorithm: AkAlgorithm,
) -> Result<AkBlob, AgentError> {
    match std::fs::read(ak_file) {
        Ok(bytes) => AkBlob::from_bytes(&bytes).map_err(device_error),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let ak = TpmDevice::open(tcti)
                .and_then(|mut device| device.create_ak(algorithm))
                .map_err(device_error)?;
            write_private(ak_file, &ak.to_bytes()).map_err(|source| AgentError::Io {
                context: format!("writing {}", ak_file.display()),
                source,
            })?;
            Ok(ak)
        }
        Err(source) => Err(AgentError::Io {
            context: format!("reading {}", ak_file.display()),
            source,
        }),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Registers the AK of `ak_file` (creating it if needed) with the KBS; returns its TPM name.
pub async fn register_ak(
    client: &KbsClient,
    tcti: &str,
    ak_file: &Path,
    algorithm: AkAlgorithm,
) -> Result<String, AgentError> {
    let ak = load_or_create_ak(tcti, ak_file, algorithm)?;
    let ek_certificate = TpmDevice::open(tcti)
        .and_then(|mut device| device.ek_certificate())
        .map_err(device_error)?
        .ok_or_else(|| device_error("the TPM has no RSA EK certificate (NV index 0x01c00002)"))?;
    let request = RegisterRequest {
        ek_certificate: STANDARD.encode(&ek_certificate),
        ek_chain: Vec::new(),
        ak_public: STANDARD.encode(&ak.public),
    };
    let challenge: RegisterChallenge = client
        .post_json(
            REGISTER_PATH.trim_start_matches("/kbs/v0/"),
            &request,
            "registration challenge",
        )
        .await?;
    let decode = |name: &str, text: &str| {
        STANDARD
            .decode(text)
            .map_err(|_| AgentError::Protocol(format!("{name} in the challenge is not base64")))
    };
    let id_object = decode("id_object", &challenge.id_object)?;
    let encrypted_secret = decode("encrypted_secret", &challenge.encrypted_secret)?;
    let secret = TpmDevice::open(tcti)
        .and_then(|mut device| device.activate_credential(&ak, &id_object, &encrypted_secret))
        .map_err(device_error)?;
    let activation = ActivateRequest {
        challenge_id: challenge.challenge_id,
        secret: STANDARD.encode(&secret),
    };
    let registered: Registered = client
        .post_json(
            ACTIVATE_PATH.trim_start_matches("/kbs/v0/"),
            &activation,
            "registration result",
        )
        .await?;
    Ok(registered.ak_name)
}
