//! Client for the admin API, used by `warden-kbs admin ...` and by tests.

use std::path::Path;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Why an admin API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Bad client setup (URL, CA file) or a response that is not JSON.
    #[error("{0}")]
    Config(String),
    /// The HTTP request failed (connection, TLS, timeout, body).
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// The KBS answered with a non-2xx status.
    #[error("KBS answered {status}: {detail}")]
    Refused {
        /// The HTTP status code.
        status: u16,
        /// The error body's `detail`, or the whole body when it is not a KBS error body.
        detail: String,
    },
}

/// The admin token the CLI sends, from `token_file` when given, else from `environment` (the
/// value of `WARDEN_ADMIN_TOKEN`): never from the command line, which every local user can read
/// (`ps`, `/proc/<pid>/cmdline`). A token file others can read is refused, like a private key.
pub fn read_token(
    token_file: Option<&Path>,
    environment: Option<String>,
) -> Result<String, ClientError> {
    let token = match (token_file, environment) {
        (Some(file), _) => {
            let bytes = crate::keyfile::read_private(file)
                .map_err(|e| ClientError::Config(format!("token file {}: {e}", file.display())))?;
            String::from_utf8(bytes).map_err(|_| {
                ClientError::Config(format!("token file {} is not UTF-8", file.display()))
            })?
        }
        (None, Some(token)) => token,
        (None, None) => {
            return Err(ClientError::Config(
                "an admin token is required: set WARDEN_ADMIN_TOKEN or pass --token-file".into(),
            ));
        }
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(ClientError::Config("the admin token is empty".into()));
    }
    Ok(token.to_owned())
}

/// A client of the admin API (`/kbs/v0/admin`), authenticated by an admin token. Methods
/// return the JSON answer, or `None` when the answer is empty (204).
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
        return Ok(bounded(reqwest::Client::builder()).build()?);
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
    Ok(bounded(reqwest::Client::builder())
        .tls_backend_preconfigured(tls)
        .build()?)
}

/// Every admin call ends: a KBS that accepts and never answers gets the CLI an error, not a
/// hang.
fn bounded(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    builder
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(120))
}

impl AdminClient {
    /// A client of the KBS at `base_url` sending `token` as bearer token, over `http` (see
    /// [`http_client`]).
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

    /// Stores `value` as the resource `path` (`repository/type/tag`): `PUT /resources/{path}`.
    pub async fn put_resource(&self, path: &str, value: Vec<u8>) -> Result<(), ClientError> {
        self.call(Method::PUT, &format!("/resources/{path}"), Some(value))
            .await
            .map(drop)
    }

    /// Deletes the resource `path`: `DELETE /resources/{path}`.
    pub async fn delete_resource(&self, path: &str) -> Result<(), ClientError> {
        self.call(Method::DELETE, &format!("/resources/{path}"), None)
            .await
            .map(drop)
    }

    /// Names of the stored resources: `GET /resources`.
    pub async fn list_resources(&self) -> Result<Option<Value>, ClientError> {
        self.call(Method::GET, "/resources", None).await
    }

    /// Replaces the appraisal policy with the Rego `source`: `PUT /policies/appraisal`. Answers
    /// the policy's `id` and `sha256`.
    pub async fn set_appraisal_policy(
        &self,
        source: Vec<u8>,
    ) -> Result<Option<Value>, ClientError> {
        self.call(Method::PUT, "/policies/appraisal", Some(source))
            .await
    }

    /// Sets the release policy of `prefix` (`default` for the default) to the Rego `source`:
    /// `PUT /policies/release?prefix=`. Answers the `prefix` and the policy's `sha256`.
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

    /// Deletes the release policy of `prefix`: `DELETE /policies/release?prefix=`.
    pub async fn delete_release_policy(&self, prefix: &str) -> Result<(), ClientError> {
        self.call(
            Method::DELETE,
            &format!("/policies/release?prefix={}", encode_query(prefix)),
            None,
        )
        .await
        .map(drop)
    }

    /// The appraisal policy in force and the release policies: `GET /policies`.
    pub async fn list_policies(&self) -> Result<Option<Value>, ClientError> {
        self.call(Method::GET, "/policies", None).await
    }

    /// Sets the reference value `name` to `value` (JSON): `PUT /reference-values/{name}`.
    pub async fn put_reference_value(&self, name: &str, value: Vec<u8>) -> Result<(), ClientError> {
        self.call(
            Method::PUT,
            &format!("/reference-values/{name}"),
            Some(value),
        )
        .await
        .map(drop)
    }

    /// Deletes the reference value `name`: `DELETE /reference-values/{name}`.
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

    /// Every reference value with its history: `GET /reference-values`.
    pub async fn list_reference_values(&self) -> Result<Option<Value>, ClientError> {
        self.call(Method::GET, "/reference-values", None).await
    }

    /// `PUT /policies/signing`.
    pub async fn set_signing_policy(&self, source: Vec<u8>) -> Result<Option<Value>, ClientError> {
        self.call(Method::PUT, "/policies/signing", Some(source))
            .await
    }

    /// `GET /policies/signing`.
    pub async fn signing_policy(&self) -> Result<Option<Value>, ClientError> {
        self.call(Method::GET, "/policies/signing", None).await
    }

    /// `DELETE /policies/signing`: back to the default, which refuses everything.
    pub async fn delete_signing_policy(&self) -> Result<(), ClientError> {
        self.call(Method::DELETE, "/policies/signing", None)
            .await
            .map(drop)
    }

    /// `POST /signing-keys`: a new named key; answers its public half.
    pub async fn create_signing_key(
        &self,
        name: &str,
        algorithm: &str,
    ) -> Result<Option<Value>, ClientError> {
        let body = serde_json::json!({"name": name, "algorithm": algorithm});
        self.call(
            Method::POST,
            "/signing-keys",
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    /// `GET /signing-keys`.
    pub async fn list_signing_keys(&self) -> Result<Option<Value>, ClientError> {
        self.call(Method::GET, "/signing-keys", None).await
    }

    /// `DELETE /signing-keys/<name>`.
    pub async fn delete_signing_key(&self, name: &str) -> Result<(), ClientError> {
        self.call(
            Method::DELETE,
            &format!("/signing-keys/{}", encode_query(name)),
            None,
        )
        .await
        .map(drop)
    }

    /// Revokes an admin token by `jti` (and its `exp`, when known): `POST /tokens/revoke`.
    /// Answers the `jti` and until when the revocation is kept (`kept_until`, Unix seconds).
    pub async fn revoke_token(
        &self,
        request: &crate::admin::RevokeRequest,
    ) -> Result<Option<Value>, ClientError> {
        let body = serde_json::to_vec(request)
            .map_err(|e| ClientError::Config(format!("revocation: {e}")))?;
        self.call(Method::POST, "/tokens/revoke", Some(body)).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_token_comes_from_a_private_file_or_the_environment_never_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("admin.jwt");
        crate::keyfile::write_private(&file, b"from-file\n").unwrap();
        assert_eq!(read_token(Some(&file), None).unwrap(), "from-file");
        // The file named wins over the environment.
        assert_eq!(
            read_token(Some(&file), Some("from-env".into())).unwrap(),
            "from-file"
        );
        assert_eq!(
            read_token(None, Some(" from-env ".into())).unwrap(),
            "from-env"
        );
        let missing = read_token(None, None).unwrap_err().to_string();
        assert!(missing.contains("WARDEN_ADMIN_TOKEN") && missing.contains("--token-file"));
        assert!(read_token(None, Some("  ".into())).is_err());
        // A token file others can read is refused, like a private key.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = read_token(Some(&file), None).unwrap_err().to_string();
        assert!(refused.contains("chmod 600"), "{refused}");
    }
}
