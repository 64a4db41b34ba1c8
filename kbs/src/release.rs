//! Per-resource release policies, chosen by the longest matching path prefix, with a default.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use warden_verifier::RegoPolicy;
use warden_verifier::ear::EarClaims;
use warden_verifier::policy::PolicyError;
use warden_wire::ResourcePath;

/// The rule every release policy must define (a boolean).
pub const RELEASE_RULE: &str = "data.warden.release.allow";
/// Name under which the default release policy is stored and addressed.
pub const DEFAULT_PREFIX: &str = "default";
/// Shipped default: deny unless affirming, not sample/insecure, not debug.
pub const DEFAULT_RELEASE_POLICY: &str = include_str!("../../policies/release.rego");

/// What a release policy decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The policy's rule evaluated to `true`.
    Allow,
    /// Anything else, evaluation errors included.
    Deny {
        /// Id of the policy that decided (`release:<prefix>`).
        policy: String,
    },
}

/// An immutable set of compiled release policies; replaced whole on every change.
#[derive(Debug, Clone)]
pub struct ReleasePolicies {
    default: Arc<RegoPolicy>,
    by_prefix: BTreeMap<String, Arc<RegoPolicy>>,
}

/// Compiles `source` as the release policy of `prefix` (policy id `release:<prefix>`), refusing
/// it unless it declares [`RELEASE_RULE`].
pub fn compile(prefix: &str, source: &str) -> Result<RegoPolicy, PolicyError> {
    RegoPolicy::compile(&format!("release:{prefix}"), source, &[RELEASE_RULE])
}

impl ReleasePolicies {
    /// Builds the set from `(prefix, source)` pairs; `default` replaces the shipped default.
    pub fn build(entries: &[(String, String)]) -> Result<Self, PolicyError> {
        let mut default = Arc::new(compile(DEFAULT_PREFIX, DEFAULT_RELEASE_POLICY)?);
        let mut by_prefix = BTreeMap::new();
        for (prefix, source) in entries {
            let policy = Arc::new(compile(prefix, source)?);
            if prefix == DEFAULT_PREFIX {
                default = policy;
            } else {
                by_prefix.insert(prefix.clone(), policy);
            }
        }
        Ok(Self { default, by_prefix })
    }

    /// The policy for `path`: the longest stored prefix of it (a plain string prefix), else the
    /// default.
    pub fn policy_for(&self, path: &ResourcePath) -> &Arc<RegoPolicy> {
        self.by_prefix
            .iter()
            .rev()
            .find(|(prefix, _)| path.as_str().starts_with(prefix.as_str()))
            .map(|(_, policy)| policy)
            .unwrap_or(&self.default)
    }

    /// The policy stored under exactly `prefix` (`default` names the default).
    pub fn policy_for_prefix(&self, prefix: &str) -> Option<&Arc<RegoPolicy>> {
        if prefix == DEFAULT_PREFIX {
            Some(&self.default)
        } else {
            self.by_prefix.get(prefix)
        }
    }

    /// `default`, then every other stored prefix in sorted order.
    pub fn prefixes(&self) -> impl Iterator<Item = &str> {
        std::iter::once(DEFAULT_PREFIX).chain(self.by_prefix.keys().map(String::as_str))
    }

    /// Decides whether `claims` may receive `path`. Any evaluation problem denies.
    pub fn decide(&self, claims: &EarClaims, path: &ResourcePath) -> Decision {
        let policy = self.policy_for(path);
        let mut parts = path.as_str().splitn(3, '/');
        let input = json!({
            "token": claims,
            "resource": {
                "path": path.as_str(),
                "repository": parts.next(),
                "type": parts.next(),
                "tag": parts.next(),
            },
        });
        match policy.evaluate(RELEASE_RULE, &input) {
            Ok(serde_json::Value::Bool(true)) => Decision::Allow,
            _ => Decision::Deny {
                policy: policy.id().to_owned(),
            },
        }
    }
}

/// Validates a release-policy prefix: `default`, or a leading part of a resource path.
pub fn valid_prefix(prefix: &str) -> bool {
    prefix == DEFAULT_PREFIX
        || (!prefix.is_empty()
            && prefix.len() <= 400
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap as Map;
    use warden_verifier::Status;
    use warden_verifier::ear::{Submod, TrustVector};

    fn claims(tee: &str, status: Status, insecure: bool, debug: bool) -> EarClaims {
        EarClaims {
            submods: Map::from([(
                "cpu0".to_owned(),
                Submod {
                    status,
                    trust_vector: TrustVector::default(),
                    appraisal_policy_id: String::new(),
                    annotated_evidence: Map::from([(tee.to_owned(), json!({"debug": debug}))]),
                    tee: tee.into(),
                    trace: Default::default(),
                },
            )]),
            insecure: if insecure { vec!["x".into()] } else { vec![] },
            ..EarClaims::default()
        }
    }

    #[test]
    fn shipped_default_denies_everything_but_affirming_real_tees() {
        let set = ReleasePolicies::build(&[]).unwrap();
        let path = ResourcePath::parse("a/b/c").unwrap();
        assert_eq!(
            set.decide(&claims("snp", Status::Affirming, false, false), &path),
            Decision::Allow
        );
        for denied in [
            claims("sample", Status::Affirming, true, false),
            claims("sample", Status::Affirming, false, false),
            claims("snp", Status::Affirming, true, false),
            claims("snp", Status::Warning, false, false),
            claims("snp", Status::Affirming, false, true),
        ] {
            assert!(matches!(set.decide(&denied, &path), Decision::Deny { .. }));
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let allow_all = "package warden.release\nallow := true\n";
        let deny_all = "package warden.release\nallow := false\n";
        let set = ReleasePolicies::build(&[
            ("a/".into(), allow_all.into()),
            ("a/b/".into(), deny_all.into()),
        ])
        .unwrap();
        let c = claims("snp", Status::Warning, false, false);
        assert_eq!(
            set.decide(&c, &ResourcePath::parse("a/x/y").unwrap()),
            Decision::Allow
        );
        assert!(matches!(
            set.decide(&c, &ResourcePath::parse("a/b/y").unwrap()),
            Decision::Deny { .. }
        ));
        assert_eq!(
            set.prefixes().collect::<Vec<_>>(),
            vec!["default", "a/", "a/b/"]
        );
    }

    #[test]
    fn non_boolean_results_deny() {
        let set = ReleasePolicies::build(&[(
            "a/".into(),
            "package warden.release\nallow := \"yes\"\n".into(),
        )])
        .unwrap();
        let c = claims("snp", Status::Affirming, false, false);
        assert!(matches!(
            set.decide(&c, &ResourcePath::parse("a/b/c").unwrap()),
            Decision::Deny { .. }
        ));
    }
}
