//! Host actions: everything a user (or a session script) does to the state. They are plain
//! data so a session can store them, the timeline can label its points with them, and the
//! one place that applies them ([`super::Debugger::apply`]) is easy to test.

use serde::{Deserialize, Serialize};

use super::expr::ArgExpr;
use crate::abi::error::PublishError;
use crate::abi::layout::{ARG_WORDS, SLOT_WORDS, W_PRIORITY};
use crate::abi::opcode::Opcode;
use crate::resident::ResidentBuffers;

/// One packed inner op: an 8-bit opcode and up to 3 arguments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackedOp {
    pub opcode: Opcode,
    #[serde(default)]
    pub args: Vec<u32>,
}

/// A batch: slots `start..end` step `step`, each published with the tenant, opcode and
/// priority patterns cycled, and arguments computed from expressions of `slot` and `i`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pattern {
    pub start: u32,
    /// Exclusive.
    pub end: u32,
    #[serde(default = "one")]
    pub step: u32,
    #[serde(default = "zero_vec")]
    pub tenants: Vec<u32>,
    pub opcodes: Vec<Opcode>,
    /// Written into ring word 3 after publishing (no kernel reads it; it is a label).
    #[serde(default)]
    pub priorities: Vec<u32>,
    #[serde(default)]
    pub args: Vec<ArgExpr>,
}

fn one() -> u32 {
    1
}
fn zero_vec() -> Vec<u32> {
    vec![0]
}

impl Pattern {
    /// The slots the pattern covers.
    pub fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        (self.start..self.end).step_by(self.step.max(1) as usize)
    }

    pub fn len(&self) -> usize {
        if self.start >= self.end {
            0
        } else {
            (self.end - self.start).div_ceil(self.step.max(1)) as usize
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks the pattern against a ring of `slot_count` slots without touching it.
    pub fn check(&self, slot_count: u32) -> Result<(), PublishError> {
        if self.step == 0 {
            return Err(PublishError::Invalid(
                "the step of a batch must be at least 1".into(),
            ));
        }
        if self.end > slot_count || self.start > self.end {
            return Err(PublishError::WindowOutOfRange {
                start: self.start as u64,
                end: self.end as u64,
                slot_count,
            });
        }
        if self.opcodes.is_empty() {
            return Err(PublishError::Invalid(
                "a batch needs at least one opcode".into(),
            ));
        }
        if self.tenants.is_empty() {
            return Err(PublishError::Invalid(
                "a batch needs at least one tenant".into(),
            ));
        }
        if self.args.len() > ARG_WORDS {
            return Err(PublishError::TooManyArgs {
                count: self.args.len(),
            });
        }
        for &op in &self.opcodes {
            if let Some(reason) = op.unpublishable_reason() {
                return Err(PublishError::NotPublishable { opcode: op, reason });
            }
        }
        Ok(())
    }

    /// Publishes every slot of the pattern, all-or-nothing: every slot is checked to be
    /// EMPTY or DONE before any is written. Returns the number published.
    pub fn publish(&self, m: &mut ResidentBuffers) -> Result<usize, PublishError> {
        self.check(m.slot_count())?;
        for s in self.slots() {
            let st = m.slot_status(s);
            if !st.is_publishable_over() {
                return Err(PublishError::InFlight {
                    slot: s,
                    status: st,
                });
            }
        }
        let mut args = Vec::with_capacity(self.args.len());
        for (i, s) in self.slots().enumerate() {
            let i = i as u32;
            let tenant = self.tenants[i as usize % self.tenants.len()];
            let op = self.opcodes[i as usize % self.opcodes.len()];
            args.clear();
            args.extend(self.args.iter().map(|e| e.eval(s, i)));
            m.publish_slot(s as u64, tenant, op, &args)?;
            if !self.priorities.is_empty() {
                set_priority_word(m, s, self.priorities[i as usize % self.priorities.len()])?;
            }
        }
        Ok(self.len())
    }
}

/// Overwrites ring word 3 (the priority label) of a slot.
pub fn set_priority_word(
    m: &mut ResidentBuffers,
    slot: u32,
    priority: u32,
) -> Result<(), PublishError> {
    let base = slot as usize * SLOT_WORDS;
    let mut words: [u32; SLOT_WORDS] = m
        .ring()
        .get(base..base + SLOT_WORDS)
        .and_then(|w| w.try_into().ok())
        .ok_or(PublishError::SlotOutOfRange {
            slot: slot as u64,
            slot_count: m.slot_count(),
        })?;
    words[W_PRIORITY] = priority;
    m.write_slot_raw(slot, &words)
}

/// A host action on the state. Unknown fields inside a variant are refused (a misspelt
/// `tennant:` must not publish on tenant 0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Action {
    /// `publish_slot`, then optionally the priority label in word 3.
    Publish {
        slot: u32,
        #[serde(default)]
        tenant: u32,
        opcode: Opcode,
        #[serde(default)]
        args: Vec<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        priority: Option<u32>,
    },
    /// A batch of publishes.
    PublishPattern(Pattern),
    /// A PACKED_SLOT built from inner ops.
    PublishPacked {
        slot: u32,
        #[serde(default)]
        tenant: u32,
        ops: Vec<PackedOp>,
    },
    /// A raw control-word write (tenant masks, offsets, SHUTDOWN…).
    WriteControl { word: u32, value: u32 },
    /// A raw write of a slot's 16 words (resume a WAIT_IO slot, set a status by hand).
    WriteSlot { slot: u32, words: Vec<u32> },
    /// `count` dispatches with the session's variant.
    Dispatch { count: u32 },
    /// One pass: of the dispatch in progress, or the first pass of a new one.
    Pass,
    /// `reset(tenants, observable)` with the session's geometry.
    Reset,
}

impl Action {
    /// A short label for timelines and logs.
    pub fn label(&self) -> String {
        match self {
            Action::Publish { slot, opcode, .. } => format!("publish {opcode} @ {slot}"),
            Action::PublishPattern(p) => {
                format!("publish {} slots {}..{}", p.len(), p.start, p.end)
            }
            Action::PublishPacked { slot, ops, .. } => {
                format!("publish packed ×{} @ {slot}", ops.len())
            }
            Action::WriteControl { word, value } => format!(
                "control[{word}] ({}) = {value:#x}",
                crate::abi::control::word_name(*word as usize)
            ),
            Action::WriteSlot { slot, .. } => format!("write slot {slot}"),
            Action::Dispatch { count } => format!("dispatch ×{count}"),
            Action::Pass => "pass".into(),
            Action::Reset => "reset".into(),
        }
    }

    /// The ring slots the action may write ([`Action::apply_host`] writes no other ring
    /// word), or `None` when it may write any (a reset, or an engine step): a host action's
    /// timeline delta then copies those slots instead of the whole ring.
    pub fn ring_slots(&self) -> Option<Vec<u32>> {
        match self {
            Action::Publish { slot, .. }
            | Action::PublishPacked { slot, .. }
            | Action::WriteSlot { slot, .. } => Some(vec![*slot]),
            Action::PublishPattern(p) => Some(p.slots().collect()),
            Action::WriteControl { .. } => Some(Vec::new()),
            Action::Dispatch { .. } | Action::Pass | Action::Reset => None,
        }
    }

    /// Applies a host (non-dispatch) action to the mirror. Dispatch and reset need the
    /// debugger's engines and geometry and are handled there.
    pub fn apply_host(&self, m: &mut ResidentBuffers) -> Result<(), PublishError> {
        match self {
            Action::Publish {
                slot,
                tenant,
                opcode,
                args,
                priority,
            } => {
                m.publish_slot(*slot as u64, *tenant, *opcode, args)?;
                if let Some(p) = priority {
                    set_priority_word(m, *slot, *p)?;
                }
                Ok(())
            }
            Action::PublishPattern(p) => p.publish(m).map(|_| ()),
            Action::PublishPacked { slot, tenant, ops } => {
                let mut inner = Vec::with_capacity(ops.len());
                for (i, op) in ops.iter().enumerate() {
                    let code = u8::try_from(op.opcode.0).map_err(|_| {
                        PublishError::Packed(format!(
                            "inner op {i}: opcode {} does not fit in a byte; packed ops are 0..=255 (PRINTF and SHUTDOWN cannot be packed)",
                            op.opcode
                        ))
                    })?;
                    inner.push((code, op.args.clone()));
                }
                m.publish_packed_slot(*slot as u64, *tenant, &inner)
                    .map(|_| ())
            }
            Action::WriteControl { word, value } => m.write_control(*word as usize, *value),
            Action::WriteSlot { slot, words } => {
                let w: [u32; SLOT_WORDS] = words.as_slice().try_into().map_err(|_| {
                    PublishError::Invalid(format!("a slot is 16 words, {} given", words.len()))
                })?;
                m.write_slot_raw(*slot, &w)
            }
            Action::Dispatch { .. } | Action::Pass | Action::Reset => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::status::SlotStatus;

    fn pattern() -> Pattern {
        Pattern {
            start: 2,
            end: 8,
            step: 2,
            tenants: vec![0, 1],
            opcodes: vec![Opcode::ATOMIC_ADD, Opcode::NOP],
            priorities: vec![4],
            args: vec![
                ArgExpr::literal(1),
                ArgExpr::parse("160 + slot % 4").unwrap(),
            ],
        }
    }

    #[test]
    fn pattern_cycles_tenants_opcodes_and_evaluates_args() {
        let mut m = ResidentBuffers::new(8, 2, 4).unwrap();
        assert_eq!(pattern().publish(&mut m).unwrap(), 3);
        let slot = |s: usize| &m.ring()[s * 16..s * 16 + 6];
        assert_eq!(slot(2), &[1, 2, 0, 4, 1, 162]);
        assert_eq!(slot(4), &[1, 0, 1, 4, 1, 160]);
        assert_eq!(slot(6), &[1, 2, 0, 4, 1, 162]);
        assert_eq!(slot(3)[0], 0, "step 2 skips slot 3");
    }

    #[test]
    fn pattern_is_all_or_nothing() {
        let mut m = ResidentBuffers::new(8, 2, 4).unwrap();
        m.publish_slot(6, 0, Opcode::NOP, &[]).unwrap();
        let before = m.ring().to_vec();
        let e = pattern().publish(&mut m).unwrap_err();
        assert!(matches!(
            e,
            PublishError::InFlight {
                slot: 6,
                status: SlotStatus::Published
            }
        ));
        assert_eq!(m.ring(), &before[..]);
    }

    #[test]
    fn pattern_checks() {
        let mut p = pattern();
        p.end = 9;
        assert!(p.check(8).is_err());
        let mut p = pattern();
        p.step = 0;
        assert!(p.check(8).unwrap_err().to_string().contains("step"));
        let mut p = pattern();
        p.opcodes = vec![Opcode::LOAD_MISS];
        assert!(matches!(
            p.check(8),
            Err(PublishError::NotPublishable { .. })
        ));
        let mut p = pattern();
        p.args = vec![ArgExpr::literal(0); 13];
        assert!(matches!(
            p.check(8),
            Err(PublishError::TooManyArgs { count: 13 })
        ));
    }

    #[test]
    fn packed_inner_opcodes_must_fit_a_byte() {
        let mut m = ResidentBuffers::new(2, 1, 0).unwrap();
        let a = Action::PublishPacked {
            slot: 0,
            tenant: 0,
            ops: vec![PackedOp {
                opcode: Opcode::PRINTF,
                args: vec![],
            }],
        };
        assert!(
            a.apply_host(&mut m)
                .unwrap_err()
                .to_string()
                .contains("byte")
        );
    }

    #[test]
    fn actions_round_trip_through_ron() {
        let actions = vec![
            Action::Publish {
                slot: 1,
                tenant: 0,
                opcode: Opcode::ATOMIC_ADD,
                args: vec![1, 160],
                priority: None,
            },
            Action::PublishPattern(pattern()),
            Action::PublishPacked {
                slot: 3,
                tenant: 0,
                ops: vec![PackedOp {
                    opcode: Opcode::STORE_U32,
                    args: vec![1, 2],
                }],
            },
            Action::WriteControl { word: 4, value: 0 },
            Action::WriteSlot {
                slot: 0,
                words: vec![0; 16],
            },
            Action::Dispatch { count: 3 },
            Action::Pass,
            Action::Reset,
        ];
        let text = ron::ser::to_string_pretty(&actions, ron::ser::PrettyConfig::default()).unwrap();
        assert!(text.contains("ATOMIC_ADD"), "{text}");
        let back: Vec<Action> = ron::from_str(&text).unwrap();
        assert_eq!(back, actions);
    }

    #[test]
    fn errors_name_the_right_thing() {
        let mut m = ResidentBuffers::new(2, 1, 0).unwrap();
        let e = Action::WriteControl {
            word: 5000,
            value: 1,
        }
        .apply_host(&mut m)
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("control[5000] is past the 160-word control buffer") && !e.contains("slot"),
            "{e}"
        );
        let mut p = pattern();
        p.step = 0;
        let e = p.check(8).unwrap_err().to_string();
        assert!(!e.contains("packed"), "{e}");
        let e = Action::WriteSlot {
            slot: 0,
            words: vec![1; 3],
        }
        .apply_host(&mut m)
        .unwrap_err()
        .to_string();
        assert!(!e.contains("packed"), "{e}");
    }

    #[test]
    fn write_slot_needs_16_words() {
        let mut m = ResidentBuffers::new(2, 1, 0).unwrap();
        let a = Action::WriteSlot {
            slot: 0,
            words: vec![1; 3],
        };
        assert!(
            a.apply_host(&mut m)
                .unwrap_err()
                .to_string()
                .contains("16 words")
        );
    }
}
