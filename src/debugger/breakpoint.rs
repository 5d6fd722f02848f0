//! Breakpoints and watchpoints: conditions checked after every dispatch (and pass) that stop
//! a run and point at the slot or word responsible.

use serde::{Deserialize, Serialize};

use crate::abi::opcode::Opcode;
use crate::abi::status::SlotStatus;
use crate::engine::DiagnosticKind;

/// Which slots a slot condition watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SlotSelector {
    #[default]
    Any,
    One(u32),
    /// `start..end` (end exclusive).
    Range(u32, u32),
}

impl SlotSelector {
    pub fn contains(&self, slot: u32) -> bool {
        match *self {
            SlotSelector::Any => true,
            SlotSelector::One(s) => s == slot,
            SlotSelector::Range(a, b) => a <= slot && slot < b,
        }
    }

    pub fn describe(&self) -> String {
        match *self {
            SlotSelector::Any => "any slot".into(),
            SlotSelector::One(s) => format!("slot {s}"),
            SlotSelector::Range(a, b) => format!("slots {a}..{b}"),
        }
    }
}

/// A comparison of a control word with a value (after masking).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    pub const ALL: [CompareOp; 6] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Lt,
        CompareOp::Le,
        CompareOp::Gt,
        CompareOp::Ge,
    ];

    pub fn holds(self, a: u32, b: u32) -> bool {
        match self {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            CompareOp::Lt => a < b,
            CompareOp::Le => a <= b,
            CompareOp::Gt => a > b,
            CompareOp::Ge => a >= b,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

fn all_ones() -> u32 {
    u32::MAX
}

/// What a breakpoint waits for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Condition {
    /// A watched slot enters `status`.
    SlotEnters {
        slots: SlotSelector,
        status: SlotStatus,
    },
    /// A slot with this opcode executes (top level or packed inner op).
    OpcodeRuns { opcode: Opcode },
    /// A slot of this tenant executes.
    TenantRuns { tenant: u32 },
    /// A control word changes value.
    ControlChanges { word: u32 },
    /// `(control[word] & mask) op value` becomes true.
    ControlCompare {
        word: u32,
        op: CompareOp,
        value: u32,
        #[serde(default = "all_ones")]
        mask: u32,
    },
    /// The debug log receives a record with this fmt id.
    DebugFmt { fmt_id: u32 },
    /// The debug log drops records.
    DebugOverflow,
    /// A diagnostic of this kind fires.
    Diagnostic { kind: DiagnosticKind },
    /// A slot stays PUBLISHED (schedulable) for this many passes.
    SlotStuck { passes: u32 },
}

impl Condition {
    /// Checks the condition against a geometry: a breakpoint on a slot or control word the
    /// state does not have, or on an empty or reversed range, could never fire.
    pub fn check(&self, g: &super::Geometry) -> Result<(), String> {
        let slots = g.slot_count;
        let words = crate::abi::layout::CONTROL_MIN_WORDS as u64 + g.observable_slots as u64;
        match *self {
            Condition::SlotEnters {
                slots: SlotSelector::One(s),
                ..
            } if s >= slots => Err(format!(
                "slot {s} is past the ring's {slots} slots (0..{}); it could never fire",
                slots.saturating_sub(1)
            )),
            Condition::SlotEnters {
                slots: SlotSelector::Range(a, b),
                ..
            } => {
                if a >= b {
                    Err(format!(
                        "the range {a}..{b} is empty (the end is exclusive and must be past the start); write e.g. {a}..{}",
                        a.saturating_add(1)
                    ))
                } else if b > slots {
                    Err(format!(
                        "the range {a}..{b} runs past the ring's {slots} slots; end it at {slots} at most"
                    ))
                } else {
                    Ok(())
                }
            }
            Condition::ControlChanges { word } | Condition::ControlCompare { word, .. }
                if word as u64 >= words =>
            {
                Err(format!(
                    "control[{word}] is past the {words}-word control buffer (160 control words + {} observable); it could never change",
                    g.observable_slots
                ))
            }
            _ => Ok(()),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Condition::SlotEnters { slots, status } => {
                format!("{} enters {status}", slots.describe())
            }
            Condition::OpcodeRuns { opcode } => format!("{opcode} executes"),
            Condition::TenantRuns { tenant } => format!("a slot of tenant {tenant} runs"),
            Condition::ControlChanges { word } => {
                format!(
                    "control[{word}] ({}) changes",
                    crate::abi::control::word_name(*word as usize)
                )
            }
            Condition::ControlCompare {
                word,
                op,
                value,
                mask,
            } => {
                let lhs = if *mask == u32::MAX {
                    format!("control[{word}]")
                } else {
                    format!("control[{word}] & {mask:#x}")
                };
                format!("{lhs} {} {value}", op.symbol())
            }
            Condition::DebugFmt { fmt_id } => format!("debug log gets fmt id {fmt_id}"),
            Condition::DebugOverflow => "debug log overflows".into(),
            Condition::Diagnostic { kind } => format!("diagnostic `{}` fires", kind.name()),
            Condition::SlotStuck { passes } => {
                format!("a slot stays PUBLISHED for {passes} passes")
            }
        }
    }
}

fn yes() -> bool {
    true
}

/// A breakpoint: a condition, whether it is on, and how often it hit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Breakpoint {
    pub condition: Condition,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub hits: u64,
}

impl Breakpoint {
    pub fn new(condition: Condition) -> Breakpoint {
        Breakpoint {
            condition,
            enabled: true,
            hits: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_round_trip_through_ron() {
        let bps = vec![
            Breakpoint::new(Condition::SlotEnters {
                slots: SlotSelector::Range(0, 8),
                status: SlotStatus::Done,
            }),
            Breakpoint::new(Condition::ControlCompare {
                word: 160,
                op: CompareOp::Ge,
                value: 10,
                mask: u32::MAX,
            }),
            Breakpoint::new(Condition::Diagnostic {
                kind: DiagnosticKind::OutOfRange,
            }),
            Breakpoint::new(Condition::OpcodeRuns {
                opcode: Opcode::PRINTF,
            }),
        ];
        let text = ron::to_string(&bps).unwrap();
        let back: Vec<Breakpoint> = ron::from_str(&text).unwrap();
        assert_eq!(back, bps);
        let short: Breakpoint =
            ron::from_str("(condition: ControlCompare(word: 1, op: Eq, value: 3))").unwrap();
        assert!(short.enabled);
        assert_eq!(short.condition.describe(), "control[1] == 3");
    }

    #[test]
    fn selectors_and_comparisons() {
        assert!(SlotSelector::Any.contains(5));
        assert!(SlotSelector::Range(2, 4).contains(3) && !SlotSelector::Range(2, 4).contains(4));
        assert!(CompareOp::Le.holds(3, 3) && !CompareOp::Lt.holds(3, 3));
    }
}

/// Why a run stopped.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BreakpointHit {
    /// Index of the breakpoint in the list.
    pub breakpoint: usize,
    pub message: String,
    pub slot: Option<u32>,
    pub word: Option<u32>,
    pub dispatch: u64,
    pub pass: Option<u32>,
    /// The timeline point the hit belongs to.
    pub point: usize,
}

/// What a step (a dispatch or a pass) did, for evaluating breakpoints.
pub struct StepFacts<'a> {
    pub before: &'a crate::resident::Readback,
    pub after: &'a crate::resident::ResidentBuffers,
    pub delta: &'a super::delta::Delta,
    pub diagnostics: &'a [crate::engine::Diagnostic],
    /// Passes the step ran (1 for a pass, the dispatch's passes for a dispatch).
    pub passes: u32,
    pub dispatch: u64,
    pub pass: Option<u32>,
    pub point: usize,
}

/// Consecutive passes each slot has stayed waiting (PUBLISHED, YIELD or REQUEUE).
#[derive(Debug, Default, Clone)]
pub struct StuckCounter {
    passes: Vec<u32>,
}

impl StuckCounter {
    pub fn clear(&mut self) {
        self.passes.clear();
    }

    /// Adds `passes` to every waiting slot, zeroes the others; returns the slot waiting
    /// longest and for how long.
    pub fn update(&mut self, ring: &[u32], passes: u32) -> Option<(u32, u32)> {
        let n = ring.len() / 16;
        if self.passes.len() != n {
            self.passes = vec![0; n];
        }
        let mut worst: Option<(u32, u32)> = None;
        for (s, c) in self.passes.iter_mut().enumerate() {
            if matches!(ring[s * 16], 1 | 5 | 6) {
                *c = c.saturating_add(passes);
                if worst.is_none_or(|(_, w)| *c > w) {
                    worst = Some((s as u32, *c));
                }
            } else {
                *c = 0;
            }
        }
        worst
    }
}

/// Whether any enabled breakpoint needs per-slot facts (and so the ring on the host).
pub fn needs_ring(bps: &[Breakpoint]) -> bool {
    bps.iter().any(|b| {
        b.enabled
            && matches!(
                b.condition,
                Condition::SlotEnters { .. }
                    | Condition::OpcodeRuns { .. }
                    | Condition::TenantRuns { .. }
                    | Condition::SlotStuck { .. }
            )
    })
}

/// Slots a step executed: they went to DONE from another status.
fn executed<'a>(f: &'a StepFacts, changed: &'a [u32]) -> impl Iterator<Item = u32> + 'a {
    changed.iter().copied().filter(move |&s| {
        f.after.slot_status(s) == crate::abi::status::SlotStatus::Done
            && f.before.slot_status(s) != crate::abi::status::SlotStatus::Done
    })
}

fn runs_opcode(ring: &[u32], s: u32, op: Opcode) -> bool {
    let slot = crate::abi::slot::Slot::of_ring(ring, s);
    if slot.opcode == op {
        return true;
    }
    slot.packed()
        .is_some_and(|p| p.ops.iter().any(|o| o.opcode == op && o.args.is_some()))
}

/// Checks every enabled breakpoint against one step. Every breakpoint that hits counts the
/// hit; the first one in list order is returned.
pub fn evaluate(
    bps: &mut [Breakpoint],
    f: &StepFacts,
    stuck: &mut StuckCounter,
) -> Option<BreakpointHit> {
    if bps.iter().all(|b| !b.enabled) {
        return None;
    }
    let changed = f.delta.changed_slots();
    let stuck_worst = bps
        .iter()
        .any(|b| b.enabled && matches!(b.condition, Condition::SlotStuck { .. }))
        .then(|| stuck.update(f.after.ring(), f.passes))
        .flatten();
    let mut first = None;
    for (i, b) in bps.iter_mut().enumerate() {
        if !b.enabled {
            continue;
        }
        let found: Option<(String, Option<u32>, Option<u32>)> = match &b.condition {
            Condition::SlotEnters { slots, status } => changed
                .iter()
                .copied()
                .find(|&s| {
                    slots.contains(s)
                        && f.after.slot_status(s) == *status
                        && f.before.slot_status(s) != *status
                })
                .map(|s| (format!("slot {s} entered {status}"), Some(s), None)),
            Condition::OpcodeRuns { opcode } => executed(f, &changed)
                .find(|&s| runs_opcode(f.after.ring(), s, *opcode))
                .map(|s| (format!("slot {s} executed {opcode}"), Some(s), None)),
            Condition::TenantRuns { tenant } => executed(f, &changed)
                .find(|&s| f.after.slot(s).tenant == *tenant)
                .map(|s| (format!("slot {s} of tenant {tenant} ran"), Some(s), None)),
            Condition::ControlChanges { word } => f
                .delta
                .changed_control_words()
                .iter()
                .find(|(w, _)| w == word)
                .map(|_| {
                    let old = f.before.control.get(*word as usize).copied().unwrap_or(0);
                    let new = f.after.control().get(*word as usize).copied().unwrap_or(0);
                    (
                        format!(
                            "control[{word}] ({}) changed {old} -> {new}",
                            crate::abi::control::word_name(*word as usize)
                        ),
                        None,
                        Some(*word),
                    )
                }),
            Condition::ControlCompare {
                word,
                op,
                value,
                mask,
            } => {
                let old = f.before.control.get(*word as usize).copied().unwrap_or(0);
                let new = f.after.control().get(*word as usize).copied().unwrap_or(0);
                (op.holds(new & mask, *value) && !op.holds(old & mask, *value)).then(|| {
                    (
                        format!("{} became true (now {new})", b.condition.describe()),
                        None,
                        Some(*word),
                    )
                })
            }
            Condition::DebugFmt { fmt_id } => {
                let before = crate::abi::debug_log::DebugLogView::decode(&f.before.debug_log);
                let after = crate::abi::debug_log::DebugLogView::decode(f.after.debug_log());
                let from = if after.cursor < before.cursor {
                    0
                } else {
                    before.records.len()
                };
                after.records[from.min(after.records.len())..]
                    .iter()
                    .find(|r| r.fmt_id == *fmt_id)
                    .map(|r| {
                        (
                            format!(
                                "slot {} printed fmt id {fmt_id}",
                                r.slot().unwrap_or(u32::MAX)
                            ),
                            r.slot(),
                            None,
                        )
                    })
            }
            Condition::DebugOverflow => {
                let before =
                    crate::abi::debug_log::DebugLogView::decode(&f.before.debug_log).dropped;
                let after =
                    crate::abi::debug_log::DebugLogView::decode(f.after.debug_log()).dropped;
                (after > before).then(|| {
                    (
                        format!("the debug log dropped {} records", after - before),
                        None,
                        Some(0),
                    )
                })
            }
            Condition::Diagnostic { kind } => {
                f.diagnostics.iter().find(|d| d.kind == *kind).map(|d| {
                    (
                        format!("{}: {}", kind.name(), d.message),
                        d.slot,
                        d.word.map(|w| w as u32),
                    )
                })
            }
            Condition::SlotStuck { passes } => stuck_worst
                .filter(|(_, w)| w >= passes)
                .map(|(s, w)| (format!("slot {s} has waited {w} passes"), Some(s), None)),
        };
        if let Some((message, slot, word)) = found {
            b.hits += 1;
            if first.is_none() {
                first = Some(BreakpointHit {
                    breakpoint: i,
                    message,
                    slot,
                    word,
                    dispatch: f.dispatch,
                    pass: f.pass,
                    point: f.point,
                });
            }
        }
    }
    first
}
