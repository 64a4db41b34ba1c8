//! Prometheus metrics served at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of the request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `auth`, `attest`, `resource`, `tpm_register` or `tpm_activate`.
    pub endpoint: &'static str,
    /// `ok` or `error`.
    pub outcome: &'static str,
}

/// Labels of the attestation counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TeeLabels {
    /// The TEE named at `/auth`.
    pub tee: String,
    /// `ok` or `rejected`.
    pub outcome: &'static str,
}

/// The KBS's Prometheus registry (prefix `warden_kbs`) and its metrics.
pub struct Metrics {
    registry: Registry,
    /// Requests by endpoint and outcome (`warden_kbs_requests_total`).
    pub requests: Family<OutcomeLabels, Counter>,
    /// Attestations by TEE and outcome (`warden_kbs_attestations_total`).
    pub attestations: Family<TeeLabels, Counter>,
    /// Sessions currently held (`warden_kbs_sessions`).
    pub sessions: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("warden_kbs");
        let requests = Family::<OutcomeLabels, Counter>::default();
        let attestations = Family::<TeeLabels, Counter>::default();
        let sessions = Gauge::default();
        registry.register(
            "requests",
            "KBS requests by endpoint and outcome",
            requests.clone(),
        );
        registry.register(
            "attestations",
            "Attestations by TEE and outcome",
            attestations.clone(),
        );
        registry.register("sessions", "Sessions currently held", sessions.clone());
        Self {
            registry,
            requests,
            attestations,
            sessions,
        }
    }
}

impl Metrics {
    /// Counts one request to `endpoint`, successful or not.
    pub fn record(&self, endpoint: &'static str, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.requests
            .get_or_create(&OutcomeLabels { endpoint, outcome })
            .inc();
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
