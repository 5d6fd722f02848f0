//! What a step's timeline delta is taken from. A host action writes ring words only at the
//! slots it names ([`Action::ring_slots`]; a reset may write them all), so its delta copies
//! those slots and the small buffers. A CPU-engine step writes ring words only at the slots
//! it claims ([`CpuEngine::claims`](crate::engine::cpu::CpuEngine::claims)), so its delta
//! needs a copy of the small buffers and those claims: at 1M slots that skips a 64 MiB copy
//! and a 64 MiB diff per dispatch, whatever the dispatch did. The GPU engine, breakpoints
//! that compare the ring before and after a step, resets and batches over a quarter of the
//! ring still take the whole copy.

use super::Debugger;
use super::action::Action;
use super::breakpoint;
use super::delta::Delta;
use crate::abi::layout::SLOT_WORDS;
use crate::engine::Backend;

/// What [`Debugger::capture_before_step`] or [`Debugger::capture_for_action`] copied, for
/// [`Debugger::step_delta`].
#[must_use]
pub(super) struct StepCapture {
    /// The mirror's version before the step (for [`super::ring_changes`]).
    version: (u64, u64),
    ring: RingCopy,
}

/// What of the ring was copied before the step.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RingCopy {
    Whole,
    /// Nothing: the CPU engine's claims say what the step changed.
    Claims,
    /// The words of the slots a host action may write, in `ring_change_scratch`.
    Slots,
}

impl Debugger {
    /// Copies the whole state before a step that may write anywhere.
    fn capture_whole(&mut self) -> StepCapture {
        self.state.snapshot_readback_into(&mut self.scratch);
        StepCapture {
            version: self.state.version(),
            ring: RingCopy::Whole,
        }
    }

    /// Copies what the delta of the engine step about to run needs: everything but the ring
    /// when the CPU engine runs it and no breakpoint reads the ring before it.
    pub(super) fn capture_before_step(&mut self) -> StepCapture {
        let cpu_runs = self.backend != Backend::Gpu || self.gpu.is_none();
        if !cpu_runs || breakpoint::needs_ring(&self.breakpoints) {
            return self.capture_whole();
        }
        self.copy_all_but_the_ring();
        StepCapture {
            version: self.state.version(),
            ring: RingCopy::Claims,
        }
    }

    /// Copies what the delta of host action `action` needs: the small buffers and the words
    /// of the slots it may write, when those are at most a quarter of the ring.
    pub(super) fn capture_for_action(&mut self, action: &Action) -> StepCapture {
        let n = self.state.slot_count();
        let Some(slots) = action.ring_slots().filter(|s| s.len() <= n as usize / 4) else {
            return self.capture_whole();
        };
        self.copy_all_but_the_ring();
        let ring = self.state.ring();
        let list = &mut self.ring_change_scratch;
        list.clear();
        for s in slots.into_iter().filter(|&s| s < n) {
            let base = s as usize * SLOT_WORDS;
            list.extend((base..base + SLOT_WORDS).map(|i| (i as u32, ring[i])));
        }
        StepCapture {
            version: self.state.version(),
            ring: RingCopy::Slots,
        }
    }

    fn copy_all_but_the_ring(&mut self) {
        let s = &mut self.scratch;
        for (dst, src) in [
            (&mut s.control, self.state.control()),
            (&mut s.debug_log, self.state.debug_log()),
            (&mut s.io_queue, self.state.io_queue()),
        ] {
            dst.clear();
            dst.extend_from_slice(src);
        }
        s.ring.clear();
    }

    /// The delta of the step since `capture`; `claims_from` is where the step's claims
    /// begin in the CPU engine's list (passes run earlier in the dispatch came before it).
    pub(super) fn step_delta(&mut self, capture: StepCapture, claims_from: usize) -> Delta {
        let delta = if capture.ring == RingCopy::Whole {
            Delta::between(&self.scratch, &self.state)
        } else {
            let mut ring_changes = std::mem::take(&mut self.ring_change_scratch);
            if capture.ring == RingCopy::Claims {
                ring_changes.clear();
                let claims = self.cpu.claims().get(claims_from..).unwrap_or(&[]);
                ring_changes.extend(
                    claims
                        .iter()
                        .map(|&(slot, old)| (slot * SLOT_WORDS as u32, old)),
                );
            }
            let delta = Delta::with_ring_changes(&self.scratch, &self.state, &ring_changes);
            self.ring_change_scratch = ring_changes;
            delta
        };
        self.ring_changes
            .note(capture.version, self.state.version(), [&delta]);
        delta
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::action::Action;
    use super::super::breakpoint::{Breakpoint, Condition};
    use super::super::{Debugger, RunConfig};
    use crate::abi::opcode::Opcode;
    use crate::abi::status::SlotStatus;
    use crate::debugger::delta::Delta;
    use crate::engine::cpu::tests::random_state;
    use crate::engine::{Backend, Variant};
    use crate::resident::ResidentBuffers;

    fn debugger(state: ResidentBuffers, variant: Variant, wg: u32, race: bool) -> Debugger {
        let mut d = Debugger::from_state(state, 2, RunConfig::default(), Backend::Cpu);
        d.set_config(RunConfig {
            variant,
            workgroup_size: Some(wg),
            race_analysis: race,
            pass_budget: 4,
            ..Default::default()
        })
        .unwrap();
        d
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// The deltas built from the CPU engine's claims and from the slots a host action
        /// names are the deltas a diff of the whole state before and after each step gives:
        /// dispatches and single passes of every variant on one and several workgroups,
        /// publishes (single, batch, packed), raw slot and control writes, resets.
        #[test]
        fn deltas_from_claims_and_named_slots_equal_whole_state_diffs(
            slots in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), any::<[u32; 4]>()), 32),
            variant in prop_oneof![Just(Variant::Once), Just(Variant::Persistent), Just(Variant::Priority)],
            wg in prop_oneof![Just(4u32), Just(8), Just(32)],
            race in any::<bool>(),
            steps in proptest::collection::vec((0u8..9, 0u32..32, 0u32..12, any::<u32>()), 1..10),
        ) {
            let mut d = debugger(random_state(32, &slots), variant, wg, race);
            for (step, slot, len, value) in steps {
                let before = d.state().snapshot_readback();
                let action = match step {
                    0 | 1 => Action::Dispatch { count: 1 },
                    2 => Action::Pass,
                    3 => Action::Publish {
                        slot,
                        tenant: value % 3,
                        opcode: Opcode::ATOMIC_ADD,
                        args: vec![1, 150 + value % 8],
                        priority: (value % 2 == 0).then_some(value % 5),
                    },
                    4 => Action::PublishPattern(crate::debugger::action::Pattern {
                        start: slot,
                        end: (slot + len).min(32),
                        step: 1 + value % 3,
                        tenants: vec![0, 1],
                        opcodes: vec![Opcode::NOP, Opcode::STORE_U32],
                        priorities: vec![value % 5],
                        args: vec![],
                    }),
                    5 => Action::PublishPacked {
                        slot,
                        tenant: 0,
                        ops: vec![crate::debugger::action::PackedOp {
                            opcode: Opcode::ATOMIC_ADD,
                            args: vec![1, 151],
                        }],
                    },
                    6 => Action::WriteSlot { slot, words: vec![value; 16] },
                    7 => Action::WriteControl { word: 150 + len, value },
                    _ => Action::Reset,
                };
                if d.apply(action).is_err() {
                    // refused (a slot in flight): nothing changed, nothing recorded
                    prop_assert_eq!(&d.state().snapshot_readback(), &before);
                    continue;
                }
                let whole = Delta::between(&before, d.state());
                prop_assert_eq!(&d.timeline().current().delta, &whole);
            }
            // and the timeline walks back to the start exactly
            let end = d.state().clone();
            d.seek(0);
            prop_assert_eq!(d.state(), &random_state(32, &slots));
            d.seek(d.timeline().len() - 1);
            prop_assert_eq!(d.state(), &end);
        }
    }

    /// Breakpoints read the state before a step: one on slot statuses makes the step copy
    /// the whole ring, one on a control word fires from the smaller copy.
    #[test]
    fn breakpoints_see_the_state_before_the_step() {
        use super::super::breakpoint::SlotSelector;
        use crate::abi::control::DONE_COUNT;
        for condition in [
            Condition::SlotEnters {
                slots: SlotSelector::One(3),
                status: SlotStatus::Done,
            },
            Condition::ControlChanges {
                word: DONE_COUNT as u32,
            },
        ] {
            let mut d = debugger(
                ResidentBuffers::new(16, 1, 0).unwrap(),
                Variant::Once,
                16,
                true,
            );
            d.breakpoints_mut().push(Breakpoint::new(condition.clone()));
            d.apply(Action::Publish {
                slot: 3,
                tenant: 0,
                opcode: Opcode::NOP,
                args: vec![],
                priority: None,
            })
            .unwrap();
            d.dispatch().unwrap();
            let hit = d.take_hit();
            assert!(hit.is_some(), "{condition:?} did not fire");
            d.dispatch().unwrap();
            assert!(
                d.take_hit().is_none(),
                "{condition:?} fired on a step that changed nothing"
            );
        }
    }
}
