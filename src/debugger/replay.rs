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

use super::breakpoint::{self, BreakpointHit, StepFacts};
use super::delta::Delta;
use super::history::DispatchSummary;
use super::timeline::PointKind;
use super::{Debugger, RunConfig};
use crate::engine::cpu::CpuEngine;
use crate::engine::{Backend, DispatchOptions, Engine, Variant};
use crate::files::recording::to_resident;
use crate::files::recording::verify::{VERIFY_PASS_BUDGET, debug_logs_agree};
use crate::resident::ResidentBuffers;

/// What the debugger knows of the recording it replays.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplayInfo {
    pub path: PathBuf,
    pub steps: usize,
    /// Dispatch steps whose recorded state differs from the oracle's, and where.
    pub diverging: BTreeMap<usize, StepDivergence>,
    /// Dispatch steps the oracle could not run (an unknown variant, a bad workgroup size).
    pub unchecked: BTreeMap<usize, String>,
    /// What opening the file found and worked around, and damage that cut it short.
    pub warnings: Vec<String>,
}

/// Where a recorded dispatch differs from the oracle's run of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepDivergence {
    /// Slots with a ring word that differs.
    pub slots: Vec<u32>,
    /// Control words that differ.
    pub control_words: Vec<u32>,
    /// The debug log's records (as a multiset) or cursor differ.
    pub debug_log: bool,
    pub io_queue: bool,
}

impl StepDivergence {
    /// Between the oracle's state and the recorded one; `None` when they agree.
    fn between(oracle: &ResidentBuffers, recorded: &megascope_record::State) -> Option<Self> {
        let slots: Vec<u32> = oracle
            .ring()
            .chunks_exact(16)
            .zip(recorded.ring.chunks_exact(16))
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(s, _)| s as u32)
            .collect();
        let control_words: Vec<u32> = oracle
            .control()
            .iter()
            .zip(&recorded.control)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(w, _)| w as u32)
            .collect();
        let d = StepDivergence {
            slots,
            control_words,
            debug_log: !debug_logs_agree(oracle.debug_log(), &recorded.debug_log),
            io_queue: oracle.io_queue() != recorded.io_queue.as_slice(),
        };
        (d != StepDivergence::default()).then_some(d)
    }

    /// "3 slots, control words 52, 53 and the debug log", for the replay bar.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let n = self.slots.len();
        if n > 0 {
            parts.push(format!(
                "{n} slot{} (highlighted)",
                if n == 1 { "" } else { "s" }
            ));
        }
        if !self.control_words.is_empty() {
            let shown: Vec<String> = self
                .control_words
                .iter()
                .take(6)
                .map(|w| w.to_string())
                .collect();
            let more = self.control_words.len().saturating_sub(6);
            parts.push(format!(
                "control word{} {}{}",
                if self.control_words.len() == 1 {
                    ""
                } else {
                    "s"
                },
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ));
        }
        if self.debug_log {
            parts.push("the debug log".into());
        }
        if self.io_queue {
            parts.push("the IO queue".into());
        }
        parts.join(", ")
    }
}

/// What the debugger keeps of an open recording: the file (to follow a program still
/// recording) and the oracle that checks each new step.
pub struct ReplaySource {
    rec: Recording,
    cpu: CpuEngine,
}

/// What one recorded step adds to the replay timeline.
struct StepPoint {
    delta: Delta,
    report: Option<crate::engine::DispatchReport>,
    dispatch: bool,
    label: String,
}

/// Checks recorded step `i` against the oracle and turns it into a point. `state` holds the
/// state before the step and is left holding the recorded state after it.
fn step_point(
    cpu: &mut CpuEngine,
    info: &mut ReplayInfo,
    rec: &Recording,
    i: usize,
    state: &mut ResidentBuffers,
    recorded: &megascope_record::State,
    dispatch_index: u64,
) -> StepPoint {
    let before = state.snapshot_readback();
    let step = rec.info(i).expect("indexed steps have their info");
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
        match Variant::from_name(variant) {
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
                    dispatch_index,
                    ..Default::default()
                };
                match cpu.dispatch(state, &opts) {
                    Ok(r) => {
                        if let Some(d) = StepDivergence::between(state, recorded) {
                            info.diverging.insert(i, d);
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
        let b = state.buffers_mut();
        b.control.clone_from(&recorded.control);
        b.ring.clone_from(&recorded.ring);
        b.debug_log.clone_from(&recorded.debug_log);
        b.io_queue.clone_from(&recorded.io_queue);
    }
    let label = format!(
        "step {i}: {}{}",
        if step.label.is_empty() {
            if dispatch.is_some() {
                "dispatch"
            } else {
                "host"
            }
        } else {
            &step.label
        },
        if info.diverging.contains_key(&i) {
            " — differs from the oracle"
        } else {
            ""
        }
    );
    StepPoint {
        delta: Delta::between(&before, state),
        report,
        dispatch: dispatch.is_some(),
        label,
    }
}

impl Debugger {
    /// Loads every step of `rec` into a read-only timeline, the cursor on the first step that
    /// differs from the oracle, or else on the last step.
    /// `progress(done, total)` is called after each step.
    pub fn from_recording(
        rec: Recording,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Debugger, String> {
        if rec.is_empty() {
            return Err(match rec.damage() {
                Some(d) => format!("{} has no intact step: {d}", rec.path().display()),
                None => format!("{} holds no step", rec.path().display()),
            });
        }
        let fp = rec.meta().fingerprint.clone();
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
        let mut cpu = CpuEngine::new();
        let mut d;
        {
            let mut cursor = StepCursor::new(&rec);
            let first = match cursor.next_step() {
                Some(Ok((_, s))) => s.clone(),
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err(format!("{} holds no step", rec.path().display())),
            };
            let state = to_resident(fp.slot_count, first)
                .map_err(|e| format!("step 0 is not a valid state: {e}"))?;
            d = Debugger::from_state(state, fp.tenant_count, RunConfig::default(), Backend::Cpu);
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
                let dispatches = d.dispatches;
                let p = step_point(
                    &mut cpu,
                    &mut info,
                    &rec,
                    i,
                    &mut d.state,
                    recorded,
                    dispatches,
                );
                d.add_step_point(i, p, false);
                progress(i + 1, rec.len());
            }
        }
        info.steps = d.timeline.len() + d.timeline.trimmed() as usize;
        let first_diverging = info.diverging.keys().next().copied();
        d.replay = Some(info);
        d.replay_src = Some(Box::new(ReplaySource { rec, cpu }));
        // Open where the run first differs from the oracle: that is what the user came for.
        if let Some(p) = first_diverging.and_then(|s| d.point_of_step(s)) {
            d.seek(p);
        }
        Ok(d)
    }

    /// Puts a recorded step's point on the timeline: at the cursor while loading, after the
    /// last point (the cursor staying where the user is) when a followed file grows.
    fn add_step_point(&mut self, step: usize, p: StepPoint, keep_cursor: bool) {
        if let Some(r) = &p.report {
            self.history.push(DispatchSummary::new(
                r,
                self.state.control(),
                self.state.debug_log(),
            ));
            for diag in &r.diagnostics {
                self.log_diagnostic(diag.clone());
            }
        } else if p.dispatch {
            // keep the history aligned with the dispatch count
            self.history.push(DispatchSummary::recorded(
                self.history.len() as u64,
                self.state.control(),
                self.state.debug_log(),
                self.state.ring(),
            ));
        }
        let total = self.timeline.points().last().map_or(0, |l| l.dispatches) + p.dispatch as u64;
        let kind = PointKind::Recorded {
            step,
            dispatch: p.dispatch,
        };
        if keep_cursor {
            self.timeline.append(kind, None, p.delta, total, p.label);
        } else {
            self.dispatches = total;
            self.timeline.push(kind, None, p.delta, total, p.label);
        }
    }

    /// Takes in the steps a program still recording has appended since the last look, checked
    /// like the others; the cursor stays where it is. Returns how many arrived.
    pub fn replay_refresh(&mut self) -> Result<usize, String> {
        let Some(src) = self.replay_src.as_mut() else {
            return Ok(0);
        };
        let have = src.rec.len();
        // A file that shrank was truncated or replaced (a program re-run over it): its old
        // mapping must not be read again. Stop following it.
        let now = std::fs::metadata(src.rec.path())
            .map(|m| m.len())
            .unwrap_or(0);
        if now < src.rec.file_bytes() {
            let path = src.rec.path().display().to_string();
            self.replay_src = None;
            return Err(format!(
                "{path} shrank: it was truncated or replaced while open, so it is no longer followed; open it again to see the new run"
            ));
        }
        let new = src.rec.refresh().map_err(|e| e.to_string())?;
        if new == 0 {
            return Ok(0);
        }
        let src = self.replay_src.take().expect("checked above");
        let ReplaySource { rec, mut cpu } = *src;
        let mut info = self.replay.take().unwrap_or_default();
        let result = (|| -> Result<(), String> {
            let last = rec.state(have - 1).map_err(|e| e.to_string())?;
            let mut state =
                to_resident(rec.meta().fingerprint.slot_count, last).map_err(|e| e.to_string())?;
            let mut after = rec.state(have - 1).map_err(|e| e.to_string())?;
            for i in have..rec.len() {
                rec.apply_step(i, &mut after).map_err(|e| e.to_string())?;
                let dispatches = self.history.len() as u64;
                let p = step_point(&mut cpu, &mut info, &rec, i, &mut state, &after, dispatches);
                // the history summary reads the state: give it the new step's
                std::mem::swap(&mut self.state, &mut state);
                self.add_step_point(i, p, true);
                std::mem::swap(&mut self.state, &mut state);
            }
            Ok(())
        })();
        info.steps = rec.len();
        info.warnings = rec.warnings().to_vec();
        self.replay = Some(info);
        self.replay_src = Some(Box::new(ReplaySource { rec, cpu }));
        result.map(|()| new)
    }

    /// Moves one point at a time forward (or backward) until an enabled breakpoint holds at
    /// the step reached, or the timeline ends; returns the hit (the cursor stays on it).
    pub fn replay_run_to_break(&mut self, forward: bool) -> Option<BreakpointHit> {
        loop {
            let c = self.timeline.cursor();
            let target = if forward { c + 1 } else { c.checked_sub(1)? };
            if target >= self.timeline.len() || target == 0 {
                if target == 0 {
                    self.seek(0);
                }
                return None;
            }
            self.seek(target);
            let point = &self.timeline.points()[target];
            let delta = point.delta.clone();
            let dispatch = point.dispatches.saturating_sub(1);
            let is_dispatch = matches!(point.kind, PointKind::Recorded { dispatch: true, .. });
            let mut before = self.state.clone();
            delta.apply(&mut before, false);
            let before = before.snapshot_readback();
            let diagnostics: Vec<_> = if is_dispatch {
                self.diagnostics
                    .iter()
                    .filter(|d| d.dispatch == dispatch)
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            };
            let facts = StepFacts {
                before: &before,
                after: &self.state,
                delta: &delta,
                diagnostics: &diagnostics,
                passes: 1,
                dispatch,
                pass: None,
                point: target,
            };
            if let Some(h) = breakpoint::evaluate(&mut self.breakpoints, &facts, &mut self.stuck) {
                return Some(h);
            }
        }
    }

    /// The recording this debugger replays, while it is read-only.
    pub fn replay(&self) -> Option<&ReplayInfo> {
        self.replay.as_ref()
    }

    /// The recorded step at the cursor, when replaying.
    pub fn replay_step(&self) -> Option<usize> {
        match self.timeline.current().kind {
            PointKind::Recorded { step, .. } => Some(step),
            // the base is step 0 unless the timeline budget trimmed older steps away
            PointKind::Base if self.replay.is_some() && self.timeline.trimmed() == 0 => Some(0),
            _ => None,
        }
    }

    /// The timeline point of recorded step `step`.
    pub fn point_of_step(&self, step: usize) -> Option<usize> {
        if step == 0 && self.replay.is_some() && self.timeline.trimmed() == 0 {
            return Some(0);
        }
        // recorded points are in step order after the base: search, the scrubber asks per frame
        let pts = self.timeline.points();
        let i = pts.partition_point(|p| match p.kind {
            PointKind::Recorded { step: s, .. } => s < step,
            _ => true,
        });
        pts.get(i)
            .filter(|p| matches!(p.kind, PointKind::Recorded { step: s, .. } if s == step))
            .map(|_| i)
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
    use crate::engine::DispatchMirror;
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
    fn diagnostics_follow_the_replayed_step() {
        // two dispatches, the second with a race
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.msrec");
        let mut m = ResidentBuffers::new(32, 1, 4).unwrap();
        let fp = Fingerprint::from_lengths(m.control().len(), m.ring().len(), 257, 512, 1);
        let mut rec = Recorder::create(&path, Meta::new(fp, "d")).unwrap();
        rec.record(StepInfo::host("initial"), bufs(&m)).unwrap();
        m.publish_slot(1, 0, Opcode::NOP, &[]).unwrap();
        rec.record(StepInfo::host("publish"), bufs(&m)).unwrap();
        m.dispatch(&mut CpuEngine::new(), &DispatchOptions::default())
            .unwrap();
        rec.record(StepInfo::dispatch("once", 32, "d0"), bufs(&m))
            .unwrap();
        m.publish_slot(2, 0, Opcode::STORE_U32, &[1, 160]).unwrap();
        m.publish_slot(3, 0, Opcode::STORE_U32, &[2, 160]).unwrap();
        rec.record(StepInfo::host("publish"), bufs(&m)).unwrap();
        m.dispatch(&mut CpuEngine::new(), &DispatchOptions::default())
            .unwrap();
        rec.record(StepInfo::dispatch("once", 32, "d1"), bufs(&m))
            .unwrap();
        rec.finish().unwrap();
        let mut d =
            Debugger::from_recording(Recording::open(&path).unwrap(), &mut |_, _| {}).unwrap();
        let races = |d: &Debugger| {
            d.diagnostics_shown()
                .iter()
                .filter(|x| x.kind == crate::engine::DiagnosticKind::Race)
                .count()
        };
        assert_eq!(
            races(&d),
            1,
            "at the last step the race of dispatch 1 shows"
        );
        assert!(d.replay().unwrap().diverging.is_empty());
        d.seek(d.point_of_step(3).unwrap());
        assert_eq!(races(&d), 0, "before dispatch 1 it has not happened");
        assert!(d.diagnostics().len() >= d.diagnostics_shown().len());
    }

    #[test]
    fn a_divergence_says_where_it_is() {
        let d = StepDivergence {
            slots: vec![3, 9],
            control_words: (0..8).collect(),
            debug_log: true,
            io_queue: false,
        };
        assert_eq!(
            d.describe(),
            "2 slots (highlighted), control words 0, 1, 2, 3, 4, 5 and 2 more, the debug log"
        );
    }

    #[test]
    fn every_step_is_a_point_with_its_exact_state() {
        let dir = tempfile::tempdir().unwrap();
        let (path, states) = recording(dir.path());
        let rec = Recording::open(&path).unwrap();
        let mut d = Debugger::from_recording(rec, &mut |_, _| {}).unwrap();
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
        let d = Debugger::from_recording(rec, &mut |_, _| {}).unwrap();
        let r = d.replay().unwrap();
        assert_eq!(r.diverging.len(), 1);
        let div = r.diverging.get(&4).unwrap();
        assert_eq!(div.slots, vec![7]);
        assert!(div.control_words.is_empty() && !div.debug_log && !div.io_queue);
        assert_eq!(div.describe(), "1 slot (highlighted)");
        assert_eq!(
            d.replay_step(),
            Some(4),
            "it opens on the step that differs"
        );
        assert!(
            d.timeline().points()[4]
                .label
                .contains("differs from the oracle")
        );
    }

    #[test]
    fn breakpoints_run_forward_and_backward_to_the_step_where_they_hold() {
        use crate::debugger::breakpoint::{Breakpoint, Condition};
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = recording(dir.path());
        let rec = Recording::open(&path).unwrap();
        let mut d = Debugger::from_recording(rec, &mut |_, _| {}).unwrap();
        d.breakpoints_mut()
            .push(Breakpoint::new(Condition::ControlChanges { word: 161 }));
        d.seek(0);
        let hit = d
            .replay_run_to_break(true)
            .expect("dispatch 1 stores to 161");
        assert_eq!(d.replay_step(), Some(4));
        assert_eq!(hit.point, 4);
        assert!(d.replay_run_to_break(true).is_none(), "nothing later");
        d.breakpoints_mut()
            .push(Breakpoint::new(Condition::ControlChanges { word: 160 }));
        let hit = d
            .replay_run_to_break(false)
            .expect("dispatch 0 adds to 160");
        assert_eq!(d.replay_step(), Some(2));
        assert_eq!(hit.breakpoint, 1);
    }

    #[test]
    fn a_followed_recording_takes_in_new_steps_without_moving_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.msrec");
        let mut m = ResidentBuffers::new(32, 1, 4).unwrap();
        let fp = Fingerprint::from_lengths(m.control().len(), m.ring().len(), 257, 512, 1);
        let mut rec = Recorder::create(&path, Meta::new(fp, "live")).unwrap();
        rec.record(StepInfo::host("initial"), bufs(&m)).unwrap();
        m.publish_slot(1, 0, Opcode::ATOMIC_ADD, &[2, 160]).unwrap();
        rec.record(StepInfo::host("publish"), bufs(&m)).unwrap();
        let wait_for = |n: usize| {
            let t = std::time::Instant::now();
            loop {
                let r = Recording::open(&path).unwrap();
                if r.len() >= n || t.elapsed().as_secs() > 10 {
                    return r;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        };
        let mut d = Debugger::from_recording(wait_for(2), &mut |_, _| {}).unwrap();
        assert_eq!(d.timeline().len(), 2);
        d.seek(0);
        m.dispatch(&mut CpuEngine::new(), &DispatchOptions::default())
            .unwrap();
        rec.record(StepInfo::dispatch("once", 32, "dispatch"), bufs(&m))
            .unwrap();
        let t = std::time::Instant::now();
        let mut arrived = 0;
        while arrived == 0 && t.elapsed().as_secs() < 10 {
            arrived = d.replay_refresh().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(arrived, 1);
        assert_eq!(d.timeline().len(), 3);
        assert_eq!(
            d.timeline().cursor(),
            0,
            "the cursor stays where the user is"
        );
        assert_eq!(d.replay().unwrap().steps, 3);
        d.seek(2);
        assert_eq!(d.state(), &m);
        assert_eq!(d.dispatches(), 1);
        assert_eq!(d.history().len(), 1);
        assert!(d.replay().unwrap().diverging.is_empty());
        rec.finish().unwrap();
    }

    #[test]
    fn a_followed_file_that_shrinks_is_no_longer_read() {
        let dir = tempfile::tempdir().unwrap();
        let (path, states) = recording(dir.path());
        let rec = Recording::open(&path).unwrap();
        let mut d = Debugger::from_recording(rec, &mut |_, _| {}).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(100)
            .unwrap();
        let e = d.replay_refresh().unwrap_err();
        assert!(e.contains("shrank"), "{e}");
        assert_eq!(d.replay_refresh(), Ok(0), "not followed any more");
        // what was loaded stays usable
        d.seek(d.point_of_step(2).unwrap());
        assert_eq!(d.state(), &states[2]);
    }

    #[test]
    fn a_replay_is_read_only_until_continued() {
        let dir = tempfile::tempdir().unwrap();
        let (path, states) = recording(dir.path());
        let rec = Recording::open(&path).unwrap();
        let mut d = Debugger::from_recording(rec, &mut |_, _| {}).unwrap();
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
