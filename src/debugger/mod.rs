//! The debugger model: the current state, the engines, the timeline and the per-dispatch
//! history. Every change goes through [`Debugger::apply`] (or the dispatch/pass/seek methods
//! it shares with the UI), so undo, time travel and session recording see one stream of
//! actions. No egui here: the UI reads this model and sends it actions.

pub mod action;
pub mod breakpoint;
pub mod delta;
pub mod expr;
pub mod history;
pub mod timeline;

use serde::{Deserialize, Serialize};

use crate::abi::error::{AbiError, PublishError};
use crate::abi::validate::{check_observable, check_slot_count};
use crate::engine::cpu::CpuEngine;
use crate::engine::{
    Backend, DEFAULT_PASS_BUDGET, DEFAULT_STARVATION_PASSES, Diagnostic, DiagnosticKind,
    DispatchOptions, DispatchReport, Engine, EngineError, Variant,
};
use crate::resident::{Readback, ResidentBuffers};
use action::Action;
use delta::Delta;
use history::DispatchSummary;
use timeline::{PointKind, Timeline};

/// The geometry a state is built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Geometry {
    pub slot_count: u32,
    #[serde(default = "one")]
    pub tenant_count: u32,
    #[serde(default)]
    pub observable_slots: u32,
}

fn one() -> u32 {
    1
}

impl Geometry {
    /// Checks the geometry against the ABI caps.
    pub fn check(&self) -> Result<(), AbiError> {
        check_slot_count(self.slot_count as u64)?;
        check_observable(self.observable_slots as u64)?;
        Ok(())
    }
}

/// How dispatches run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    pub variant: Variant,
    pub pass_budget: u32,
    pub workgroup_size: Option<u32>,
    pub once_checks_shutdown: bool,
    pub race_analysis: bool,
    pub starvation_passes: u32,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            variant: Variant::Once,
            pass_budget: DEFAULT_PASS_BUDGET,
            workgroup_size: None,
            once_checks_shutdown: false,
            race_analysis: true,
            starvation_passes: DEFAULT_STARVATION_PASSES,
        }
    }
}

impl RunConfig {
    pub fn options(&self, dispatch_index: u64) -> DispatchOptions {
        DispatchOptions {
            variant: self.variant,
            workgroup_size: self.workgroup_size,
            pass_budget: self.pass_budget,
            once_checks_shutdown: self.once_checks_shutdown,
            race_analysis: self.race_analysis,
            starvation_passes: self.starvation_passes,
            dispatch_index,
        }
    }
}

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
}

/// The most diagnostics kept for the UI's list (older ones are dropped).
pub const DIAGNOSTIC_LOG_CAP: usize = 20_000;

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
    timeline: Timeline,
    history: Vec<DispatchSummary>,
    /// Completed dispatches at the cursor.
    dispatches: u64,
    /// The index of a dispatch begun by pass stepping and not finished.
    in_progress: Option<u64>,
    last_report: Option<DispatchReport>,
    diagnostics: Vec<Diagnostic>,
    scratch: Readback,
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
        Ok(Self::from_state(
            state,
            geometry.tenant_count,
            config,
            backend,
        ))
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
            backend,
            state,
            cpu: CpuEngine::new(),
            timeline: Timeline::new(0),
            history: Vec::new(),
            dispatches: 0,
            in_progress: None,
            last_report: None,
            diagnostics: Vec::new(),
            scratch: Readback::default(),
        }
    }

    // ---- queries ------------------------------------------------------------------------

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
    /// Summaries of the dispatches completed up to the cursor.
    pub fn history(&self) -> &[DispatchSummary] {
        &self.history[..(self.dispatches as usize).min(self.history.len())]
    }
    pub fn dispatches(&self) -> u64 {
        self.dispatches
    }
    pub fn in_progress(&self) -> Option<u64> {
        self.in_progress
    }
    /// Passes run so far in the dispatch in progress.
    pub fn passes_in_progress(&self) -> Option<u32> {
        self.in_progress.and(self.cpu.passes_run())
    }
    pub fn last_report(&self) -> Option<&DispatchReport> {
        self.last_report.as_ref()
    }
    /// Recent diagnostics, oldest first.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
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

    // ---- configuration ------------------------------------------------------------------

    pub fn set_config(&mut self, config: RunConfig) -> Result<(), DebuggerError> {
        config
            .options(0)
            .resolve_workgroup_size(self.state.slot_count())?;
        self.abort_in_progress();
        self.config = config;
        Ok(())
    }

    pub fn set_backend(&mut self, backend: Backend) -> Result<(), DebuggerError> {
        if backend == Backend::Gpu {
            return Err(DebuggerError::NoGpu(
                "this build's debugger model runs the CPU engine only".into(),
            ));
        }
        self.abort_in_progress();
        self.backend = backend;
        Ok(())
    }

    // ---- the one place state changes ----------------------------------------------------

    /// Applies an action: host edits, dispatches, passes, reset. Each becomes a timeline
    /// point (a dispatch of `count` becomes `count` points).
    pub fn apply(&mut self, action: Action) -> Result<(), DebuggerError> {
        match action {
            Action::Dispatch { count } => {
                for _ in 0..count {
                    self.dispatch()?;
                }
                Ok(())
            }
            Action::Pass => self.step_pass().map(|_| ()),
            Action::Reset => {
                self.abort_in_progress();
                self.record(Action::Reset, |s| {
                    s.state
                        .reset(s.geometry.tenant_count, s.geometry.observable_slots)?;
                    Ok(())
                })
            }
            host => {
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
                        count: 1,
                        message: format!("publish refused: slot {slot} is {status}, in flight"),
                    });
                }
                result
            }
        }
    }

    /// Runs `change` on the state and records a timeline point for it (nothing is recorded
    /// if it fails; a failing host action leaves the state untouched).
    fn record(
        &mut self,
        action: Action,
        change: impl FnOnce(&mut Self) -> Result<(), DebuggerError>,
    ) -> Result<(), DebuggerError> {
        self.state.snapshot_readback_into(&mut self.scratch);
        change(self)?;
        let delta = Delta::between(&self.scratch, &self.state);
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

    fn truncate_future(&mut self) {
        self.history.truncate(self.dispatches as usize);
    }

    /// Runs one whole dispatch (or the rest of the one in progress).
    pub fn dispatch(&mut self) -> Result<DispatchReport, DebuggerError> {
        self.state.snapshot_readback_into(&mut self.scratch);
        if self.in_progress.is_none() {
            let opts = self.config.options(self.dispatches);
            self.cpu.begin_dispatch(&mut self.state, &opts)?;
            self.in_progress = Some(self.dispatches);
        }
        while !self.cpu.run_passes(&mut self.state, u32::MAX)? {}
        let report = self.finish_dispatch()?;
        let delta = Delta::between(&self.scratch, &self.state);
        self.truncate_future();
        self.push_dispatch_point(&report, delta, Action::Dispatch { count: 1 });
        Ok(report)
    }

    /// Runs one pass: of the dispatch in progress, or the first of a new one.
    pub fn step_pass(&mut self) -> Result<PassOutcome, DebuggerError> {
        self.state.snapshot_readback_into(&mut self.scratch);
        if self.in_progress.is_none() {
            let opts = self.config.options(self.dispatches);
            self.cpu.begin_dispatch(&mut self.state, &opts)?;
            self.in_progress = Some(self.dispatches);
        }
        let done = self.cpu.run_passes(&mut self.state, 1)?;
        let delta = Delta::between(&self.scratch, &self.state);
        self.truncate_future();
        if done {
            let report = self.finish_dispatch()?;
            self.push_dispatch_point(&report, delta, Action::Pass);
            Ok(PassOutcome::Finished(Box::new(report)))
        } else {
            let pass = self.cpu.passes_run().unwrap_or(1) - 1;
            let dispatch = self.dispatches;
            self.timeline.push(
                PointKind::Pass { dispatch, pass },
                Some(Action::Pass),
                delta,
                self.dispatches,
                format!("dispatch {dispatch} pass {pass}"),
            );
            Ok(PassOutcome::Continues { pass })
        }
    }

    fn finish_dispatch(&mut self) -> Result<DispatchReport, DebuggerError> {
        let report = self.cpu.finish_dispatch(&mut self.state)?;
        self.in_progress = None;
        Ok(report)
    }

    fn push_dispatch_point(&mut self, report: &DispatchReport, delta: Delta, action: Action) {
        let index = self.dispatches;
        self.dispatches += 1;
        self.history.push(DispatchSummary::new(
            report,
            self.state.control(),
            self.state.debug_log(),
        ));
        for d in &report.diagnostics {
            self.log_diagnostic(d.clone());
        }
        self.timeline.push(
            PointKind::Dispatch { index },
            Some(action),
            delta,
            self.dispatches,
            format!(
                "dispatch {index}: {} ({} passes, {} claimed)",
                report.end.describe(),
                report.passes,
                report.claimed
            ),
        );
        self.last_report = Some(report.clone());
    }

    fn log_diagnostic(&mut self, d: Diagnostic) {
        if self.diagnostics.len() >= DIAGNOSTIC_LOG_CAP {
            self.diagnostics.drain(..DIAGNOSTIC_LOG_CAP / 10);
        }
        self.diagnostics.push(d);
    }

    /// Abandons a pass-stepped dispatch (its passes stay on the timeline).
    fn abort_in_progress(&mut self) {
        if self.in_progress.take().is_some() && self.cpu.in_dispatch() {
            let _ = self.cpu.finish_dispatch(&mut self.state);
        }
    }

    // ---- time travel --------------------------------------------------------------------

    /// Moves to timeline point `target`: the state becomes exactly what it was there. A
    /// dispatch in progress is abandoned; stepping on from a mid-dispatch point starts a new
    /// dispatch.
    pub fn seek(&mut self, target: usize) {
        self.abort_in_progress();
        self.timeline.seek(&mut self.state, target);
        self.dispatches = self.timeline.current().dispatches;
    }

    /// One point back. Returns false at the start.
    pub fn step_back(&mut self) -> bool {
        let c = self.timeline.cursor();
        if c == 0 {
            return false;
        }
        self.seek(c - 1);
        true
    }

    /// One point forward along a kept future. Returns false at the end.
    pub fn step_forward(&mut self) -> bool {
        if self.timeline.at_end() {
            return false;
        }
        self.seek(self.timeline.cursor() + 1);
        true
    }
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
        assert!(
            (0..10).all(|s| SlotStatus::from_word(d.state().ring()[s * 16]) == SlotStatus::Done)
        );
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
