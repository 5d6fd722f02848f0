//! The debugger model: the current state, the engines, the timeline and the per-dispatch
//! history. Every change goes through [`Debugger::apply`] (or the dispatch/pass/seek methods
//! it shares with the UI), so undo, time travel and session recording see one stream of
//! actions. No egui here: the UI reads this model and sends it actions.

pub mod action;
pub mod breakpoint;
mod config;
pub mod delta;
pub mod expr;
pub mod future;
mod gpu_side;
pub mod history;
pub mod replay;
pub mod ring_changes;
pub mod select;
pub mod settings;
mod step_capture;
mod stepping;
mod time_travel;
pub mod timeline;
pub mod who_wrote;

pub use config::{Geometry, RunConfig};
use gpu_side::GpuSide;
pub use gpu_side::{GPU_RECORD_LIMIT, Recording};
use serde::{Deserialize, Serialize};

use crate::abi::error::{AbiError, PublishError};
use crate::abi::validate::{check_observable, check_slot_count};
use crate::engine::cpu::CpuEngine;
use crate::engine::gpu::GpuEngine;
use crate::engine::{
    Backend, DEFAULT_PASS_BUDGET, DEFAULT_STARVATION_PASSES, Diagnostic, DiagnosticKind,
    DispatchOptions, DispatchReport, Engine, EngineError, Variant,
};
use crate::resident::{Readback, ResidentBuffers};
use action::Action;
use breakpoint::{Breakpoint, BreakpointHit, StepFacts, StuckCounter};
use delta::Delta;
use history::DispatchSummary;
use timeline::{PointKind, Timeline};

/// What can go wrong applying an action.
#[derive(Debug, thiserror::Error)]
pub enum DebuggerError {
    #[error("{0}")]
    Publish(#[from] PublishError),
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Abi(#[from] AbiError),
    #[error("the GPU backend is not available: {0}")]
    NoGpu(String),
    #[error(
        "{0} is a recording and replays read-only; use \"Continue from here\" to run or publish from this step"
    )]
    ReadOnly(String),
}

/// The most diagnostics kept for the UI's list (older ones are dropped and counted, see
/// [`Debugger::diagnostics_dropped`]).
pub const DIAGNOSTIC_LOG_CAP: usize = 20_000;

/// The most per-dispatch summaries kept for the plots (about 250 bytes each); older ones are
/// dropped so an endless run stays bounded.
pub const HISTORY_CAP: usize = 100_000;

/// What [`Debugger::step_pass`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum PassOutcome {
    /// A pass ran and the dispatch continues.
    Continues { pass: u32 },
    /// The pass ended the dispatch.
    Finished(Box<DispatchReport>),
}

/// The debugger model.
pub struct Debugger {
    geometry: Geometry,
    config: RunConfig,
    backend: Backend,
    state: ResidentBuffers,
    cpu: CpuEngine,
    gpu: Option<GpuSide>,
    recording: Recording,
    timeline: Timeline,
    history: Vec<DispatchSummary>,
    /// The dispatch index of `history[0]` (older summaries were dropped at [`HISTORY_CAP`]).
    history_start: u64,
    /// Completed dispatches at the cursor.
    dispatches: u64,
    /// The index of a dispatch begun by pass stepping and not finished.
    in_progress: Option<u64>,
    last_report: Option<DispatchReport>,
    diagnostics: Vec<Diagnostic>,
    /// Diagnostics dropped from the front of `diagnostics` at [`DIAGNOSTIC_LOG_CAP`].
    diagnostics_dropped: u64,
    scratch: Readback,
    breakpoints: Vec<Breakpoint>,
    stuck: StuckCounter,
    hit: Option<BreakpointHit>,
    /// Passes run so far in the dispatch in progress.
    pass_counter: u32,
    /// The recording this debugger replays (read-only), if it does.
    replay: Option<replay::ReplayInfo>,
    replay_src: Option<Box<replay::ReplaySource>>,
    /// See [`Debugger::revision`].
    revision: u64,
    /// Every breakpoint hit along the timeline, in order (see `future.rs`).
    hit_log: Vec<future::HitEntry>,
    /// The future the last action from an earlier point cut off, for Undo.
    dropped: Option<future::DroppedFuture>,
    /// Its size, until the app has said so once.
    dropped_fresh: Option<usize>,
    /// Named timeline points (see [`settings::Bookmark`]).
    bookmarks: Vec<settings::Bookmark>,
    ring_changes: ring_changes::RingChanges,
    /// Reused for the ring words a CPU step changed (see `step_capture`).
    ring_change_scratch: Vec<(u32, u32)>,
}

impl Debugger {
    /// A fresh state of `geometry`.
    pub fn new(
        geometry: Geometry,
        config: RunConfig,
        backend: Backend,
    ) -> Result<Debugger, DebuggerError> {
        geometry.check()?;
        let state = ResidentBuffers::new(
            geometry.slot_count,
            geometry.tenant_count,
            geometry.observable_slots,
        )?;
        let mut d = Self::from_state(state, geometry.tenant_count, RunConfig::default(), backend);
        d.set_config(config)?;
        Ok(d)
    }

    /// Starts from an existing state (a dump, a snapshot). `tenant_count` is what `reset`
    /// will re-encode.
    pub fn from_state(
        state: ResidentBuffers,
        tenant_count: u32,
        config: RunConfig,
        backend: Backend,
    ) -> Debugger {
        let geometry = Geometry {
            slot_count: state.slot_count(),
            tenant_count,
            observable_slots: state.observable_count(),
        };
        Debugger {
            geometry,
            config,
            backend: Backend::Cpu,
            state,
            cpu: CpuEngine::new(),
            gpu: None,
            recording: Recording::Auto,
            timeline: Timeline::new(0),
            history: Vec::new(),
            history_start: 0,
            dispatches: 0,
            in_progress: None,
            last_report: None,
            diagnostics: Vec::new(),
            diagnostics_dropped: 0,
            scratch: Readback::default(),
            breakpoints: Vec::new(),
            stuck: StuckCounter::default(),
            hit: None,
            pass_counter: 0,
            replay: None,
            replay_src: None,
            revision: 0,
            hit_log: Vec::new(),
            dropped: None,
            dropped_fresh: None,
            bookmarks: Vec::new(),
            ring_changes: Default::default(),
            ring_change_scratch: Vec::new(),
        }
        .with_backend_hint(backend)
    }

    /// Remembers a wish for the GPU backend: it takes effect once a GPU is attached.
    fn with_backend_hint(mut self, backend: Backend) -> Self {
        self.backend = if backend == Backend::Gpu && self.gpu.is_some() {
            Backend::Gpu
        } else {
            Backend::Cpu
        };
        self
    }

    // ---- queries ------------------------------------------------------------------------

    /// The host mirror. With the GPU backend running resident dispatches its ring may lag
    /// (see [`Debugger::is_stale`]); control words and the debug log are always current.
    pub fn state(&self) -> &ResidentBuffers {
        &self.state
    }
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }
    pub fn config(&self) -> RunConfig {
        self.config
    }
    pub fn backend(&self) -> Backend {
        self.backend
    }
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }
    /// Summaries of the dispatches completed up to the cursor, the most recent
    /// [`HISTORY_CAP`] at most (each carries its dispatch `index`).
    pub fn history(&self) -> &[DispatchSummary] {
        let end = self.dispatches.saturating_sub(self.history_start) as usize;
        &self.history[..end.min(self.history.len())]
    }
    pub fn dispatches(&self) -> u64 {
        self.dispatches
    }
    pub fn in_progress(&self) -> Option<u64> {
        self.in_progress
    }
    /// Passes run so far in the dispatch in progress.
    pub fn passes_in_progress(&self) -> Option<u32> {
        self.in_progress.map(|_| self.pass_counter)
    }
    pub fn last_report(&self) -> Option<&DispatchReport> {
        self.last_report.as_ref()
    }
    /// Recent diagnostics, oldest first.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }
    /// How many older diagnostics were dropped to keep the list at [`DIAGNOSTIC_LOG_CAP`].
    pub fn diagnostics_dropped(&self) -> u64 {
        self.diagnostics_dropped
    }
    /// The state at the base of the timeline, rebuilt by walking the deltas back on a copy;
    /// `None` when older history was trimmed (the base is then not where the script began).
    pub fn base_state(&self) -> Option<ResidentBuffers> {
        if self.timeline.trimmed() > 0 {
            return None;
        }
        Some(self.timeline.diff(&self.state, 0, 0).0)
    }
    /// The actions from the base to the end of the timeline.
    pub fn script(&self) -> Vec<Action> {
        self.timeline.actions()
    }
    pub fn breakpoints(&self) -> &[Breakpoint] {
        &self.breakpoints
    }
    /// For loading a session's breakpoints; the app edits them through [`Debugger::edit`].
    pub fn breakpoints_mut(&mut self) -> &mut Vec<Breakpoint> {
        &mut self.breakpoints
    }
    /// The breakpoint hit by the last dispatch or pass, taken (cleared) by the caller.
    pub fn take_hit(&mut self) -> Option<BreakpointHit> {
        self.hit.take()
    }
    /// Sets the memory budget of the timeline (its oldest points are dropped past it).
    pub fn set_timeline_budget(&mut self, bytes: usize) {
        self.timeline.set_budget(bytes);
    }
    pub fn recording(&self) -> Recording {
        self.recording
    }
    pub fn set_recording(&mut self, r: Recording) {
        self.recording = r;
    }

    // ---- the one place state changes ----------------------------------------------------

    /// Applies an action: host edits, dispatches, passes, reset. Each becomes a timeline
    /// point (a dispatch of `count` becomes `count` points).
    pub fn apply(&mut self, action: Action) -> Result<(), DebuggerError> {
        self.check_writable()?;
        self.revision += 1;
        match action {
            Action::Dispatch { count } => {
                for _ in 0..count {
                    self.dispatch()?;
                }
                Ok(())
            }
            Action::Pass => self.step_pass().map(|_| ()),
            Action::Reset => {
                self.sync()?;
                self.abort_in_progress();
                self.record(Action::Reset, |s| {
                    s.state
                        .reset(s.geometry.tenant_count, s.geometry.observable_slots)?;
                    Ok(())
                })
            }
            host => {
                self.sync()?;
                let a = host.clone();
                let result = self.record(host, move |s| Ok(a.apply_host(&mut s.state)?));
                if let Err(DebuggerError::Publish(PublishError::InFlight { slot, status })) =
                    &result
                {
                    self.log_diagnostic(Diagnostic {
                        kind: DiagnosticKind::PublishInFlight,
                        dispatch: self.dispatches,
                        pass: None,
                        slot: Some(*slot),
                        word: None,
                        slots: None,
                        scheduler: false,
                        count: 1,
                        message: format!("publish refused: slot {slot} is {status}, in flight"),
                    });
                }
                result
            }
        }
    }

    /// Refuses changes while a recording is replayed.
    fn check_writable(&self) -> Result<(), DebuggerError> {
        match &self.replay {
            Some(r) => Err(DebuggerError::ReadOnly(r.path.display().to_string())),
            None => Ok(()),
        }
    }

    /// Runs `change` on the state and records a timeline point for it (nothing is recorded
    /// if it fails; a failing host action leaves the state untouched).
    fn record(
        &mut self,
        action: Action,
        change: impl FnOnce(&mut Self) -> Result<(), DebuggerError>,
    ) -> Result<(), DebuggerError> {
        let capture = self.capture_for_action(&action);
        change(self)?;
        let delta = self.step_delta(capture, 0);
        let label = action.label();
        self.truncate_future();
        self.timeline.push(
            PointKind::Action(action.clone()),
            Some(action),
            delta,
            self.dispatches,
            label,
        );
        Ok(())
    }
}

/// A CPU debugger on a fresh ring, for the tests of this module's files.
#[cfg(test)]
pub(crate) fn test_debugger(slot_count: u32, observable_slots: u32) -> Debugger {
    let g = Geometry {
        slot_count,
        tenant_count: 1,
        observable_slots,
    };
    Debugger::new(g, RunConfig::default(), Backend::Cpu).expect("a valid test geometry")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::opcode::Opcode;
    use crate::abi::status::SlotStatus;

    fn dbg(n: u32) -> Debugger {
        Debugger::new(
            Geometry {
                slot_count: n,
                tenant_count: 1,
                observable_slots: 4,
            },
            RunConfig::default(),
            Backend::Cpu,
        )
        .unwrap()
    }

    fn publish(d: &mut Debugger, slot: u32, op: Opcode, args: Vec<u32>) {
        d.apply(Action::Publish {
            slot,
            tenant: 0,
            opcode: op,
            args,
            priority: None,
        })
        .unwrap();
    }

    #[test]
    fn history_stays_bounded_on_long_runs() {
        let mut d = dbg(16);
        let n = HISTORY_CAP as u64 + HISTORY_CAP as u64 / 5;
        for _ in 0..n {
            d.dispatch().unwrap();
        }
        let h = d.history();
        assert!(h.len() <= HISTORY_CAP, "{}", h.len());
        assert_eq!(h.last().unwrap().index, n - 1);
        assert_eq!(h.first().unwrap().index, n - h.len() as u64);
        // stepping back past the oldest summary kept and acting starts a fresh history
        d.seek(1);
        assert!(d.history().is_empty());
        d.dispatch().unwrap();
        assert_eq!(d.history().len(), 1);
        assert_eq!(d.history()[0].index, d.dispatches() - 1);
    }

    #[test]
    fn actions_dispatches_and_step_back_restore_exact_states() {
        let mut d = dbg(16);
        let s0 = d.state().clone();
        publish(&mut d, 3, Opcode::ATOMIC_ADD, vec![5, 160]);
        let s1 = d.state().clone();
        d.apply(Action::Dispatch { count: 1 }).unwrap();
        assert_eq!(d.state().control()[160], 5);
        assert_eq!(d.dispatches(), 1);
        assert_eq!(d.history().len(), 1);
        assert!(d.step_back());
        assert_eq!(d.state(), &s1);
        assert_eq!(d.dispatches(), 0);
        assert!(d.history().is_empty());
        assert!(d.step_back());
        assert_eq!(d.state(), &s0);
        assert!(!d.step_back());
        assert!(d.step_forward() && d.step_forward());
        assert_eq!(d.state().control()[160], 5);
    }

    #[test]
    fn failed_actions_change_nothing_and_record_nothing() {
        let mut d = dbg(4);
        publish(&mut d, 0, Opcode::NOP, vec![]);
        let len = d.timeline().len();
        let before = d.state().clone();
        let e = d
            .apply(Action::Publish {
                slot: 0,
                tenant: 0,
                opcode: Opcode::NOP,
                args: vec![],
                priority: None,
            })
            .unwrap_err();
        assert!(e.to_string().contains("in flight"));
        assert_eq!(d.state(), &before);
        assert_eq!(d.timeline().len(), len);
        assert_eq!(
            d.diagnostics().last().unwrap().kind,
            DiagnosticKind::PublishInFlight
        );
    }

    #[test]
    fn passes_are_points_and_finish_into_a_dispatch() {
        let mut d = dbg(10);
        d.set_config(RunConfig {
            variant: Variant::Priority,
            ..Default::default()
        })
        .unwrap();
        for s in 0..10 {
            publish(&mut d, s, Opcode::NOP, vec![]);
        }
        let mut passes = 0;
        loop {
            match d.step_pass().unwrap() {
                PassOutcome::Continues { .. } => passes += 1,
                PassOutcome::Finished(r) => {
                    assert_eq!(r.passes, passes + 1);
                    break;
                }
            }
        }
        assert_eq!(passes, 5);
        assert_eq!(d.dispatches(), 1);
        assert!((0..10).all(|s| d.state().slot_status(s) == SlotStatus::Done));
        // replaying the script rebuilds the same state
        let mut e = dbg(10);
        e.set_config(d.config()).unwrap();
        for a in d.script() {
            e.apply(a).unwrap();
        }
        assert_eq!(e.state(), d.state());
    }

    #[test]
    fn acting_after_stepping_back_forks() {
        let mut d = dbg(4);
        publish(&mut d, 0, Opcode::NOP, vec![]);
        d.dispatch().unwrap();
        d.seek(1);
        publish(&mut d, 1, Opcode::NOP, vec![]);
        assert!(d.timeline().at_end());
        assert_eq!(d.timeline().len(), 3);
        assert_eq!(d.script().len(), 2);
        assert_eq!(d.history().len(), 0);
    }

    #[test]
    fn reset_is_an_undoable_action() {
        let mut d = dbg(4);
        publish(&mut d, 0, Opcode::NOP, vec![]);
        let before = d.state().clone();
        d.apply(Action::Reset).unwrap();
        assert_eq!(d.state().ring()[0], 0);
        d.step_back();
        assert_eq!(d.state(), &before);
    }

    #[test]
    fn bad_config_is_refused() {
        let mut d = dbg(12);
        let e = d
            .set_config(RunConfig {
                workgroup_size: Some(8),
                ..Default::default()
            })
            .unwrap_err();
        assert!(e.to_string().contains("divide"));
    }
}
