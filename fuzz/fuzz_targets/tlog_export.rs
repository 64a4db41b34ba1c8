//! Exported logs (`warden-log-export/v1`) from untrusted bytes: what `warden-kbs audit verify`
//! reads.
//!
//! Properties: verification returns a summary or a fault, never panics, whatever the input;
//! the outcome does not depend on how the reader buffers the input; a kept checkpoint changes
//! a success only into a fault about kept checkpoints; a success covers every entry with its
//! final checkpoint.
#![no_main]

use std::io::BufReader;

use libfuzzer_sys::fuzz_target;
use warden_wire::tlog::{ExportFault, NoteVerifier, verify_export};

/// The golang.org/x/mod sumdb/note test key; the export seeds are signed with its private key
/// and are of the log named after it.
const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

/// The seed log's checkpoint of size 2, as an operator would have kept it.
const KEPT: &str = "PeterNeumann\n2\nNPMENbuSLE/0ewWNEoD1pUWexFvAJk7N85kI8F/k7WM=\n\n\u{2014} \
                    PeterNeumann x08go0gktyBOisU/6yZi+3K0Add7bYiJEY01aLZd+QErh1uiVwDa0KrzAbqyDbKJ\
                    pOu4BKqk4KkJz0gEJIiZ81j8cAE=\n";

fuzz_target!(|data: &[u8]| {
    let verifier = NoteVerifier::from_vkey(VKEY).unwrap();
    let whole = verify_export(data, &verifier, &[]);
    let buffered = verify_export(BufReader::with_capacity(5, data), &verifier, &[]);
    assert_eq!(whole, buffered);
    if let Ok(summary) = &whole {
        assert_eq!(summary.entries, summary.checkpoint.size);
        assert!(summary.checkpoints >= 1);
        assert_eq!(summary.kept_matched, 0);
    }
    if let Err(fault) = &whole {
        let _ = fault.to_string();
        assert!(fault.bad_range().is_some() || fault.first_bad_index().is_none());
    }

    let kept = verify_export(data, &verifier, &[KEPT.as_bytes()]);
    match (&whole, &kept) {
        (Ok(_), Ok(summary)) => assert_eq!(summary.kept_matched, 1),
        (Ok(_), Err(fault)) => assert!(
            matches!(
                fault,
                ExportFault::InconsistentCheckpoints { .. }
                    | ExportFault::KeptCheckpointBeyondExport { .. }
            ),
            "{fault}"
        ),
        _ => {}
    }
});
