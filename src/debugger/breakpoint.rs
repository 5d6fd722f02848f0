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
