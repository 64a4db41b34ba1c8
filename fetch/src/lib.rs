//! What the collateral fetchers (AMD KDS in `kds`, Intel PCS in `pcs`) share: the HTTP client,
//! GETs with a bounded answer, coalesced flights, exponential back-off and atomic cache files.
//!
//! Both fetchers run in the I/O layer of the KBS or the verifier service, before appraisal
//! (see [`Prefetcher`]); appraisal itself never touches the network, and nothing here decides
//! trust: fetched items join the collateral the verifiers check like any configured file.
// Tests may unwrap: a panic is how they fail. Production code may not.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod kds;
pub mod pcs;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::OnceCell;
use tracing::{info, warn};
use warden_wire::snp::Report;

use kds::{KdsFetcher, KdsSettings, vcek_ids};
use pcs::{PcsFetcher, PcsSettings, Supplied};
use warden_verifier::registry::VerifierSettings;
use warden_verifier::tee::snp::SnpEvidence;
use warden_verifier::tee::tdx::TdxEvidence;

/// Whole-request timeout of a fetch unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// First back-off after a failed fetch unless configured otherwise.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The fetchers a broker or the verifier service runs before appraisal, each optional.
pub struct Prefetcher {
    kds: Option<KdsFetcher>,
    pcs: Option<PcsFetcher>,
}

impl Prefetcher {
    /// Fetchers filling `verifiers`' SNP and TDX collateral (what appraisal then reads).
    pub fn new(
        kds: Option<KdsSettings>,
        pcs: Option<PcsSettings>,
        verifiers: &VerifierSettings,
    ) -> Result<Self, String> {
        Ok(Self {
            kds: kds
                .map(|kds| KdsFetcher::new(kds, verifiers.snp_collateral.clone()))
                .transpose()?,
            pcs: pcs
                .map(|pcs| PcsFetcher::new(pcs, verifiers.tdx_collateral.clone()))
                .transpose()?,
        })
    }

    /// Whether any fetching is configured.
    pub fn enabled(&self) -> bool {
        self.kds.is_some() || self.pcs.is_some()
    }

    /// For `tee` evidence about to be appraised at `now`: when KDS fetching is configured and
    /// an SNP report comes without certificates, makes sure the collateral holds its VCEK; when
    /// PCS fetching is configured, makes sure the TDX collateral for the quote's platform is
    /// valid at `now`. Failures only log: appraisal then fails closed for want of (valid)
    /// collateral. Callers must only call this for evidence they will appraise (the KBS: for a
    /// session holding a fresh challenge), so that nobody can make them fetch at will.
    pub async fn prepare(&self, tee: &str, evidence: &Value, now: OffsetDateTime) {
        match (tee, &self.kds, &self.pcs) {
            ("snp", Some(kds), _) => prefetch_vceks(kds, evidence, now).await,
            ("tdx", _, Some(pcs)) => prefetch_tdx_collateral(pcs, evidence, now).await,
            _ => {}
        }
    }
}

async fn prefetch_vceks(kds: &KdsFetcher, evidence: &Value, now: OffsetDateTime) {
    let Ok(evidence) = SnpEvidence::from_json(evidence) else {
        return;
    };
    if !evidence.endorsements.is_empty() {
        return;
    }
    let Ok(report) = Report::parse(&evidence.report) else {
        return;
    };
    for id in vcek_ids(&report) {
        match kds.ensure_vcek(id, now).await {
            Ok(true) => info!(tee = "snp", vcek = %id.path(), "VCEK fetched from KDS"),
            Ok(false) => {}
            Err(error) => warn!(tee = "snp", %error, "VCEK not available from KDS"),
        }
    }
}

async fn prefetch_tdx_collateral(pcs: &PcsFetcher, evidence: &Value, now: OffsetDateTime) {
    let Ok(evidence) = TdxEvidence::from_json(evidence) else {
        return;
    };
    let outcomes = match pcs.ensure_for_quote(&evidence.quote, now).await {
        Ok(outcomes) => outcomes,
        Err(error) => {
            warn!(tee = "tdx", %error, "no collateral fetched for this quote");
            return;
        }
    };
    for (item, outcome) in outcomes {
        match outcome {
            Ok(Supplied::Fetched) => info!(tee = "tdx", %item, "collateral fetched from PCS"),
            Ok(Supplied::FromDiskCache) => {
                info!(tee = "tdx", %item, "collateral loaded from the disk cache")
            }
            Ok(Supplied::Present) => {}
            Err(error) => warn!(tee = "tdx", %item, %error, "collateral not available from PCS"),
        }
    }
}

/// The longest back-off: a service that has been down for hours is still retried hourly.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Back-off entries kept before expired ones are dropped (keys are URLs that evidence chose).
const MAX_TRACKED_FAILURES: usize = 1024;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps hold plain data; a panic elsewhere cannot leave them half-updated.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// An HTTP client with Warden's one TLS provider and a whole-request timeout.
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    // Installing the provider again is a harmless no-op.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// A successful (2xx) answer.
pub(crate) struct Answer {
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

/// GETs `url` and reads at most `limit` body bytes: a server (or anything in its place) cannot
/// make us buffer an unbounded answer.
pub(crate) async fn get_bounded(
    client: &reqwest::Client,
    url: &str,
    limit: usize,
) -> Result<Answer, String> {
    let mut response = client.get(url).send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let too_large = || format!("answer larger than {limit} bytes");
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        headers: response.headers().clone(),
        body,
    })
}

/// Concurrent requests for one key share a single piece of work (one HTTP request however many
/// attestations from the same platform arrive together).
pub(crate) struct Flights<V> {
    in_flight: Mutex<HashMap<String, Arc<OnceCell<V>>>>,
}

impl<V> Default for Flights<V> {
    fn default() -> Self {
        Self {
            in_flight: Mutex::default(),
        }
    }
}

impl<V: Clone> Flights<V> {
    /// Runs `work` unless a flight for `key` is under way, in which case its result is shared.
    pub(crate) async fn run<F: Future<Output = V>>(
        &self,
        key: &str,
        work: impl FnOnce() -> F,
    ) -> V {
        let flight = lock(&self.in_flight)
            .entry(key.to_owned())
            .or_default()
            .clone();
        let value = flight.get_or_init(work).await.clone();
        // The next caller starts afresh, but only this flight is retired: a newer one started
        // meanwhile under the same key stays joinable.
        let mut in_flight = lock(&self.in_flight);
        if in_flight
            .get(key)
            .is_some_and(|current| Arc::ptr_eq(current, &flight))
        {
            in_flight.remove(key);
        }
        value
    }
}

fn plus(at: OffsetDateTime, duration: Duration) -> OffsetDateTime {
    at.saturating_add(time::Duration::try_from(duration).unwrap_or(time::Duration::MAX))
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    last: OffsetDateTime,
    until: OffsetDateTime,
    count: u32,
}

/// Why a request is not made now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BackingOff {
    pub seconds: u64,
    pub failures: u32,
}

/// Exponential back-off per key after failures: `first`, doubling per consecutive failure, up to
/// an hour. A success forgets the key. Time is the caller's (the KBS's request time), never
/// read here.
pub(crate) struct Backoff {
    first: Duration,
    failures: Mutex<HashMap<String, Failures>>,
}

impl Backoff {
    pub(crate) fn new(first: Duration) -> Self {
        Self {
            first,
            failures: Mutex::default(),
        }
    }

    pub(crate) fn check(&self, key: &str, now: OffsetDateTime) -> Result<(), BackingOff> {
        match lock(&self.failures).get(key) {
            // A time before the last failure (a clock set back) does not extend the wait.
            Some(failures) if failures.last <= now && now < failures.until => Err(BackingOff {
                seconds: u64::try_from((failures.until - now).whole_seconds()).unwrap_or(0),
                failures: failures.count,
            }),
            _ => Ok(()),
        }
    }

    pub(crate) fn succeeded(&self, key: &str) {
        lock(&self.failures).remove(key);
    }

    pub(crate) fn failed(&self, key: &str, now: OffsetDateTime) {
        let mut failures = lock(&self.failures);
        if failures.len() >= MAX_TRACKED_FAILURES && !failures.contains_key(key) {
            failures.retain(|_, entry| now < entry.until);
        }
        let count = failures
            .get(key)
            .map_or(0, |entry| entry.count)
            .saturating_add(1);
        let wait = self
            .first
            .saturating_mul(1 << (count - 1).min(16))
            .min(MAX_BACKOFF);
        failures.insert(
            key.to_owned(),
            Failures {
                last: now,
                until: plus(now, wait),
                count,
            },
        );
    }
}

pub(crate) use warden_verifier::collateral::write_atomically;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_a_success_forgets() {
        let backoff = Backoff::new(Duration::from_secs(60));
        let start = OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap();
        assert!(backoff.check("u", start).is_ok());
        backoff.failed("u", start);
        assert_eq!(
            backoff.check("u", plus(start, Duration::from_secs(1))),
            Err(BackingOff {
                seconds: 59,
                failures: 1
            })
        );
        assert!(backoff.check("other", start).is_ok());
        let later = plus(start, Duration::from_secs(60));
        assert!(backoff.check("u", later).is_ok());
        backoff.failed("u", later);
        assert!(
            backoff
                .check("u", plus(later, Duration::from_secs(119)))
                .is_err()
        );
        assert!(
            backoff
                .check("u", plus(later, Duration::from_secs(120)))
                .is_ok()
        );
        for _ in 0..40 {
            backoff.failed("u", later);
        }
        assert_eq!(
            backoff.check("u", later).map_err(|b| b.seconds),
            Err(MAX_BACKOFF.as_secs())
        );
        backoff.succeeded("u");
        assert!(backoff.check("u", later).is_ok());
    }

    #[test]
    fn a_clock_set_back_does_not_extend_the_backoff() {
        let backoff = Backoff::new(Duration::from_secs(60));
        let now = OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap();
        backoff.failed("u", now);
        assert!(backoff.check("u", now).is_err());
        assert!(backoff.check("u", now - time::Duration::DAY).is_ok());
    }
}
