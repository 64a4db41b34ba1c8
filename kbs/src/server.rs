//! Process wiring: logging, TLS, the listener with its connection limits and timeouts,
//! background session purging and store polling, graceful shutdown that always ends the process.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::http::StatusCode;
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use hyper_util::rt::TokioTimer;
use tokio::net::TcpStream;
use tower_http::timeout::TimeoutLayer;
use tracing::info;
use warden_verifier_service::connections::{Admission, Admitted, Budget, ConnectionLimits};
use warden_verifier_service::logging::LogStyle;

use crate::config::{Config, LogFormat};
use crate::http::{AppState, router};
use crate::service::Kbs;

/// Installs the one rustls crypto provider used everywhere (ring).
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Installs the global log subscriber, writing to stderr in `format` with untrusted text
/// escaped (see [`warden_verifier_service::logging`]). `RUST_LOG`, when set and valid,
/// overrides `filter`, which defaults to "info".
pub fn init_logging(format: &LogFormat, filter: Option<&str>) {
    let style = match format {
        LogFormat::Json => LogStyle::Json,
        LogFormat::Human => LogStyle::Human,
    };
    warden_verifier_service::logging::init(style, filter);
}

fn tls_config(cert: &Path, key: &Path) -> anyhow::Result<rustls::ServerConfig> {
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(cert).with_context(|| format!("TLS certificate {}", cert.display()))?,
    ))
    .collect::<Result<Vec<_>, _>>()
    .with_context(|| format!("TLS certificate {}", cert.display()))?;
    let key_pem =
        crate::keyfile::read_private(key).with_context(|| format!("TLS key {}", key.display()))?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .with_context(|| format!("TLS key {}", key.display()))?
        .with_context(|| format!("no private key in {}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Runs the KBS until SIGINT/SIGTERM. With `ready_file`, the bound address is written there once
/// the listener accepts connections (lets tests and scripts use port 0).
pub async fn serve(config: Config, ready_file: Option<&Path>) -> anyhow::Result<()> {
    install_crypto_provider();
    let kbs = Arc::new(Kbs::open(&config).await?);
    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("bind {}", config.listen))?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let scheme = if config.insecure_http {
        "http"
    } else {
        "https"
    };
    let base_url = match &config.public_url {
        Some(url) => Some(url.clone()),
        None if address.ip().is_unspecified() => {
            tracing::warn!(%address, "public_url is not set and the listen address is a wildcard: the discovery document is unavailable until public_url is set");
            None
        }
        None => Some(format!("{scheme}://{address}")),
    };
    let state = AppState {
        kbs: kbs.clone(),
        base_url,
        secure_cookie: !config.insecure_http,
        session_max_age_secs: config.session.timeout.as_secs(),
        bodies: Budget::new(
            config.server.max_body_bytes_in_flight,
            config.server.max_body_bytes_in_flight_per_client,
        ),
    };
    let limits = &config.server;
    let app = router(state)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .into_make_service_with_connect_info::<SocketAddr>();

    let purger = kbs.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            purger
                .purge_expired_sessions(time::OffsetDateTime::now_utc())
                .await;
        }
    });
    // Replicas on one store: a change written through any of them is in force here within a
    // second.
    let refreshed = kbs.clone();
    tokio::spawn(async move {
        warden_verifier_service::poll_refresh("kbs", || refreshed.refresh()).await;
    });

    let handle = axum_server::Handle::new();
    let shutdown = handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutting down");
        shutdown.graceful_shutdown(Some(SHUTDOWN_GRACE));
        // Whatever still runs then (a stuck task, a policy compiling) must not keep the
        // process alive: an operator's SIGTERM always ends it.
        std::thread::spawn(|| {
            std::thread::sleep(SHUTDOWN_GRACE + Duration::from_secs(5));
            tracing::error!("shutdown did not complete in time; exiting");
            std::process::exit(1);
        });
    });

    if config.insecure_http {
        tracing::warn!("INSECURE: serving plain HTTP; cookies and admin tokens travel in clear");
    }
    let admission = Admission::new(ConnectionLimits {
        max_total: usable_connections(limits.max_connections),
        max_per_client: limits.max_connections_per_client,
        idle_timeout: limits.idle_timeout,
    });
    if let Some(path) = ready_file {
        use warden_store::files::{Existing, PUBLIC_FILE_MODE, write_file};
        write_file(
            path,
            address.to_string().as_bytes(),
            PUBLIC_FILE_MODE,
            Existing::Replace,
        )
        .with_context(|| format!("ready file {}", path.display()))?;
    }
    info!(%address, %scheme, sample_enabled = config.insecure_allow_sample, "warden-kbs listening");
    let mut server = axum_server::from_tcp(listener)?.handle(handle);
    let http = server.http_builder();
    // hyper enforces the head timeout only with a timer; it also bounds idle keep-alive.
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    http.http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(10))
        .max_concurrent_streams(64);
    let acceptor = AdmissionAcceptor(admission);
    match &config.tls {
        Some(tls) if !config.insecure_http => {
            let tls = RustlsConfig::from_config(Arc::new(tls_config(&tls.cert, &tls.key)?));
            let acceptor = RustlsAcceptor::new(tls)
                .handshake_timeout(limits.header_timeout)
                .acceptor(acceptor);
            server.acceptor(acceptor).serve(app).await?;
        }
        _ => server.acceptor(acceptor).serve(app).await?,
    }
    Ok(())
}

/// How long in-flight requests may finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Descriptors kept for everything but client connections (store, logs, the verifier).
const RESERVED_DESCRIPTORS: usize = 256;

/// `wanted`, lowered to what the process's open-file limit leaves for client connections: a
/// limit the kernel enforces first would refuse everyone instead of the greedy client.
fn usable_connections(wanted: usize) -> usize {
    let soft_limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|line| line.starts_with("Max open files"))
                .and_then(|line| line.split_whitespace().nth(3))
                .and_then(|soft| soft.parse::<usize>().ok())
        });
    match soft_limit {
        Some(limit) if limit.saturating_sub(RESERVED_DESCRIPTORS) < wanted => {
            let usable = limit.saturating_sub(RESERVED_DESCRIPTORS).max(1);
            tracing::warn!(
                wanted,
                usable,
                open_file_limit = limit,
                "[server] max_connections lowered to fit the open-file limit (raise it with ulimit -n)"
            );
            usable
        }
        _ => wanted,
    }
}

/// Counts each accepted connection against the limits (closing it at once beyond them) and
/// closes it when idle.
#[derive(Clone)]
struct AdmissionAcceptor(Admission);

impl<S> Accept<TcpStream, S> for AdmissionAcceptor {
    type Stream = Admitted<TcpStream>;
    type Service = S;
    type Future = std::future::Ready<std::io::Result<(Self::Stream, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        std::future::ready(self.0.admit_stream(stream).map(|stream| (stream, service)))
    }
}

async fn shutdown_signal() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return std::future::pending().await,
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
