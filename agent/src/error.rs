//! The agent's error type: one variant per failure class so callers (and the CLI's exit codes)
//! can tell a KBS refusal from a local misconfiguration.

use warden_wire::{ErrorBody, JweError};

use crate::attester::AttesterError;

/// Longest KBS-supplied text kept in an error; the server is not trusted to be brief.
pub const MAX_DETAIL_CHARS: usize = 512;
/// Longest error type kept (the last segment of the `type` URI).
const MAX_ERROR_TYPE_CHARS: usize = 128;

/// Every way an agent operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Invalid configuration (URL, missing CA file, options).
    #[error("configuration error: {0}")]
    Config(String),
    /// Local file I/O failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, with the path.
        context: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The TLS trust configuration could not be built (unreadable or empty CA bundle, ...).
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The request did not complete: connection, TLS handshake, timeout, truncated body.
    #[error("HTTP transport error: {0}")]
    Http(String),
    /// The KBS answered with a non-2xx status.
    #[error("KBS refused the request: HTTP {status}{}: {detail}", type_suffix(.error_type))]
    Kbs {
        /// The HTTP status code.
        status: u16,
        /// Last path segment of the error `type` URI (e.g. "PolicyDeny"); empty when the body
        /// was not a KBS error body.
        error_type: String,
        /// The KBS's `detail` text (or raw body), truncated to [`MAX_DETAIL_CHARS`] and sanitised.
        detail: String,
    },
    /// The KBS answered 2xx with something that is not the expected protocol message.
    #[error("unexpected KBS response: {0}")]
    Protocol(String),
    /// The attester could not produce evidence.
    #[error(transparent)]
    Attester(#[from] AttesterError),
    /// The resource's JWE envelope is malformed or could not be decrypted with the TEE key.
    #[error("secret envelope: {0}")]
    Jwe(#[from] JweError),
}

fn type_suffix(error_type: &str) -> String {
    if error_type.is_empty() {
        String::new()
    } else {
        format!(" ({error_type})")
    }
}

impl AgentError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// Builds the error for a non-2xx KBS answer from its (untrusted) body.
    pub fn from_kbs_response(status: u16, body: &[u8]) -> Self {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(error) => {
                // `rsplit` always yields at least one item; the fallback only satisfies the type.
                let last = error.error_type.rsplit('/').next().unwrap_or_default();
                Self::Kbs {
                    status,
                    error_type: sanitize(last, MAX_ERROR_TYPE_CHARS),
                    detail: sanitize(&error.detail, MAX_DETAIL_CHARS),
                }
            }
            Err(_) => {
                let raw = String::from_utf8_lossy(body);
                let detail = if raw.trim().is_empty() {
                    "(empty response body)".to_owned()
                } else {
                    sanitize(raw.trim(), MAX_DETAIL_CHARS)
                };
                Self::Kbs {
                    status,
                    error_type: String::new(),
                    detail,
                }
            }
        }
    }

    /// Wraps a reqwest error with its whole cause chain: reqwest's own message alone ("error
    /// sending request") hides whether DNS, TCP, TLS or a timeout failed.
    pub(crate) fn http(error: &reqwest::Error) -> Self {
        Self::Http(error_chain(error))
    }
}

/// An error with its causes: reqwest's own message alone hides what failed.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Truncates server-supplied text and neutralises control characters so it cannot rewrite the
/// operator's terminal or forge log lines.
fn sanitize(text: &str, max_chars: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max_chars)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if text.chars().nth(max_chars).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kbs_error_body_is_parsed_to_type_segment_and_detail() {
        let body = br#"{"type":"https://github.com/confidential-containers/kbs/errors/PolicyDeny","detail":"release denied by policy default"}"#;
        let error = AgentError::from_kbs_response(403, body);
        match &error {
            AgentError::Kbs {
                status,
                error_type,
                detail,
            } => {
                assert_eq!(*status, 403);
                assert_eq!(error_type, "PolicyDeny");
                assert_eq!(detail, "release denied by policy default");
            }
            other => panic!("unexpected {other:?}"),
        }
        let message = error.to_string();
        assert!(
            message.contains("403") && message.contains("PolicyDeny"),
            "{message}"
        );
        assert!(
            message.contains("release denied by policy default"),
            "{message}"
        );
    }

    #[test]
    fn type_without_slash_is_kept_whole() {
        let error =
            AgentError::from_kbs_response(401, br#"{"type":"Unauthenticated","detail":"d"}"#);
        assert!(
            matches!(error, AgentError::Kbs { ref error_type, .. } if error_type == "Unauthenticated")
        );
    }

    #[test]
    fn non_json_body_is_kept_raw_and_truncated() {
        let body = "x".repeat(2000);
        match AgentError::from_kbs_response(502, body.as_bytes()) {
            AgentError::Kbs {
                status,
                error_type,
                detail,
            } => {
                assert_eq!(status, 502);
                assert!(error_type.is_empty());
                assert_eq!(detail.chars().count(), MAX_DETAIL_CHARS + 1);
                assert!(detail.ends_with('…'));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn empty_and_hostile_bodies_are_safe() {
        let empty = AgentError::from_kbs_response(500, b"");
        assert!(empty.to_string().contains("(empty response body)"));
        let hostile = AgentError::from_kbs_response(500, b"bad\x1b[2J\xff\nline");
        let message = hostile.to_string();
        assert!(
            !message.contains('\x1b') && !message.contains('\n'),
            "{message:?}"
        );
    }
}
