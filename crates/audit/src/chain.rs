//! Hash chains of audit records: how a record is sealed into its chain,
//! and how a sequence of stored lines is verified.
//!
//! Each chained record carries `chain` (the chain's id), `seq` (1, 2, … in
//! its chain) and `prev`: the base64url SHA-256 of the previous record's
//! exact stored bytes (its JSON line without the newline), or, for seq 1,
//! [`genesis`] of the chain. A record's hash is SHA-256 of its bytes as
//! stored, so verification never re-serializes anything.
//!
//! What verification detects, naming the first bad `seq`
//! ([`BreakKind`]): an edited record (its successor's `prev` no longer
//! matches), a dropped one (a gap in `seq`), two swapped (a `seq` out of
//! order), a duplicated or inserted one (two records claiming one `seq`).
//! What it cannot detect from the records alone: records cut off the end
//! (the tail stays a valid chain) and an edit of the very last record —
//! unless the verifier knows the chain's head ([`Head`], which the server
//! keeps in a separate row written with every append, and a
//! [`JsonLinesSink`](crate::JsonLinesSink) in a head file next to its log,
//! see [`head_path`](crate::head_path)).
//!
//! ```
//! use passport_audit::{Action, AuditRecord, Outcome};
//! use passport_audit::chain::{ChainState, Verifier};
//!
//! let mut chain = ChainState::new("c1");
//! let mut lines = Vec::new();
//! for t in 0..3 {
//!     let sealed = chain.seal(&AuditRecord::new(t, Action::Issue, Outcome::Done))?;
//!     lines.push(sealed.line);
//! }
//! let mut verifier = Verifier::default();
//! for (n, line) in lines.iter().enumerate() {
//!     verifier.push(n + 1, line);
//! }
//! let report = verifier.finish(&Default::default());
//! assert!(report.chains[0].result.is_ok());
//! assert_eq!(report.chains[0].records, 3);
//! # Ok::<(), passport_audit::AuditError>(())
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::{AuditError, AuditRecord};

/// The `prev` of a chain's first record: names the chain, so a first
/// record cannot be moved to another chain.
pub fn genesis(chain: &str) -> String {
    passport_jose::sha256_b64url(format!("passport-audit genesis {chain}").as_bytes())
}

/// A random chain id (16 bytes, base64url).
pub fn random_id() -> Result<String, std::io::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
    Ok(passport_jose::b64::encode(bytes))
}

/// The hash of a stored record: base64url SHA-256 of its exact bytes.
pub fn hash_line(line: &[u8]) -> String {
    passport_jose::sha256_b64url(line)
}

/// The last record of a chain: its `seq` and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Its `seq` (0 for a chain with no record yet).
    pub seq: u64,
    /// Its hash ([`hash_line`]), or [`genesis`] for an empty chain.
    pub hash: String,
}

/// A record sealed into its chain, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Its `seq`.
    pub seq: u64,
    /// The exact bytes to store (JSON, no newline).
    pub line: Vec<u8>,
    /// Their hash, the chain's new head.
    pub hash: String,
}

/// Where a chain stands: the next record's `seq` and `prev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainState {
    chain: String,
    head: Head,
}

impl ChainState {
    /// A new, empty chain named `chain`.
    pub fn new(chain: impl Into<String>) -> ChainState {
        let chain = chain.into();
        let head = Head {
            seq: 0,
            hash: genesis(&chain),
        };
        ChainState { chain, head }
    }

    /// A chain continuing after `head`.
    pub fn resume(chain: impl Into<String>, head: Head) -> ChainState {
        ChainState {
            chain: chain.into(),
            head,
        }
    }

    /// The chain's id.
    pub fn chain(&self) -> &str {
        &self.chain
    }

    /// Its last record (`seq` 0 when empty).
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// Seals `record` as the chain's next one (its chain members are
    /// replaced) and advances the chain. The line is compact JSON with no
    /// character a terminal acts on ([`crate::text::is_terminal_control`]):
    /// those in strings are `\uXXXX` escapes.
    ///
    /// # Errors
    /// [`AuditError::Corrupt`] if the record cannot be serialized (it
    /// always can) or the chain is full.
    pub fn seal(&mut self, record: &AuditRecord) -> Result<Sealed, AuditError> {
        let seq = self
            .head
            .seq
            .checked_add(1)
            .ok_or_else(|| corrupt("the chain is full"))?;
        let mut record = record.clone();
        record.chain = Some(self.chain.clone());
        record.seq = Some(seq);
        record.prev = Some(self.head.hash.clone());
        let json = serde_json::to_string(&record).map_err(|e| corrupt(&e.to_string()))?;
        // serde_json escapes C0 controls but leaves C1 controls, line
        // separators and bidi controls raw: written as `\uXXXX` they are
        // the same JSON, and a stored line shown on a terminal cannot
        // drive it (the hash is over these bytes, so verification is the
        // same for records sealed before)
        let line = crate::text::escape_terminal_controls(&json, &[])
            .into_owned()
            .into_bytes();
        let hash = hash_line(&line);
        self.head = Head {
            seq,
            hash: hash.clone(),
        };
        Ok(Sealed { seq, line, hash })
    }
}

fn corrupt(reason: &str) -> AuditError {
    AuditError::Corrupt {
        path: "audit chain".into(),
        line: 0,
        reason: reason.to_owned(),
    }
}

/// How a chain is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BreakKind {
    /// The record's bytes changed after it was written (or it is not a
    /// record any more).
    Edited,
    /// The record is missing (dropped).
    Gap,
    /// The record is out of order.
    Reordered,
    /// Two records claim this `seq` (a copy, or an inserted record).
    Duplicated,
    /// Records after this `seq` were cut off (found through the head).
    Truncated,
    /// A record that was never appended through the chain: a line without
    /// chain members after chained records, or records past the head.
    Inserted,
    /// The chain's head row is missing (a server table): its tail cannot
    /// be checked.
    NoHead,
}

impl BreakKind {
    /// The kind's name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakKind::Edited => "edited",
            BreakKind::Gap => "gap",
            BreakKind::Reordered => "reordered",
            BreakKind::Duplicated => "duplicated",
            BreakKind::Truncated => "truncated",
            BreakKind::Inserted => "inserted",
            BreakKind::NoHead => "no_head",
        }
    }
}

impl std::fmt::Display for BreakKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first place a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    /// The chain.
    pub chain: String,
    /// The first bad `seq`.
    pub seq: u64,
    /// What is wrong there.
    pub kind: BreakKind,
    /// The line (file) or row position (database), 1-based, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "chain {}: record {} {}",
            self.chain,
            self.seq,
            match self.kind {
                BreakKind::Edited => "was edited",
                BreakKind::Gap => "is missing",
                BreakKind::Reordered => "is out of order",
                BreakKind::Duplicated => "appears twice",
                BreakKind::Truncated => "and those after it were cut off",
                BreakKind::Inserted => "is preceded by a record the chain never had",
                BreakKind::NoHead => "is the last, and the chain's head row is missing",
            }
        )?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

/// One chain's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainVerdict {
    /// The chain.
    pub chain: String,
    /// How many of its records were read.
    pub records: u64,
    /// Its last record as read (before any break, the last good one).
    pub head: Head,
    /// The last record was written but the recorded head still names the
    /// one before it: an append interrupted between writing its record and
    /// its head (accepted only by a verifier built with
    /// [`Verifier::allowing_interrupted_append`]; the next append confirms
    /// the record).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// Whether it verifies; the first break if not.
    #[serde(serialize_with = "verdict")]
    pub result: Result<(), ChainBreak>,
}

fn verdict<S: serde::Serializer>(r: &Result<(), ChainBreak>, s: S) -> Result<S::Ok, S::Error> {
    match r {
        Ok(()) => s.serialize_str("ok"),
        Err(b) => b.serialize(s),
    }
}

/// What [`Verifier::finish`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Lines without chain members before the first chained record (a log
    /// written before chaining): not verifiable. A file verifier reports
    /// them as a [`Finding::Unchained`] too.
    pub unchained: u64,
    /// Each chain, in order of first appearance.
    pub chains: Vec<ChainVerdict>,
    /// What makes the trail unverifiable although no chain is broken (a
    /// file with no chained record, unchained lines, a chain without a
    /// head). Each fails verification unless [`legacy`](Report::legacy).
    pub findings: Vec<Finding>,
    /// The findings were accepted: a log written before heads existed,
    /// verified with the explicit legacy option. The parts they name are
    /// **not** verified.
    pub legacy: bool,
}

impl Report {
    /// True when every chain verifies and nothing unverifiable was found
    /// (or it was accepted as [`legacy`](Report::legacy)).
    pub fn ok(&self) -> bool {
        self.check().is_ok()
    }

    /// The first break, as an error.
    pub fn first_break(&self) -> Option<&ChainBreak> {
        self.chains.iter().find_map(|c| c.result.as_ref().err())
    }

    /// The verdict as an error: the first broken chain
    /// ([`AuditError::ChainBroken`]), else the first finding unless they
    /// were accepted as legacy ([`AuditError::NoChain`],
    /// [`AuditError::Unchained`], [`AuditError::NoHead`]).
    ///
    /// # Errors
    /// As above.
    pub fn check(&self) -> Result<(), AuditError> {
        if let Some(b) = self.first_break() {
            return Err(AuditError::ChainBroken(b.clone()));
        }
        match self.findings.first() {
            Some(finding) if !self.legacy => Err(finding.error()),
            _ => Ok(()),
        }
    }
}

/// Something that makes a trail unverifiable without any chain being
/// broken: what a log written before chaining or before heads looks like,
/// and what a forger who replaced or emptied a log leaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Finding {
    /// No chained record at all (an empty trail, or only unchained lines).
    NoChainedRecord,
    /// Lines without chain members before the first chained record.
    Unchained {
        /// How many.
        lines: u64,
    },
    /// A chain with records but no recorded head: records cut off its end
    /// cannot be detected.
    NoHead {
        /// The chain.
        chain: String,
    },
}

impl Finding {
    /// The finding as the error that refuses the trail.
    pub fn error(&self) -> AuditError {
        match self {
            Finding::NoChainedRecord => AuditError::NoChain,
            Finding::Unchained { lines } => AuditError::Unchained { lines: *lines },
            Finding::NoHead { chain } => AuditError::NoHead {
                chain: chain.clone(),
            },
        }
    }
}

#[derive(Debug)]
struct Item {
    line: usize,
    /// `None`: the line is no chained record any more (not JSON).
    seq: Option<u64>,
    prev: Option<String>,
    hash: String,
}

/// Verifies stored lines, in stored order, chain by chain.
#[derive(Debug, Default)]
pub struct Verifier {
    /// Accept a recorded head one record behind the last record.
    interrupted_ok: bool,
    unchained: u64,
    /// The first line without chain members after a chained record, per
    /// chain before it: (line, how many of its records came before). Only
    /// the first is reported, so only the first is kept: a tampered file of
    /// a million such lines over many chains costs one entry per chain.
    inserted: HashMap<String, (usize, usize)>,
    chains: BTreeMap<String, Vec<Item>>,
    /// Chain ids in order of first appearance.
    order: Vec<String>,
    last_chain: Option<String>,
}

#[derive(serde::Deserialize)]
struct Members {
    #[serde(default)]
    chain: Option<String>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    prev: Option<String>,
}

impl Verifier {
    /// Also accepts a chain whose recorded head is exactly one record
    /// behind its last record, when that record's `prev` is the recorded
    /// head's hash: the trace of an append interrupted after its record was
    /// written and before its head was (a file's order; the verdict says
    /// [`interrupted`](ChainVerdict::interrupted)). A head further behind,
    /// or one that does not match, is still a break.
    pub fn allowing_interrupted_append(mut self) -> Verifier {
        self.interrupted_ok = true;
        self
    }

    /// Takes the next stored line (without its newline); `line` is its
    /// 1-based position, for the report. Blank lines are skipped.
    pub fn push(&mut self, line: usize, bytes: &[u8]) {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let hash = hash_line(bytes);
        let members: Option<Members> = serde_json::from_slice(bytes).ok();
        let (chain, seq, prev) = match (members, &self.last_chain) {
            (
                Some(Members {
                    chain: Some(c),
                    seq,
                    prev,
                }),
                _,
            ) => (c, seq, prev),
            // legacy lines before any chained record
            (_, None) => {
                self.unchained += 1;
                return;
            }
            // JSON without chain members after a chained record: inserted
            (Some(_), Some(last)) => {
                if !self.inserted.contains_key(last) {
                    let at = self.chains.get(last).map_or(0, Vec::len);
                    self.inserted.insert(last.clone(), (line, at));
                }
                return;
            }
            // not JSON any more: a record whose bytes were mangled
            (None, Some(last)) => (last.clone(), None, None),
        };
        if !self.chains.contains_key(&chain) {
            self.order.push(chain.clone());
        }
        self.chains.entry(chain.clone()).or_default().push(Item {
            line,
            seq,
            prev,
            hash,
        });
        self.last_chain = Some(chain);
    }

    /// The verdicts; `heads` are the chains' heads as recorded apart (the
    /// server's head rows), to detect a truncated tail or an edited last
    /// record. A head for a chain with no record left reports it
    /// truncated from seq 1.
    pub fn finish(mut self, heads: &BTreeMap<String, Head>) -> Report {
        for chain in heads.keys() {
            if !self.chains.contains_key(chain) {
                self.order.push(chain.clone());
            }
        }
        let chains = self
            .order
            .iter()
            .map(|chain| {
                let items = self.chains.remove(chain).unwrap_or_default();
                let inserted = self.inserted.get(chain).copied();
                verify_one(
                    chain.clone(),
                    &items,
                    heads.get(chain),
                    inserted,
                    self.interrupted_ok,
                )
            })
            .collect();
        Report {
            unchained: self.unchained,
            chains,
            findings: Vec::new(),
            legacy: false,
        }
    }
}

fn verify_one(
    chain: String,
    items: &[Item],
    recorded_head: Option<&Head>,
    inserted: Option<(usize, usize)>,
    interrupted_ok: bool,
) -> ChainVerdict {
    let mut head = Head {
        seq: 0,
        hash: genesis(&chain),
    };
    let mut seen: HashSet<u64> = HashSet::new();
    let broken = |seq: u64, kind: BreakKind, line: Option<usize>| ChainBreak {
        chain: chain.clone(),
        seq,
        kind,
        line,
    };
    let mut result = Ok(());
    let mut interrupted = false;
    for (i, item) in items.iter().enumerate() {
        let expected = head.seq + 1;
        if let Some((line, at)) = inserted
            && at == i
        {
            result = Err(broken(expected, BreakKind::Inserted, Some(line)));
            break;
        }
        let Some(seq) = item.seq else {
            result = Err(broken(expected, BreakKind::Edited, Some(item.line)));
            break;
        };
        if seq < expected {
            let kind = if seen.contains(&seq) {
                BreakKind::Duplicated
            } else {
                BreakKind::Reordered
            };
            result = Err(broken(seq, kind, Some(item.line)));
            break;
        }
        if seq > expected {
            let later = items[i + 1..].iter().any(|it| it.seq == Some(expected));
            let kind = if later {
                BreakKind::Reordered
            } else {
                BreakKind::Gap
            };
            result = Err(broken(expected, kind, Some(item.line)));
            break;
        }
        if item.prev.as_deref() != Some(head.hash.as_str()) {
            // the link into this record is broken: the previous record was
            // edited, unless the link out of this one is broken too (this
            // record's own `prev` was edited)
            let out_broken = items
                .get(i + 1)
                .is_some_and(|next| next.prev.as_deref() != Some(item.hash.as_str()));
            let (seq, line) = if seq == 1 || out_broken {
                (seq, item.line)
            } else {
                (seq - 1, items[i - 1].line)
            };
            result = Err(broken(seq, BreakKind::Edited, Some(line)));
            break;
        }
        seen.insert(seq);
        head = Head {
            seq,
            hash: item.hash.clone(),
        };
    }
    if result.is_ok()
        && let Some((line, at)) = inserted
        && at == items.len()
    {
        result = Err(broken(head.seq + 1, BreakKind::Inserted, Some(line)));
    }
    if result.is_ok()
        && let Some(recorded) = recorded_head
    {
        if recorded.seq > head.seq {
            result = Err(broken(head.seq + 1, BreakKind::Truncated, None));
        } else if interrupted_ok
            && recorded.seq.checked_add(1) == Some(head.seq)
            && items.last().and_then(|i| i.prev.as_deref()) == Some(recorded.hash.as_str())
        {
            // the record is written, its head is not (yet)
            interrupted = true;
        } else if recorded.seq < head.seq {
            // records past the head: appended without the head's
            // transaction (inserted)
            result = Err(broken(recorded.seq + 1, BreakKind::Inserted, None));
        } else if recorded.hash != head.hash {
            result = Err(broken(
                head.seq,
                BreakKind::Edited,
                items.last().map(|i| i.line),
            ));
        }
    }
    ChainVerdict {
        chain,
        records: items.len() as u64,
        head,
        interrupted,
        result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::is_terminal_control;
    use crate::{Action, Outcome};

    /// Review S14: C1 controls (U+009B is CSI), DEL, line separators and
    /// bidi controls that others chose are never stored raw.
    #[test]
    fn a_sealed_record_holds_no_raw_terminal_control_and_still_verifies() {
        let hostile = "bot\u{9b}2J\u{85}\u{7f}\u{2028}\u{2029}\u{202a}\u{202e}exe.txt\u{2066}\u{2069}\u{200e}\u{200f}\u{61c}\u{1b}[31m\n";
        let mut record = AuditRecord::new(1, Action::Refuse, Outcome::Refused);
        record.agent_id = Some(hostile.to_owned());
        record.client_id = Some(hostile.to_owned());
        record.sub = Some(hostile.to_owned());
        record.aud = Some(hostile.to_owned());
        let mut chain = ChainState::new("c1");
        let first = chain.seal(&record).unwrap();
        let second = chain.seal(&record).unwrap();
        let mut verifier = Verifier::default();
        for (n, sealed) in [&first, &second].into_iter().enumerate() {
            let text = std::str::from_utf8(&sealed.line).unwrap();
            assert!(!text.chars().any(is_terminal_control), "{text:?}");
            // the same JSON value: every string reads back as given
            let back: AuditRecord = serde_json::from_str(text).unwrap();
            assert_eq!(back.agent_id.as_deref(), Some(hostile));
            assert_eq!(back.client_id.as_deref(), Some(hostile));
            assert_eq!(back.sub.as_deref(), Some(hostile));
            assert_eq!(back.aud.as_deref(), Some(hostile));
            verifier.push(n + 1, &sealed.line);
        }
        let heads = BTreeMap::from([("c1".to_owned(), chain.head().clone())]);
        let report = verifier.finish(&heads);
        assert!(report.ok(), "{report:?}");
        assert_eq!(report.chains[0].records, 2);
    }
}
