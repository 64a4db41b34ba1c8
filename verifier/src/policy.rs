//! Rego policies (regorus, Rego v1), compiled once and evaluated many times.
//!
//! A [`RegoPolicy`] is parsed, analysed and scheduled when it is set; evaluation clones the
//! prepared engine (shared, immutable modules) so concurrent requests never re-parse or re-analyse
//! policy text.
//!
//! Every policy text is measured by [`shape::check`] before regorus sees it (size, nesting, parse
//! cost, expression depth, statements per body), so no text can overflow a stack or make the
//! parser run for minutes. Policies from outside (an admin, a manager, the store) enter through
//! [`compile_in_background`] or [`RegoPolicy::load`]: compilation runs on a dedicated thread and
//! the caller waits at most [`COMPILE_DEADLINE`]; past it the policy is refused and the thread is
//! left to finish on its own (the limits bound how long that can be). A plain `std::thread`,
//! never an async runtime's blocking pool, so a runtime shutting down never waits for it.

pub(crate) mod native;
pub mod shape;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

pub use shape::SourceLimit;

/// How long a caller waits for a policy to compile before refusing it. Policies within the
/// limits of [`shape`] compile in milliseconds; this only guards against what the limits missed.
pub const COMPILE_DEADLINE: Duration = Duration::from_secs(2);

/// Most compilations running at once; more are refused until one finishes, so abandoned
/// compilations cannot pile up.
pub const MAX_CONCURRENT_COMPILES: usize = 4;

/// Stack of a compiler thread: regorus's analysis recurses over expression trees, whose depth
/// the limits bound to a few hundred levels (about 600 bytes each).
const COMPILER_STACK: usize = 8 << 20;

static COMPILING: AtomicUsize = AtomicUsize::new(0);

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
    /// The text breaks a limit of [`shape`]; regorus never saw it.
    #[error("policy {id} refused: {limit}")]
    Refused {
        /// The policy's id.
        id: String,
        /// The limit broken.
        limit: SourceLimit,
    },
    /// Compilation did not finish within the deadline; nothing was kept.
    #[error("policy {id} did not compile within {} s", deadline.as_secs_f64())]
    Deadline {
        /// The policy's id.
        id: String,
        /// How long the caller waited.
        deadline: Duration,
    },
    /// [`MAX_CONCURRENT_COMPILES`] compilations are running; try again shortly.
    #[error("policy {id} not compiled: {MAX_CONCURRENT_COMPILES} policies are already compiling")]
    Busy {
        /// The policy's id.
        id: String,
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
    /// The compiled and prepared engine every evaluation starts from (never evaluated on).
    engine: regorus::Engine,
    /// Engines that finished an evaluation, reused instead of cloning `engine` per request
    /// (a clone copies every module and the prepared schedule). regorus resets its evaluation
    /// state at each `eval_rule`, and an engine that failed is dropped, not returned. Shared
    /// by the clones of this policy, which all hold the same compiled text.
    idle: Arc<Mutex<Vec<regorus::Engine>>>,
}

/// At most this many idle engines are kept per policy: evaluations run on the runtime's
/// worker threads, so no more are ever in flight at once on this machine class.
const MAX_IDLE_ENGINES: usize = 16;

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
    ///
    /// The text is measured first ([`shape::check`]). This runs on the caller's thread with no
    /// deadline: for text this build ships; text from outside goes through [`RegoPolicy::load`]
    /// or [`compile_in_background`].
    pub fn compile(id: &str, source: &str, entrypoints: &[&str]) -> Result<Self, PolicyError> {
        shape::check(source).map_err(|limit| PolicyError::Refused {
            id: id.into(),
            limit,
        })?;
        let compile_error = |message: String| PolicyError::Compile {
            id: id.into(),
            message,
        };
        let mut engine = regorus::Engine::new();
        // A watchdog, not an input: an evaluation past the limit is an error (callers deny);
        // no result depends on the clock.
        engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
            limit: EVALUATION_LIMIT,
            check_interval: std::num::NonZeroU32::MIN.saturating_add(63),
        });
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
            idle: Arc::default(),
        })
    }

    /// Compiles on a dedicated thread ([`compile_in_background`]) and waits at most `deadline`:
    /// for synchronous callers. Async callers use [`compile_in_background`] with their runtime's
    /// channel and timer, so no executor thread waits.
    pub fn load(
        id: &str,
        source: &str,
        entrypoints: &[&str],
        deadline: Duration,
    ) -> Result<Self, PolicyError> {
        let (done, result) = mpsc::sync_channel(1);
        compile_in_background(id, source, entrypoints, move |compiled| {
            // The caller may have stopped waiting; then the result is dropped.
            let _ = done.send(compiled);
        })?;
        wait(id, &result, deadline)
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

    /// Evaluates `rule` with `input`. An undefined result is an error, and so is an evaluation
    /// running past [`EVALUATION_LIMIT`]: callers deny on both.
    pub fn evaluate(&self, rule: &str, input: &Value) -> Result<Value, PolicyError> {
        let failed = |message: String| PolicyError::Evaluation {
            id: self.id.clone(),
            rule: rule.into(),
            message,
        };
        // Deserialised straight from the borrowed JSON: no intermediate copy of the input.
        let input: regorus::Value = serde::Deserialize::deserialize(input)
            .map_err(|e: serde_json::Error| failed(e.to_string()))?;
        let mut engine = self
            .idle
            .lock()
            .ok()
            .and_then(|mut idle| idle.pop())
            .unwrap_or_else(|| self.engine.clone());
        engine.set_input(input);
        let result = engine
            .eval_rule(rule.into())
            .map_err(|e| failed(e.to_string()))?;
        // Only an engine that completed goes back (a poisoned pool is simply not refilled).
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE_ENGINES
        {
            idle.push(engine);
        }
        if result == regorus::Value::Undefined {
            return Err(failed("result is undefined".into()));
        }
        serde_json::to_value(&result).map_err(|e| failed(e.to_string()))
    }
}

/// Longest one evaluation may run; the shape limits bound parsing, this bounds what a policy
/// computes (large comprehensions, say). Far above what any real policy needs (well under a
/// millisecond for the shipped ones).
pub const EVALUATION_LIMIT: Duration = Duration::from_secs(1);

/// Checks the text's limits, then compiles it on a dedicated thread and hands the result to
/// `done` there. Refusals by the limits, and [`PolicyError::Busy`], come back at once and
/// `done` is not called. If regorus panics, `done` is dropped uncalled: callers waiting on a
/// channel see it closed ([`closed`]).
pub fn compile_in_background(
    id: &str,
    source: &str,
    entrypoints: &[&str],
    done: impl FnOnce(Result<RegoPolicy, PolicyError>) + Send + 'static,
) -> Result<(), PolicyError> {
    // Measured here too, so a refused text costs no thread.
    shape::check(source).map_err(|limit| PolicyError::Refused {
        id: id.into(),
        limit,
    })?;
    let (id, source) = (id.to_owned(), source.to_owned());
    let entrypoints: Vec<String> = entrypoints.iter().map(|&e| e.to_owned()).collect();
    spawn_compiler(&id.clone(), move || {
        let entrypoints: Vec<&str> = entrypoints.iter().map(String::as_str).collect();
        done(RegoPolicy::compile(&id, &source, &entrypoints));
    })
}

/// Runs `work` on a new compiler thread, counted against [`MAX_CONCURRENT_COMPILES`].
fn spawn_compiler(id: &str, work: impl FnOnce() + Send + 'static) -> Result<(), PolicyError> {
    /// Releases a compiler slot when dropped, also when the work panics.
    struct Slot;
    impl Drop for Slot {
        fn drop(&mut self) {
            COMPILING.fetch_sub(1, Ordering::AcqRel);
        }
    }
    if COMPILING
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < MAX_CONCURRENT_COMPILES).then_some(n + 1)
        })
        .is_err()
    {
        return Err(PolicyError::Busy { id: id.into() });
    }
    let slot = Slot;
    std::thread::Builder::new()
        .name("policy-compiler".into())
        .stack_size(COMPILER_STACK)
        .spawn(move || {
            let _slot = slot;
            work();
        })
        .map(drop)
        .map_err(|e| PolicyError::Compile {
            id: id.into(),
            message: format!("no compiler thread: {e}"),
        })
}

/// Waits at most `deadline` for a compilation's result.
fn wait<T>(
    id: &str,
    result: &mpsc::Receiver<Result<T, PolicyError>>,
    deadline: Duration,
) -> Result<T, PolicyError> {
    match result.recv_timeout(deadline) {
        Ok(compiled) => compiled,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(PolicyError::Deadline {
            id: id.into(),
            deadline,
        }),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(closed(id)),
    }
}

/// The error for a compilation that ended without a result (the compiler panicked).
pub fn closed(id: &str) -> PolicyError {
    PolicyError::Compile {
        id: id.into(),
        message: "the compiler failed without an answer".into(),
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

    /// Reused engines carry nothing from one evaluation into the next: alternating inputs, a
    /// failed evaluation in between, and eight threads at once all get their own answers.
    #[test]
    fn reused_engines_answer_each_input_afresh() {
        let source = "package t

default allow := false

allow if input.x == 1

boom := 1 / input.zero
";
        let policy = RegoPolicy::compile("t", source, &["data.t.allow"]).unwrap();
        for round in 0..50 {
            let x = round % 2;
            let expected = json!(x == 1);
            assert_eq!(
                policy.evaluate("data.t.allow", &json!({"x": x})).unwrap(),
                expected
            );
            assert!(policy.evaluate("data.t.boom", &json!({"zero": 0})).is_err());
            // An input without x: the previous input's x must not be seen.
            assert_eq!(
                policy.evaluate("data.t.allow", &json!({})).unwrap(),
                json!(false)
            );
        }
        std::thread::scope(|scope| {
            for thread in 0..8 {
                let policy = policy.clone();
                scope.spawn(move || {
                    for round in 0..200 {
                        let x = (thread + round) % 3;
                        let got = policy.evaluate("data.t.allow", &json!({"x": x})).unwrap();
                        assert_eq!(got, json!(x == 1), "thread {thread} round {round}");
                    }
                });
            }
        });
        assert!(policy.idle.lock().unwrap().len() <= MAX_IDLE_ENGINES);
    }

    #[test]
    fn an_evaluation_past_the_limit_is_an_error_not_a_hang() {
        // Small text within every shape limit, but n² iterations over two small ranges: 4·10^8
        // when asked for n = 20,000.
        let source = "package t\nbig := count([1 | some a in numbers.range(1, input.n); some b in numbers.range(1, input.n)])\n";
        let policy = RegoPolicy::compile("t", source, &["data.t.big"]).unwrap();
        assert_eq!(
            policy.evaluate("data.t.big", &json!({"n": 10})).unwrap(),
            json!(100)
        );
        let error = policy
            .evaluate("data.t.big", &json!({"n": 20_000}))
            .unwrap_err();
        assert!(
            matches!(&error, PolicyError::Evaluation { message, .. } if message.contains("time limit")),
            "{error}"
        );
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
    fn deep_nesting_is_refused_before_regorus_sees_it() {
        // The policy: 250 nested brackets (a stack overflow or hours in regorus).
        let source = format!(
            "package warden.release\nallow := true\nx := {}1{}\n",
            "[".repeat(250),
            "]".repeat(250)
        );
        let error = RegoPolicy::compile("deep", &source, &[]).unwrap_err();
        assert!(matches!(
            &error,
            PolicyError::Refused {
                limit: SourceLimit::TooDeep { depth: 250, .. },
                ..
            }
        ));
        assert_eq!(
            error.to_string(),
            "policy deep refused: policy nests brackets 250 deep (line 3); at most 10 allowed"
        );
        // The background path refuses it before starting a thread.
        let error = compile_in_background("deep", &source, &[], |_| {
            unreachable!("a refused text is never compiled")
        })
        .unwrap_err();
        assert!(matches!(error, PolicyError::Refused { .. }));
        let oversized = format!("package t\n#{}\n", "x".repeat(shape::MAX_SOURCE_BYTES));
        assert!(matches!(
            RegoPolicy::load("big", &oversized, &[], COMPILE_DEADLINE),
            Err(PolicyError::Refused {
                limit: SourceLimit::TooLarge { .. },
                ..
            })
        ));
    }

    #[test]
    fn policies_at_the_limits_compile_and_evaluate_on_a_small_stack() {
        let chain = shape::MAX_CHAIN as usize;
        let source = format!(
            "package t\nx := (1{})\ny := {}1{}\nallow if {{\n  x == {}\n  count(y) == 1\n}}\n",
            "\n + 1".repeat(chain),
            "[".repeat(shape::MAX_NESTING),
            "]".repeat(shape::MAX_NESTING),
            chain + 1,
        );
        let shape = shape::check(&source).unwrap();
        assert_eq!(
            (shape.depth, shape.chain),
            (shape::MAX_NESTING, shape::MAX_CHAIN)
        );
        // 2 MiB: the stack of a tokio worker, where release policies are evaluated.
        let evaluated = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let policy = RegoPolicy::compile("edge", &source, &["data.t.allow"])?;
                policy.evaluate("data.t.allow", &json!({}))
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(evaluated, Ok(json!(true)));
    }

    #[test]
    fn shipped_policies_load_on_a_compiler_thread() {
        let policy = RegoPolicy::load(
            "default",
            crate::appraisal::DEFAULT_APPRAISAL_POLICY,
            &[crate::appraisal::APPRAISAL_RULE],
            COMPILE_DEADLINE,
        )
        .unwrap();
        assert_eq!(policy.source(), crate::appraisal::DEFAULT_APPRAISAL_POLICY);
        assert!(matches!(
            RegoPolicy::load("t", POLICY, &["data.t.deny"], COMPILE_DEADLINE),
            Err(PolicyError::MissingRule { .. })
        ));
    }

    #[test]
    fn a_compilation_past_its_deadline_is_refused() {
        let (release, held) = mpsc::channel::<()>();
        let (done, result) = mpsc::sync_channel::<Result<(), PolicyError>>(1);
        spawn_compiler("slow", move || {
            // Cannot finish before the test releases it, so only the deadline ends the wait.
            let _ = held.recv();
            let _ = done.send(Ok(()));
        })
        .unwrap();
        let error = wait("slow", &result, Duration::ZERO).unwrap_err();
        assert_eq!(
            error,
            PolicyError::Deadline {
                id: "slow".into(),
                deadline: Duration::ZERO
            }
        );
        assert_eq!(
            PolicyError::Deadline {
                id: "slow".into(),
                deadline: COMPILE_DEADLINE
            }
            .to_string(),
            "policy slow did not compile within 2 s"
        );
        release.send(()).unwrap();
        // The abandoned compilation still finishes; its answer is simply not awaited.
        assert_eq!(result.recv(), Ok(Ok(())));
    }

    #[test]
    fn a_compiler_that_fails_without_answering_is_an_error() {
        let (done, result) = mpsc::sync_channel::<Result<(), PolicyError>>(1);
        spawn_compiler("crash", move || {
            let _done = done;
            panic!("compiler bug");
        })
        .unwrap();
        assert_eq!(
            wait("crash", &result, COMPILE_DEADLINE),
            Err(closed("crash"))
        );
    }

    #[test]
    fn undefined_is_an_error() {
        let policy =
            RegoPolicy::compile("t", "package t\nv := 1 if input.x\n", &["data.t.v"]).unwrap();
        assert!(policy.evaluate("data.t.v", &json!({})).is_err());
    }
}
