//! Client for the admin API, used by `warden-kbs admin ...` and by tests.

use std::path::Path;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Config(String),
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("KBS answered {status}: {detail}")]
    Refused { status: u16, detail: String },
}

pub struct AdminClient {
    http: reqwest::Client,
    base_url: String,
    token: String,
}

/// Builds an HTTP client trusting only `ca_file` (PEM); plain `http://` only when allowed.
pub fn http_client(
    base_url: &str,
    ca_file: Option<&Path>,
    allow_plain_http: bool,
) -> Result<reqwest::Client, ClientError> {
    crate::server::install_crypto_provider();
    if base_url.starts_with("http://") {
        if !allow_plain_http {
            return Err(ClientError::Config(format!(
                "{base_url} is plain HTTP; pass --insecure-http to allow it"
            )));
        }
        return Ok(reqwest::Client::builder().build()?);
    }
    let ca_file =
        ca_file.ok_or_else(|| ClientError::Config("--ca-file is required for https".into()))?;
    let pem = std::fs::read(ca_file)
        .map_err(|e| ClientError::Config(format!("{}: {e}", ca_file.display())))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| ClientError::Config(format!("{}: {e}", ca_file.display())))?;
        roots
            .add(cert)
            .map_err(|e| ClientError::Config(format!("{}: {e}", ca_file.display())))?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ClientError::Config(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()?)
}

impl AdminClient {
    pub fn new(http: reqwest::Client, base_url: &str, token: &str) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').into(),
            token: token.trim().into(),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Option<Value>, ClientError> {
        let mut request = self
            .http
            .request(method, format!("{}/kbs/v0/admin{path}", self.base_url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            let detail = serde_json::from_str::<warden_wire::ErrorBody>(&text)
                .map(|e| e.detail)
                .unwrap_or(text);
            return Err(ClientError::Refused {
                status: status.as_u16(),
                detail,
            });
        }
        if status == StatusCode::NO_CONTENT || text.is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| ClientError::Config(format!("unexpected response: {e}")))
    }

    pub async fn put_resource(&self, path: &str, value: Vec<u8>) -> Result<(), ClientError> {
        self.call(Method::PUT, &format!("/resources/{path}"), Some(value))
            .await
            .map(drop)
    }

    pub async fn delete_resource(&self, path: &str) -> Result<(), ClientError> {
        self.call(Method::DELETE, &format!("/resources/{path}"), None)
            .await
            .map(drop)
    }

    pub async fn list_resources(&self) -> Result<Option<Value>, ClientError> {
        self.call(Method::GET, "/resources", None).await
    }

    pub async fn set_appraisal_policy(
        &self,
        source: Vec<u8>,
    ) -> Result<Option<Value>, ClientError> {
        self.call(Method::PUT, "/policies/appraisal", Some(source))
            .await
    }

    pub async fn set_release_policy(
        &self,
        prefix: &str,
        source: Vec<u8>,
    ) -> Result<Option<Value>, ClientError> {
        self.call(
            Method::PUT,
            &format!("/policies/release?prefix={}", encode_query(prefix)),
            Some(source),
        )
        .await
    }

    pub async fn delete_release_policy(&self, prefix: &str) -> Result<(), ClientError> {
        self.call(
            Method::DELETE,
            &format!("/policies/release?prefix={}", encode_query(prefix)),
            None,
        )
        .await
        .map(drop)
    }

    pub async fn list_policies(&self) -> Result<Option<Value>, ClientError> {
        self.call(Method::GET, "/policies", None).await
    }

    pub async fn put_reference_value(&self, name: &str, value: Vec<u8>) -> Result<(), ClientError> {
        self.call(
            Method::PUT,
            &format!("/reference-values/{name}"),
            Some(value),
        )
        .await
        .map(drop)
    }

    pub async fn delete_reference_value(&self, name: &str) -> Result<(), ClientError> {
        self.call(Method::DELETE, &format!("/reference-values/{name}"), None)
            .await
            .map(drop)
    }

    /// Imports reference values from a DSSE envelope (signed in-toto statement).
    pub async fn import_reference_values(
        &self,
        envelope: Vec<u8>,
    ) -> Result<Option<Value>, ClientError> {
        self.call(Method::POST, "/reference-values/import", Some(envelope))
            .await
    }

    pub async fn list_reference_values(&self) -> Result<Option<Value>, ClientError> {
        self.call(Method::GET, "/reference-values", None).await
    }
}

/// Percent-encodes everything but unreserved characters and '/'.
fn encode_query(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
