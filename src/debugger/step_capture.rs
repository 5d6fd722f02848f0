//! What a step's timeline delta is taken from. A host action may write anywhere, so its
//! delta diffs a copy of the whole state. A CPU-engine step writes ring words only at the
//! slots it claims ([`CpuEngine::claims`](crate::engine::cpu::CpuEngine::claims)), so its
//! delta needs a copy of the small buffers and those claims: at 1M slots that skips a 64 MiB
//! copy and a 64 MiB diff per dispatch, whatever the dispatch did. The GPU engine, and
//! breakpoints that compare the ring before and after a step, still take the whole copy.

use super::Debugger;
use super::breakpoint;
use super::delta::Delta;
use crate::engine::Backend;

/// What [`Debugger::capture_before_step`] copied, for [`Debugger::step_delta`].
#[must_use]
pub(super) struct StepCapture {
    /// The mirror's version before the step (for [`super::ring_changes`]).
    version: (u64, u64),
    /// The ring was left out of the copy: the delta comes from the CPU engine's claims.
    from_claims: bool,
}

impl Debugger {
    /// Copies the whole state before a step that may write anywhere (a host action).
    pub(super) fn capture_whole(&mut self) -> StepCapture {
        self.state.snapshot_readback_into(&mut self.scratch);
        StepCapture {
            version: self.state.version(),
            from_claims: false,
        }
    }

    /// Copies what the delta of the engine step about to run needs: everything but the ring
    /// when the CPU engine runs it and no breakpoint reads the ring before it.
    pub(super) fn capture_before_step(&mut self) -> StepCapture {
        let cpu_runs = self.backend != Backend::Gpu || self.gpu.is_none();
        if !cpu_runs || breakpoint::needs_ring(&self.breakpoints) {
            return self.capture_whole();
        }
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
        StepCapture {
            version: self.state.version(),
            from_claims: true,
        }
    }

    /// The delta of the step since `capture`; `claims_from` is where the step's claims
    /// begin in the CPU engine's list (passes run earlier in the dispatch came before it).
    pub(super) fn step_delta(&mut self, capture: StepCapture, claims_from: usize) -> Delta {
        let delta = if capture.from_claims {
            let mut ring_changes = std::mem::take(&mut self.ring_change_scratch);
            ring_changes.clear();
            ring_changes.extend(
                self.cpu
                    .claims()
                    .get(claims_from..)
                    .unwrap_or(&[])
                    .iter()
                    .map(|&(slot, old)| (slot * crate::abi::layout::SLOT_WORDS as u32, old)),
            );
            let delta = Delta::with_ring_changes(&self.scratch, &self.state, &mut ring_changes);
            self.ring_change_scratch = ring_changes;
            delta
        } else {
            Delta::between(&self.scratch, &self.state)
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

        /// The deltas built from the CPU engine's claims are the deltas a diff of the whole
        /// state before and after each step gives: dispatches and single passes, every
        /// variant, one and several workgroups, re-published work between dispatches.
        #[test]
        fn deltas_from_claims_equal_whole_state_diffs(
            slots in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), any::<[u32; 4]>()), 32),
            variant in prop_oneof![Just(Variant::Once), Just(Variant::Persistent), Just(Variant::Priority)],
            wg in prop_oneof![Just(4u32), Just(8), Just(32)],
            race in any::<bool>(),
            steps in proptest::collection::vec(0u8..4, 1..8),
        ) {
            let mut d = debugger(random_state(32, &slots), variant, wg, race);
            for step in steps {
                let before = d.state().snapshot_readback();
                match step {
                    0 | 1 => { d.dispatch().unwrap(); }
                    2 => { d.step_pass().unwrap(); }
                    _ => {
                        // publish over the slots that finished, so later dispatches claim again
                        let done: Vec<u32> = (0..32)
                            .filter(|&s| d.state().ring()[s as usize * 16] == SlotStatus::Done.word())
                            .take(5)
                            .collect();
                        for s in done {
                            d.apply(Action::Publish {
                                slot: s,
                                tenant: 0,
                                opcode: Opcode::ATOMIC_ADD,
                                args: vec![1, 150 + s % 8],
                                priority: None,
                            })
                            .unwrap();
                        }
                        continue;
                    }
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
