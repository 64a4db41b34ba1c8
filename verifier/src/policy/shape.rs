//! The shape of a policy's source, measured by one linear lexical scan before regorus sees it.
//!
//! regorus 0.14's parser is fast on most text but not on all of it, and none of its costs can be
//! interrupted once it runs:
//! - it parses `[` and `{` by trying a comprehension first and re-parsing as an array, set or
//!   object when that fails (and a body's `(` likewise), so each enclosing bracket can double the
//!   work on what it holds: 14 nested `[` took 0.85 s, 16 nested `{` 2.3 s, depth 100 runs for
//!   hours, and 1,000 rules each 8 brackets deep took 6.6 s;
//! - operators chained in one expression build a tree as deep as the chain, which its analysis
//!   walks recursively: 4,000 chained `+` (16 KB) overflow a 2 MiB thread stack and abort the
//!   process;
//! - a body's statements are ordered in super-linear time: 4,000 statements in one body took 3 s.
//!
//! [`check`] bounds each of these from the text alone (strings, raw strings and comments
//! skipped), in one pass with constant memory and no recursion, so no input can overflow or stall
//! it. The limits are set so that the worst source at every limit compiles in well under a
//! second; the figures are in the tests' comments.

/// Largest policy source accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 64 * 1024;
/// Deepest bracket nesting (`(`, `[`, `{` together) accepted: the worst 10-deep nesting
/// measured compiled in 75 ms. The shipped appraisal policy nests 4 deep.
pub const MAX_NESTING: usize = 10;
/// Largest parse cost accepted, in the units of [`Shape::parse_cost`]: the costliest shapes
/// measured took at most 0.4 ms per 1,000 units (0.25 to 0.3 s at the limit); the shipped
/// appraisal policy costs 35,235.
pub const MAX_PARSE_COST: u64 = 1 << 20;
/// Most operators (and `.`/index/call links) accepted in one expression, summed over the
/// expressions enclosing it: a bound on the depth of the expression tree (analysis needs about
/// 600 bytes of stack per level; 4,000 levels overflowed 2 MiB).
pub const MAX_CHAIN: u32 = 256;
/// Most statements accepted in one body (or other bracketed group): 500 compiled in 40 to 60 ms,
/// 4,000 took 3.2 s.
pub const MAX_STATEMENTS: u32 = 500;

/// What a parse attempt of an opening bracket costs, relative to a token: measured, one failed
/// comprehension attempt costs about as much as 250 re-parsed tokens.
const OPEN_COST: u64 = 256;

/// A limit the source breaks; the message names the measure and the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceLimit {
    /// The source is larger than [`MAX_SOURCE_BYTES`].
    #[error("policy is {bytes} bytes; at most {max} allowed")]
    TooLarge {
        /// The source's size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// Brackets nest deeper than [`MAX_NESTING`].
    #[error("policy nests brackets {depth} deep (line {line}); at most {max} allowed")]
    TooDeep {
        /// The deepest nesting in the source.
        depth: usize,
        /// The line where the nesting first went past the limit.
        line: usize,
        /// The limit.
        max: usize,
    },
    /// Nested brackets make parsing cost more than [`MAX_PARSE_COST`].
    #[error(
        "policy would cost the Rego parser {cost} steps; at most {max} allowed (each enclosing bracket doubles the work on what it holds: nest less, or move nested parts into rules of their own)"
    )]
    TooCostly {
        /// The source's parse cost.
        cost: u64,
        /// The limit.
        max: u64,
    },
    /// An expression chains more than [`MAX_CHAIN`] operators.
    #[error(
        "policy chains {length} operators in one expression (line {line}); at most {max} allowed"
    )]
    ChainTooLong {
        /// The longest chain.
        length: u32,
        /// The line where the chain first went past the limit.
        line: usize,
        /// The limit.
        max: u32,
    },
    /// A body holds more than [`MAX_STATEMENTS`] statements.
    #[error(
        "policy has {count} statements in one body (line {line}); at most {max} allowed: split it into rules"
    )]
    TooManyStatements {
        /// The most statements in one body.
        count: u32,
        /// The line where the body first went past the limit.
        line: usize,
        /// The limit.
        max: u32,
    },
}

/// The measures of a source, each the maximum over the text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// Size in bytes.
    pub bytes: usize,
    /// Deepest bracket nesting.
    pub depth: usize,
    /// The parser's work: every token counts 2^k and every opening bracket 256 × 2^k, where k
    /// is the number of brackets around it (what regorus's backtracking may re-parse).
    pub parse_cost: u64,
    /// Longest operator chain, summed over enclosing expressions.
    pub chain: u32,
    /// Most statements in one bracketed group (top-level rules excluded).
    pub statements: u32,
}

/// Measures `source` and refuses it when it breaks a limit; see the module docs.
pub fn check(source: &str) -> Result<Shape, SourceLimit> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(SourceLimit::TooLarge {
            bytes: source.len(),
            max: MAX_SOURCE_BYTES,
        });
    }
    let scan = scan(source);
    let shape = scan.shape;
    if let Some(line) = scan.too_deep_at {
        return Err(SourceLimit::TooDeep {
            depth: shape.depth,
            line,
            max: MAX_NESTING,
        });
    }
    if shape.parse_cost > MAX_PARSE_COST {
        return Err(SourceLimit::TooCostly {
            cost: shape.parse_cost,
            max: MAX_PARSE_COST,
        });
    }
    if let Some(line) = scan.chain_at {
        return Err(SourceLimit::ChainTooLong {
            length: shape.chain,
            line,
            max: MAX_CHAIN,
        });
    }
    if let Some(line) = scan.statements_at {
        return Err(SourceLimit::TooManyStatements {
            count: shape.statements,
            line,
            max: MAX_STATEMENTS,
        });
    }
    Ok(shape)
}

/// One bracketed group being scanned (index 0 is the top level).
#[derive(Debug, Clone, Copy, Default)]
struct Group {
    /// Operators chained in the current expression of this group.
    ops: u32,
    /// Statements seen in this group.
    statements: u32,
    /// The last token ended an operand, so an operand now starts a new expression.
    after_operand: bool,
}

/// What a scan found: the shape, and the lines where limits were first broken.
#[derive(Debug, Default)]
struct Scan {
    shape: Shape,
    too_deep_at: Option<usize>,
    chain_at: Option<usize>,
    statements_at: Option<usize>,
}

/// The scanner's state: groups deeper than [`MAX_NESTING`] are counted but not tracked (the
/// source is refused anyway), so memory is constant.
struct Scanner {
    scan: Scan,
    groups: [Group; MAX_NESTING + 1],
    /// Open brackets; may exceed the tracked groups.
    depth: usize,
    /// Sum of `ops` over the tracked groups.
    chain: u32,
    line: usize,
    /// Whitespace or a comment came since the last token (`f (x)` is not a call).
    spaced: bool,
}

/// Keywords that start a statement (so they end the previous expression).
const STARTERS: &[&[u8]] = &[b"not", b"some", b"every", b"default", b"import", b"package"];
/// Keywords between parts of a rule or statement: they end the expression before them.
const SEPARATORS: &[&[u8]] = &[b"if", b"else", b"with", b"as", b"contains"];

impl Scanner {
    fn tracked(&mut self) -> Option<&mut Group> {
        self.groups.get_mut(self.depth)
    }

    /// Counts one token of the parse cost at the current nesting.
    fn token(&mut self, weight: u64) {
        let cost = weight.saturating_mul(1u64 << self.depth.min(63));
        self.scan.shape.parse_cost = self.scan.shape.parse_cost.saturating_add(cost);
        self.spaced = false;
    }

    /// Ends the current expression of the current group; `statement` counts a new statement.
    fn end_expression(&mut self, statement: bool) {
        let (depth, line) = (self.depth, self.line);
        let Some(group) = self.groups.get_mut(depth) else {
            return;
        };
        self.chain = self.chain.saturating_sub(group.ops);
        group.ops = 0;
        group.after_operand = false;
        // Top-level "statements" are rules, which cost linear time.
        if statement && depth > 0 {
            // The first separator found in a group means its second statement.
            group.statements = group.statements.max(1).saturating_add(1);
            if group.statements > self.scan.shape.statements {
                self.scan.shape.statements = group.statements;
            }
            if group.statements > MAX_STATEMENTS && self.scan.statements_at.is_none() {
                self.scan.statements_at = Some(line);
            }
        }
    }

    /// An operand starts: right after another operand it starts a new statement.
    fn operand(&mut self) {
        if self.tracked().is_some_and(|g| g.after_operand) {
            self.end_expression(true);
        }
        if let Some(group) = self.tracked() {
            group.after_operand = true;
        }
        self.token(1);
    }

    /// An operator (or a `.`, index or call link) joins the current expression.
    fn operator(&mut self) {
        if let Some(group) = self.groups.get_mut(self.depth) {
            group.ops = group.ops.saturating_add(1);
            group.after_operand = false;
            self.chain = self.chain.saturating_add(1);
            if self.chain > self.scan.shape.chain {
                self.scan.shape.chain = self.chain;
            }
            if self.chain > MAX_CHAIN && self.scan.chain_at.is_none() {
                self.scan.chain_at = Some(self.line);
            }
        }
        self.token(1);
    }

    fn open(&mut self) {
        let (after_operand, spaced) =
            (self.tracked().is_some_and(|g| g.after_operand), self.spaced);
        if after_operand {
            if spaced {
                self.end_expression(true);
            } else {
                // `f(`, `x[`: a call or an index deepens the expression like an operator.
                self.operator();
            }
        }
        if let Some(group) = self.tracked() {
            group.after_operand = false;
        }
        self.token(OPEN_COST);
        self.depth += 1;
        self.scan.shape.depth = self.scan.shape.depth.max(self.depth);
        if self.depth > MAX_NESTING && self.scan.too_deep_at.is_none() {
            self.scan.too_deep_at = Some(self.line);
        }
        if let Some(group) = self.groups.get_mut(self.depth) {
            *group = Group::default();
        }
    }

    fn close(&mut self) {
        self.token(1);
        if self.depth == 0 {
            return; // unbalanced: regorus refuses it
        }
        if let Some(group) = self.groups.get(self.depth).copied() {
            self.chain = self.chain.saturating_sub(group.ops);
        }
        self.depth -= 1;
        // The closed group is an operand of the enclosing expression.
        if let Some(group) = self.tracked() {
            group.after_operand = true;
        }
    }

    fn word(&mut self, word: &[u8]) {
        if word == b"in" {
            self.operator();
        } else if STARTERS.contains(&word) {
            let statement = self.tracked().is_some_and(|g| g.after_operand);
            self.end_expression(statement);
            self.token(1);
        } else if SEPARATORS.contains(&word) {
            self.end_expression(false);
            self.token(1);
        } else {
            self.operand();
        }
    }
}

/// The measures of `source`, limits aside.
pub fn measure(source: &str) -> Shape {
    scan(source).shape
}

/// Scans `source` once, left to right.
fn scan(source: &str) -> Scan {
    let bytes = source.as_bytes();
    let mut s = Scanner {
        scan: Scan::default(),
        groups: [Group::default(); MAX_NESTING + 1],
        depth: 0,
        chain: 0,
        line: 1,
        spaced: true,
    };
    s.scan.shape.bytes = bytes.len();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        match b {
            b'\n' => {
                s.line += 1;
                s.spaced = true;
            }
            b' ' | b'\t' | b'\r' => s.spaced = true,
            b'#' => {
                while bytes.get(i).is_some_and(|&c| c != b'\n') {
                    i += 1;
                }
                s.spaced = true;
            }
            b'"' => {
                // Ends at the closing quote, or at the line's end when unterminated (regorus
                // refuses that; the scan only has to stay linear).
                while let Some(&c) = bytes.get(i) {
                    i += 1;
                    match c {
                        b'\\' => i += 1,
                        b'"' => break,
                        b'\n' => {
                            s.line += 1;
                            break;
                        }
                        _ => {}
                    }
                }
                s.operand();
            }
            b'`' => {
                while let Some(&c) = bytes.get(i) {
                    i += 1;
                    match c {
                        b'`' => break,
                        b'\n' => s.line += 1,
                        _ => {}
                    }
                }
                s.operand();
            }
            // `(` inside a body costs like `[` and `{` (measured), so every bracket counts.
            b'(' | b'[' | b'{' => s.open(),
            b')' | b']' | b'}' => s.close(),
            b',' => {
                s.end_expression(false);
                s.token(1);
            }
            b';' => {
                s.end_expression(true);
                s.token(1);
            }
            b':' | b'=' if bytes.get(i) != Some(&b'=') || b == b':' => {
                // `:`, `:=` and `=` separate a key, a name or a target from what follows.
                if bytes.get(i) == Some(&b'=') {
                    i += 1;
                }
                s.end_expression(false);
                s.token(1);
            }
            b'=' | b'!' | b'<' | b'>' => {
                if bytes.get(i) == Some(&b'=') {
                    i += 1;
                }
                s.operator();
            }
            b'.' | b'+' | b'-' | b'*' | b'/' | b'%' | b'&' | b'|' => s.operator(),
            _ if b.is_ascii_alphanumeric() || b == b'_' || !b.is_ascii() => {
                let start = i - 1;
                while bytes
                    .get(i)
                    .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_' || !c.is_ascii())
                {
                    i += 1;
                }
                s.word(bytes.get(start..i).unwrap_or_default());
            }
            _ => s.token(1),
        }
    }
    s.scan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(open: &str, close: &str, depth: usize, inner: &str) -> String {
        format!(
            "package t\nallow := true\nx := {}{inner}{}\n",
            open.repeat(depth),
            close.repeat(depth)
        )
    }

    #[test]
    fn deep_nesting_is_refused_with_its_depth() {
        let source = nested("[", "]", 250, "1");
        assert_eq!(
            check(&source),
            Err(SourceLimit::TooDeep {
                depth: 250,
                line: 3,
                max: MAX_NESTING
            })
        );
        assert_eq!(
            check(&source).unwrap_err().to_string(),
            "policy nests brackets 250 deep (line 3); at most 10 allowed"
        );
        // Far past any tracked group, and unbalanced either way: still one linear pass.
        assert!(matches!(
            check(&"{".repeat(60_000)),
            Err(SourceLimit::TooDeep { depth: 60_000, .. })
        ));
        assert!(check(&"}".repeat(60_000)).is_ok());
    }

    #[test]
    fn nesting_at_the_limit_passes() {
        for (open, close) in [("[", "]"), ("{", "}"), ("(", ")")] {
            let shape = check(&nested(open, close, MAX_NESTING, "1")).unwrap();
            assert_eq!(shape.depth, MAX_NESTING);
            assert!(check(&nested(open, close, MAX_NESTING + 1, "1")).is_err());
        }
    }

    #[test]
    fn brackets_in_strings_raw_strings_and_comments_do_not_count() {
        let deep = "[".repeat(300);
        let source = format!(
            "package t\n# {deep}\nx := \"{deep}\\\" {deep}\"\ny := `{deep}\n{deep}`\nz := [1] # ]]]\n"
        );
        let shape = check(&source).unwrap();
        assert_eq!(shape.depth, 1);
        // The raw string's newline is counted, so lines reported later stay right.
        let after = format!("{source}w := {}\n", nested("[", "]", 11, "1"));
        assert!(matches!(
            check(&after),
            Err(SourceLimit::TooDeep { line: 9, .. })
        ));
    }

    #[test]
    fn size_is_refused_before_scanning() {
        let source = format!("package t\n#{}\n", "x".repeat(MAX_SOURCE_BYTES));
        assert_eq!(
            check(&source),
            Err(SourceLimit::TooLarge {
                bytes: source.len(),
                max: MAX_SOURCE_BYTES
            })
        );
        let exactly = format!("package t\n#{}", "x".repeat(MAX_SOURCE_BYTES - 11));
        assert_eq!(check(&exactly).unwrap().bytes, MAX_SOURCE_BYTES);
    }

    #[test]
    fn many_shallow_nests_add_up_to_the_parse_cost() {
        // Each rule alone is well within the nesting limit; 100 of them cost too much.
        let rules: String = (0..100)
            .map(|i| format!("r{i} := {}1{}\n", "[".repeat(8), "]".repeat(8)))
            .collect();
        assert!(matches!(
            check(&format!("package t\n{rules}")),
            Err(SourceLimit::TooCostly { .. })
        ));
    }

    #[test]
    fn long_operator_chains_are_refused() {
        let chain = |n: usize| format!("package t\nx := (1{})\n", "\n + 1".repeat(n));
        assert_eq!(check(&chain(MAX_CHAIN as usize)).unwrap().chain, MAX_CHAIN);
        assert!(matches!(
            check(&chain(MAX_CHAIN as usize + 1)),
            Err(SourceLimit::ChainTooLong { length, .. }) if length == MAX_CHAIN + 1
        ));
        // Statements on their own lines are separate expressions, not one chain.
        let statements: String = (0..400).map(|i| format!("  input.a == {i}\n")).collect();
        let shape = check(&format!("package t\nallow if {{\n{statements}}}\n")).unwrap();
        // `input.a == i`: a `.` and an `==`.
        assert_eq!((shape.chain, shape.statements), (2, 400));
    }

    #[test]
    fn bodies_with_too_many_statements_are_refused() {
        let body = |n: usize| {
            let statements: String = (0..n).map(|i| format!("  v{i} := {i}\n")).collect();
            format!("package t\nallow if {{\n{statements}}}\n")
        };
        assert_eq!(
            check(&body(MAX_STATEMENTS as usize)).unwrap().statements,
            MAX_STATEMENTS
        );
        assert!(matches!(
            check(&body(MAX_STATEMENTS as usize + 1)),
            Err(SourceLimit::TooManyStatements { count, .. }) if count == MAX_STATEMENTS + 1
        ));
        // Top-level rules are not statements of a body.
        let rules: String = (0..2000).map(|i| format!("r{i} := {i}\n")).collect();
        assert!(check(&format!("package t\n{rules}")).is_ok());
    }

    #[test]
    fn shipped_policies_are_well_within_the_limits() {
        for source in [
            include_str!("../../../policies/appraisal.rego"),
            include_str!("../../../policies/release.rego"),
            include_str!("../../../policies/allow-insecure-sample.rego"),
        ] {
            let shape = check(source).unwrap();
            assert!(shape.depth <= MAX_NESTING / 2, "{shape:?}");
            assert!(shape.parse_cost <= MAX_PARSE_COST / 16, "{shape:?}");
        }
    }
}
