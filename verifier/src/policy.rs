//! Rego policies (regorus, Rego v1), compiled once and evaluated many times.
//!
//! A [`RegoPolicy`] is parsed, analysed and scheduled when it is set; evaluation clones the
//! prepared engine (shared, immutable modules) so concurrent requests never re-parse or re-analyse
//! policy text.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Why a policy could not be compiled or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The policy text does not parse or compile (or an entrypoint is malformed).
    #[error("policy {id} does not compile: {message}")]
    Compile {
        /// The policy's id.
        id: String,
        /// The compiler's message.
        message: String,
    },
    /// The policy does not declare a rule it must define.
    #[error("policy {id} does not define {rule}")]
    MissingRule {
        /// The policy's id.
        id: String,
        /// The missing rule, e.g. `data.warden.release.allow`.
        rule: String,
    },
    /// Evaluating a rule failed, or its result was undefined.
    #[error("policy {id} failed while evaluating {rule}: {message}")]
    Evaluation {
        /// The policy's id.
        id: String,
        /// The rule evaluated.
        rule: String,
        /// What went wrong.
        message: String,
    },
}

/// A compiled Rego policy, with its id and the digest of its text.
#[derive(Clone)]
pub struct RegoPolicy {
    id: String,
    digest: String,
    source: String,
    engine: regorus::Engine,
}

impl std::fmt::Debug for RegoPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegoPolicy")
            .field("id", &self.id)
            .field("digest", &self.digest)
            .finish()
    }
}

impl RegoPolicy {
    /// Compiles `source` and checks that every rule in `entrypoints` (e.g.
    /// `data.warden.release.allow`) is declared, so a policy that could never answer is refused
    /// when it is set rather than when a workload asks.
    pub fn compile(id: &str, source: &str, entrypoints: &[&str]) -> Result<Self, PolicyError> {
        let compile_error = |message: String| PolicyError::Compile {
            id: id.into(),
            message,
        };
        let mut engine = regorus::Engine::new();
        engine
            .add_policy(format!("{id}.rego"), source.into())
            .map_err(|e| compile_error(e.to_string()))?;
        for rule in entrypoints {
            let (package, name) = rule
                .strip_prefix("data.")
                .and_then(|path| path.rsplit_once('.'))
                .ok_or_else(|| compile_error(format!("bad entrypoint {rule}")))?;
            let declared = engine
                .get_packages()
                .map_err(|e| compile_error(e.to_string()))?
                .iter()
                .any(|p| p == &format!("data.{package}"))
                && engine
                    .has_declared_rule_rooted_at(&format!("{id}.rego"), name)
                    .map_err(|e| compile_error(e.to_string()))?;
            if !declared {
                return Err(PolicyError::MissingRule {
                    id: id.into(),
                    rule: (*rule).into(),
                });
            }
        }
        // regorus analyses and schedules the modules on the first evaluation and remembers that
        // in the engine; doing it once here means every per-request clone starts prepared
        // instead of repeating the analysis (which cost more than the evaluation itself).
        // The result of this empty-input run is irrelevant; each evaluation resets its state.
        if let Some(rule) = entrypoints.first() {
            engine.set_input(regorus::Value::new_object());
            let _ = engine.eval_rule((*rule).into());
        }
        let digest = hex::encode(Sha256::digest(source.as_bytes()));
        Ok(Self {
            id: id.into(),
            digest,
            source: source.into(),
            engine,
        })
    }

    /// The id the policy was compiled under.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// SHA-256 of the policy text, hex: identifies exactly which policy produced a result.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The policy text as compiled.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates `rule` with `input`. An undefined result is an error: callers deny on it.
    pub fn evaluate(&self, rule: &str, input: &Value) -> Result<Value, PolicyError> {
        let failed = |message: String| PolicyError::Evaluation {
            id: self.id.clone(),
            rule: rule.into(),
            message,
        };
        // Deserialised straight from the borrowed JSON: no intermediate copy of the input.
        let input: regorus::Value = serde::Deserialize::deserialize(input)
            .map_err(|e: serde_json::Error| failed(e.to_string()))?;
        let mut engine = self.engine.clone();
        engine.set_input(input);
        let result = engine
            .eval_rule(rule.into())
            .map_err(|e| failed(e.to_string()))?;
        if result == regorus::Value::Undefined {
            return Err(failed("result is undefined".into()));
        }
        serde_json::to_value(&result).map_err(|e| failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const POLICY: &str = "package t\n\ndefault allow := false\n\nallow if input.x == 1\n";

    #[test]
    fn evaluates_with_input() {
        let policy = RegoPolicy::compile("t", POLICY, &["data.t.allow"]).unwrap();
        assert_eq!(
            policy.evaluate("data.t.allow", &json!({"x": 1})).unwrap(),
            json!(true)
        );
        assert_eq!(
            policy.evaluate("data.t.allow", &json!({"x": 2})).unwrap(),
            json!(false)
        );
        assert_eq!(policy.digest().len(), 64);
    }

    #[test]
    fn refuses_bad_or_incomplete_policies() {
        assert!(matches!(
            RegoPolicy::compile("t", "package t\nallow if {", &[]),
            Err(PolicyError::Compile { .. })
        ));
        assert!(matches!(
            RegoPolicy::compile("t", POLICY, &["data.t.deny"]),
            Err(PolicyError::MissingRule { .. })
        ));
        assert!(matches!(
            RegoPolicy::compile("t", POLICY, &["data.other.allow"]),
            Err(PolicyError::MissingRule { .. })
        ));
    }

    #[test]
    fn undefined_is_an_error() {
        let policy =
            RegoPolicy::compile("t", "package t\nv := 1 if input.x\n", &["data.t.v"]).unwrap();
        assert!(policy.evaluate("data.t.v", &json!({})).is_err());
    }
}
