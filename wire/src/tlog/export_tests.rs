//! The exported-log format: a genuine export verifies, and every kind of tampering is refused
//! with the fault naming the right line, index or sizes.

use super::*;
use crate::signing_key::{KeyAlgorithm, SigningKeyPair};

const ORIGIN: &str = "log.warden.test/audit";

/// Entries per append batch; the log signs a checkpoint after each: sizes 3, 4, 9, 11, 15.
const BATCHES: [u64; 5] = [3, 1, 5, 2, 4];

fn signer(name: &str) -> NoteSigner {
    NoteSigner::new(
        name,
        SigningKeyPair::generate(KeyAlgorithm::Ed25519).unwrap(),
    )
    .unwrap()
}

/// Entry `index` as the log writes it: a JSON document with its own `index` member (and text
/// that needs escaping, to show the bytes survive exactly).
fn entry(index: u64, variant: &str) -> String {
    format!(
        "{{\"index\":{index},\"kind\":\"release\",\"subject\":\"k\u{e9}y-{index}{variant}\",\
         \"note\":\"line one\\nline \\\"two\\\"\\ttab\"}}"
    )
}

/// A log and its export: the entries, the tree, the checkpoint notes by size, the file.
struct Log {
    signer: NoteSigner,
    entries: Vec<String>,
    tree: MemoryTree,
    notes: Vec<(u64, String)>,
    file: String,
}

impl Log {
    fn verifier(&self) -> &NoteVerifier {
        self.signer.verifier()
    }

    fn note_at(&self, size: u64) -> &str {
        &self.notes.iter().find(|(s, _)| *s == size).unwrap().1
    }

    fn lines(&self) -> Vec<String> {
        self.file.split_inclusive('\n').map(str::to_owned).collect()
    }

    /// The 1-based line number of entry `index`.
    fn entry_line_no(&self, index: u64) -> u64 {
        self.line_no(&format!("{{\"index\":{index},"))
    }

    /// The 1-based line number of the checkpoint of `size`.
    fn checkpoint_line_no(&self, size: u64) -> u64 {
        self.line_no(&checkpoint_line(self.note_at(size)))
    }

    fn line_no(&self, prefix: &str) -> u64 {
        let at = self
            .lines()
            .iter()
            .position(|line| line.starts_with(prefix))
            .unwrap();
        at as u64 + 1
    }

    fn verify(&self, file: &str, previous: &[&str]) -> Result<ExportSummary, ExportFault> {
        let previous: Vec<&[u8]> = previous.iter().map(|note| note.as_bytes()).collect();
        verify_export(file.as_bytes(), self.verifier(), &previous)
    }
}

fn sign(signer: &NoteSigner, origin: &str, size: u64, root: Hash) -> String {
    String::from_utf8(Checkpoint::new(origin, size, root).sign(signer).unwrap()).unwrap()
}

/// Builds a log of `batches`, with entry data from `data`, and writes its export.
fn log_with(signer: NoteSigner, batches: &[u64], data: impl Fn(u64) -> String) -> Log {
    let mut tree = MemoryTree::new();
    let mut writer = ExportWriter::new(Vec::new(), ORIGIN).unwrap();
    let (mut entries, mut notes) = (Vec::new(), Vec::new());
    for &batch in batches {
        for _ in 0..batch {
            let index = tree.size();
            let text = data(index);
            tree.append(text.as_bytes()).unwrap();
            writer
                .entry(index, &tree.leaf_hash(index).unwrap(), text.as_bytes())
                .unwrap();
            entries.push(text);
        }
        let note = sign(&signer, ORIGIN, tree.size(), tree.root().unwrap());
        writer.checkpoint(note.as_bytes()).unwrap();
        notes.push((tree.size(), note));
    }
    let file = String::from_utf8(writer.finish().unwrap()).unwrap();
    Log {
        signer,
        entries,
        tree,
        notes,
        file,
    }
}

fn log() -> Log {
    log_with(signer(ORIGIN), &BATCHES, |i| entry(i, ""))
}

/// The file with line `number` (1-based) replaced by `with` (each a whole line with newline).
fn replace_line(log: &Log, number: u64, with: &[String]) -> String {
    let mut lines = log.lines();
    lines.splice(number as usize - 1..number as usize, with.iter().cloned());
    lines.concat()
}

#[test]
fn a_genuine_export_verifies_and_its_lines_are_exact() {
    let log = log();
    let lines = log.lines();
    assert_eq!(
        lines[0],
        "{\"format\":\"warden-log-export/v1\",\"origin\":\"log.warden.test/audit\"}\n"
    );
    // The entry data is held exactly, as a JSON string.
    let line = &lines[1];
    let parsed: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(parsed["entry"].as_str().unwrap(), log.entries[0]);
    assert_eq!(
        parsed["leaf"].as_str().unwrap(),
        hex::encode(leaf_hash(log.entries[0].as_bytes()))
    );
    assert_eq!(
        *line,
        entry_line(0, &log.tree.leaf_hash(0).unwrap(), &log.entries[0])
    );
    // One line per entry and per checkpoint; a checkpoint right after the entry completing it.
    assert_eq!(lines.len(), 1 + 15 + BATCHES.len());
    assert_eq!(log.checkpoint_line_no(3), log.entry_line_no(2) + 1);
    assert_eq!(log.checkpoint_line_no(15) as usize, lines.len());

    let summary = log
        .verify(
            &log.file,
            &[log.note_at(4), log.note_at(11), log.note_at(15)],
        )
        .unwrap();
    assert_eq!(
        summary,
        ExportSummary {
            origin: ORIGIN.to_owned(),
            entries: 15,
            checkpoint: Checkpoint::new(ORIGIN, 15, log.tree.root().unwrap()),
            note: log.note_at(15).as_bytes().to_vec(),
            checkpoints: 5,
            kept_matched: 3,
        }
    );
    // A kept checkpoint of a size the export signed none for (the log signed more often than
    // it kept), and one of size 0.
    let mid = sign(&log.signer, ORIGIN, 7, log.tree.root_at(7).unwrap());
    let empty = sign(&log.signer, ORIGIN, 0, empty_root());
    assert_eq!(
        log.verify(&log.file, &[&mid, &empty]).unwrap().kept_matched,
        2
    );
}

#[test]
fn the_streaming_roots_equal_the_memory_tree_at_every_size() {
    // A checkpoint after every entry: each is compared with the frontier's root.
    let log = log_with(signer(ORIGIN), &[1; 70], |i| format!("plain text leaf {i}"));
    let summary = log.verify(&log.file, &[]).unwrap();
    assert_eq!((summary.entries, summary.checkpoints), (70, 70));
    // An empty log: the header and a checkpoint of size 0.
    let empty = log_with(signer(ORIGIN), &[0], |_| unreachable!());
    assert_eq!(empty.lines().len(), 2);
    let summary = empty.verify(&empty.file, &[]).unwrap();
    assert_eq!(summary.checkpoint.root, empty_root());
    // Entries that are not JSON objects with an index are not checked for one.
    let log = log_with(signer(ORIGIN), &[2, 3], |i| match i {
        0 => "[1, 2]".to_owned(),
        1 => "{\"index\": \"1\"}".to_owned(),
        2 => "{\"index\": 2.0}".to_owned(),
        3 => "{\"index\": 3, \"index\": 4}".to_owned(),
        _ => String::new(),
    });
    log.verify(&log.file, &[]).unwrap();
}

#[test]
fn a_changed_entry_is_named_by_its_leaf() {
    let log = log();
    let line = log.entry_line_no(6);
    let leaf = log.tree.leaf_hash(6).unwrap();
    let changed = entry(6, " (edited)");
    let file = replace_line(&log, line, &[entry_line(6, &leaf, &changed)]);
    let fault = log.verify(&file, &[]).unwrap_err();
    assert_eq!(
        fault,
        ExportFault::LeafMismatch {
            line,
            index: 6,
            recorded: leaf,
            computed: leaf_hash(changed.as_bytes()),
        }
    );
    assert_eq!(fault.first_bad_index(), Some(6));
}

#[test]
fn a_changed_entry_with_its_leaf_recomputed_fails_the_next_checkpoint() {
    let log = log();
    let changed = entry(6, " (edited)");
    let file = replace_line(
        &log,
        log.entry_line_no(6),
        &[entry_line(6, &leaf_hash(changed.as_bytes()), &changed)],
    );
    let fault = log.verify(&file, &[]).unwrap_err();
    let ExportFault::RootMismatch {
        line,
        size,
        checkpoint_root,
        since,
        ..
    } = fault
    else {
        panic!("{fault}");
    };
    // The checkpoints of sizes 3 and 4 hold; that of 9 does not: the bad entry is in [4, 9).
    assert_eq!((line, size, since), (log.checkpoint_line_no(9), 9, 4));
    assert_eq!(checkpoint_root, log.tree.root_at(9).unwrap());
    assert_eq!(fault.first_bad_index(), None);
    assert_eq!(fault.bad_range(), Some(4..9));

    // A kept checkpoint between narrows the range: the kept size 7 matches.
    let kept = sign(&log.signer, ORIGIN, 7, log.tree.root_at(7).unwrap());
    let fault = log.verify(&file, &[&kept]).unwrap_err();
    assert_eq!(fault.bad_range(), Some(4..9), "{fault}");
    let changed = entry(8, " (edited)");
    let file = replace_line(
        &log,
        log.entry_line_no(8),
        &[entry_line(8, &leaf_hash(changed.as_bytes()), &changed)],
    );
    let fault = log.verify(&file, &[&kept]).unwrap_err();
    assert_eq!(fault.bad_range(), Some(7..9), "{fault}");
}

#[test]
fn a_removed_entry_is_named() {
    let log = log();
    let line = log.entry_line_no(6);
    let file = replace_line(&log, line, &[]);
    let fault = log.verify(&file, &[]).unwrap_err();
    assert_eq!(
        fault,
        ExportFault::UnexpectedIndex {
            line,
            expected: 6,
            found: 7,
        }
    );
    assert_eq!(fault.first_bad_index(), Some(6));

    // Removed with the later lines renumbered: the entries' own index members tell.
    let mut lines = log.lines();
    lines.remove(line as usize - 1);
    for i in 7..9u64 {
        let at = lines
            .iter()
            .position(|l| l.starts_with(&format!("{{\"index\":{i},")))
            .unwrap();
        lines[at] = entry_line(
            i - 1,
            &log.tree.leaf_hash(i).unwrap(),
            &log.entries[i as usize],
        );
    }
    let fault = log.verify(&lines.concat(), &[]).unwrap_err();
    assert_eq!(
        fault,
        ExportFault::EntryIndexMismatch {
            line,
            index: 6,
            member: 7.into(),
        }
    );

    // Removed, renumbered inside the entries too (so leaves recomputed): the checkpoint of
    // size 9 now follows 8 entries.
    let mut lines = log.lines();
    lines.remove(line as usize - 1);
    for i in 7..9u64 {
        let at = lines
            .iter()
            .position(|l| l.starts_with(&format!("{{\"index\":{i},")))
            .unwrap();
        let data = entry(i - 1, " (renumbered)");
        lines[at] = entry_line(i - 1, &leaf_hash(data.as_bytes()), &data);
    }
    let fault = log.verify(&lines.concat(), &[]).unwrap_err();
    assert_eq!(
        fault,
        ExportFault::CheckpointSize {
            line: log.checkpoint_line_no(9) - 1,
            size: 9,
            entries: 8,
            since: 4,
        }
    );
    assert_eq!(fault.bad_range(), Some(4..9));
}

#[test]
fn a_reordered_pair_is_named_with_or_without_renumbering() {
    let log = log();
    let (six, seven) = (log.entry_line_no(6), log.entry_line_no(7));
    let lines = log.lines();
    let swapped = |six_line: String, seven_line: String| {
        let mut lines = lines.clone();
        lines[six as usize - 1] = seven_line;
        lines[seven as usize - 1] = six_line;
        lines.concat()
    };
    let leaf = |i: u64| log.tree.leaf_hash(i).unwrap();

    // Lines swapped as they are.
    let file = swapped(
        lines[six as usize - 1].clone(),
        lines[seven as usize - 1].clone(),
    );
    let fault = log.verify(&file, &[]).unwrap_err();
    assert_eq!(
        fault,
        ExportFault::UnexpectedIndex {
            line: six,
            expected: 6,
            found: 7,
        }
    );
    assert_eq!(fault.first_bad_index(), Some(6));

    // The line indexes renumbered: entry 7's data now sits at index 6 and says so.
    let file = swapped(
        entry_line(7, &leaf(6), &log.entries[6]),
        entry_line(6, &leaf(7), &log.entries[7]),
    );
    let fault = log.verify(&file, &[]).unwrap_err();
    assert_eq!(
        fault,
        ExportFault::EntryIndexMismatch {
            line: six,
            index: 6,
            member: 7.into(),
        }
    );
    assert_eq!(fault.first_bad_index(), Some(6));

    // Entries that carry no index member of their own: the signed roots catch the swap.
    let plain = log_with(signer(ORIGIN), &BATCHES, |i| format!("plain {i}"));
    let mut lines = plain.lines();
    let (six, seven) = (plain.entry_line_no(6), plain.entry_line_no(7));
    let pleaf = |i: u64| plain.tree.leaf_hash(i).unwrap();
    lines[six as usize - 1] = entry_line(6, &pleaf(7), &plain.entries[7]);
    lines[seven as usize - 1] = entry_line(7, &pleaf(6), &plain.entries[6]);
    let fault = plain.verify(&lines.concat(), &[]).unwrap_err();
    assert!(
        matches!(
            fault,
            ExportFault::RootMismatch {
                size: 9,
                since: 4,
                ..
            }
        ),
        "{fault}"
    );
    assert_eq!(fault.bad_range(), Some(4..9));
}

#[test]
fn a_forked_checkpoint_names_both_lines() {
    let log = log();
    let line = log.checkpoint_line_no(9);
    let good = log.note_at(9).to_owned();
    let forked_root = leaf_hash(b"another history");
    let forked = sign(&log.signer, ORIGIN, 9, forked_root);
    let genuine_root = log.tree.root_at(9).unwrap();

    // After the genuine checkpoint.
    let file = replace_line(
        &log,
        line,
        &[checkpoint_line(&good), checkpoint_line(&forked)],
    );
    let fault = log.verify(&file, &[]).unwrap_err();
    assert_eq!(
        fault,
        ExportFault::Fork {
            size: 9,
            first_line: line,
            first_root: genuine_root,
            second_line: line + 1,
            second_root: forked_root,
            computed_root: genuine_root,
        }
    );
    // Before it.
    let file = replace_line(
        &log,
        line,
        &[checkpoint_line(&forked), checkpoint_line(&good)],
    );
    assert_eq!(
        log.verify(&file, &[]).unwrap_err(),
        ExportFault::Fork {
            size: 9,
            first_line: line,
            first_root: forked_root,
            second_line: line + 1,
            second_root: genuine_root,
            computed_root: genuine_root,
        }
    );
    // Instead of it: a root the entries do not give.
    let file = replace_line(&log, line, &[checkpoint_line(&forked)]);
    let fault = log.verify(&file, &[]).unwrap_err();
    assert!(
        matches!(
            fault,
            ExportFault::RootMismatch {
                size: 9,
                since: 4,
                ..
            }
        ),
        "{fault}"
    );
    // A second copy of the same checkpoint is no fork.
    let file = replace_line(
        &log,
        line,
        &[checkpoint_line(&good), checkpoint_line(&good)],
    );
    assert_eq!(log.verify(&file, &[]).unwrap().checkpoints, 6);
    // Elsewhere: out of place.
    let file = replace_line(
        &log,
        log.checkpoint_line_no(11),
        &[checkpoint_line(&forked), checkpoint_line(log.note_at(11))],
    );
    assert_eq!(
        log.verify(&file, &[]).unwrap_err(),
        ExportFault::CheckpointSize {
            line: log.checkpoint_line_no(11),
            size: 9,
            entries: 11,
            since: 9,
        }
    );
}

#[test]
fn kept_checkpoints_from_another_history_or_beyond_the_export_are_refused() {
    let log = log();
    // The same key signed another history: entry 2 differs.
    let other_tree = {
        let mut tree = MemoryTree::new();
        for i in 0..20 {
            let variant = if i == 2 { " (other)" } else { "" };
            tree.append(entry(i, variant).as_bytes()).unwrap();
        }
        tree
    };
    let other_at = |size| sign(&log.signer, ORIGIN, size, other_tree.root_at(size).unwrap());
    let fault = log.verify(&log.file, &[&other_at(4)]).unwrap_err();
    assert_eq!(
        fault,
        ExportFault::InconsistentCheckpoints {
            kept: 0,
            size: 4,
            kept_root: other_tree.root_at(4).unwrap(),
            log_root: log.tree.root_at(4).unwrap(),
            since: 0,
        }
    );
    assert_eq!(fault.bad_range(), Some(0..4));
    // Entries up to 2 agree: a kept checkpoint of size 2 matches and narrows the range.
    let fault = log
        .verify(&log.file, &[log.note_at(11), &other_at(11), &other_at(2)])
        .unwrap_err();
    assert_eq!(
        fault,
        ExportFault::InconsistentCheckpoints {
            kept: 1,
            size: 11,
            kept_root: other_tree.root_at(11).unwrap(),
            log_root: log.tree.root_at(11).unwrap(),
            since: 2,
        }
    );
    assert_eq!(fault.bad_range(), Some(2..11));

    // The export's own fault comes first: here a changed entry after the kept size.
    let changed = entry(12, " (edited)");
    let file = replace_line(
        &log,
        log.entry_line_no(12),
        &[entry_line(12, &log.tree.leaf_hash(12).unwrap(), &changed)],
    );
    assert!(matches!(
        log.verify(&file, &[&other_at(4)]).unwrap_err(),
        ExportFault::LeafMismatch { index: 12, .. }
    ));

    // Beyond the export: the log had 20 entries when the operator kept its checkpoint.
    let kept = other_at(20);
    assert_eq!(
        log.verify(&log.file, &[log.note_at(4), &kept]).unwrap_err(),
        ExportFault::KeptCheckpointBeyondExport {
            kept: 1,
            size: 20,
            entries: 15,
        }
    );
    // So is an export cut at a checkpoint boundary (its last batch dropped).
    let lines = log.lines();
    let cut = lines[..log.checkpoint_line_no(11) as usize].concat();
    log.verify(&cut, &[]).unwrap();
    assert_eq!(
        log.verify(&cut, &[log.note_at(15)]).unwrap_err(),
        ExportFault::KeptCheckpointBeyondExport {
            kept: 0,
            size: 15,
            entries: 11,
        }
    );

    // Kept checkpoints that are not the log's.
    let stranger = signer(ORIGIN);
    let by_stranger = sign(&stranger, ORIGIN, 4, log.tree.root_at(4).unwrap());
    assert!(matches!(
        log.verify(&log.file, &[log.note_at(4), &by_stranger])
            .unwrap_err(),
        ExportFault::BadKeptCheckpoint {
            kept: 1,
            error: TlogError::NotSigned { .. }
        }
    ));
    let other_log = sign(&log.signer, "log.warden.test/other", 4, [0; 32]);
    assert!(matches!(
        log.verify(&log.file, &[&other_log]).unwrap_err(),
        ExportFault::BadKeptCheckpoint {
            kept: 0,
            error: TlogError::WrongOrigin { .. }
        }
    ));
}

#[test]
fn a_truncated_export_is_refused() {
    let log = log();
    let lines = log.lines();
    // Inside the last line.
    let cut = &log.file[..log.file.len() - 10];
    assert_eq!(
        log.verify(cut, &[]).unwrap_err(),
        ExportFault::Truncated {
            line: lines.len() as u64
        }
    );
    // At a line boundary after an entry.
    let cut = lines[..log.entry_line_no(13) as usize].concat();
    assert_eq!(
        log.verify(&cut, &[]).unwrap_err(),
        ExportFault::MissingFinalCheckpoint {
            entries: 14,
            last_checkpoint: 11,
        }
    );
    // Without any checkpoint.
    let cut = lines[..3].concat();
    assert_eq!(
        log.verify(&cut, &[]).unwrap_err(),
        ExportFault::MissingFinalCheckpoint {
            entries: 2,
            last_checkpoint: 0,
        }
    );
    assert_eq!(
        log.verify(&lines[0], &[]).unwrap_err(),
        ExportFault::MissingFinalCheckpoint {
            entries: 0,
            last_checkpoint: 0,
        }
    );
    assert_eq!(log.verify("", &[]).unwrap_err(), ExportFault::MissingHeader);
}

#[test]
fn a_wrong_key_is_refused() {
    let log = log();
    // Same name, another key: the first checkpoint is not signed by it.
    let impostor = signer(ORIGIN);
    let fault = verify_export(log.file.as_bytes(), impostor.verifier(), &[]).unwrap_err();
    assert!(
        matches!(
            fault,
            ExportFault::BadCheckpoint {
                line,
                error: TlogError::NotSigned { .. }
            } if line == log.checkpoint_line_no(3)
        ),
        "{fault}"
    );
    // Another log's key.
    let other = signer("log.warden.test/signing");
    assert_eq!(
        verify_export(log.file.as_bytes(), other.verifier(), &[]).unwrap_err(),
        ExportFault::KeyNameMismatch {
            origin: ORIGIN.to_owned(),
            key_name: "log.warden.test/signing".to_owned(),
        }
    );
    // A checkpoint the log key signed for another origin.
    let line = log.checkpoint_line_no(4);
    let elsewhere = sign(&log.signer, "elsewhere", 4, log.tree.root_at(4).unwrap());
    let file = replace_line(&log, line, &[checkpoint_line(&elsewhere)]);
    assert_eq!(
        log.verify(&file, &[]).unwrap_err(),
        ExportFault::CheckpointOrigin {
            line,
            expected: ORIGIN.to_owned(),
            found: "elsewhere".to_owned(),
        }
    );
    // A checkpoint whose signed text was altered.
    let altered = log.note_at(4).replacen("\n4\n", "\n5\n", 1);
    let file = replace_line(&log, line, &[checkpoint_line(&altered)]);
    assert!(matches!(
        log.verify(&file, &[]).unwrap_err(),
        ExportFault::BadCheckpoint {
            error: TlogError::InvalidSignature { .. },
            ..
        }
    ));
}

#[test]
fn malformed_lines_are_refused_without_panicking() {
    let log = log();
    let header = log.lines()[0].clone();
    let verify = |file: &str| log.verify(file, &[]).unwrap_err();

    assert_eq!(
        verify(&log.file.replacen("export/v1", "export/v2", 1)),
        ExportFault::UnsupportedFormat {
            format: "warden-log-export/v2".to_owned()
        }
    );
    for (file, line) in [
        ("not json\n".to_owned(), 1),
        ("{\"format\":\"warden-log-export/v1\"}\n".to_owned(), 1),
        (log.file.replacen("\"}\n", "\",\"x\":1}\n", 1), 1),
        (format!("{header}\n"), 2),
        (format!("{header}{header}"), 2),
        (format!("{header}{{\"index\":0,\"leaf\":\"00\"}}\n"), 2),
        (
            format!("{header}{{\"index\":-1,\"leaf\":\"\",\"entry\":\"\"}}\n"),
            2,
        ),
        (format!("{header}{{\"checkpoint\":\"x\",\"index\":0}}\n"), 2),
        (
            format!("{header}{{\"index\":0,\"leaf\":\"00\",\"entry\":\"\",\"index\":0}}\n"),
            2,
        ),
        (
            format!("{header}{}", entry_line(0, &[0; 32], "").to_uppercase()),
            2,
        ),
        (format!("{header}\u{0}\n"), 2),
    ] {
        match verify(&file) {
            ExportFault::Malformed { line: got, .. } => assert_eq!(got, line, "{file:?}"),
            other => panic!("{file:?}: {other}"),
        }
    }
    let mut bytes = header.clone().into_bytes();
    bytes.extend_from_slice(b"{\"checkpoint\":\"\xff\"}\n");
    assert!(matches!(
        verify_export(&bytes[..], log.verifier(), &[]).unwrap_err(),
        ExportFault::Malformed { line: 2, .. }
    ));
    // Leaf hashes in upper case are not the writer's.
    let upper = entry_line(0, &log.tree.leaf_hash(0).unwrap(), &log.entries[0]);
    let hex_leaf = hex::encode(log.tree.leaf_hash(0).unwrap());
    let upper = upper.replace(&hex_leaf, &hex_leaf.to_uppercase());
    assert!(matches!(
        verify(&replace_line(&log, 2, &[upper])),
        ExportFault::Malformed { line: 2, .. }
    ));
    // A checkpoint that is not a note.
    assert!(matches!(
        verify(&format!("{header}{}", checkpoint_line("x\n"))),
        ExportFault::BadCheckpoint { line: 2, .. }
    ));

    // Line length: the limit is the limit, whatever the reader's buffer size.
    let long = format!("{header}{}\n", "x".repeat(MAX_LINE_BYTES + 1));
    assert_eq!(verify(&long), ExportFault::LineTooLong { line: 2 });
    let reader = std::io::BufReader::with_capacity(7, long.as_bytes());
    assert_eq!(
        verify_export(reader, log.verifier(), &[]).unwrap_err(),
        ExportFault::LineTooLong { line: 2 }
    );
    let at_limit = format!("{header}{}\n", "x".repeat(MAX_LINE_BYTES));
    assert!(matches!(
        verify(&at_limit),
        ExportFault::Malformed { line: 2, .. }
    ));
    // Small reader buffers change nothing.
    let reader = std::io::BufReader::with_capacity(3, log.file.as_bytes());
    verify_export(reader, log.verifier(), &[]).unwrap();

    // Read errors are reported with their line.
    struct Failing;
    impl std::io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    assert_eq!(
        verify_export(std::io::BufReader::new(Failing), log.verifier(), &[]).unwrap_err(),
        ExportFault::Read {
            line: 1,
            message: "disk on fire".to_owned()
        }
    );
}

#[test]
fn the_writer_refuses_what_the_verifier_would() {
    let signer = signer(ORIGIN);
    let note = |size, origin| sign(&signer, origin, size, [7; 32]);
    let mut writer = ExportWriter::new(Vec::new(), ORIGIN).unwrap();
    assert!(writer.entry(1, &[0; 32], b"x").is_err());
    assert!(writer.entry(0, &[0; 32], b"\xff").is_err());
    let huge = vec![b'\x01'; MAX_LINE_BYTES / 6 + 1];
    assert!(writer.entry(0, &[0; 32], &huge).is_err());
    writer.entry(0, &[0; 32], b"x").unwrap();
    assert!(writer.checkpoint(note(2, ORIGIN).as_bytes()).is_err());
    assert!(writer.checkpoint(note(1, "other").as_bytes()).is_err());
    assert!(writer.checkpoint(b"not a note").is_err());
    writer.checkpoint(note(1, ORIGIN).as_bytes()).unwrap();
    writer.entry(1, &[0; 32], b"y").unwrap();
    assert_eq!(writer.entries(), 2);
    assert!(writer.finish().is_err());
}

#[test]
fn fault_messages_read_as_sentences() {
    let root = [0xab; 32];
    let cases = [
        (
            ExportFault::LineTooLong { line: 3 },
            "line 3 is longer than the 1048576-byte limit of a log export line",
        ),
        (
            ExportFault::UnexpectedIndex {
                line: 8,
                expected: 6,
                found: 7,
            },
            "line 8: entry 7 where entry 6 is due: entries are missing, duplicated or out of \
             order from index 6",
        ),
        (
            ExportFault::RootMismatch {
                line: 12,
                size: 9,
                checkpoint_root: root,
                computed_root: [0; 32],
                since: 4,
            },
            "line 12: the signed checkpoint of size 9 has root \
             q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s= but the entries give root \
             AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=: an entry in [4, 9) was changed, \
             inserted or removed",
        ),
    ];
    for (fault, text) in cases {
        assert_eq!(fault.to_string(), text);
    }
}
