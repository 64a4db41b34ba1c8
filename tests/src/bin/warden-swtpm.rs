//! `warden-swtpm`: runs one manufactured software TPM (the test harness's [`Swtpm`]) until
//! SIGTERM or Ctrl-C, for the demo and for manual experiments. Writes `tcti=...` and one
//! `ek_ca=...` line per EK CA certificate to `--ready-file` once the TPM accepts connections.
// Test support: a panic is how a test fails.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use clap::Parser;
use warden_tests::swtpm::Swtpm;

#[derive(Parser)]
#[command(
    name = "warden-swtpm",
    about = "Run a manufactured swtpm until terminated"
)]
struct Cli {
    /// Written (atomically) once the TPM is up.
    #[arg(long, value_name = "FILE")]
    ready_file: PathBuf,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let tpm = Swtpm::start();
    let mut ready = format!("tcti={}\n", tpm.tcti());
    for ca in tpm.local_ca_certificates() {
        ready.push_str(&format!("ek_ca={}\n", ca.display()));
    }
    let temporary = cli.ready_file.with_extension("tmp");
    std::fs::write(&temporary, ready)?;
    std::fs::rename(&temporary, &cli.ready_file)?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    // Dropping the harness stops swtpm and removes its state.
    drop(tpm);
    Ok(())
}
