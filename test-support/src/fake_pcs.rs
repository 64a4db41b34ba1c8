//! A stand-in for Intel PCS on loopback serving the dcap-qvl TDX vector's collateral, for the
//! PCS fetcher's unit tests and the verifier service's and the KBS's prefetch tests.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use time::OffsetDateTime;

/// Path of PCS's TDX TCB info (asked for with `?fmspc=`).
pub const TCB_INFO_PATH: &str = "/tdx/certification/v4/tcb";
/// Path of PCS's TDX QE identity.
pub const QE_IDENTITY_PATH: &str = "/tdx/certification/v4/qe/identity";
/// Path of PCS's PCK CRL (served for `?ca=platform&encoding=der`).
pub const PCK_CRL_PATH: &str = "/sgx/certification/v4/pckcrl";
/// Path of Intel's SGX root CA CRL (on the root CA CRL host).
pub const ROOT_CRL_PATH: &str = "/IntelSGXRootCA.der";
/// Larger than the PCS fetcher accepts (its `MAX_ANSWER_BYTES` is 2 MiB).
pub const OVERSIZED_ANSWER_BYTES: usize = 2 * 1024 * 1024 + 1;
/// Every path the stand-in serves, one per collateral item.
pub const ALL_PATHS: [&str; 4] = [TCB_INFO_PATH, QE_IDENTITY_PATH, PCK_CRL_PATH, ROOT_CRL_PATH];
/// Inside the vector's collateral window (2025-06-19T10:32:27Z .. 2025-07-19T10:00:35Z).
pub const VALID: &str = "2025-07-01T00:00:00Z";
/// Past the nextUpdate of its TCB info, QE identity and PCK CRL (the root CA CRL runs to 2026).
pub const EXPIRED: &str = "2025-07-20T00:00:00Z";
/// Before the issue date of its TCB info, QE identity and PCK CRL.
pub const NOT_YET_VALID: &str = "2025-06-01T00:00:00Z";

/// Parses an RFC 3339 time such as [`VALID`]; panics if it is not one.
pub fn at(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
}

/// The dcap-qvl TDX vector (FMSPC b0c06f000000, PCK Platform CA) and its collateral in the
/// shapes PCS answers with.
pub struct Vector {
    /// The TDX quote (`tdx_quote.bin`).
    pub quote: Vec<u8>,
    /// The TCB info answer body: signed JSON beside its signature.
    pub tcb_info: Vec<u8>,
    /// The TCB info's issuer chain (PEM), sent in a response header.
    pub tcb_info_chain: String,
    /// The QE identity answer body: signed JSON beside its signature.
    pub qe_identity: Vec<u8>,
    /// The QE identity's issuer chain (PEM), sent in a response header.
    pub qe_identity_chain: String,
    /// The PCK Platform CA's CRL (DER).
    pub pck_crl: Vec<u8>,
    /// The PCK CRL's issuer chain (PEM), sent in a response header.
    pub pck_crl_chain: String,
    /// Intel's SGX root CA CRL (DER).
    pub root_crl: Vec<u8>,
}

/// The dcap-qvl TDX set (`tests/vectors/tdx/dcap-qvl-tdx`) as PCS would serve it.
pub fn vector() -> Arc<Vector> {
    let dir = crate::vectors::set("tdx", "dcap-qvl-tdx");
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("collateral.json")).unwrap()).unwrap();
    let field = |name: &str| bundle[name].as_str().unwrap().to_owned();
    // PCS answers carry the signed JSON text verbatim beside its signature.
    let pcs_json = |key: &str, body: &str, signature: &str| {
        format!(
            r#"{{"{key}":{},"signature":"{}"}}"#,
            field(body),
            field(signature)
        )
        .into_bytes()
    };
    Arc::new(Vector {
        quote: std::fs::read(dir.join("tdx_quote.bin")).unwrap(),
        tcb_info: pcs_json("tcbInfo", "tcb_info", "tcb_info_signature"),
        tcb_info_chain: field("tcb_info_issuer_chain"),
        qe_identity: pcs_json("enclaveIdentity", "qe_identity", "qe_identity_signature"),
        qe_identity_chain: field("qe_identity_issuer_chain"),
        pck_crl: hex::decode(field("pck_crl")).unwrap(),
        pck_crl_chain: field("pck_crl_issuer_chain"),
        root_crl: hex::decode(field("root_ca_crl")).unwrap(),
    })
}

/// How the stand-in answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers like PCS.
    Serve,
    /// HTTP 500 for everything.
    Fail,
    /// A different defect per item (see `serve`).
    Malformed,
}

/// The stand-in's state, shared by its handler ([`serve`]).
#[derive(Clone)]
pub struct FakeState {
    /// The collateral served.
    pub vector: Arc<Vector>,
    /// Requests received, per path.
    pub hits: Arc<Mutex<HashMap<String, u64>>>,
    /// How long to wait before answering each request.
    pub delay: Duration,
    /// How to answer.
    pub behaviour: Behaviour,
}

/// A stand-in for Intel PCS (and the root CA CRL host) on loopback, counting requests per path.
pub struct FakePcs {
    /// Base URL (`http://127.0.0.1:<port>`), with no trailing slash.
    pub url: String,
    /// Requests received, per path (shared with the server).
    pub hits: Arc<Mutex<HashMap<String, u64>>>,
}

impl FakePcs {
    /// Where this stand-in serves Intel's root CA CRL.
    pub fn root_crl_url(&self) -> String {
        format!("{}{ROOT_CRL_PATH}", self.url)
    }

    /// How many requests `path` (without query) has received.
    pub fn hits(&self, path: &str) -> u64 {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// How many requests all paths together have received.
    pub fn total(&self) -> u64 {
        self.hits.lock().unwrap().values().sum()
    }
}

/// `body` with `chain` percent-encoded into the response header `header`, as PCS sends an
/// issuer chain.
pub fn with_chain(header: &'static str, chain: &str, body: Vec<u8>) -> Response {
    let mut response = body.into_response();
    let encoded = utf8_percent_encode(chain, NON_ALPHANUMERIC).to_string();
    response
        .headers_mut()
        .insert(header, HeaderValue::from_str(&encoded).unwrap());
    response
}

/// The stand-in's handler: counts the request for its path, waits the state's delay, then
/// answers per its [`Behaviour`]; paths or queries it does not know get 404.
pub async fn serve(State(state): State<FakeState>, uri: Uri) -> Response {
    let path = uri.path().to_owned();
    *state.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    tokio::time::sleep(state.delay).await;
    let vector = &state.vector;
    let query = uri.query().unwrap_or_default();
    match (state.behaviour, path.as_str()) {
        (Behaviour::Fail, _) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        // Whatever FMSPC is asked for, this server knows one TCB info.
        (Behaviour::Serve, TCB_INFO_PATH) if query.starts_with("fmspc=") => with_chain(
            "TCB-Info-Issuer-Chain",
            &vector.tcb_info_chain,
            vector.tcb_info.clone(),
        ),
        (Behaviour::Serve, QE_IDENTITY_PATH) => with_chain(
            "SGX-Enclave-Identity-Issuer-Chain",
            &vector.qe_identity_chain,
            vector.qe_identity.clone(),
        ),
        (Behaviour::Serve, PCK_CRL_PATH) if query == "ca=platform&encoding=der" => with_chain(
            "SGX-PCK-CRL-Issuer-Chain",
            &vector.pck_crl_chain,
            vector.pck_crl.clone(),
        ),
        (Behaviour::Serve, ROOT_CRL_PATH) => vector.root_crl.clone().into_response(),
        // Truncated JSON.
        (Behaviour::Malformed, TCB_INFO_PATH) => with_chain(
            "TCB-Info-Issuer-Chain",
            &vector.tcb_info_chain,
            br#"{"tcbInfo": {"id": "TDX""#.to_vec(),
        ),
        // The right item without its issuer chain.
        (Behaviour::Malformed, QE_IDENTITY_PATH) => vector.qe_identity.clone().into_response(),
        // Larger than any answer may be.
        (Behaviour::Malformed, PCK_CRL_PATH) => with_chain(
            "SGX-PCK-CRL-Issuer-Chain",
            &vector.pck_crl_chain,
            vec![0x30; OVERSIZED_ANSWER_BYTES],
        ),
        // A CRL, but another CA's.
        (Behaviour::Malformed, ROOT_CRL_PATH) => vector.pck_crl.clone().into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Starts a stand-in serving `vector` on a loopback port, answering after `delay` as
/// `behaviour` says; it runs on a spawned task for the rest of the runtime.
pub async fn fake_pcs(vector: &Arc<Vector>, delay: Duration, behaviour: Behaviour) -> FakePcs {
    let hits = Arc::new(Mutex::new(HashMap::new()));
    let state = FakeState {
        vector: vector.clone(),
        hits: hits.clone(),
        delay,
        behaviour,
    };
    let app = Router::new().fallback(serve).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    FakePcs { url, hits }
}

/// The names of the files in `dir`, sorted (to check what a fetcher cached).
pub fn cache_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
