//! The RCAR (Request, Challenge, Attestation, Response) client of the CoCo KBS protocol.
//!
//! One `KbsClient` holds one TEE key pair and one KBS session: `attest` runs the handshake and
//! keeps the session cookie and token; `get_resource` fetches and decrypts secrets with them.
//! Between steps, `set_base_url` may point the session at another replica of the same KBS
//! (another port of the same host, where the cookie follows).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Response, Url};
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::{debug, warn};
use warden_wire::{
    Attestation, AttestationToken, Challenge, MAX_BODY_BYTES, PROTOCOL_VERSION, Request,
    ResourcePath, RuntimeData, SESSION_COOKIE, TeeEvidence, TeeKeyPair, jwe, runtime_data_digest,
};

use crate::attester::{Attester, AttesterError};
use crate::error::AgentError;

/// Per-request timeout when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest 2xx body accepted: a JWE of the largest resource the KBS stores (its 1 MiB request
/// limit) is about 1.4 MiB, so this leaves headroom while bounding a hostile server.
const MAX_RESPONSE_BYTES: usize = 4 * MAX_BODY_BYTES;
/// Error bodies are only shown to a human; more than this is noise.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Where and how to reach the KBS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Scheme, host and optional port, e.g. `https://127.0.0.1:8080`.
    pub base_url: String,
    /// PEM bundle of the only CA roots trusted for the KBS; required for `https://`.
    pub ca_file: Option<PathBuf>,
    /// Permit `http://` base URLs (cookies, evidence and tokens then travel in clear).
    pub allow_plain_http: bool,
    /// Timeout of each HTTP request, body included.
    pub timeout: Duration,
}

impl ClientConfig {
    /// Settings for `base_url` with no custom CA, `https://` only and [`DEFAULT_TIMEOUT`].
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            ca_file: None,
            allow_plain_http: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// A KBS session bound to one TEE key pair.
pub struct KbsClient {
    /// Base URL without trailing slash.
    base: String,
    /// Carries the `kbs-session-id` cookie between `/auth`, `/attest` and `/resource`.
    session_http: reqwest::Client,
    /// Cookie-less, so a bearer-token request is judged on the token alone.
    token_http: reqwest::Client,
    attester: Arc<dyn Attester>,
    key: TeeKeyPair,
    token: Option<String>,
    /// The CoCo `additional-evidence` string bound into the evidence (empty: none).
    additional_evidence: String,
}

// Hand-written so neither the private key nor the token can end up in a log via `{:?}`.
impl fmt::Debug for KbsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KbsClient")
            .field("base", &self.base)
            .field("tee", &self.attester.tee())
            .field("key_algorithm", &self.key.algorithm())
            .field("attested", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

impl KbsClient {
    /// A client for the KBS at `config.base_url`, sending `attester`'s evidence and bound to `key`.
    /// [`AgentError::Config`] for a bad URL, a zero timeout or `https://` without a CA file;
    /// [`AgentError::Io`] or [`AgentError::Tls`] when the CA file cannot be read or used.
    pub fn new(
        config: ClientConfig,
        attester: Arc<dyn Attester>,
        key: TeeKeyPair,
    ) -> Result<Self, AgentError> {
        let (base, session_http) = http_client(&config, true)?;
        let (_, token_http) = http_client(&config, false)?;
        Ok(Self {
            base,
            session_http,
            token_http,
            attester,
            key,
            token: None,
            additional_evidence: String::new(),
        })
    }

    /// Commits the next attestation to these signing keys (hex SHA-256 of each SPKI): they go
    /// into `additional-evidence`, which the runtime-data binding puts into the evidence, so
    /// the KBS will certify exactly these keys for this session.
    pub fn commit_signing_keys(&mut self, keyids: &[String]) {
        self.additional_evidence = serde_json::json!({ "warden.signing-keys": keyids }).to_string();
    }

    /// Sends this client's next requests to `base_url`, another replica of the same KBS,
    /// keeping the session. The session cookie is scoped to the host, not the port, so only
    /// the port may differ from the current base URL; another scheme or host is refused
    /// ([`AgentError::Config`]), since the session would not follow. The CA roots and the
    /// timeout stay those the client was built with.
    pub fn set_base_url(&mut self, base_url: &str) -> Result<(), AgentError> {
        // Plain HTTP passes here only if the current base, checked at construction, is HTTP.
        let (base, _) = parse_base_url(base_url, true)?;
        let origin = |url: &str| {
            Url::parse(url)
                .ok()
                .map(|url| (url.scheme().to_owned(), url.host_str().map(str::to_owned)))
        };
        if origin(&base) != origin(&self.base) {
            return Err(AgentError::Config(format!(
                "KBS URL {base:?} is not another port of {:?}: the session cookie would not follow",
                self.base
            )));
        }
        self.base = base;
        Ok(())
    }

    /// The attestation token of the last successful `attest`, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The attester supplying the evidence.
    pub fn attester(&self) -> &dyn Attester {
        &*self.attester
    }

    /// Runs the handshake and returns the attestation token (also kept for `get_resource`):
    /// [`request_challenge`](Self::request_challenge), then
    /// [`answer_challenge`](Self::answer_challenge).
    pub async fn attest(&mut self) -> Result<String, AgentError> {
        let challenge = self.request_challenge().await?;
        self.answer_challenge(challenge).await
    }

    /// The handshake's first step: `POST /auth`. The session cookie it sets stays in this
    /// client for [`answer_challenge`](Self::answer_challenge).
    pub async fn request_challenge(&self) -> Result<Challenge, AgentError> {
        let tee = self.attester.tee();
        if let Some(reason) = self.attester.insecure_reason() {
            warn!(
                tee,
                reason, "INSECURE attester in use: its evidence proves nothing about this platform"
            );
        }

        let request = Request {
            version: PROTOCOL_VERSION.to_owned(),
            tee: tee.to_owned(),
            extra_params: json!({ "supported-hash-algorithms": ["sha384"] }),
        };
        debug!(url = %self.url("auth"), tee, "requesting challenge");
        let response = self
            .session_http
            .post(self.url("auth"))
            .json(&request)
            .send()
            .await
            .map_err(|e| AgentError::http(&e))?;
        // Checked before the body is consumed; without the cookie `/attest` could only fail.
        let has_session = response.cookies().any(|c| c.name() == SESSION_COOKIE);
        let challenge: Challenge = read_json(response, "challenge").await?;
        if !has_session {
            return Err(AgentError::Protocol(format!(
                "/auth answer set no {SESSION_COOKIE} cookie"
            )));
        }
        if challenge.nonce.is_empty() {
            return Err(AgentError::Protocol("challenge nonce is empty".into()));
        }
        Ok(challenge)
    }

    /// The handshake's second step: evidence bound to `challenge` and this client's key,
    /// `POST /attest` over the session; returns the attestation token (also kept).
    pub async fn answer_challenge(&mut self, challenge: Challenge) -> Result<String, AgentError> {
        let tee_pubkey = self.key.public_jwk();
        // No device evidence is sent; the binding covers the additional evidence (empty, or
        // the signing keys this attestation commits to).
        let digest = runtime_data_digest(&challenge.nonce, &tee_pubkey, &self.additional_evidence);
        let attester = Arc::clone(&self.attester);
        // Hardware attesters block on device I/O; keep that off the async workers.
        let evidence = tokio::task::spawn_blocking(move || attester.evidence(&digest))
            .await
            .map_err(|e| AttesterError::Evidence(format!("evidence task failed: {e}")))??;
        debug!("evidence collected");

        let attestation = Attestation {
            init_data: None,
            runtime_data: RuntimeData {
                nonce: challenge.nonce,
                tee_pubkey,
            },
            tee_evidence: TeeEvidence {
                primary_evidence: evidence,
                additional_evidence: self.additional_evidence.clone(),
            },
        };
        let response = self
            .session_http
            .post(self.url("attest"))
            .json(&attestation)
            .send()
            .await
            .map_err(|e| AgentError::http(&e))?;
        let AttestationToken { token } = read_json(response, "attestation token").await?;
        if token.is_empty() {
            return Err(AgentError::Protocol("attestation token is empty".into()));
        }
        debug!("attestation accepted");
        self.token = Some(token.clone());
        Ok(token)
    }

    /// Fetches and decrypts a resource over the attested session, attesting first if needed.
    pub async fn get_resource(&mut self, path: &ResourcePath) -> Result<Vec<u8>, AgentError> {
        if self.token.is_none() {
            self.attest().await?;
        }
        let response = self
            .session_http
            .get(self.resource_url(path))
            .send()
            .await
            .map_err(|e| AgentError::http(&e))?;
        self.open_envelope(response, path).await
    }

    /// Fetches and decrypts a resource authorised by `token` alone (no session cookie). The
    /// token must have been issued for this client's key, or the KBS encrypts to another key.
    pub async fn get_resource_with_token(
        &self,
        token: &str,
        path: &ResourcePath,
    ) -> Result<Vec<u8>, AgentError> {
        let response = self
            .token_http
            .get(self.resource_url(path))
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| AgentError::http(&e))?;
        self.open_envelope(response, path).await
    }

    async fn open_envelope(
        &self,
        response: Response,
        path: &ResourcePath,
    ) -> Result<Vec<u8>, AgentError> {
        let body = read_body(response).await?;
        let envelope = jwe::parse_flattened(&body)?;
        let plaintext = self.key.decrypt(&envelope)?;
        debug!(resource = %path, bytes = plaintext.len(), "resource decrypted");
        Ok(plaintext)
    }

    /// POSTs `body` as JSON to `endpoint` (under `/kbs/v0/`) without the session cookie, and
    /// reads the JSON answer (`what` names it in errors). For exchanges beside the attestation
    /// handshake, such as TPM AK registration.
    pub async fn post_json<T: serde::Serialize, R: DeserializeOwned>(
        &self,
        endpoint: &str,
        body: &T,
        what: &str,
    ) -> Result<R, AgentError> {
        let response = self
            .token_http
            .post(self.url(endpoint))
            .json(body)
            .send()
            .await
            .map_err(|e| AgentError::http(&e))?;
        read_json(response, what).await
    }

    /// POSTs `body` to `endpoint` (under `/kbs/v0/`) over the attested session (with its
    /// cookie), with `content_type`, and returns the answer's bytes.
    pub async fn post_session(
        &self,
        endpoint: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, AgentError> {
        post_bytes(&self.session_http, self.url(endpoint), content_type, body).await
    }

    fn url(&self, endpoint: &str) -> String {
        format!("{}/kbs/v0/{endpoint}", self.base)
    }

    fn resource_url(&self, path: &ResourcePath) -> String {
        // ResourcePath admits only [A-Za-z0-9._-] segments, so no escaping is needed.
        self.url(&format!("resource/{path}"))
    }
}

/// The KBS base URL (no trailing slash) and an HTTP client for it: only the configured CA
/// roots, never redirects, `https://` unless plain HTTP is allowed, a cookie store if asked.
fn http_client(
    config: &ClientConfig,
    cookies: bool,
) -> Result<(String, reqwest::Client), AgentError> {
    let (base, https) = parse_base_url(&config.base_url, config.allow_plain_http)?;
    if config.timeout.is_zero() {
        return Err(AgentError::Config(
            "request timeout must be positive".into(),
        ));
    }
    let tls = tls_config(config.ca_file.as_deref(), https)?;
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .cookie_store(cookies)
        // A KBS never redirects; following one could carry the session or token elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .https_only(https)
        .timeout(config.timeout)
        .user_agent(concat!("warden-agent/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| AgentError::Tls(format!("building the HTTP client: {e}")))?;
    Ok((base, http))
}

/// POSTs `body` (of `content_type`) to `endpoint` under `/kbs/v0/` with no session or token,
/// for the KBS's unauthenticated services (timestamps); returns the answer's bytes.
pub async fn post_unauthenticated(
    config: &ClientConfig,
    endpoint: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Result<Vec<u8>, AgentError> {
    let (base, http) = http_client(config, false)?;
    post_bytes(
        &http,
        format!("{base}/kbs/v0/{endpoint}"),
        content_type,
        body,
    )
    .await
}

async fn post_bytes(
    http: &reqwest::Client,
    url: String,
    content_type: &str,
    body: Vec<u8>,
) -> Result<Vec<u8>, AgentError> {
    let response = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .map_err(|e| AgentError::http(&e))?;
    read_body(response).await
}

/// Validates the KBS base URL; returns it without trailing slash and whether it is HTTPS.
///
/// Only a bare origin is accepted: the KBS scopes its session cookie to `/kbs/v0`, so a path
/// prefix (or query, fragment, credentials) would break the session in confusing ways.
pub fn parse_base_url(raw: &str, allow_plain_http: bool) -> Result<(String, bool), AgentError> {
    let shown: String = raw.chars().take(200).collect();
    let url = Url::parse(raw.trim())
        .map_err(|e| AgentError::Config(format!("invalid KBS URL {shown:?}: {e}")))?;
    let https = match url.scheme() {
        "https" => true,
        "http" if allow_plain_http => false,
        "http" => {
            return Err(AgentError::Config(format!(
                "KBS URL {shown:?} is plain HTTP: session cookies, evidence and tokens would travel \
                 unencrypted; use https:// or explicitly allow plain HTTP (--insecure-http)"
            )));
        }
        other => {
            return Err(AgentError::Config(format!(
                "KBS URL {shown:?} has unsupported scheme {other:?}; use https://"
            )));
        }
    };
    if url.host_str().is_none_or(str::is_empty) {
        return Err(AgentError::Config(format!("KBS URL {shown:?} has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(AgentError::Config(format!(
            "KBS URL {shown:?} must not contain credentials"
        )));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(AgentError::Config(format!(
            "KBS URL {shown:?} must be scheme://host[:port] only, without path, query or fragment"
        )));
    }
    Ok((url.as_str().trim_end_matches('/').to_owned(), https))
}

/// Builds a rustls configuration trusting only the roots in `ca_file`.
fn tls_config(ca_file: Option<&Path>, https: bool) -> Result<rustls::ClientConfig, AgentError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => load_roots(path, &mut roots)?,
        // This build carries no system trust store, and silently trusting nothing would only
        // surface later as an opaque handshake failure.
        None if https => {
            return Err(AgentError::Config(
                "a CA file (--ca-file / WARDEN_CA_FILE) is required for https:// KBS URLs; \
                 system trust roots are not used"
                    .into(),
            ));
        }
        // Plain HTTP never handshakes; reqwest still needs a TLS backend configured.
        None => {}
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AgentError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // reqwest leaves ALPN of a preconfigured config alone; without it HTTP/2 is never negotiated.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn load_roots(path: &Path, roots: &mut rustls::RootCertStore) -> Result<(), AgentError> {
    let pem = std::fs::read(path)
        .map_err(|e| AgentError::io(format!("reading CA file {}", path.display()), e))?;
    let mut count = 0usize;
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| AgentError::Tls(format!("CA file {}: {e}", path.display())))?;
        roots
            .add(cert)
            .map_err(|e| AgentError::Tls(format!("CA file {}: {e}", path.display())))?;
        count += 1;
    }
    if count == 0 {
        return Err(AgentError::Tls(format!(
            "CA file {} contains no PEM certificates",
            path.display()
        )));
    }
    Ok(())
}

/// Reads a 2xx body (bounded) or turns a non-2xx answer into `AgentError::Kbs`.
async fn read_body(response: Response) -> Result<Vec<u8>, AgentError> {
    let status = response.status();
    if !status.is_success() {
        let (body, _) = read_capped(response, MAX_ERROR_BODY_BYTES).await?;
        return Err(AgentError::from_kbs_response(status.as_u16(), &body));
    }
    let (body, truncated) = read_capped(response, MAX_RESPONSE_BYTES).await?;
    if truncated {
        return Err(AgentError::Protocol(format!(
            "response body exceeds {MAX_RESPONSE_BYTES} bytes"
        )));
    }
    Ok(body)
}

async fn read_json<T: DeserializeOwned>(response: Response, what: &str) -> Result<T, AgentError> {
    let body = read_body(response).await?;
    serde_json::from_slice(&body)
        .map_err(|e| AgentError::Protocol(format!("{what} is not the expected JSON: {e}")))
}

/// Reads at most `cap` bytes; the flag reports whether the body was longer.
async fn read_capped(mut response: Response, cap: usize) -> Result<(Vec<u8>, bool), AgentError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| AgentError::http(&e))? {
        let room = cap.saturating_sub(body.len());
        if chunk.len() > room {
            body.extend_from_slice(chunk.get(..room).unwrap_or_default());
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attester::SampleAttester;
    use warden_wire::jwe::KeyAlgorithm;

    #[test]
    fn plain_http_is_refused_unless_allowed() {
        let error = parse_base_url("http://127.0.0.1:8080", false).unwrap_err();
        assert!(matches!(error, AgentError::Config(_)));
        assert!(error.to_string().contains("--insecure-http"), "{error}");
        let (base, https) = parse_base_url("http://127.0.0.1:8080/", true).unwrap();
        assert_eq!(base, "http://127.0.0.1:8080");
        assert!(!https);
    }

    #[test]
    fn https_origin_is_normalised() {
        let (base, https) = parse_base_url("HTTPS://kbs.example:8443/", false).unwrap();
        assert_eq!(base, "https://kbs.example:8443");
        assert!(https);
    }

    #[test]
    fn other_url_shapes_are_refused() {
        for bad in [
            "ftp://kbs.example",
            "kbs.example:8080",
            "https://user:pw@kbs.example",
            "https://kbs.example/prefix",
            "https://kbs.example/?q=1",
            "https://kbs.example/#frag",
            "",
        ] {
            assert!(
                matches!(parse_base_url(bad, true), Err(AgentError::Config(_))),
                "{bad:?} accepted"
            );
        }
    }

    fn key() -> TeeKeyPair {
        TeeKeyPair::generate(KeyAlgorithm::EcdhEsA256kw).unwrap()
    }

    #[test]
    fn https_without_ca_file_is_a_config_error() {
        let config = ClientConfig::new("https://127.0.0.1:8080");
        let error = KbsClient::new(config, Arc::new(SampleAttester::default()), key()).unwrap_err();
        assert!(
            matches!(error, AgentError::Config(ref m) if m.contains("CA file")),
            "{error}"
        );
    }

    #[test]
    fn client_construction_refuses_http_and_accepts_it_when_allowed() {
        let attester: Arc<dyn Attester> = Arc::new(SampleAttester::default());
        let mut config = ClientConfig::new("http://127.0.0.1:8080");
        let refused = KbsClient::new(config.clone(), Arc::clone(&attester), key());
        assert!(matches!(refused, Err(AgentError::Config(_))));
        config.allow_plain_http = true;
        let client = KbsClient::new(config, attester, key()).unwrap();
        assert!(client.token().is_none());
        // The key and token never appear in Debug output.
        assert!(!format!("{client:?}").contains("\"d\""));
    }

    #[test]
    fn the_base_url_may_move_to_another_port_only() {
        let mut config = ClientConfig::new("http://127.0.0.1:8080");
        config.allow_plain_http = true;
        let mut client =
            KbsClient::new(config, Arc::new(SampleAttester::default()), key()).unwrap();
        client.set_base_url("http://127.0.0.1:8081/").unwrap();
        assert_eq!(client.url("auth"), "http://127.0.0.1:8081/kbs/v0/auth");
        for other in [
            "https://127.0.0.1:8081",
            "http://localhost:8081",
            "http://127.0.0.2:8080",
            "http://127.0.0.1:8081/prefix",
        ] {
            assert!(
                matches!(client.set_base_url(other), Err(AgentError::Config(_))),
                "{other:?} accepted"
            );
        }
        assert_eq!(client.url("auth"), "http://127.0.0.1:8081/kbs/v0/auth");
    }

    /// Each request a fake KBS saw: the port it came to, its request line, its `Cookie` header.
    type Seen = Arc<std::sync::Mutex<Vec<(u16, String, Option<String>)>>>;

    /// Answers `/auth` (with a session cookie) and `/attest` on a plain-HTTP listener, one
    /// request per connection, and records each request in `seen`.
    async fn fake_kbs(listener: tokio::net::TcpListener, seen: Seen) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            let head_end = loop {
                let read = stream.read(&mut buffer).await.unwrap();
                assert!(read > 0, "connection closed inside the request head");
                request.extend_from_slice(&buffer[..read]);
                if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                    break at + 4;
                }
            };
            let head = String::from_utf8(request[..head_end].to_vec()).unwrap();
            let header = |name: &str| {
                head.lines().find_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    key.eq_ignore_ascii_case(name)
                        .then(|| value.trim().to_owned())
                })
            };
            let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
            while request.len() < head_end + length {
                let read = stream.read(&mut buffer).await.unwrap();
                request.extend_from_slice(&buffer[..read]);
            }
            let line = head.lines().next().unwrap().to_owned();
            let (extra, body) = if line.starts_with("POST /kbs/v0/auth ") {
                (
                    "Set-Cookie: kbs-session-id=s1; Path=/kbs/v0; HttpOnly\r\n",
                    r#"{"nonce":"bm9uY2U=","extra-params":{}}"#,
                )
            } else {
                ("", r#"{"token":"t"}"#)
            };
            let port = stream.local_addr().unwrap().port();
            seen.lock().unwrap().push((port, line, header("cookie")));
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(answer.as_bytes()).await.unwrap();
        }
    }

    #[tokio::test]
    async fn the_session_cookie_follows_to_another_port() {
        let seen: Seen = Arc::default();
        let mut ports = Vec::new();
        for _ in 0..2 {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            ports.push(listener.local_addr().unwrap().port());
            tokio::spawn(fake_kbs(listener, Arc::clone(&seen)));
        }
        let mut config = ClientConfig::new(format!("http://127.0.0.1:{}", ports[0]));
        config.allow_plain_http = true;
        let mut client =
            KbsClient::new(config, Arc::new(SampleAttester::default()), key()).unwrap();
        let challenge = client.request_challenge().await.unwrap();
        client
            .set_base_url(&format!("http://127.0.0.1:{}", ports[1]))
            .unwrap();
        assert_eq!(client.answer_challenge(challenge).await.unwrap(), "t");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        let (auth_port, auth, auth_cookie) = &seen[0];
        assert_eq!(*auth_port, ports[0]);
        assert!(auth.starts_with("POST /kbs/v0/auth "), "{seen:?}");
        assert_eq!(*auth_cookie, None);
        let (attest_port, attest, attest_cookie) = &seen[1];
        assert_eq!(*attest_port, ports[1]);
        assert!(attest.starts_with("POST /kbs/v0/attest "), "{seen:?}");
        assert_eq!(attest_cookie.as_deref(), Some("kbs-session-id=s1"));
    }

    #[test]
    fn unusable_ca_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, b"not a certificate\n").unwrap();
        let mut config = ClientConfig::new("https://127.0.0.1:8080");
        config.ca_file = Some(not_pem);
        let error = KbsClient::new(config.clone(), Arc::new(SampleAttester::default()), key());
        assert!(matches!(error, Err(AgentError::Tls(_))));
        config.ca_file = Some(dir.path().join("missing.pem"));
        let error = KbsClient::new(config, Arc::new(SampleAttester::default()), key());
        assert!(matches!(error, Err(AgentError::Io { .. })));
    }
}
