//! Process wiring: logging, TLS, the listener, background session purging, graceful shutdown.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tracing::info;

use crate::config::{Config, LogFormat};
use crate::http::{AppState, router};
use crate::service::Kbs;

/// Installs the one rustls crypto provider used everywhere (ring).
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Installs the global log subscriber, writing to stderr in `format`. `RUST_LOG`, when set and
/// valid, overrides `filter`, which defaults to "info".
pub fn init_logging(format: &LogFormat, filter: Option<&str>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter.unwrap_or("info")));
    // Colour codes only for a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
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
    let state = AppState {
        kbs: kbs.clone(),
        base_url: format!("{scheme}://{address}"),
        secure_cookie: !config.insecure_http,
        session_max_age_secs: config.session.timeout.as_secs(),
    };
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();

    let purger = kbs.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            purger.purge_expired_sessions(time::OffsetDateTime::now_utc());
        }
    });

    let handle = axum_server::Handle::new();
    let shutdown = handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        info!("shutting down");
        shutdown.graceful_shutdown(Some(Duration::from_secs(10)));
    });

    if config.insecure_http {
        tracing::warn!("INSECURE: serving plain HTTP; cookies and admin tokens travel in clear");
    }
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
    // Small request/response exchanges must not wait on Nagle + delayed ACK (~40 ms each).
    let server = axum_server::from_tcp(listener)?.handle(handle);
    match &config.tls {
        Some(tls) if !config.insecure_http => {
            let tls = RustlsConfig::from_config(Arc::new(tls_config(&tls.cert, &tls.key)?));
            let acceptor = RustlsAcceptor::new(tls).acceptor(NoDelayAcceptor::new());
            server.acceptor(acceptor).serve(app).await?;
        }
        _ => server.acceptor(NoDelayAcceptor::new()).serve(app).await?,
    }
    Ok(())
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
