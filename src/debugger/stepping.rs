//! Running the kernel: whole dispatches, single passes, and what each leaves behind — a
//! timeline point, a plot summary, diagnostics and breakpoint hits.

use super::*;

impl Debugger {
    pub(super) fn push_summary(&mut self, summary: DispatchSummary) {
        if self.history.len() >= HISTORY_CAP {
            let drop = HISTORY_CAP / 10;
            self.history.drain(..drop);
            self.history_start += drop as u64;
        }
        self.history.push(summary);
    }

    /// The engine for stepping and round-trip dispatches, with the state it works on.
    pub(super) fn engine_and_state(&mut self) -> (&mut dyn Engine, &mut ResidentBuffers) {
        let engine: &mut dyn Engine = match (self.backend, self.gpu.as_mut()) {
            (Backend::Gpu, Some(g)) => &mut g.engine,
            _ => &mut self.cpu,
        };
        (engine, &mut self.state)
    }

    /// Runs one whole dispatch (or the rest of the one in progress).
    pub fn dispatch(&mut self) -> Result<DispatchReport, DebuggerError> {
        self.check_writable()?;
        self.revision += 1;
        self.hit = None;
        if self.backend == Backend::Gpu
            && self.in_progress.is_none()
            && !self.records_each_gpu_dispatch()
        {
            return self.dispatch_resident();
        }
        self.sync()?;
        let capture = self.capture_before_step();
        if self.in_progress.is_none() {
            let opts = self.config.options(self.dispatches);
            let (engine, state) = self.engine_and_state();
            engine.begin_dispatch(state, &opts)?;
            self.in_progress = Some(self.dispatches);
        }
        let claims_from = self.cpu.claims().len();
        let (engine, state) = self.engine_and_state();
        let r = (|| -> Result<DispatchReport, EngineError> {
            while !engine.run_passes(state, u32::MAX)? {}
            engine.finish_dispatch(state)
        })();
        self.in_progress = None;
        let report = r?;
        let delta = self.step_delta(capture, claims_from);
        self.truncate_future();
        self.push_dispatch_point(&report, delta, Action::Dispatch { count: 1 });
        Ok(report)
    }

    /// Runs one pass: of the dispatch in progress, or the first of a new one.
    pub fn step_pass(&mut self) -> Result<PassOutcome, DebuggerError> {
        self.check_writable()?;
        self.revision += 1;
        self.hit = None;
        self.sync()?;
        let capture = self.capture_before_step();
        let began = self.in_progress.is_none();
        let opts = self.config.options(self.dispatches);
        let (engine, state) = self.engine_and_state();
        if began {
            engine.begin_dispatch(state, &opts)?;
        }
        let claims_from = self.cpu.claims().len();
        let (engine, state) = self.engine_and_state();
        let done = engine.run_passes(state, 1)?;
        if began {
            self.in_progress = Some(self.dispatches);
            self.pass_counter = 0;
        }
        let delta = self.step_delta(capture, claims_from);
        self.truncate_future();
        if done {
            let (engine, state) = self.engine_and_state();
            let r = engine.finish_dispatch(state);
            self.in_progress = None;
            let report = r?;
            self.push_dispatch_point(&report, delta, Action::Pass);
            Ok(PassOutcome::Finished(Box::new(report)))
        } else {
            self.pass_counter += 1;
            let pass = self.pass_counter - 1;
            let dispatch = self.dispatches;
            self.timeline.push(
                PointKind::Pass { dispatch, pass },
                Some(Action::Pass),
                delta.clone(),
                self.dispatches,
                format!("dispatch {dispatch} pass {pass}"),
            );
            let scratch = std::mem::take(&mut self.scratch);
            self.evaluate_breakpoints(&scratch, &delta, &[], 1, dispatch, Some(pass));
            self.scratch = scratch;
            Ok(PassOutcome::Continues { pass })
        }
    }

    pub(super) fn push_dispatch_point(
        &mut self,
        report: &DispatchReport,
        delta: Delta,
        action: Action,
    ) {
        let index = self.dispatches;
        self.dispatches += 1;
        self.pass_counter = 0;
        let summary = DispatchSummary::new(report, self.state.control(), self.state.debug_log());
        self.push_summary(summary);
        for d in &report.diagnostics {
            self.log_diagnostic(d.clone());
        }
        let label = format!(
            "dispatch {index}: {} ({} passes, {} claimed)",
            report.end.describe(),
            report.passes,
            report.claimed
        );
        let passes = if action == Action::Pass {
            1
        } else {
            report.passes
        };
        self.timeline.push(
            PointKind::Dispatch { index },
            Some(action),
            delta.clone(),
            self.dispatches,
            label,
        );
        let scratch = std::mem::take(&mut self.scratch);
        self.evaluate_breakpoints(&scratch, &delta, &report.diagnostics, passes, index, None);
        self.scratch = scratch;
        self.last_report = Some(report.clone());
    }

    pub(super) fn evaluate_breakpoints(
        &mut self,
        before: &Readback,
        delta: &Delta,
        diagnostics: &[Diagnostic],
        passes: u32,
        dispatch: u64,
        pass: Option<u32>,
    ) {
        if self.breakpoints.is_empty() {
            return;
        }
        let facts = StepFacts {
            before,
            after: &self.state,
            delta,
            diagnostics,
            passes,
            dispatch,
            pass,
            point: self.timeline.cursor(),
        };
        let before: Vec<u64> = self.breakpoints.iter().map(|b| b.hits).collect();
        let hit = breakpoint::evaluate(&mut self.breakpoints, &facts, &mut self.stuck);
        self.log_hits(&before, dispatch, pass);
        if let Some(h) = hit {
            self.hit = Some(h);
        }
    }

    pub(super) fn log_diagnostic(&mut self, d: Diagnostic) {
        if self.diagnostics.len() >= DIAGNOSTIC_LOG_CAP {
            self.diagnostics.drain(..DIAGNOSTIC_LOG_CAP / 10);
            self.diagnostics_dropped += (DIAGNOSTIC_LOG_CAP / 10) as u64;
        }
        self.diagnostics.push(d);
    }

    /// Abandons a pass-stepped dispatch (its passes stay on the timeline).
    pub(super) fn abort_in_progress(&mut self) {
        if self.in_progress.take().is_some() {
            let (engine, state) = self.engine_and_state();
            if engine.in_dispatch() {
                let _ = engine.finish_dispatch(state);
            }
        }
        self.pass_counter = 0;
    }
}
