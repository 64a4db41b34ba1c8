//! Mutual TLS for the verifier service and its clients (rustls through tonic, ring provider).

use std::path::{Path, PathBuf};

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::ServiceError;

/// PEM files for one side of a mutual-TLS connection.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// This side's certificate chain.
    pub cert: PathBuf,
    /// This side's private key.
    pub key: PathBuf,
    /// The CA the other side's certificate must chain to.
    pub ca: PathBuf,
}

impl TlsFiles {
    fn read(path: &Path) -> Result<Vec<u8>, ServiceError> {
        std::fs::read(path).map_err(|source| ServiceError::TlsFile {
            path: path.display().to_string(),
            source,
        })
    }

    fn identity(&self) -> Result<Identity, ServiceError> {
        Ok(Identity::from_pem(
            Self::read(&self.cert)?,
            Self::read(&self.key)?,
        ))
    }

    fn ca(&self) -> Result<Certificate, ServiceError> {
        Ok(Certificate::from_pem(Self::read(&self.ca)?))
    }

    /// Server side: clients must present a certificate from `ca`.
    pub fn server_config(&self) -> Result<ServerTlsConfig, ServiceError> {
        Ok(ServerTlsConfig::new()
            .identity(self.identity()?)
            .client_ca_root(self.ca()?)
            .client_auth_optional(false))
    }

    /// Client side: the server must present a certificate from `ca` for `domain`.
    pub fn client_config(&self, domain: &str) -> Result<ClientTlsConfig, ServiceError> {
        Ok(ClientTlsConfig::new()
            .identity(self.identity()?)
            .ca_certificate(self.ca()?)
            .domain_name(domain))
    }
}
