//! PEM text (RFC 7468): the one encoder for certificates, keys and CSRs Warden writes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// `der` as a PEM block labelled `label` (`CERTIFICATE`, `PUBLIC KEY`, `PRIVATE KEY`…), with
/// 64-character lines.
pub fn encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    // Base64 is ASCII, so every 64-byte chunk is whole characters.
    for line in body.as_bytes().chunks(64) {
        text.push_str(&String::from_utf8_lossy(line));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_are_64_characters_and_labelled() {
        let text = super::encode("CERTIFICATE", &[7; 100]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "-----BEGIN CERTIFICATE-----");
        // 100 bytes are 136 base64 characters: 64 + 64 + 8.
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2].len(), 64);
        assert_eq!(lines[3].len(), 8);
        assert_eq!(lines[4], "-----END CERTIFICATE-----");
    }
}
