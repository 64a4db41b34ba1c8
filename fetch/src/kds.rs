//! Optional AMD Key Distribution Service client: fetches the VCEK an SNP report names when neither
//! the evidence nor the offline collateral holds it.
//!
//! It runs in the KBS's I/O layer *before* appraisal and only adds candidate certificates to the
//! shared collateral; the verifier itself never touches the network, and a fetched VCEK is
//! trusted only if its chain verifies to a pinned AMD root. Fetches are skipped when the
//! collateral already has the VCEK, cached on disk (the collateral directory, so a restart finds
//! them), coalesced (concurrent attestations from one chip make one request) and backed off
//! exponentially after failures (a broken KDS is not hammered once per attestation).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use warden_verifier::tee::snp::certs::{Cert, Collateral};
use warden_wire::snp::{Generation, Report, Tcb};

use super::{Backoff, Flights, get_bounded, http_client, write_atomically};

/// AMD's public KDS.
pub const AMD_KDS_URL: &str = "https://kdsintf.amd.com";
/// A VCEK is ~1.4 KB; anything much larger is not one.
const MAX_VCEK_BYTES: usize = 16 * 1024;

/// Why a VCEK could not be fetched from KDS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KdsError {
    /// The request failed: network error, timeout, non-2xx status or an oversized answer.
    #[error("KDS request {url} failed: {detail}")]
    Request {
        /// The URL requested.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// KDS answered with something other than a VCEK for the requested chip and TCB.
    #[error("KDS answered {url} with something that is not this chip's VCEK: {detail}")]
    NotAVcek {
        /// The URL requested.
        url: String,
        /// What is wrong with the answer.
        detail: String,
    },
    /// No request made: earlier failures for this URL put it in back-off.
    #[error("KDS is backed off for {url} for another {seconds} s after {failures} failure(s)")]
    BackingOff {
        /// The URL not requested.
        url: String,
        /// Seconds left before it may be requested again.
        seconds: u64,
        /// Consecutive failures so far.
        failures: u32,
    },
}

/// What identifies a VCEK: the chip and the TCB the report says it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VcekId<'a> {
    /// The processor generation: KDS's product name and how the TCB is laid out.
    pub generation: Generation,
    /// The report's chip id, cut to the generation's length (KDS's `hwid`).
    pub hw_id: &'a [u8],
    /// The TCB (security patch levels) the VCEK is issued for.
    pub tcb: Tcb,
}

impl VcekId<'_> {
    /// `/vcek/v1/{product}/{hwid}?[fmcSPL&]blSPL&teeSPL&snpSPL&ucodeSPL`.
    pub fn path(&self) -> String {
        let fmc = self
            .tcb
            .fmc
            .map(|fmc| format!("fmcSPL={fmc}&"))
            .unwrap_or_default();
        format!(
            "/vcek/v1/{}/{}?{fmc}blSPL={}&teeSPL={}&snpSPL={}&ucodeSPL={}",
            self.generation.name(),
            hex::encode(self.hw_id),
            self.tcb.bootloader,
            self.tcb.tee,
            self.tcb.snp,
            self.tcb.microcode
        )
    }

    fn cache_name(&self) -> String {
        format!(
            "kds-vcek-{}-{}-{:016x}.der",
            self.generation.name(),
            hex::encode(self.hw_id),
            self.tcb.encode().0
        )
    }
}

/// The VCEKs a report may need: one per generation it can belong to (v2 reports carry no CPUID,
/// so Milan and Genoa are both possible), each with the report's chip id and REPORTED_TCB.
pub fn vcek_ids(report: &Report) -> Vec<VcekId<'_>> {
    let generations: Vec<Generation> = match report
        .cpuid()
        .map(|(family, model, _)| Generation::from_cpuid(family, model))
    {
        Some(Some(generation)) => vec![generation],
        Some(None) => Vec::new(),
        None => vec![Generation::Milan, Generation::Genoa],
    };
    generations
        .into_iter()
        .map(|generation| VcekId {
            generation,
            hw_id: &report.chip_id()[..generation.chip_id_len()],
            tcb: report.reported_tcb().decode(generation),
        })
        .collect()
}

/// Where KDS is, how long to wait for it and where to cache what it returns.
#[derive(Debug, Clone)]
pub struct KdsSettings {
    /// KDS base URL (normally [`AMD_KDS_URL`]); the `/vcek/v1/...` path is appended.
    pub base_url: String,
    /// Whole-request timeout of each fetch.
    pub timeout: Duration,
    /// First back-off after a failure; doubles per consecutive failure up to an hour.
    pub retry_after: Duration,
    /// Where fetched VCEKs are written (normally the collateral directory); `None`: memory only.
    pub cache_dir: Option<PathBuf>,
}

/// Fetches missing VCEKs from KDS into the shared SNP collateral.
pub struct KdsFetcher {
    settings: KdsSettings,
    client: reqwest::Client,
    collateral: Arc<Collateral>,
    flights: Flights<Result<Vec<u8>, KdsError>>,
    backoff: Backoff,
    requests: std::sync::atomic::AtomicU64,
}

impl KdsFetcher {
    /// A fetcher adding the VCEKs it obtains to `collateral`; fails if the HTTP client cannot
    /// be built.
    pub fn new(settings: KdsSettings, collateral: Arc<Collateral>) -> Result<Self, String> {
        let client = http_client(settings.timeout).map_err(|e| format!("KDS: {e}"))?;
        Ok(Self {
            backoff: Backoff::new(settings.retry_after),
            settings,
            client,
            collateral,
            flights: Flights::default(),
            requests: Default::default(),
        })
    }

    /// HTTP requests made so far (tests and metrics).
    pub fn requests_made(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Makes sure the collateral holds the VCEK `id` names, fetching it if needed; `now` (the
    /// KBS's request time) measures back-off. Returns whether a fetch happened.
    pub async fn ensure_vcek(&self, id: VcekId<'_>, now: OffsetDateTime) -> Result<bool, KdsError> {
        if self.collateral.has_vcek(id.hw_id, &id.tcb) {
            return Ok(false);
        }
        if let Some(der) = self.read_cache(&id) {
            let _ = self.collateral.add(&der);
            if self.collateral.has_vcek(id.hw_id, &id.tcb) {
                return Ok(false);
            }
        }
        let url = format!(
            "{}{}",
            self.settings.base_url.trim_end_matches('/'),
            id.path()
        );
        self.backoff
            .check(&url, now)
            .map_err(|backing_off| KdsError::BackingOff {
                url: url.clone(),
                seconds: backing_off.seconds,
                failures: backing_off.failures,
            })?;
        let der = self.flights.run(&url, || self.fetch(&url, id, now)).await?;
        let _ = self.collateral.add(&der);
        Ok(true)
    }

    async fn fetch(
        &self,
        url: &str,
        id: VcekId<'_>,
        now: OffsetDateTime,
    ) -> Result<Vec<u8>, KdsError> {
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = self.download(url, &id).await;
        match &result {
            Ok(der) => {
                self.backoff.succeeded(url);
                self.write_cache(&id, der);
            }
            Err(_) => self.backoff.failed(url, now),
        }
        result
    }

    async fn download(&self, url: &str, id: &VcekId<'_>) -> Result<Vec<u8>, KdsError> {
        let body = get_bounded(&self.client, url, MAX_VCEK_BYTES)
            .await
            .map_err(|detail| KdsError::Request {
                url: url.to_owned(),
                detail,
            })?
            .body;
        let not_a_vcek = |detail: String| KdsError::NotAVcek {
            url: url.to_owned(),
            detail,
        };
        let cert = Cert::from_der(&body).map_err(|e| not_a_vcek(e.to_string()))?;
        let matches = cert
            .ext
            .as_ref()
            .is_some_and(|vek| vek.hw_id.as_deref() == Some(id.hw_id) && vek.spl == id.tcb);
        if !matches {
            return Err(not_a_vcek("hwID or SPLs differ from the request".into()));
        }
        Ok(body)
    }

    fn read_cache(&self, id: &VcekId<'_>) -> Option<Vec<u8>> {
        let dir = self.settings.cache_dir.as_ref()?;
        std::fs::read(dir.join(id.cache_name())).ok()
    }

    /// Best effort: a cache that cannot be written only costs a fetch after a restart.
    fn write_cache(&self, id: &VcekId<'_>, der: &[u8]) {
        let Some(dir) = &self.settings.cache_dir else {
            return;
        };
        if let Err(e) = write_atomically(dir, &id.cache_name(), der) {
            let path = dir.join(id.cache_name());
            tracing::warn!(path = %path.display(), error = %e, "could not cache a KDS VCEK");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// The KBS's request time in these tests (back-off is measured in it): 2026-11-01.
    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_793_491_200).unwrap()
    }

    use axum::Router;
    use axum::extract::State;
    use axum::http::{StatusCode, Uri};
    use axum::routing::get;
    use warden_agent::attester::sim_snp::DevChain;
    use warden_verifier::tee::snp::certs::Endorsements;

    struct FakeKds {
        url: String,
        hits: Arc<AtomicU64>,
    }

    #[derive(Clone)]
    struct FakeState {
        vcek: Arc<Vec<u8>>,
        expected_path: Arc<String>,
        hits: Arc<AtomicU64>,
        delay: Duration,
        fail: bool,
    }

    async fn serve_vcek(State(state): State<FakeState>, uri: Uri) -> Result<Vec<u8>, StatusCode> {
        state.hits.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(state.delay).await;
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or_default();
        if state.fail || path != state.expected_path.as_str() {
            return Err(StatusCode::NOT_FOUND);
        }
        Ok(state.vcek.as_ref().clone())
    }

    /// A stand-in for AMD KDS on loopback that serves one VCEK at its exact path.
    async fn fake_kds(
        vcek: Vec<u8>,
        expected_path: String,
        delay: Duration,
        fail: bool,
    ) -> FakeKds {
        let hits = Arc::new(AtomicU64::new(0));
        let state = FakeState {
            vcek: Arc::new(vcek),
            expected_path: Arc::new(expected_path),
            hits: hits.clone(),
            delay,
            fail,
        };
        let app = Router::new()
            .route("/vcek/v1/{product}/{hwid}", get(serve_vcek))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeKds { url, hits }
    }

    struct Setup {
        chain: DevChain,
        report: Report,
        cache: tempfile::TempDir,
    }

    fn setup() -> Setup {
        let chain = DevChain::generate().unwrap();
        let collected = chain.signed_report(&[5; 48]).unwrap();
        Setup {
            report: Report::parse(&collected.report).unwrap(),
            chain,
            cache: tempfile::tempdir().unwrap(),
        }
    }

    fn fetcher(setup: &Setup, url: &str, collateral: Arc<Collateral>) -> KdsFetcher {
        KdsFetcher::new(
            KdsSettings {
                base_url: url.to_owned(),
                timeout: Duration::from_secs(5),
                retry_after: Duration::from_secs(60),
                cache_dir: Some(setup.cache.path().to_owned()),
            },
            collateral,
        )
        .unwrap()
    }

    #[test]
    fn urls_follow_the_kds_layout_per_generation() {
        let setup = setup();
        let ids = vcek_ids(&setup.report);
        assert_eq!(ids.len(), 1, "a v3 report names its generation");
        let path = ids[0].path();
        assert!(path.starts_with("/vcek/v1/Genoa/"), "{path}");
        assert!(
            path.ends_with("?blSPL=10&teeSPL=0&snpSPL=23&ucodeSPL=25"),
            "{path}"
        );
        let turin = VcekId {
            generation: Generation::Turin,
            hw_id: &[0xab; 8],
            tcb: Tcb {
                fmc: Some(1),
                bootloader: 2,
                tee: 3,
                snp: 4,
                microcode: 5,
            },
        };
        assert_eq!(
            turin.path(),
            "/vcek/v1/Turin/abababababababab?fmcSPL=1&blSPL=2&teeSPL=3&snpSPL=4&ucodeSPL=5"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn fetches_once_coalesces_caches_on_disk_and_skips_present_collateral() {
        let setup = setup();
        let id = vcek_ids(&setup.report)[0];
        let kds = fake_kds(
            setup.chain.vcek_der().to_vec(),
            id.path(),
            Duration::from_millis(200),
            false,
        )
        .await;
        let collateral = Arc::new(Collateral::default());
        let fetcher = Arc::new(fetcher(&setup, &kds.url, collateral.clone()));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let fetcher = fetcher.clone();
                let report = setup.report.clone();
                tokio::spawn(async move { fetcher.ensure_vcek(vcek_ids(&report)[0], now()).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(
            kds.hits.load(Ordering::SeqCst),
            1,
            "eight attestations, one request"
        );
        assert!(collateral.has_vcek(id.hw_id, &id.tcb));
        // Present in the collateral: no network at all.
        assert!(!fetcher.ensure_vcek(id, now()).await.unwrap());
        assert_eq!(kds.hits.load(Ordering::SeqCst), 1);
        // A restarted KBS (empty memory) finds it in the on-disk cache.
        let restarted = fetcher_for_restart(&setup, &kds.url);
        assert!(!restarted.ensure_vcek(id, now()).await.unwrap());
        assert_eq!(restarted.requests_made(), 0);
        assert_eq!(kds.hits.load(Ordering::SeqCst), 1);
    }

    fn fetcher_for_restart(setup: &Setup, url: &str) -> KdsFetcher {
        fetcher(
            setup,
            url,
            Arc::new(Collateral::new(Endorsements::default())),
        )
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn failures_back_off_instead_of_hammering_the_kds() {
        let setup = setup();
        let id = vcek_ids(&setup.report)[0];
        let kds = fake_kds(Vec::new(), id.path(), Duration::ZERO, true).await;
        let fetcher = fetcher(&setup, &kds.url, Arc::new(Collateral::default()));
        assert!(matches!(
            fetcher.ensure_vcek(id, now()).await,
            Err(KdsError::Request { .. })
        ));
        for _ in 0..5 {
            assert!(matches!(
                fetcher.ensure_vcek(id, now()).await,
                Err(KdsError::BackingOff { failures: 1, .. })
            ));
        }
        assert_eq!(kds.hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_answer_that_is_not_the_requested_vcek_is_refused() {
        let setup = setup();
        let other = DevChain::generate().unwrap();
        let id = vcek_ids(&setup.report)[0];
        let kds = fake_kds(other.vcek_der().to_vec(), id.path(), Duration::ZERO, false).await;
        let collateral = Arc::new(Collateral::default());
        let fetcher = fetcher(&setup, &kds.url, collateral.clone());
        assert!(matches!(
            fetcher.ensure_vcek(id, now()).await,
            Err(KdsError::NotAVcek { .. })
        ));
        assert!(collateral.snapshot().certs.is_empty());
    }
}
