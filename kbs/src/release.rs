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

/// Compiles `source` as the release policy of `prefix` (policy id `release:<prefix>`) on the
/// caller's thread, refusing it unless it declares [`RELEASE_RULE`]. The limits of
/// [`warden_verifier::policy::shape`] apply; text from outside goes through [`load`].
pub fn compile(prefix: &str, source: &str) -> Result<RegoPolicy, PolicyError> {
    RegoPolicy::compile(&policy_id(prefix), source, &[RELEASE_RULE])
}

/// Compiles `source` as the release policy of `prefix` through the policy loader (limits, a
/// compiler thread of its own, [`warden_verifier::policy::COMPILE_DEADLINE`]); no executor
/// thread waits.
pub async fn load(prefix: &str, source: &str) -> Result<RegoPolicy, PolicyError> {
    warden_verifier_service::load_policy(&policy_id(prefix), source, &[RELEASE_RULE]).await
}

fn policy_id(prefix: &str) -> String {
    format!("release:{prefix}")
}

impl ReleasePolicies {
    /// Builds the set from `(prefix, source)` pairs compiled on the caller's thread; `default`
    /// replaces the shipped default.
    pub fn build(entries: &[(String, String)]) -> Result<Self, PolicyError> {
        let compiled = entries
            .iter()
            .map(|(prefix, source)| Ok((prefix.clone(), Arc::new(compile(prefix, source)?))))
            .collect::<Result<Vec<_>, PolicyError>>()?;
        Self::assemble(compiled)
    }

    /// Builds the set from stored `(prefix, source)` pairs through [`load`], reusing any policy
    /// of `compiled` with the same id and text instead of compiling it again. A refusal names
    /// the prefix.
    pub async fn load(
        entries: &[(String, String)],
        compiled: &[Arc<RegoPolicy>],
    ) -> Result<Self, (String, PolicyError)> {
        let mut policies = Vec::with_capacity(entries.len());
        for (prefix, source) in entries {
            let id = policy_id(prefix);
            let known = compiled
                .iter()
                .find(|p| p.id() == id && p.source() == source.as_str());
            let policy = match known {
                Some(policy) => policy.clone(),
                None => Arc::new(
                    load(prefix, source)
                        .await
                        .map_err(|e| (prefix.clone(), e))?,
                ),
            };
            policies.push((prefix.clone(), policy));
        }
        Self::assemble(policies).map_err(|e| (DEFAULT_PREFIX.to_owned(), e))
    }

    fn assemble(compiled: Vec<(String, Arc<RegoPolicy>)>) -> Result<Self, PolicyError> {
        let mut default = Arc::new(compile(DEFAULT_PREFIX, DEFAULT_RELEASE_POLICY)?);
        let mut by_prefix = BTreeMap::new();
        for (prefix, policy) in compiled {
            if prefix == DEFAULT_PREFIX {
                default = policy;
            } else {
                by_prefix.insert(prefix, policy);
            }
        }
        Ok(Self { default, by_prefix })
    }

    /// Every policy of the set, the default first.
    pub fn policies(&self) -> impl Iterator<Item = &Arc<RegoPolicy>> {
        std::iter::once(&self.default).chain(self.by_prefix.values())
    }

    /// The policy for `path`: the longest stored prefix that covers it in whole segments (see
    /// [`covers`]), else the default. Prefixes covering one path are nested, so the greatest in
    /// sort order is the longest.
    pub fn policy_for(&self, path: &ResourcePath) -> &Arc<RegoPolicy> {
        self.by_prefix
            .iter()
            .rev()
            .find(|(prefix, _)| covers(prefix, path.as_str()))
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

/// Whether release-policy `prefix` covers `path`, in whole segments: `a` and `a/` cover
/// `a/b/c`; `a/b` covers `a/b/c` but not `a/bc/d`; a prefix never ends inside a segment.
pub fn covers(prefix: &str, path: &str) -> bool {
    let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Validates a release-policy prefix: `default`, or one to three whole segments of a resource
/// path (`repository[/type[/tag]]`, a trailing `/` allowed), each of `[A-Za-z0-9._-]` and
/// neither `.` nor `..`. Anything else could never cover a resource, so it is refused.
pub fn valid_prefix(prefix: &str) -> bool {
    if prefix == DEFAULT_PREFIX {
        return true;
    }
    let segments: Vec<&str> = prefix
        .strip_suffix('/')
        .unwrap_or(prefix)
        .split('/')
        .collect();
    prefix.len() <= 400
        && segments.len() <= 3
        && segments.iter().all(|segment| {
            !segment.is_empty()
                && *segment != "."
                && *segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
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
    fn prefixes_cover_whole_segments_only() {
        let allow_all = "package warden.release\nallow := true\n";
        let set = ReleasePolicies::build(&[("dem".into(), allow_all.into())]).unwrap();
        let c = claims("snp", Status::Warning, false, false);
        // `dem` is not a segment of `demonstration-prod/...`: the default (deny) decides.
        assert!(matches!(
            set.decide(&c, &ResourcePath::parse("demonstration-prod/key/x").unwrap()),
            Decision::Deny { policy } if policy == "release:default"
        ));
        assert_eq!(
            set.decide(&c, &ResourcePath::parse("dem/key/x").unwrap()),
            Decision::Allow
        );
        for (prefix, path, covered) in [
            ("a/", "a/b/c", true),
            ("a", "a/b/c", true),
            ("a/b", "a/b/c", true),
            ("a/b/", "a/b/c", true),
            ("a/b/c", "a/b/c", true),
            ("a/b", "a/bc/d", false),
            ("a/b/c", "a/b/cd", false),
            ("ab", "a/b/c", false),
        ] {
            assert_eq!(covers(prefix, path), covered, "{prefix} {path}");
        }
    }

    #[test]
    fn prefixes_that_could_never_cover_a_resource_are_refused() {
        for good in [
            "default",
            "a",
            "a/",
            "a/b",
            "a/b/",
            "a/b/c",
            "build-1.2_x/key",
        ] {
            assert!(valid_prefix(good), "{good}");
        }
        for bad in [
            "",
            "/",
            "//",
            "..",
            ".",
            "../a",
            "a/../b",
            "a//b",
            "/a",
            "a/b/c/d",
            "a b",
            &"a".repeat(401),
        ] {
            assert!(!valid_prefix(bad), "{bad:?}");
        }
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

    #[tokio::test]
    async fn a_policy_past_the_limits_is_refused_by_the_loader() {
        let nested = format!(
            "package warden.release\nallow := {}true{}\n",
            "[".repeat(250),
            "]".repeat(250)
        );
        let refused = load("a/", &nested).await.unwrap_err();
        assert_eq!(
            refused.to_string(),
            "policy release:a/ refused: policy nests brackets 250 deep (line 2); at most 10 allowed"
        );
        // As stored by an older build: the set is refused and the prefix named.
        let stored = [
            (
                "a/".to_owned(),
                "package warden.release\nallow := true\n".to_owned(),
            ),
            ("b/".to_owned(), nested),
        ];
        let (prefix, error) = ReleasePolicies::load(&stored, &[]).await.unwrap_err();
        assert_eq!(prefix, "b/");
        assert!(matches!(error, PolicyError::Refused { .. }));
    }

    #[tokio::test]
    async fn loading_reuses_policies_already_compiled() {
        let allow_all = "package warden.release\nallow := true\n";
        let fresh = Arc::new(load("a/", allow_all).await.unwrap());
        let stored = [("a/".to_owned(), allow_all.to_owned())];
        let set = ReleasePolicies::load(&stored, std::slice::from_ref(&fresh))
            .await
            .unwrap();
        assert!(Arc::ptr_eq(set.policy_for_prefix("a/").unwrap(), &fresh));
        // Another text under the same prefix is compiled, not taken from `compiled`.
        let changed = [("a/".to_owned(), format!("{allow_all}# changed\n"))];
        let set = ReleasePolicies::load(&changed, std::slice::from_ref(&fresh))
            .await
            .unwrap();
        assert!(!Arc::ptr_eq(set.policy_for_prefix("a/").unwrap(), &fresh));
    }
}
