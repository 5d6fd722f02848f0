//! A recording replayed as a read-only timeline: one point per recorded step, so the
//! scrubber, step and step back, the grid, inspector, diff and "who changed this word" work on
//! a real program's run exactly as on megascope's own. Every dispatch step is re-run on the
//! CPU engine while loading — its diagnostics and plots come from that run, and a step whose
//! recorded state differs from the oracle's is marked with the slots that differ (the app's
//! form of `record verify`). Nothing runs or publishes until "Continue from here" turns the
//! current step into a normal session.

use std::collections::BTreeMap;
use std::path::PathBuf;

use megascope_record::{Recording, StepCursor, StepKind};

use super::delta::Delta;
use super::history::DispatchSummary;
use super::timeline::PointKind;
use super::{Debugger, RunConfig};
use crate::engine::cpu::CpuEngine;
use crate::engine::{Backend, DispatchOptions, Engine, Variant};
use crate::files::recording::verify::VERIFY_PASS_BUDGET;
use crate::resident::{Readback, ResidentBuffers};

/// What the debugger knows of the recording it replays.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplayInfo {
    pub path: PathBuf,
    pub steps: usize,
    /// Dispatch steps whose recorded state differs from the oracle's, with the slots whose
    /// words differ (empty when only control words or the debug log differ).
    pub diverging: BTreeMap<usize, Vec<u32>>,
    /// Dispatch steps the oracle could not run (an unknown variant, a bad workgroup size).
    pub unchecked: BTreeMap<usize, String>,
    /// What opening the file found and worked around, and damage that cut it short.
    pub warnings: Vec<String>,
}

fn readback_of(state: &megascope_record::State) -> Readback {
    Readback {
        control: state.control.clone(),
        ring: state.ring.clone(),
        debug_log: state.debug_log.clone(),
        io_queue: state.io_queue.clone(),
    }
}

fn variant_of(name: &str) -> Option<Variant> {
    Variant::ALL.into_iter().find(|v| v.name() == name)
}

impl Debugger {
    /// Loads every step of `rec` into a read-only timeline (the cursor on the last step).
    /// `progress(done, total)` is called after each step.
    pub fn from_recording(
        rec: &Recording,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Debugger, String> {
        if rec.is_empty() {
            return Err(match rec.damage() {
                Some(d) => format!("{} has no intact step: {d}", rec.path().display()),
                None => format!("{} holds no step", rec.path().display()),
            });
        }
        let fp = &rec.meta().fingerprint;
        let mut info = ReplayInfo {
            path: rec.path().to_path_buf(),
            steps: rec.len(),
            warnings: rec.warnings().to_vec(),
            ..Default::default()
        };
        if let Some(d) = rec.damage() {
            info.warnings.push(format!(
                "the file is damaged after step {}: {d}",
                rec.len() - 1
            ));
        }
        let mut cursor = StepCursor::new(rec);
        let first = match cursor.next_step() {
            Some(Ok((_, s))) => readback_of(s),
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err(format!("{} holds no step", rec.path().display())),
        };
        let state = ResidentBuffers::from_words(fp.slot_count, first)
            .map_err(|e| format!("step 0 is not a valid state: {e}"))?;
        let mut d =
            Debugger::from_state(state, fp.tenant_count, RunConfig::default(), Backend::Cpu);
        let mut cpu = CpuEngine::new();
        let mut before = Readback::default();
        progress(1, rec.len());
        while let Some(next) = cursor.next_step() {
            let (i, recorded) = match next {
                Ok(s) => s,
                Err(e) => {
                    info.warnings
                        .push(format!("step {}: {e}", d.timeline.len()));
                    break;
                }
            };
            let step = rec.info(i).expect("the cursor walks indexed steps");
            d.state.snapshot_readback_into(&mut before);
            let dispatch = match &step.kind {
                StepKind::Dispatch {
                    variant,
                    workgroup_size,
                } => Some((variant.clone(), *workgroup_size)),
                StepKind::Host => None,
            };
            // The oracle's run from the state before, for diagnostics, plots and the check.
            let mut report = None;
            if let Some((variant, wg)) = &dispatch {
                match variant_of(variant) {
                    None => {
                        info.unchecked.insert(
                            i,
                            format!("variant \"{variant}\" is not one megascope runs"),
                        );
                    }
                    Some(v) => {
                        let opts = DispatchOptions {
                            variant: v,
                            workgroup_size: Some(*wg),
                            pass_budget: VERIFY_PASS_BUDGET,
                            dispatch_index: d.dispatches,
                            ..Default::default()
                        };
                        match cpu.dispatch(&mut d.state, &opts) {
                            Ok(r) => {
                                let slots: Vec<u32> = d
                                    .state
                                    .ring()
                                    .chunks_exact(16)
                                    .zip(recorded.ring.chunks_exact(16))
                                    .enumerate()
                                    .filter(|(_, (a, b))| a != b)
                                    .map(|(s, _)| s as u32)
                                    .collect();
                                let same = slots.is_empty()
                                    && d.state.control() == recorded.control.as_slice()
                                    && d.state.io_queue() == recorded.io_queue.as_slice()
                                    && crate::scenario::record_multiset(d.state.debug_log())
                                        == crate::scenario::record_multiset(&recorded.debug_log)
                                    && d.state.debug_log().first() == recorded.debug_log.first();
                                if !same {
                                    info.diverging.insert(i, slots);
                                }
                                report = Some(r);
                            }
                            Err(e) => {
                                info.unchecked.insert(i, e.to_string());
                            }
                        }
                    }
                }
            }
            // The recorded state is what the timeline shows, whatever the oracle said.
            {
                let b = d.state.buffers_mut();
                b.control.clone_from(&recorded.control);
                b.ring.clone_from(&recorded.ring);
                b.debug_log.clone_from(&recorded.debug_log);
                b.io_queue.clone_from(&recorded.io_queue);
            }
            let delta = Delta::between(&before, &d.state);
            let is_dispatch = dispatch.is_some();
            if let Some(r) = &report {
                d.history.push(DispatchSummary::new(
                    r,
                    d.state.control(),
                    d.state.debug_log(),
                ));
                for diag in &r.diagnostics {
                    d.log_diagnostic(diag.clone());
                }
            }
            if is_dispatch {
                if report.is_none() {
                    // keep history aligned with the dispatch count
                    d.history.push(DispatchSummary::recorded(
                        d.dispatches,
                        d.state.control(),
                        d.state.debug_log(),
                        d.state.ring(),
                    ));
                }
                d.dispatches += 1;
            }
            let label = format!(
                "step {i}: {}{}",
                if step.label.is_empty() {
                    if is_dispatch { "dispatch" } else { "host" }
                } else {
                    &step.label
                },
                if info.diverging.contains_key(&i) {
                    " — differs from the oracle"
                } else {
                    ""
                }
            );
            d.timeline.push(
                PointKind::Recorded {
                    step: i,
                    dispatch: is_dispatch,
                },
                None,
                delta,
                d.dispatches,
                label,
            );
            progress(i + 1, rec.len());
        }
        d.replay = Some(info);
        Ok(d)
    }

    /// The recording this debugger replays, while it is read-only.
    pub fn replay(&self) -> Option<&ReplayInfo> {
        self.replay.as_ref()
    }

    /// The recorded step at the cursor, when replaying.
    pub fn replay_step(&self) -> Option<usize> {
        match self.timeline.current().kind {
            PointKind::Recorded { step, .. } => Some(step),
            PointKind::Base if self.replay.is_some() => Some(0),
            _ => None,
        }
    }

    /// The timeline point of recorded step `step`.
    pub fn point_of_step(&self, step: usize) -> Option<usize> {
        if step == 0 && self.replay.is_some() {
            return Some(0);
        }
        self.timeline
            .points()
            .iter()
            .position(|p| matches!(p.kind, PointKind::Recorded { step: s, .. } if s == step))
    }

    /// "Continue from here": the state at the cursor becomes a normal session (engines,
    /// publishing, stepping), as if it had been opened from a dump.
    pub fn continue_from_here(&self) -> Debugger {
        let mut d = Debugger::from_state(
            self.state.clone(),
            self.geometry.tenant_count,
            self.config,
            Backend::Cpu,
        );
        d.breakpoints = self.breakpoints.clone();
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::opcode::Opcode;
    use crate::debugger::action::Action;
    use megascope_record::{Buffers, Fingerprint, Meta, Recorder, StepInfo};

    fn bufs(m: &ResidentBuffers) -> Buffers<'_> {
        Buffers {
            control: m.control(),
            ring: m.ring(),
            debug_log: m.debug_log(),
            io_queue: m.io_queue(),
        }
    }

    /// A host step, a dispatch, a host step and a dispatch whose recorded state has one
    /// word the oracle would not write.
    fn recording(dir: &std::path::Path) -> (PathBuf, Vec<ResidentBuffers>) {
        let mut m = ResidentBuffers::new(32, 1, 4).unwrap();
        let path = dir.join("r.msrec");
        let fp = Fingerprint::from_lengths(m.control().len(), m.ring().len(), 257, 512, 1);
        let mut rec = Recorder::create(&path, Meta::new(fp, "test")).unwrap();
        let mut states = vec![m.clone()];
        rec.record(StepInfo::host("initial"), bufs(&m)).unwrap();
        m.publish_slot(3, 0, Opcode::ATOMIC_ADD, &[5, 160]).unwrap();
        rec.record(StepInfo::host("publish"), bufs(&m)).unwrap();
        states.push(m.clone());
        m.dispatch(&mut CpuEngine::new(), &DispatchOptions::default())
            .unwrap();
        rec.record(StepInfo::dispatch("once", 32, "dispatch 0"), bufs(&m))
            .unwrap();
        states.push(m.clone());
        m.publish_slot(7, 0, Opcode::STORE_U32, &[9, 161]).unwrap();
        rec.record(StepInfo::host("publish"), bufs(&m)).unwrap();
        states.push(m.clone());
        m.dispatch(&mut CpuEngine::new(), &DispatchOptions::default())
            .unwrap();
        let b = m.buffers_mut();
        b.ring[7 * 16 + 5] = 0xBAD; // a word the kernel never writes
        rec.record(StepInfo::dispatch("once", 32, "dispatch 1"), bufs(&m))
            .unwrap();
        states.push(m.clone());
        rec.finish().unwrap();
        (path, states)
    }

    #[test]
    fn every_step_is_a_point_with_its_exact_state() {
        let dir = tempfile::tempdir().unwrap();
        let (path, states) = recording(dir.path());
        let rec = Recording::open(&path).unwrap();
        let mut d = Debugger::from_recording(&rec, &mut |_, _| {}).unwrap();
        assert_eq!(d.timeline().len(), states.len());
        assert_eq!(d.dispatches(), 2);
        assert_eq!(d.history().len(), 2);
        for (step, s) in states.iter().enumerate().rev() {
            let p = d.point_of_step(step).unwrap();
            d.seek(p);
            assert_eq!(d.state(), s, "step {step}");
            assert_eq!(d.replay_step(), Some(step));
        }
        assert_eq!(d.dispatches(), 0);
    }

    #[test]
    fn a_step_that_differs_from_the_oracle_is_marked_with_its_slots() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = recording(dir.path());
        let rec = Recording::open(&path).unwrap();
        let d = Debugger::from_recording(&rec, &mut |_, _| {}).unwrap();
        let r = d.replay().unwrap();
        assert_eq!(r.diverging.len(), 1);
        assert_eq!(r.diverging.get(&4), Some(&vec![7]));
        assert!(
            d.timeline().points()[4]
                .label
                .contains("differs from the oracle")
        );
    }

    #[test]
    fn a_replay_is_read_only_until_continued() {
        let dir = tempfile::tempdir().unwrap();
        let (path, states) = recording(dir.path());
        let rec = Recording::open(&path).unwrap();
        let mut d = Debugger::from_recording(&rec, &mut |_, _| {}).unwrap();
        let e = d.apply(Action::Dispatch { count: 1 }).unwrap_err();
        assert!(e.to_string().contains("Continue from here"), "{e}");
        assert!(d.dispatch().is_err());
        assert!(d.step_pass().is_err());
        d.seek(d.point_of_step(1).unwrap());
        let mut c = d.continue_from_here();
        assert!(c.replay().is_none());
        assert_eq!(c.state(), &states[1]);
        c.apply(Action::Dispatch { count: 1 }).unwrap();
        assert_eq!(
            c.state(),
            &states[2],
            "running on gives what the program got"
        );
    }
}
