//! What vyre never reports and a debugger should (DESIGN.md §2): races, out-of-range
//! accesses, unknown opcodes, stuck and starving slots, debug-log overflow, and more.
//!
//! Engines collect them per dispatch through [`DiagnosticSink`], which aggregates repeats
//! (a million slots with the same disabled tenant are one diagnostic with a count) and caps
//! the list so a pathological dispatch cannot exhaust memory.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The kinds of diagnostic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiagnosticKind {
    /// The result depends on lane order: two slots store different values to one word, a
    /// store and an add from different slots meet, or a slot reads a word another changes.
    Race,
    /// A control index past the buffer: loads read 0, stores are dropped.
    OutOfRange,
    /// An opcode with no handler: it ends DONE with no effect (beyond a metric below 32).
    UnknownOpcode,
    /// DFA_STEP: publishable, counted, but no handler exists.
    DfaStep,
    /// A slot stays PUBLISHED because its tenant's mask reads 0.
    StuckTenant,
    /// A slot's tenant id ≥ 29 reads its mask outside the mask table (a quota or a counter).
    AliasedTenant,
    /// PRINTF records reserved past the log's capacity were dropped.
    DebugOverflow,
    /// A schedulable slot waited through many passes without being claimed.
    Starvation,
    /// SHUTDOWN ran while other work was still PUBLISHED.
    ShutdownWithWork,
    /// A looping dispatch found SHUTDOWN already set and ran nothing.
    ShutdownSet,
    /// A slot was claimed but its tenant mask read 0 at the re-check: CLAIMED forever.
    StuckClaimed,
    /// A schedulable slot lies in no priority partition, so the scan never probes it.
    Unscheduled,
    /// A PACKED_SLOT whose inner ops the kernel clamps (more than 4) or skips (arguments
    /// past word 12).
    PackedClamped,
    /// A PUBLISHED IO slot the priority kernel's IO loop cannot service here.
    IoUnserviced,
    /// The host tried to publish over an in-flight slot.
    PublishInFlight,
}

/// The kind and the explanation of an op without a handler, worded alike by both engines:
/// DFA_STEP, LOAD_MISS (a handler only in vyre's self-loading build) or any other opcode.
pub fn unhandled_op(op: crate::abi::opcode::Opcode) -> (DiagnosticKind, String) {
    use crate::abi::opcode::Opcode;
    if op == Opcode::DFA_STEP {
        (
            DiagnosticKind::DfaStep,
            "DFA_STEP has no handler: it only counts in METRICS and ends DONE".to_string(),
        )
    } else if op == Opcode::LOAD_MISS {
        (DiagnosticKind::UnknownOpcode, "LOAD_MISS only has a handler in vyre's self-loading build (where it would wait for the host); here it ends DONE with no effect".to_string())
    } else {
        (
            DiagnosticKind::UnknownOpcode,
            format!(
                "opcode {op} has no handler: it ends DONE with no effect{}",
                if op.has_metric() {
                    " beyond its METRICS count"
                } else {
                    ""
                }
            ),
        )
    }
}

impl DiagnosticKind {
    pub fn name(self) -> &'static str {
        match self {
            DiagnosticKind::Race => "race",
            DiagnosticKind::OutOfRange => "out_of_range",
            DiagnosticKind::UnknownOpcode => "unknown_opcode",
            DiagnosticKind::DfaStep => "dfa_step",
            DiagnosticKind::StuckTenant => "stuck_tenant",
            DiagnosticKind::AliasedTenant => "aliased_tenant",
            DiagnosticKind::DebugOverflow => "debug_overflow",
            DiagnosticKind::Starvation => "starvation",
            DiagnosticKind::ShutdownWithWork => "shutdown_with_work",
            DiagnosticKind::ShutdownSet => "shutdown_set",
            DiagnosticKind::StuckClaimed => "stuck_claimed",
            DiagnosticKind::Unscheduled => "unscheduled",
            DiagnosticKind::PackedClamped => "packed_clamped",
            DiagnosticKind::IoUnserviced => "io_unserviced",
            DiagnosticKind::PublishInFlight => "publish_in_flight",
        }
    }

    pub const ALL: [DiagnosticKind; 15] = [
        DiagnosticKind::Race,
        DiagnosticKind::OutOfRange,
        DiagnosticKind::UnknownOpcode,
        DiagnosticKind::DfaStep,
        DiagnosticKind::StuckTenant,
        DiagnosticKind::AliasedTenant,
        DiagnosticKind::DebugOverflow,
        DiagnosticKind::Starvation,
        DiagnosticKind::ShutdownWithWork,
        DiagnosticKind::ShutdownSet,
        DiagnosticKind::StuckClaimed,
        DiagnosticKind::Unscheduled,
        DiagnosticKind::PackedClamped,
        DiagnosticKind::IoUnserviced,
        DiagnosticKind::PublishInFlight,
    ];

    pub fn parse(text: &str) -> Option<DiagnosticKind> {
        DiagnosticKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(text.trim()))
    }
}

/// One diagnostic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub kind: DiagnosticKind,
    pub dispatch: u64,
    /// The pass (0-based) it was seen in, where one applies.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pass: Option<u32>,
    /// The culprit slot (the first one, when aggregated).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub slot: Option<u32>,
    /// The control word involved (or, for out-of-range, the first bad index).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub word: Option<u64>,
    /// The two slots of a race between slots, lower first (`slot` is the first).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub slots: Option<[u32; 2]>,
    /// A race against the priority scan itself rather than another slot.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub scheduler: bool,
    /// How many occurrences this entry stands for.
    pub count: u64,
    pub message: String,
}

/// The most diagnostics one dispatch lists; the rest are counted.
pub const DIAGNOSTIC_CAP: usize = 4096;

/// Aggregates diagnostics of one dispatch by `(kind, key)`.
#[derive(Debug, Default)]
pub struct DiagnosticSink {
    dispatch: u64,
    entries: Vec<Diagnostic>,
    index: HashMap<(DiagnosticKind, u64), usize>,
    omitted: u64,
}

impl DiagnosticSink {
    pub fn new(dispatch: u64) -> Self {
        DiagnosticSink {
            dispatch,
            ..Default::default()
        }
    }

    /// Records one occurrence under `key`; the first occurrence's fields and message are
    /// kept, later ones only add to the count. `message` is built only when needed.
    pub fn note(
        &mut self,
        kind: DiagnosticKind,
        key: u64,
        count: u64,
        make: impl FnOnce() -> (Option<u32>, Option<u32>, Option<u64>, String),
    ) {
        if let Some(&i) = self.index.get(&(kind, key)) {
            self.entries[i].count += count;
            return;
        }
        if self.entries.len() >= DIAGNOSTIC_CAP {
            self.omitted += count;
            return;
        }
        let (pass, slot, word, message) = make();
        self.index.insert((kind, key), self.entries.len());
        self.entries.push(Diagnostic {
            kind,
            dispatch: self.dispatch,
            pass,
            slot,
            word,
            slots: None,
            scheduler: false,
            count,
            message,
        });
    }

    /// Records a race on `word` between slots `a` and `b`, either of which may be
    /// [`SCHEDULER`](super::race::SCHEDULER): a race between two slots keeps both (lower
    /// first, `slot` the lower), a race against the priority scan keeps its one slot and says
    /// `scheduler`.
    pub fn note_race(&mut self, word: u32, a: u32, b: u32, message: impl FnOnce() -> String) {
        use super::race::SCHEDULER;
        let before = self.entries.len();
        let (lo, hi) = (a.min(b), a.max(b));
        let slot = (lo < SCHEDULER).then_some(lo);
        self.note(DiagnosticKind::Race, word as u64, 1, || {
            (None, slot, Some(word as u64), message())
        });
        if self.entries.len() > before {
            let d = &mut self.entries[before];
            if hi >= SCHEDULER {
                d.scheduler = true;
            } else {
                d.slots = Some([lo, hi]);
            }
        }
    }

    pub fn has(&self, kind: DiagnosticKind) -> bool {
        self.entries.iter().any(|d| d.kind == kind)
    }

    /// The diagnostics (in first-seen order) and how many were omitted past the cap.
    pub fn finish(self) -> (Vec<Diagnostic>, u64) {
        (self.entries, self.omitted)
    }
}

/// The most diagnostics of one kind `megascope run` lists over a whole run; the rest are
/// counted in its JSON's `diagnostics_omitted` (and `diagnostics_omitted_by_kind`).
pub const RUN_DIAGNOSTICS_PER_KIND: usize = 1000;

/// Diagnostics gathered over a run of many dispatches, bounded: the first `per_kind` of each
/// kind are kept (where a problem starts is what one looks for), later ones only counted.
#[derive(Debug)]
pub struct RunDiagnostics {
    per_kind: usize,
    kept: Vec<Diagnostic>,
    kept_by_kind: std::collections::BTreeMap<DiagnosticKind, usize>,
    omitted_by_kind: std::collections::BTreeMap<DiagnosticKind, u64>,
    /// Omitted by the engines' per-dispatch cap ([`DIAGNOSTIC_CAP`]), kind unknown.
    omitted_unlisted: u64,
}

impl RunDiagnostics {
    pub fn new(per_kind: usize) -> Self {
        RunDiagnostics {
            per_kind,
            kept: Vec::new(),
            kept_by_kind: Default::default(),
            omitted_by_kind: Default::default(),
            omitted_unlisted: 0,
        }
    }

    pub fn push(&mut self, d: Diagnostic) {
        let n = self.kept_by_kind.entry(d.kind).or_default();
        if *n < self.per_kind {
            *n += 1;
            self.kept.push(d);
        } else {
            *self.omitted_by_kind.entry(d.kind).or_default() += 1;
        }
    }

    /// Counts diagnostics a dispatch could not list (its own cap).
    pub fn add_unlisted(&mut self, n: u64) {
        self.omitted_unlisted += n;
    }

    /// The diagnostics kept, in the order they came.
    pub fn kept(&self) -> &[Diagnostic] {
        &self.kept
    }

    /// Diagnostics not kept, by kind name.
    pub fn omitted_by_kind(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.omitted_by_kind
            .iter()
            .map(|(k, n)| (k.name(), *n))
            .collect()
    }

    /// Every diagnostic not kept.
    pub fn omitted(&self) -> u64 {
        self.omitted_by_kind.values().sum::<u64>() + self.omitted_unlisted
    }

    pub fn into_kept(self) -> Vec<Diagnostic> {
        self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_aggregate_into_one_entry() {
        let mut s = DiagnosticSink::new(7);
        for slot in 0..100u32 {
            s.note(DiagnosticKind::StuckTenant, 1, 1, || {
                (None, Some(slot), Some(4), format!("first slot {slot}"))
            });
        }
        s.note(DiagnosticKind::StuckTenant, 2, 1, || {
            (None, Some(5), None, "tenant 2".into())
        });
        let (d, omitted) = s.finish();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].count, 100);
        assert_eq!(d[0].slot, Some(0));
        assert_eq!(d[0].dispatch, 7);
        assert_eq!(d[0].message, "first slot 0");
        assert_eq!(omitted, 0);
    }

    #[test]
    fn the_list_is_capped() {
        let mut s = DiagnosticSink::new(0);
        for k in 0..(DIAGNOSTIC_CAP as u64 + 10) {
            s.note(DiagnosticKind::Race, k, 1, || {
                (None, None, Some(k), String::new())
            });
        }
        let (d, omitted) = s.finish();
        assert_eq!(d.len(), DIAGNOSTIC_CAP);
        assert_eq!(omitted, 10);
    }

    #[test]
    fn a_run_keeps_the_first_of_each_kind_and_counts_the_rest() {
        let mut r = RunDiagnostics::new(3);
        for i in 0..10u64 {
            for kind in [DiagnosticKind::Race, DiagnosticKind::OutOfRange] {
                r.push(Diagnostic {
                    kind,
                    dispatch: i,
                    pass: None,
                    slot: None,
                    word: None,
                    slots: None,
                    scheduler: false,
                    count: 1,
                    message: String::new(),
                });
            }
        }
        r.add_unlisted(4);
        assert_eq!(r.kept().len(), 6);
        assert!(r.kept().iter().all(|d| d.dispatch < 3));
        assert_eq!(r.omitted_by_kind()["race"], 7);
        assert_eq!(r.omitted_by_kind()["out_of_range"], 7);
        assert_eq!(r.omitted(), 18);
    }

    #[test]
    fn kinds_serialize_snake_case_and_parse_back() {
        for k in DiagnosticKind::ALL {
            let json = serde_json::to_string(&k).unwrap();
            assert_eq!(json, format!("\"{}\"", k.name()));
            assert_eq!(DiagnosticKind::parse(k.name()), Some(k));
        }
    }
}
