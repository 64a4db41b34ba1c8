//! Prometheus metrics served at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub endpoint: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TeeLabels {
    pub tee: String,
    pub outcome: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<OutcomeLabels, Counter>,
    pub attestations: Family<TeeLabels, Counter>,
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
    pub fn record(&self, endpoint: &'static str, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.requests
            .get_or_create(&OutcomeLabels { endpoint, outcome })
            .inc();
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
