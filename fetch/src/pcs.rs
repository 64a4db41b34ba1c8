//! Optional Intel PCS (or PCCS) client: before a TDX quote is appraised, makes sure the shared
//! collateral holds everything its appraisal needs, valid at the KBS's current time — the TDX TCB
//! info for the quote's FMSPC, the TD QE identity, the CRL of the CA that issued its PCK and the
//! Intel SGX Root CA CRL, each with the issuer chain PCS sends along.
//!
//! Like `kds`, it runs in the KBS's I/O layer *before* appraisal and only adds candidates to the
//! shared collateral: the verifier never touches the network and trusts an item only once its
//! signature chains to the pinned Intel SGX Root CA. Unlike a VCEK, every item here expires, so
//! "present" means *valid now*: an item counts only when `issueDate/thisUpdate <= now <
//! nextUpdate`, anything else is fetched again, and a fetched item that is not valid now is
//! refused (neither added nor cached) — appraisal then fails for stale collateral, which is the
//! fail-closed outcome. The time is always the caller's; this module never reads the clock.
//!
//! Fetches are cached on disk (the collateral directory, which the KBS loads at start-up),
//! coalesced per URL (concurrent attestations from one platform make one request per item) and
//! backed off exponentially after failures, refusals included.

use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;
use tracing::{debug, warn};
use warden_verifier::collateral::CollateralSet;
use warden_verifier::tee::rfc3339;
use warden_verifier::tee::tdx::collateral::{Signed, TdxCollateral, TdxEndorsements};
use warden_verifier::tee::tdx::pck::PckChain;
use warden_verifier::tee::tdx::pck::{IntelCert, pinned_root};
use warden_verifier::x509::Crl;
use warden_wire::tdx::Quote;

use super::{Backoff, Flights, get_bounded, http_client, write_atomically};

/// Intel's Provisioning Certification Service.
pub const INTEL_PCS_URL: &str = "https://api.trustedservices.intel.com";
/// Where Intel publishes the Intel SGX Root CA's CRL (DER).
pub const INTEL_ROOT_CA_CRL_URL: &str =
    "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der";

/// Bound on one answer or cache file. Real ones are a few KiB (TCB info, QE identity) up to
/// tens of KiB (a CRL listing many revoked PCKs).
pub const MAX_ANSWER_BYTES: usize = 2 * 1024 * 1024;
/// Bound on a decoded issuer chain (real ones are two certificates, about 2 KiB of PEM).
const MAX_ISSUER_CHAIN_BYTES: usize = 64 * 1024;

/// Why a PCS item could not be supplied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PcsError {
    /// The quote's platform could not be determined: an unreadable quote or PCK chain, a chain
    /// that does not verify, or an issuer that is not a PCK CA.
    #[error("cannot tell which platform the quote comes from: {0}")]
    Quote(String),
    /// The request failed: network error, timeout, non-2xx status or an oversized answer.
    #[error("PCS request {url} failed: {detail}")]
    Request {
        /// The URL requested.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// PCS answered with something other than the item asked for, or without a usable issuer
    /// chain.
    #[error("PCS answered {url} with something other than the {item}: {detail}")]
    Invalid {
        /// The URL requested.
        url: String,
        /// The item asked for.
        item: String,
        /// What is wrong with the answer.
        detail: String,
    },
    /// PCS answered with the item, but it is not valid at the caller's time: refused.
    #[error("PCS answered {url} with {item} valid {window}, not at {at}: refused")]
    NotFresh {
        /// The URL requested.
        url: String,
        /// The item asked for.
        item: String,
        /// The item's validity window.
        window: String,
        /// The time it was judged at (RFC 3339).
        at: String,
    },
    /// No request made: earlier failures for this URL put it in back-off.
    #[error("PCS is backed off for {url} for another {seconds} s after {failures} failure(s)")]
    BackingOff {
        /// The URL not requested.
        url: String,
        /// Seconds left before it may be requested again.
        seconds: u64,
        /// Consecutive failures so far.
        failures: u32,
    },
}

/// The Intel CA that issued a PCK certificate; each publishes its own CRL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PckCa {
    /// Intel SGX PCK Platform CA.
    Platform,
    /// Intel SGX PCK Processor CA.
    Processor,
}

impl PckCa {
    /// The `ca` parameter of PCS's PCK CRL API.
    pub fn query_name(self) -> &'static str {
        match self {
            PckCa::Platform => "platform",
            PckCa::Processor => "processor",
        }
    }

    /// The CA's common name: the issuer of its PCK certificates and of its CRL.
    pub fn common_name(self) -> &'static str {
        match self {
            PckCa::Platform => "Intel SGX PCK Platform CA",
            PckCa::Processor => "Intel SGX PCK Processor CA",
        }
    }

    fn from_common_name(name: &str) -> Option<PckCa> {
        [PckCa::Platform, PckCa::Processor]
            .into_iter()
            .find(|ca| ca.common_name() == name)
    }
}

/// What selects a platform's collateral: its PCK certificate's FMSPC and PCE-ID and the CA that
/// issued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlatformId {
    /// The FMSPC, which selects the platform's TCB info.
    pub fmspc: [u8; 6],
    /// The PCE-ID, which the TCB info must name too.
    pub pce_id: [u8; 2],
    /// The CA that issued the PCK certificate, which selects the PCK CRL.
    pub ca: PckCa,
}

impl PlatformId {
    /// Reads the platform from a TDX quote's PCK chain. The chain must verify up to the pinned
    /// Intel SGX Root CA, so a forged quote cannot make the KBS query PCS (and back off) for
    /// FMSPCs of its choosing; the verifier checks the chain again along with everything else.
    pub fn from_quote(quote: &[u8]) -> Result<PlatformId, PcsError> {
        let chain = read_pck_chain(quote)?;
        chain
            .verify(&pinned_root())
            .map_err(|e| PcsError::Quote(e.to_string()))?;
        PlatformId::of(&chain)
    }

    /// The platform a PCK chain names, whether or not the chain has been verified.
    fn of(chain: &PckChain) -> Result<PlatformId, PcsError> {
        let ca = PckCa::from_common_name(chain.ca.name())
            .ok_or_else(|| PcsError::Quote(format!("{} is not a PCK CA", chain.ca.name())))?;
        Ok(PlatformId {
            fmspc: chain.extensions.fmspc,
            pce_id: chain.extensions.pce_id,
            ca,
        })
    }

    /// Every item appraising this platform's quotes needs.
    pub fn items(&self) -> [PcsItem; 4] {
        [
            PcsItem::TcbInfo {
                fmspc: self.fmspc,
                pce_id: self.pce_id,
            },
            PcsItem::QeIdentity,
            PcsItem::PckCrl(self.ca),
            PcsItem::RootCaCrl,
        ]
    }
}

/// One piece of Intel collateral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PcsItem {
    /// The TDX TCB info of a platform family (it names the PCE-ID too, which must match).
    TcbInfo {
        /// The platform family's FMSPC.
        fmspc: [u8; 6],
        /// The PCE-ID the TCB info must name.
        pce_id: [u8; 2],
    },
    /// The TD quoting enclave's identity.
    QeIdentity,
    /// The CRL of a PCK CA.
    PckCrl(PckCa),
    /// The Intel SGX Root CA's CRL.
    RootCaCrl,
}

impl PcsItem {
    /// Where PCS (API v4) serves the item; PCCS serves the same paths.
    pub fn url(self, settings: &PcsSettings) -> String {
        let base = settings.base_url.trim_end_matches('/');
        match self {
            PcsItem::TcbInfo { fmspc, .. } => format!(
                "{base}/tdx/certification/v4/tcb?fmspc={}",
                hex::encode_upper(fmspc)
            ),
            PcsItem::QeIdentity => format!("{base}/tdx/certification/v4/qe/identity"),
            PcsItem::PckCrl(ca) => format!(
                "{base}/sgx/certification/v4/pckcrl?ca={}&encoding=der",
                ca.query_name()
            ),
            PcsItem::RootCaCrl => settings.root_crl_url.clone(),
        }
    }

    /// The response header carrying the (URL-encoded PEM) chain of the item's signer.
    pub fn issuer_chain_header(self) -> Option<&'static str> {
        match self {
            PcsItem::TcbInfo { .. } => Some("TCB-Info-Issuer-Chain"),
            PcsItem::QeIdentity => Some("SGX-Enclave-Identity-Issuer-Chain"),
            PcsItem::PckCrl(_) => Some("SGX-PCK-CRL-Issuer-Chain"),
            // Signed by the root itself, which is pinned.
            PcsItem::RootCaCrl => None,
        }
    }

    /// Cache file of the item, named like its URL (a refetch replaces it).
    fn cache_name(self) -> String {
        match self {
            PcsItem::TcbInfo { fmspc, .. } => {
                format!("pcs-tdx-tcb-info-{}.json", hex::encode(fmspc))
            }
            PcsItem::QeIdentity => "pcs-tdx-qe-identity.json".into(),
            PcsItem::PckCrl(ca) => format!("pcs-pck-crl-{}.der", ca.query_name()),
            PcsItem::RootCaCrl => "pcs-root-ca-crl.der".into(),
        }
    }

    fn chain_cache_name(self) -> Option<String> {
        self.issuer_chain_header().map(|_| {
            let name = self.cache_name();
            let stem = name
                .rsplit_once('.')
                .map_or(name.as_str(), |(stem, _)| stem);
            format!("{stem}-issuer-chain.pem")
        })
    }
}

impl fmt::Display for PcsItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PcsItem::TcbInfo { fmspc, pce_id } => write!(
                f,
                "TDX TCB info for FMSPC {} / PCE-ID {}",
                hex::encode(fmspc),
                hex::encode(pce_id)
            ),
            PcsItem::QeIdentity => f.write_str("TD QE identity"),
            PcsItem::PckCrl(ca) => write!(f, "{} CRL", ca.common_name()),
            PcsItem::RootCaCrl => f.write_str("Intel SGX Root CA CRL"),
        }
    }
}

/// Where PCS (or a PCCS) is, how long to wait for it and where to cache what it returns.
#[derive(Debug, Clone)]
pub struct PcsSettings {
    /// PCS or PCCS base URL (the `/sgx/...` and `/tdx/...` paths are appended).
    pub base_url: String,
    /// The Intel SGX Root CA CRL (DER).
    pub root_crl_url: String,
    /// Whole-request timeout of each fetch.
    pub timeout: Duration,
    /// First back-off after a failure; doubles per consecutive failure up to an hour.
    pub retry_after: Duration,
    /// Where fetched items are written (normally the collateral directory); `None`: memory only.
    pub cache_dir: Option<PathBuf>,
}

impl PcsSettings {
    /// PCS (or a PCCS) at `base_url` and the root CA CRL at `root_crl_url`, with the default
    /// timeout and back-off.
    pub fn new(base_url: String, root_crl_url: String, cache_dir: Option<PathBuf>) -> Self {
        Self {
            base_url,
            root_crl_url,
            timeout: super::DEFAULT_TIMEOUT,
            retry_after: super::DEFAULT_RETRY_AFTER,
            cache_dir,
        }
    }
}

/// How an item came to be in the collateral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Supplied {
    /// The collateral already held it, valid now: no disk, no network.
    Present,
    /// Loaded from the cache directory, valid now.
    FromDiskCache,
    /// Downloaded just now (from PCS, or the root CA CRL URL).
    Fetched,
}

/// An item's validity: `from` (issueDate / thisUpdate) inclusive, `until` (nextUpdate)
/// exclusive; a CRL without nextUpdate is never valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    from: i64,
    until: Option<i64>,
}

impl Window {
    fn of_signed(signed: &Signed) -> Window {
        Window {
            from: signed.issue_date,
            until: Some(signed.next_update),
        }
    }

    fn of_crl(crl: &Crl) -> Window {
        Window {
            from: crl.this_update,
            until: crl.next_update,
        }
    }

    fn covers(self, at: i64) -> bool {
        self.from <= at && self.until.is_some_and(|until| at < until)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.until {
            Some(until) => write!(f, "{} .. {}", rfc3339(self.from), rfc3339(until)),
            None => write!(f, "from {} without nextUpdate", rfc3339(self.from)),
        }
    }
}

/// The PCK chain a TDX quote carries, read but not verified.
fn read_pck_chain(quote: &[u8]) -> Result<PckChain, PcsError> {
    let quote = Quote::parse(quote).map_err(|e| PcsError::Quote(e.to_string()))?;
    PckChain::read(quote.signature().pck_chain).map_err(PcsError::Quote)
}

/// The windows of every copy of `item` that `set` holds.
fn windows_of(set: &TdxEndorsements, item: PcsItem, root: &IntelCert) -> Vec<Window> {
    match item {
        PcsItem::TcbInfo { fmspc, pce_id } => set
            .tcb_infos
            .iter()
            .filter(|info| info.fmspc == fmspc && info.pce_id == pce_id)
            .map(|info| Window::of_signed(&info.signed))
            .collect(),
        PcsItem::QeIdentity => set
            .qe_identities
            .iter()
            .map(|identity| Window::of_signed(&identity.signed))
            .collect(),
        PcsItem::PckCrl(ca) => set
            .crls
            .iter()
            .filter(|crl| crl.issuer_name() == ca.common_name())
            .map(Window::of_crl)
            .collect(),
        PcsItem::RootCaCrl => set
            .crls
            .iter()
            .filter(|crl| crl.named_issuer(root))
            .map(Window::of_crl)
            .collect(),
    }
}

fn describe(set: &TdxEndorsements) -> String {
    let fmspcs: Vec<String> = set
        .tcb_infos
        .iter()
        .map(|info| format!("TCB info for FMSPC {}", hex::encode(info.fmspc)))
        .collect();
    let crls: Vec<String> = set
        .crls
        .iter()
        .map(|crl| format!("CRL of {}", crl.issuer_name()))
        .collect();
    let mut found = fmspcs;
    found.extend((0..set.qe_identities.len()).map(|_| "a QE identity".to_owned()));
    found.extend((0..set.certs.len()).map(|_| "a certificate".to_owned()));
    found.extend(crls);
    format!("found {}", found.join(", "))
}

fn item_count(set: &TdxEndorsements) -> usize {
    set.tcb_infos.len() + set.qe_identities.len() + set.certs.len() + set.crls.len()
}

/// Checks that `body` is exactly `item` (recognised the way the collateral will read it) and,
/// for items signed by an issuer chain, that `chain` holds certificates only. Returns the item's
/// validity window; whether it covers the current time is the caller's decision.
fn recognise(
    item: PcsItem,
    body: &[u8],
    chain: Option<&[u8]>,
    root: &IntelCert,
) -> Result<Window, String> {
    let mut answer = TdxEndorsements::default();
    answer.add_bytes(body)?;
    let windows = windows_of(&answer, item, root);
    let [window] = windows[..] else {
        return Err(describe(&answer));
    };
    if item_count(&answer) != 1 {
        return Err(describe(&answer));
    }
    if item.issuer_chain_header().is_some() {
        let chain = chain.ok_or("no issuer chain")?;
        let mut certs = TdxEndorsements::default();
        certs
            .add_bytes(chain)
            .map_err(|e| format!("issuer chain: {e}"))?;
        if certs.certs.is_empty() || item_count(&certs) != certs.certs.len() {
            return Err(format!("issuer chain: {}", describe(&certs)));
        }
    }
    Ok(window)
}

/// The issuer chain PCS sends URL-encoded in header `name`.
fn issuer_chain(headers: &reqwest::header::HeaderMap, name: &str) -> Result<Vec<u8>, String> {
    let value = headers
        .get(name)
        .ok_or_else(|| format!("no {name} header"))?;
    // Each decoded byte takes at most three encoded ones.
    if value.len() > 3 * MAX_ISSUER_CHAIN_BYTES {
        return Err(format!(
            "{name} is longer than {MAX_ISSUER_CHAIN_BYTES} bytes"
        ));
    }
    let text = value
        .to_str()
        .map_err(|_| format!("{name} is not visible ASCII"))?;
    let chain: Vec<u8> = percent_encoding::percent_decode_str(text).collect();
    if chain.len() > MAX_ISSUER_CHAIN_BYTES {
        return Err(format!(
            "{name} is longer than {MAX_ISSUER_CHAIN_BYTES} bytes"
        ));
    }
    Ok(chain)
}

/// A file of at most [`MAX_ANSWER_BYTES`], or `None`.
fn read_cache_file(path: &Path) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_ANSWER_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    (bytes.len() <= MAX_ANSWER_BYTES).then_some(bytes)
}

/// A fetched item that passed [`recognise`] and is valid now.
struct FetchedItem {
    body: Vec<u8>,
    issuer_chain: Option<Vec<u8>>,
}

/// Supplies the TDX collateral a quote needs from PCS into the shared TDX collateral.
pub struct PcsFetcher {
    settings: PcsSettings,
    client: reqwest::Client,
    collateral: Arc<TdxCollateral>,
    root: IntelCert,
    flights: Flights<Result<Supplied, PcsError>>,
    backoff: Backoff,
    requests: AtomicU64,
}

impl PcsFetcher {
    /// A fetcher adding the items it obtains to `collateral`; fails if the HTTP client cannot
    /// be built.
    pub fn new(settings: PcsSettings, collateral: Arc<TdxCollateral>) -> Result<Self, String> {
        let client = http_client(settings.timeout).map_err(|e| format!("PCS: {e}"))?;
        Ok(Self {
            backoff: Backoff::new(settings.retry_after),
            settings,
            client,
            collateral,
            root: pinned_root(),
            flights: Flights::default(),
            requests: AtomicU64::new(0),
        })
    }

    /// HTTP requests made so far (tests and metrics).
    pub fn requests_made(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// [`Self::ensure_collateral`] for the platform a quote's PCK chain names. Collateral the
    /// shared store already holds valid at `now` costs no signature check; only when something
    /// must be fetched is the chain verified first (see [`PlatformId::from_quote`]).
    pub async fn ensure_for_quote(
        &self,
        quote: &[u8],
        now: OffsetDateTime,
    ) -> Result<Vec<(PcsItem, Result<Supplied, PcsError>)>, PcsError> {
        let chain = read_pck_chain(quote)?;
        let platform = PlatformId::of(&chain)?;
        let items = platform.items();
        if items.iter().all(|item| self.holds_valid(*item, now)) {
            return Ok(items
                .into_iter()
                .map(|item| (item, Ok(Supplied::Present)))
                .collect());
        }
        chain
            .verify(&self.root)
            .map_err(|e| PcsError::Quote(e.to_string()))?;
        Ok(self.ensure_collateral(platform, now).await)
    }

    /// Makes sure the collateral holds every item `platform` needs, valid at `now`; the items
    /// are supplied concurrently. Returns each item's outcome (errors are for the caller to log:
    /// appraisal then fails closed for want of valid collateral).
    pub async fn ensure_collateral(
        &self,
        platform: PlatformId,
        now: OffsetDateTime,
    ) -> Vec<(PcsItem, Result<Supplied, PcsError>)> {
        let [tcb_info, qe_identity, pck_crl, root_crl] = platform.items();
        let (tcb_result, qe_result, pck_result, root_result) = tokio::join!(
            self.ensure(tcb_info, now),
            self.ensure(qe_identity, now),
            self.ensure(pck_crl, now),
            self.ensure(root_crl, now),
        );
        vec![
            (tcb_info, tcb_result),
            (qe_identity, qe_result),
            (pck_crl, pck_result),
            (root_crl, root_result),
        ]
    }

    /// Makes sure the collateral holds `item`, valid at `now`: from memory, else the disk cache,
    /// else PCS (one request however many callers ask at once, none while backing off).
    pub async fn ensure(&self, item: PcsItem, now: OffsetDateTime) -> Result<Supplied, PcsError> {
        if self.holds_valid(item, now) {
            return Ok(Supplied::Present);
        }
        let url = item.url(&self.settings);
        self.flights
            .run(&url, || self.supply(item, &url, now))
            .await
    }

    fn holds_valid(&self, item: PcsItem, now: OffsetDateTime) -> bool {
        let at = now.unix_timestamp();
        windows_of(&self.collateral.snapshot(), item, &self.root)
            .into_iter()
            .any(|window| window.covers(at))
    }

    async fn supply(
        &self,
        item: PcsItem,
        url: &str,
        now: OffsetDateTime,
    ) -> Result<Supplied, PcsError> {
        // A flight that ended just before this one began may have supplied the item.
        if self.holds_valid(item, now) {
            return Ok(Supplied::Present);
        }
        if self.load_cached(item, now) {
            return Ok(Supplied::FromDiskCache);
        }
        self.backoff
            .check(url, now)
            .map_err(|backing_off| PcsError::BackingOff {
                url: url.to_owned(),
                seconds: backing_off.seconds,
                failures: backing_off.failures,
            })?;
        self.requests.fetch_add(1, Ordering::Relaxed);
        match self.download(item, url, now).await {
            Ok(fetched) => {
                self.backoff.succeeded(url);
                self.keep(item, &fetched.body, fetched.issuer_chain.as_deref());
                self.write_cache(item, &fetched);
                Ok(Supplied::Fetched)
            }
            // A refused answer backs off too: a PCS serving stale items is not asked again
            // for each attestation.
            Err(error) => {
                self.backoff.failed(url, now);
                Err(error)
            }
        }
    }

    async fn download(
        &self,
        item: PcsItem,
        url: &str,
        now: OffsetDateTime,
    ) -> Result<FetchedItem, PcsError> {
        let answer = get_bounded(&self.client, url, MAX_ANSWER_BYTES)
            .await
            .map_err(|detail| PcsError::Request {
                url: url.to_owned(),
                detail,
            })?;
        let invalid = |detail: String| PcsError::Invalid {
            url: url.to_owned(),
            item: item.to_string(),
            detail,
        };
        let issuer_chain = item
            .issuer_chain_header()
            .map(|name| issuer_chain(&answer.headers, name))
            .transpose()
            .map_err(invalid)?;
        let window =
            recognise(item, &answer.body, issuer_chain.as_deref(), &self.root).map_err(invalid)?;
        let at = now.unix_timestamp();
        if !window.covers(at) {
            return Err(PcsError::NotFresh {
                url: url.to_owned(),
                item: item.to_string(),
                window: window.to_string(),
                at: rfc3339(at),
            });
        }
        Ok(FetchedItem {
            body: answer.body,
            issuer_chain,
        })
    }

    /// Adds a recognised item to the collateral, its chain first so that no snapshot holds the
    /// item without its signer.
    fn keep(&self, item: PcsItem, body: &[u8], chain: Option<&[u8]>) {
        for bytes in chain.into_iter().chain([body]) {
            // Recognised beforehand, so the collateral reads it the same way.
            if let Err(error) = self.collateral.add(bytes) {
                warn!(%item, %error, "PCS item not added to the TDX collateral");
            }
        }
    }

    /// Uses the cached copy of `item` if it is valid at `now`; a stale copy is left for the
    /// refetch to replace.
    fn load_cached(&self, item: PcsItem, now: OffsetDateTime) -> bool {
        let Some(dir) = &self.settings.cache_dir else {
            return false;
        };
        let Some(body) = read_cache_file(&dir.join(item.cache_name())) else {
            return false;
        };
        let chain = match item.chain_cache_name() {
            Some(name) => match read_cache_file(&dir.join(name)) {
                Some(chain) => Some(chain),
                None => return false,
            },
            None => None,
        };
        match recognise(item, &body, chain.as_deref(), &self.root) {
            Ok(window) if window.covers(now.unix_timestamp()) => {
                self.keep(item, &body, chain.as_deref());
                true
            }
            Ok(window) => {
                debug!(%item, %window, "cached PCS item is not valid now; refetching");
                false
            }
            Err(error) => {
                warn!(%item, %error, "unusable PCS cache file; refetching");
                false
            }
        }
    }

    /// Best effort: a cache that cannot be written only costs a fetch after a restart. The chain
    /// goes first, so a cached item always finds its chain.
    fn write_cache(&self, item: PcsItem, fetched: &FetchedItem) {
        let Some(dir) = &self.settings.cache_dir else {
            return;
        };
        let chain = item.chain_cache_name().zip(fetched.issuer_chain.as_deref());
        for (name, bytes) in chain
            .into_iter()
            .chain([(item.cache_name(), fetched.body.as_slice())])
        {
            if let Err(error) = write_atomically(dir, &name, bytes) {
                let path = dir.join(&name);
                warn!(path = %path.display(), %error, "could not cache a PCS item");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    use warden_verifier::ExpectedBinding;
    use warden_verifier::tee::Examination;
    use warden_verifier::tee::tdx::{TdxEvidence, TdxVerifier};

    use warden_test_support::fake_pcs::*;

    fn empty_collateral() -> Arc<TdxCollateral> {
        Arc::new(TdxCollateral::new(TdxEndorsements::default()))
    }

    fn verify(collateral: &Arc<TdxCollateral>, quote: &[u8], now: OffsetDateTime) -> Examination {
        TdxVerifier::with_shared_collateral(collateral.clone()).examine_decoded(
            &TdxEvidence {
                quote: quote.to_vec(),
                event_log: None,
            },
            &ExpectedBinding::default(),
            now,
        )
    }

    fn failed_names(examination: &Examination) -> Vec<&'static str> {
        examination
            .failed_checks()
            .iter()
            .map(|check| check.name)
            .collect()
    }

    /// Per item: `Ok(supplied)` or the error's variant name.
    fn outcomes(
        results: &[(PcsItem, Result<Supplied, PcsError>)],
    ) -> Vec<(PcsItem, Result<Supplied, &'static str>)> {
        results
            .iter()
            .map(|(item, result)| {
                let summary = result.clone().map_err(|error| match error {
                    PcsError::Quote(_) => "Quote",
                    PcsError::Request { .. } => "Request",
                    PcsError::Invalid { .. } => "Invalid",
                    PcsError::NotFresh { .. } => "NotFresh",
                    PcsError::BackingOff { .. } => "BackingOff",
                });
                (*item, summary)
            })
            .collect()
    }

    /// Eight prefetches racing for the same platform; every item's outcome of every one.
    async fn concurrent_prefetches(
        fetcher: &Arc<PcsFetcher>,
        platform: PlatformId,
        now: OffsetDateTime,
    ) -> Vec<(PcsItem, Result<Supplied, PcsError>)> {
        let prefetches: Vec<_> = (0..8)
            .map(|_| {
                let fetcher = fetcher.clone();
                tokio::spawn(async move { fetcher.ensure_collateral(platform, now).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for prefetch in prefetches {
            outcomes.extend(prefetch.await.unwrap());
        }
        outcomes
    }

    fn platform_of(vector: &Vector) -> PlatformId {
        PlatformId::from_quote(&vector.quote).unwrap()
    }

    #[test]
    fn urls_headers_and_cache_names_follow_the_pcs_v4_api() {
        let settings = PcsSettings {
            base_url: "https://pccs.example:8081/".into(),
            root_crl_url: "https://crl.example/root.der".into(),
            timeout: Duration::from_secs(1),
            retry_after: Duration::from_secs(1),
            cache_dir: None,
        };
        let platform = PlatformId {
            fmspc: [0xb0, 0xc0, 0x6f, 0, 0, 0],
            pce_id: [0, 0],
            ca: PckCa::Processor,
        };
        let [tcb_info, qe_identity, pck_crl, root_crl] = platform.items();
        assert_eq!(
            tcb_info.url(&settings),
            "https://pccs.example:8081/tdx/certification/v4/tcb?fmspc=B0C06F000000"
        );
        assert_eq!(
            qe_identity.url(&settings),
            "https://pccs.example:8081/tdx/certification/v4/qe/identity"
        );
        assert_eq!(
            pck_crl.url(&settings),
            "https://pccs.example:8081/sgx/certification/v4/pckcrl?ca=processor&encoding=der"
        );
        assert_eq!(root_crl.url(&settings), "https://crl.example/root.der");
        assert_eq!(
            [tcb_info, qe_identity, pck_crl, root_crl].map(PcsItem::issuer_chain_header),
            [
                Some("TCB-Info-Issuer-Chain"),
                Some("SGX-Enclave-Identity-Issuer-Chain"),
                Some("SGX-PCK-CRL-Issuer-Chain"),
                None
            ]
        );
        assert_eq!(tcb_info.cache_name(), "pcs-tdx-tcb-info-b0c06f000000.json");
        assert_eq!(
            tcb_info.chain_cache_name().as_deref(),
            Some("pcs-tdx-tcb-info-b0c06f000000-issuer-chain.pem")
        );
        assert_eq!(pck_crl.cache_name(), "pcs-pck-crl-processor.der");
        assert_eq!(root_crl.chain_cache_name(), None);
        assert_eq!(
            tcb_info.to_string(),
            "TDX TCB info for FMSPC b0c06f000000 / PCE-ID 0000"
        );
        assert_eq!(pck_crl.to_string(), "Intel SGX PCK Processor CA CRL");
    }

    #[test]
    fn an_item_is_valid_from_its_issue_date_until_just_before_next_update() {
        let window = Window {
            from: 100,
            until: Some(200),
        };
        assert!(!window.covers(99));
        assert!(window.covers(100));
        assert!(window.covers(199));
        assert!(!window.covers(200), "nextUpdate itself is too late");
        let no_next_update = Window {
            from: 100,
            until: None,
        };
        assert!(!no_next_update.covers(150));
    }

    #[test]
    fn issuer_chain_headers_are_percent_decoded_bounded_and_never_panic() {
        let name = "TCB-Info-Issuer-Chain";
        let mut headers = HeaderMap::new();
        headers.insert(
            name,
            HeaderValue::from_static("-----BEGIN%20CERTIFICATE-----%0AMII%2B%2F%ZZ"),
        );
        assert_eq!(
            issuer_chain(&headers, name).unwrap(),
            b"-----BEGIN CERTIFICATE-----\nMII+/%ZZ"
        );
        assert!(issuer_chain(&headers, "SGX-PCK-CRL-Issuer-Chain").is_err());
        headers.insert(name, HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        assert!(issuer_chain(&headers, name).is_err());
        let huge = "A".repeat(MAX_ISSUER_CHAIN_BYTES + 1);
        headers.insert(name, HeaderValue::from_str(&huge).unwrap());
        assert!(issuer_chain(&headers, name).is_err());
        let root = pinned_root();
        for garbage in [
            &b""[..],
            b"{",
            b"{\"tcbInfo\": 1}",
            b"-----BEGIN X-----",
            &[0x30; 64],
        ] {
            for item in [PcsItem::QeIdentity, PcsItem::RootCaCrl] {
                assert!(recognise(item, garbage, Some(garbage), &root).is_err());
            }
        }
    }

    #[test]
    fn the_platform_comes_from_a_pck_chain_that_verifies_to_intel() {
        let vector = vector();
        assert_eq!(
            platform_of(&vector),
            PlatformId {
                fmspc: [0xb0, 0xc0, 0x6f, 0, 0, 0],
                pce_id: [0, 0],
                ca: PckCa::Platform,
            }
        );
        // Flip one byte inside the PCK certificate's base64: the chain no longer verifies.
        let chain_start = vector
            .quote
            .windows(27)
            .position(|window| window == b"-----BEGIN CERTIFICATE-----")
            .unwrap();
        let mut forged = vector.quote.clone();
        let inside = chain_start + 28 + 300;
        forged[inside] = if forged[inside] == b'A' { b'B' } else { b'A' };
        assert!(matches!(
            PlatformId::from_quote(&forged),
            Err(PcsError::Quote(_))
        ));
        assert!(matches!(
            PlatformId::from_quote(b"not a quote"),
            Err(PcsError::Quote(_))
        ));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_quote_whose_collateral_is_present_needs_no_chain_check_but_a_fetch_does() {
        let vector = vector();
        let pcs = fake_pcs(&vector, Duration::ZERO, Behaviour::Serve).await;
        let collateral = empty_collateral();
        let fetcher = PcsFetcher::new(
            PcsSettings::new(pcs.url.clone(), pcs.root_crl_url(), None),
            collateral.clone(),
        )
        .unwrap();
        let now = at(VALID);
        let mut forged = vector.quote.clone();
        let chain_start = forged
            .windows(27)
            .position(|window| window == b"-----BEGIN CERTIFICATE-----")
            .unwrap();
        let inside = chain_start + 28 + 300;
        forged[inside] = if forged[inside] == b'A' { b'B' } else { b'A' };
        // Nothing present: a chain that does not verify to Intel fetches nothing.
        assert!(matches!(
            fetcher.ensure_for_quote(&forged, now).await,
            Err(PcsError::Quote(_))
        ));
        assert_eq!(pcs.total(), 0);
        // The genuine quote fetches; afterwards everything is present and nothing is checked
        // or requested again (the verifier checks the chain with the evidence).
        for (item, outcome) in fetcher.ensure_for_quote(&vector.quote, now).await.unwrap() {
            assert_eq!(outcome, Ok(Supplied::Fetched), "{item}");
        }
        assert_eq!(pcs.total(), 4);
        for (item, outcome) in fetcher.ensure_for_quote(&forged, now).await.unwrap() {
            assert_eq!(outcome, Ok(Supplied::Present), "{item}");
        }
        assert_eq!(pcs.total(), 4);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn concurrent_first_prefetches_fetch_each_item_once_and_the_quote_then_verifies() {
        let vector = vector();
        let pcs = fake_pcs(&vector, Duration::from_millis(200), Behaviour::Serve).await;
        let cache = tempfile::tempdir().unwrap();
        let collateral = empty_collateral();
        let fetcher = Arc::new(
            PcsFetcher::new(
                PcsSettings::new(
                    pcs.url.clone(),
                    pcs.root_crl_url(),
                    Some(cache.path().to_owned()),
                ),
                collateral.clone(),
            )
            .unwrap(),
        );
        let platform = platform_of(&vector);
        let now = at(VALID);
        for (item, outcome) in concurrent_prefetches(&fetcher, platform, now).await {
            assert!(outcome.is_ok(), "{item}: {outcome:?}");
        }
        for path in ALL_PATHS {
            assert_eq!(
                pcs.hits(path),
                1,
                "eight attestations, one request for {path}"
            );
        }
        assert_eq!(fetcher.requests_made(), 4);
        // Valid in memory: no disk, no network.
        let again = fetcher.ensure_collateral(platform, now).await;
        assert!(
            again
                .iter()
                .all(|(_, outcome)| outcome == &Ok(Supplied::Present)),
            "{again:?}"
        );
        assert_eq!(pcs.total(), 4);
        // The verifier started from empty collateral: what was fetched is all it needs.
        let examination = verify(&collateral, &vector.quote, now);
        assert!(examination.verified(), "{:?}", examination.failed_checks());
        assert_eq!(examination.claims["tcb_status"], "UpToDate");
        assert_eq!(
            cache_files(cache.path()),
            [
                "pcs-pck-crl-platform-issuer-chain.pem",
                "pcs-pck-crl-platform.der",
                "pcs-root-ca-crl.der",
                "pcs-tdx-qe-identity-issuer-chain.pem",
                "pcs-tdx-qe-identity.json",
                "pcs-tdx-tcb-info-b0c06f000000-issuer-chain.pem",
                "pcs-tdx-tcb-info-b0c06f000000.json",
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn items_past_next_update_are_refetched_and_expired_answers_refused_so_appraisal_fails_closed()
     {
        let vector = vector();
        let pcs = fake_pcs(&vector, Duration::ZERO, Behaviour::Serve).await;
        let cache = tempfile::tempdir().unwrap();
        let collateral = empty_collateral();
        let fetcher = PcsFetcher::new(
            PcsSettings::new(
                pcs.url.clone(),
                pcs.root_crl_url(),
                Some(cache.path().to_owned()),
            ),
            collateral.clone(),
        )
        .unwrap();
        let platform = platform_of(&vector);
        let [tcb_info, qe_identity, pck_crl, root_crl] = platform.items();
        fetcher.ensure_collateral(platform, at(VALID)).await;
        assert_eq!(pcs.total(), 4);
        let cached_before: Vec<_> = cache_files(cache.path())
            .iter()
            .map(|name| std::fs::read(cache.path().join(name)).unwrap())
            .collect();

        // The server still has nothing newer: the expired items are asked for again and refused.
        let later = at(EXPIRED);
        let results = fetcher.ensure_collateral(platform, later).await;
        assert_eq!(
            outcomes(&results),
            [
                (tcb_info, Err("NotFresh")),
                (qe_identity, Err("NotFresh")),
                (pck_crl, Err("NotFresh")),
                (root_crl, Ok(Supplied::Present)),
            ]
        );
        for path in [TCB_INFO_PATH, QE_IDENTITY_PATH, PCK_CRL_PATH] {
            assert_eq!(pcs.hits(path), 2, "{path}");
        }
        assert_eq!(
            pcs.hits(ROOT_CRL_PATH),
            1,
            "the root CA CRL is valid until 2026"
        );
        // Refused: nothing added, nothing rewritten.
        let snapshot = collateral.snapshot();
        assert_eq!(
            (
                snapshot.tcb_infos.len(),
                snapshot.qe_identities.len(),
                snapshot.crls.len()
            ),
            (1, 1, 2)
        );
        let cached_after: Vec<_> = cache_files(cache.path())
            .iter()
            .map(|name| std::fs::read(cache.path().join(name)).unwrap())
            .collect();
        assert_eq!(cached_before, cached_after);
        let examination = verify(&collateral, &vector.quote, later);
        assert!(!examination.verified());
        assert!(
            failed_names(&examination).contains(&"collateral_freshness"),
            "{:?}",
            examination.failed_checks()
        );
        // A refusal backs off like any failure: a PCS serving stale items is not asked per
        // attestation.
        assert!(matches!(
            fetcher.ensure(qe_identity, later).await,
            Err(PcsError::BackingOff { failures: 1, .. })
        ));
        assert_eq!(pcs.hits(QE_IDENTITY_PATH), 2);

        // Items issued after the KBS's time (its clock behind Intel's) are refused as well.
        let early_collateral = empty_collateral();
        let early = PcsFetcher::new(
            PcsSettings::new(pcs.url.clone(), pcs.root_crl_url(), None),
            early_collateral.clone(),
        )
        .unwrap();
        let results = early.ensure_collateral(platform, at(NOT_YET_VALID)).await;
        assert_eq!(
            outcomes(&results),
            [
                (tcb_info, Err("NotFresh")),
                (qe_identity, Err("NotFresh")),
                (pck_crl, Err("NotFresh")),
                (root_crl, Ok(Supplied::Fetched)),
            ]
        );
        let snapshot = early_collateral.snapshot();
        assert!(snapshot.tcb_infos.is_empty() && snapshot.qe_identities.is_empty());
        assert_eq!(snapshot.crls.len(), 1);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_restart_uses_valid_disk_cache_items_without_requests_and_never_stale_ones() {
        let vector = vector();
        let pcs = fake_pcs(&vector, Duration::ZERO, Behaviour::Serve).await;
        let cache = tempfile::tempdir().unwrap();
        let platform = platform_of(&vector);
        let [tcb_info, qe_identity, pck_crl, root_crl] = platform.items();
        let first = PcsFetcher::new(
            PcsSettings::new(
                pcs.url.clone(),
                pcs.root_crl_url(),
                Some(cache.path().to_owned()),
            ),
            empty_collateral(),
        )
        .unwrap();
        first.ensure_collateral(platform, at(VALID)).await;
        assert_eq!(pcs.total(), 4);
        // What a KBS loads from its collateral directory at start-up.
        let loaded = TdxEndorsements::from_dir(cache.path()).unwrap();
        assert_eq!(
            (
                loaded.tcb_infos.len(),
                loaded.qe_identities.len(),
                loaded.crls.len()
            ),
            (1, 1, 2)
        );

        // A restarted KBS (empty memory) finds everything valid on disk.
        let collateral = empty_collateral();
        let restarted = PcsFetcher::new(
            PcsSettings::new(
                pcs.url.clone(),
                pcs.root_crl_url(),
                Some(cache.path().to_owned()),
            ),
            collateral.clone(),
        )
        .unwrap();
        let results = restarted.ensure_collateral(platform, at(VALID)).await;
        assert!(
            results
                .iter()
                .all(|(_, outcome)| outcome == &Ok(Supplied::FromDiskCache)),
            "{results:?}"
        );
        assert_eq!(restarted.requests_made(), 0);
        assert_eq!(pcs.total(), 4);
        let examination = verify(&collateral, &vector.quote, at(VALID));
        assert!(examination.verified(), "{:?}", examination.failed_checks());

        // Restarted past nextUpdate: the stale cached items are not used but fetched again (and
        // refused, since the server has nothing newer); the root CA CRL on disk is still valid.
        let collateral = empty_collateral();
        let restarted = PcsFetcher::new(
            PcsSettings::new(
                pcs.url.clone(),
                pcs.root_crl_url(),
                Some(cache.path().to_owned()),
            ),
            collateral.clone(),
        )
        .unwrap();
        let results = restarted.ensure_collateral(platform, at(EXPIRED)).await;
        assert_eq!(
            outcomes(&results),
            [
                (tcb_info, Err("NotFresh")),
                (qe_identity, Err("NotFresh")),
                (pck_crl, Err("NotFresh")),
                (root_crl, Ok(Supplied::FromDiskCache)),
            ]
        );
        assert_eq!(restarted.requests_made(), 3);
        let snapshot = collateral.snapshot();
        assert!(snapshot.tcb_infos.is_empty() && snapshot.qe_identities.is_empty());
        assert_eq!(snapshot.crls.len(), 1);
        let examination = verify(&collateral, &vector.quote, at(EXPIRED));
        assert!(failed_names(&examination).contains(&"tcb_info"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn server_errors_back_off_instead_of_storming_pcs() {
        let vector = vector();
        let pcs = fake_pcs(&vector, Duration::from_millis(100), Behaviour::Fail).await;
        let fetcher = Arc::new(
            PcsFetcher::new(
                PcsSettings::new(pcs.url.clone(), pcs.root_crl_url(), None),
                empty_collateral(),
            )
            .unwrap(),
        );
        let platform = platform_of(&vector);
        let now = at(VALID);
        for (item, outcome) in concurrent_prefetches(&fetcher, platform, now).await {
            assert!(outcome.is_err(), "{item}: {outcome:?}");
        }
        assert_eq!(
            pcs.total(),
            4,
            "eight attestations, one failed request per item"
        );
        let in_seconds = |seconds: i64| now + time::Duration::seconds(seconds);
        for seconds in [0, 1, 59] {
            for (item, outcome) in fetcher
                .ensure_collateral(platform, in_seconds(seconds))
                .await
            {
                assert!(
                    matches!(outcome, Err(PcsError::BackingOff { failures: 1, .. })),
                    "{item}: {outcome:?}"
                );
            }
        }
        assert_eq!(pcs.total(), 4);
        // Retried once the first back-off (60 s) is over; the second one lasts twice as long.
        fetcher.ensure_collateral(platform, in_seconds(60)).await;
        assert_eq!(pcs.total(), 8);
        for (item, outcome) in fetcher.ensure_collateral(platform, in_seconds(179)).await {
            assert!(
                matches!(outcome, Err(PcsError::BackingOff { failures: 2, .. })),
                "{item}: {outcome:?}"
            );
        }
        assert_eq!(pcs.total(), 8);
        fetcher.ensure_collateral(platform, in_seconds(180)).await;
        assert_eq!(pcs.total(), 12);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn malformed_or_foreign_answers_are_refused_and_nothing_is_kept() {
        let vector = vector();
        const { assert!(OVERSIZED_ANSWER_BYTES > MAX_ANSWER_BYTES) };
        let pcs = fake_pcs(&vector, Duration::ZERO, Behaviour::Malformed).await;
        let cache = tempfile::tempdir().unwrap();
        let collateral = empty_collateral();
        let fetcher = PcsFetcher::new(
            PcsSettings::new(
                pcs.url.clone(),
                pcs.root_crl_url(),
                Some(cache.path().to_owned()),
            ),
            collateral.clone(),
        )
        .unwrap();
        let platform = platform_of(&vector);
        let [tcb_info, qe_identity, pck_crl, root_crl] = platform.items();
        let results = fetcher.ensure_collateral(platform, at(VALID)).await;
        assert_eq!(
            outcomes(&results),
            [
                (tcb_info, Err("Invalid")),
                (qe_identity, Err("Invalid")),
                (pck_crl, Err("Request")),
                (root_crl, Err("Invalid")),
            ]
        );
        let details: Vec<String> = results
            .iter()
            .map(|(_, outcome)| outcome.clone().unwrap_err().to_string())
            .collect();
        assert!(
            details[1].contains("no SGX-Enclave-Identity-Issuer-Chain header"),
            "{details:?}"
        );
        assert!(details[2].contains("larger than"), "{details:?}");
        assert!(
            details[3].contains("CRL of Intel SGX PCK Platform CA"),
            "{details:?}"
        );
        let snapshot = collateral.snapshot();
        assert_eq!(item_count(&snapshot), 0);
        assert!(cache_files(cache.path()).is_empty());

        // A well-formed TCB info for another FMSPC than the one asked for.
        let serving = fake_pcs(&vector, Duration::ZERO, Behaviour::Serve).await;
        let fetcher = PcsFetcher::new(
            PcsSettings::new(serving.url.clone(), serving.root_crl_url(), None),
            collateral.clone(),
        )
        .unwrap();
        let other = PcsItem::TcbInfo {
            fmspc: [0x00, 0x80, 0x6f, 0x05, 0, 0],
            pce_id: [0, 0],
        };
        let outcome = fetcher.ensure(other, at(VALID)).await;
        assert!(
            matches!(&outcome, Err(PcsError::Invalid { detail, .. }) if detail.contains("FMSPC b0c06f000000")),
            "{outcome:?}"
        );
        assert_eq!(item_count(&collateral.snapshot()), 0);
    }
}
