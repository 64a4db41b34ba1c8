//! Logging for both servers: stderr, colour only on a terminal, and every field value escaped
//! in the human format, so that untrusted text in a log line (a TEE name, a field name from
//! rejected evidence, an admin token's subject) can never start a new line or carry terminal
//! escape sequences. The JSON format escapes by construction.

use std::fmt;

use tracing_subscriber::field::MakeExt as _;
use tracing_subscriber::fmt::format::Writer;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogStyle {
    /// Human-readable text, one event per line.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// Installs the global subscriber writing to stderr. `RUST_LOG`, when set and valid, overrides
/// `filter`, which defaults to "info". A second call changes nothing.
pub fn init(style: LogStyle, filter: Option<&str>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter.unwrap_or("info")));
    // Colour codes only for a terminal: log files and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    // Err only means a subscriber is already installed (tests), which is fine.
    let _ = match style {
        LogStyle::Json => builder.json().try_init(),
        LogStyle::Human => builder.fmt_fields(escaping_fields()).try_init(),
    };
}

/// The human field format: `name=value`, the message bare, every value escaped.
fn escaping_fields() -> impl for<'writer> tracing_subscriber::fmt::FormatFields<'writer> {
    tracing_subscriber::fmt::format::debug_fn(|writer: &mut Writer<'_>, field, value| {
        if field.name() != "message" {
            write!(writer, "{field}=")?;
        }
        write_escaped(writer, &format!("{value:?}"))
    })
    .delimited(" ")
}

/// Writes `text` with every character that could break or disguise a log line escaped as
/// `\u{..}` (or `\n`, `\r`, `\t`): control characters and the Unicode line, paragraph and
/// bidirectional-override characters.
pub fn write_escaped(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    for c in text.chars() {
        let disguising = matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || disguising {
            for escaped in c.escape_default() {
                out.write_char(escaped)?;
            }
        } else {
            out.write_char(c)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = String::new();
        write_escaped(&mut out, text).unwrap();
        out
    }

    #[test]
    fn line_breaks_and_terminal_escapes_cannot_pass() {
        let forged = "snp\n2026-12-03T00:00:00Z  INFO resource released\r\u{1b}[2K\u{7f}\u{85}\u{2028}\u{202e}";
        let out = escaped(forged);
        assert!(!out.chars().any(|c| c.is_control()), "{out}");
        assert_eq!(
            out,
            "snp\\n2026-12-03T00:00:00Z  INFO resource released\\r\\u{1b}[2K\\u{7f}\\u{85}\\u{2028}\\u{202e}"
        );
        assert_eq!(escaped("plain text, ünïcode ok"), "plain text, ünïcode ok");
    }
}
