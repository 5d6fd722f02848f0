//! The one place user commands take effect. Everything the user does during a frame is
//! queued as a [`UiCommand`]; after drawing, [`MegascopeApp::apply_queue`] applies them in
//! order, so no panel changes the state while another is still drawing it.

use std::time::Instant;

use super::{MegascopeApp, STEP_N_FRAME_BUDGET};
use crate::debugger::PassOutcome;
use crate::debugger::action::Action;
use crate::ui::command::UiCommand;
use crate::ui::files::{FileOutcome, PendingAfterPrompt};
use crate::ui::replay_bar::ReplayRequest;
use crate::ui::timeline_panel::TimelineRequest;

impl MegascopeApp {
    /// Applies every queued command, then brings "unsaved" up to date.
    pub fn apply_queue(&mut self, ctx: &egui::Context) {
        for c in std::mem::take(&mut self.queue) {
            self.apply(c, ctx);
        }
        self.sync_dirty();
    }

    /// Applies one command now (tests and the queue use this).
    pub fn apply(&mut self, c: UiCommand, ctx: &egui::Context) {
        if self.debugger.replay().is_some() && self.apply_in_replay(&c) {
            return;
        }
        match c {
            UiCommand::New => self
                .files
                .guard(PendingAfterPrompt::New, &mut self.new_dialog),
            UiCommand::Open => self
                .files
                .guard(PendingAfterPrompt::Open, &mut self.new_dialog),
            UiCommand::OpenRecent(p) => self
                .files
                .guard(PendingAfterPrompt::OpenPath(p), &mut self.new_dialog),
            UiCommand::Save => self.files.save(false),
            UiCommand::SaveAs => self.files.save_as(false),
            UiCommand::SaveSnapshotAs => self.files.save_as(true),
            UiCommand::ImportDump => self
                .files
                .guard(PendingAfterPrompt::ImportDump, &mut self.new_dialog),
            UiCommand::ExportDump => self.files.export_dump(),
            UiCommand::Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
            UiCommand::Step => {
                self.transport.running = false;
                self.step_dispatch();
            }
            UiCommand::StepPass => {
                self.transport.running = false;
                self.step_pass();
            }
            UiCommand::StepN(n) => {
                // spread over frames (see `run_loop`): Step N of 4,000,000,000 froze the window
                self.transport.running = true;
                self.transport.until_break = false;
                self.transport.steps_left = Some(n as u64);
            }
            UiCommand::ToggleRun => {
                self.transport.running = !self.transport.running;
                self.transport.until_break = false;
                if !self.transport.running {
                    self.sync_after_run();
                }
            }
            UiCommand::RunUntilBreak => {
                if self.debugger.breakpoints().iter().all(|b| !b.enabled) {
                    self.toasts
                        .info("no breakpoint is enabled: add one in the Breakpoints panel");
                }
                self.transport.running = true;
                self.transport.until_break = true;
            }
            UiCommand::Reset => {
                self.transport.running = false;
                self.act(Action::Reset);
            }
            UiCommand::StepBack => {
                self.transport.running = false;
                self.sync_after_run();
                if !self.debugger.step_back() {
                    self.toasts.info("at the start of the timeline");
                }
            }
            UiCommand::StepForward => {
                self.transport.running = false;
                if !self.debugger.step_forward() {
                    self.toasts.info("at the end of the timeline");
                }
            }
            UiCommand::Seek(p) => {
                self.transport.running = false;
                self.sync_after_run();
                self.debugger.seek(p);
            }
            UiCommand::RestoreFuture => {
                self.transport.running = false;
                match self.debugger.restore_future() {
                    Some(n) => {
                        self.status_line = format!(
                            "restored {}; the action that dropped them is undone",
                            crate::ui::plural(n as u64, "timeline point", "timeline points")
                        )
                    }
                    None => self.toasts.info("no dropped timeline points to restore"),
                }
            }
            UiCommand::Act(a) => {
                let slot = match &a {
                    Action::Publish { slot, .. } | Action::PublishPacked { slot, .. } => {
                        Some(*slot)
                    }
                    _ => None,
                };
                if self.act(a) && slot.is_some() {
                    self.selection = slot;
                }
            }
            UiCommand::Edit(e) => {
                let label = e.label();
                if let Err(err) = self.debugger.edit(e) {
                    self.toasts.error(format!("{label}: {err}"));
                }
            }
            UiCommand::CommandPalette => {
                if self.palette.open {
                    self.palette.open = false;
                } else {
                    self.palette.open_with("");
                }
            }
            UiCommand::GoToSlotPrompt => self.palette.open_with("slot "),
            UiCommand::GoToSlot(s) => {
                let n = self.debugger.state().slot_count();
                if s >= n {
                    self.toasts.error(format!(
                        "there is no slot {s}: the ring has {n} slots (0 to {})",
                        n - 1
                    ));
                } else {
                    self.selection = Some(s);
                    self.grid.reveal = Some(s);
                    self.show_pane(crate::ui::command::Pane::Inspector);
                }
            }
            UiCommand::GoToStep(n) => self.go_to_step(n),
            UiCommand::Select(s) => {
                self.selection = s;
                // a race clicked in the diagnostics panel rings its other slot too
                self.grid.race_pair = self.diagnostics.race_pair.take();
            }
            UiCommand::FitGrid => self.grid.fit(),
            UiCommand::ColourMode(m) => self.grid.mode = m,
            UiCommand::ToggleHighlightChanges => {
                self.grid.highlight_changes = !self.grid.highlight_changes
            }
            UiCommand::ShowPane(p) => self.show_pane(p),
            UiCommand::ResetLayout => {
                self.layout = super::default_layout();
                self.status_line = "the panels are back in their first places".into();
            }
            UiCommand::WhoWrote(w) => self.who_wrote(w),
            UiCommand::Export(e) => self.files.export_file(e),
            UiCommand::SelectWhere(q) => {
                self.query_text = q.clone();
                match crate::debugger::select::SlotQuery::parse(&q) {
                    Ok(parsed) => {
                        self.query = Some(parsed);
                        self.mark_query_matches();
                    }
                    Err(e) => {
                        self.query = None;
                        self.query_result = Some(Err(e));
                    }
                }
            }
            UiCommand::ClearSelectWhere => {
                self.query = None;
                self.query_result = None;
                // the highlight goes back to what the point changed
                self.last_point_seen = (usize::MAX, 0);
            }
            UiCommand::Replay(r) => self.replay_request(r),
            UiCommand::Timeline(t) => self.timeline_request(t),
        }
    }

    /// What a command means while a recording replays read-only; returns whether it was
    /// handled here.
    fn apply_in_replay(&mut self, c: &UiCommand) -> bool {
        match c {
            UiCommand::Save | UiCommand::SaveAs | UiCommand::SaveSnapshotAs => {
                self.toasts.info(
                    "a recording is saved as it was recorded: use Continue from here to make a session you can save",
                );
            }
            UiCommand::StepPass => {
                self.transport.running = false;
                self.step_dispatch();
            }
            UiCommand::Reset => {
                self.transport.running = false;
                self.debugger.seek(0);
            }
            UiCommand::RunUntilBreak => {
                self.replay_request(ReplayRequest::RunToBreak { forward: true });
            }
            _ => return false,
        }
        true
    }

    /// Applies a host action now, reporting failure in a toast. Returns whether it
    /// succeeded.
    pub fn act(&mut self, action: Action) -> bool {
        let label = action.label();
        match self.debugger.apply(action) {
            Ok(()) => {
                self.note_dropped_future();
                true
            }
            Err(e) => {
                self.transport.running = false;
                self.toasts.error(format!("{label}: {e}"));
                false
            }
        }
    }

    /// Says so when the last action dropped the points after the cursor, and how to get
    /// them back.
    fn note_dropped_future(&mut self) {
        if let Some(n) = self.debugger.dropped_future_taken() {
            let msg = format!(
                "{} after this point dropped: Ctrl+Z (or the palette's Undo) puts them back",
                crate::ui::plural(n as u64, "timeline point", "timeline points")
            );
            self.status_line = msg.clone();
            self.toasts.info(msg);
        }
    }

    fn go_to_step(&mut self, n: usize) {
        self.transport.running = false;
        self.sync_after_run();
        if self.debugger.replay().is_some() {
            match self.debugger.point_of_step(n) {
                Some(p) => self.debugger.seek(p),
                None => self
                    .toasts
                    .error(format!("the recording has no step {n} loaded")),
            }
            return;
        }
        let len = self.debugger.timeline().len();
        if n >= len {
            self.toasts.error(format!(
                "there is no timeline point {n}: the timeline has points 0 to {}",
                len - 1
            ));
        } else {
            self.debugger.seek(n);
        }
    }

    /// Brings a panel to the front of its tab group.
    fn show_pane(&mut self, p: crate::ui::command::Pane) {
        super::dock::show(&mut self.layout, p);
    }

    pub(super) fn step_dispatch(&mut self) -> bool {
        if self.debugger.replay().is_some() {
            // A recording plays forward through its own steps.
            if self.debugger.step_forward() {
                return true;
            }
            self.transport.running = false;
            self.status_line = "at the last recorded step".into();
            return false;
        }
        match self.debugger.dispatch() {
            Ok(r) => {
                self.note_dropped_future();
                if let Some(b) = &mut self.bench {
                    b.dispatch_ms.push(r.elapsed.as_secs_f64() * 1e3);
                }
                if self.check_breakpoints() {
                    return false;
                }
                // Run stops at a fixed point: a dispatch that claimed nothing and logged
                // nothing would only add empty points. Step N runs the N asked for, and
                // the frame benchmark keeps its workload running.
                let idle = r.claimed == 0 && r.debug_records == 0;
                if idle
                    && self.transport.running
                    && self.transport.steps_left.is_none()
                    && self.transport.pause_at_fixed_point
                {
                    self.transport.running = false;
                    self.transport.until_break = false;
                    self.status_line = format!(
                        "paused: dispatch {} claimed no slot, so nothing is left to run — publish work, or Step to dispatch anyway",
                        r.dispatch_index
                    );
                    return false;
                }
                true
            }
            Err(e) => {
                self.transport.running = false;
                self.toasts.error(format!("dispatch: {e}"));
                false
            }
        }
    }

    fn step_pass(&mut self) {
        match self.debugger.step_pass() {
            Ok(PassOutcome::Continues { pass }) => {
                self.status_line = format!("pass {pass} ran; the dispatch continues")
            }
            Ok(PassOutcome::Finished(r)) => {
                self.status_line = format!(
                    "dispatch {} finished: {} after {}",
                    r.dispatch_index,
                    r.end.describe(),
                    crate::ui::plural(r.passes, "pass", "passes")
                );
                self.check_breakpoints();
            }
            Err(e) => self.toasts.error(format!("pass: {e}")),
        }
        self.note_dropped_future();
    }

    /// Stops the run and explains when the last step hit a breakpoint.
    fn check_breakpoints(&mut self) -> bool {
        match self.debugger.take_hit() {
            Some(hit) => {
                self.transport.running = false;
                self.transport.until_break = false;
                if let Some(s) = hit.slot {
                    self.selection = Some(s);
                }
                self.status_line = format!("stopped: {}", hit.message);
                self.toasts.info(format!("breakpoint: {}", hit.message));
                true
            }
            None => false,
        }
    }

    pub(super) fn sync_after_run(&mut self) {
        if let Err(e) = self.debugger.sync() {
            self.toasts
                .error(format!("reading the state back from the GPU: {e}"));
        }
    }

    pub(super) fn run_loop(&mut self, ctx: &egui::Context, dt: f32) {
        if !self.transport.running {
            self.transport.steps_left = None;
            return;
        }
        if let Some(left) = self.transport.steps_left {
            // Step N: as many as fit in about a frame, the rest on the next ones
            let start = Instant::now();
            let mut left = left;
            while left > 0 && start.elapsed() < STEP_N_FRAME_BUDGET {
                left -= 1;
                if !self.step_dispatch() {
                    left = 0;
                    break;
                }
            }
            if left == 0 || !self.transport.running {
                self.transport.running = false;
                self.transport.steps_left = None;
                self.sync_after_run();
            } else {
                self.transport.steps_left = Some(left);
            }
            ctx.request_repaint();
            return;
        }
        let dispatches = if self.transport.rate <= 0.0 {
            1
        } else {
            self.run_accum += dt * self.transport.rate;
            let n = self.run_accum.floor();
            self.run_accum -= n;
            n as u32
        };
        for _ in 0..dispatches.min(64) {
            if !self.step_dispatch() {
                break;
            }
        }
        if !self.transport.running {
            // paused by a breakpoint or a fixed point: the grid shows the device's ring
            self.sync_after_run();
        }
        ctx.request_repaint();
    }

    /// Twice a second, takes in the steps a program still recording has appended to the
    /// replayed file; with `follow` on, moves to the newest.
    pub(super) fn follow_recording(&mut self, ctx: &egui::Context, now: Instant) {
        if self.debugger.replay().is_none() {
            return;
        }
        ctx.request_repaint_after(std::time::Duration::from_millis(500));
        if self
            .last_refresh
            .is_some_and(|t| now.duration_since(t).as_millis() < 500)
        {
            return;
        }
        self.last_refresh = Some(now);
        match self.debugger.replay_refresh() {
            Ok(0) => {}
            Ok(n) => {
                if self.follow {
                    self.debugger.seek(self.debugger.timeline().len() - 1);
                }
                self.status_line = format!("{n} new recorded steps");
            }
            Err(e) => self.toasts.error(format!("following the recording: {e}")),
        }
    }

    fn replay_request(&mut self, req: ReplayRequest) {
        match req {
            ReplayRequest::GoTo { step, slot } => {
                self.transport.running = false;
                if let Some(p) = self.debugger.point_of_step(step) {
                    self.debugger.seek(p);
                }
                if slot.is_some() {
                    self.selection = slot;
                }
            }
            ReplayRequest::RunToBreak { forward } => {
                self.transport.running = false;
                match self.debugger.replay_run_to_break(forward) {
                    Some(hit) => {
                        if let Some(s) = hit.slot {
                            self.selection = Some(s);
                        }
                        self.status_line = format!("stopped: {}", hit.message);
                    }
                    None => {
                        self.status_line = format!(
                            "no {} step where an enabled breakpoint holds",
                            if forward { "later" } else { "earlier" }
                        )
                    }
                }
            }
            ReplayRequest::Follow(on) => {
                self.follow = on;
                if on {
                    self.debugger.seek(self.debugger.timeline().len() - 1);
                }
            }
            ReplayRequest::ContinueFromHere => {
                let step = self.debugger.replay_step().unwrap_or(0);
                let d = self.debugger.continue_from_here();
                let selection = self.selection;
                self.replace_debugger(d);
                self.selection = selection;
                self.files.new_session();
                self.files.mark_clean(false);
                self.status_line = format!(
                    "continued from recorded step {step}: this is now a normal session (untitled)"
                );
            }
        }
    }

    fn timeline_request(&mut self, req: TimelineRequest) {
        self.sync_after_run();
        match req {
            TimelineRequest::Seek(p) => self.debugger.seek(p),
            TimelineRequest::Select(s) => self.selection = Some(s),
            TimelineRequest::Highlight(slots) => {
                self.mark(slots);
                self.grid.highlight_changes = true;
            }
        }
    }

    /// "Who wrote this word?": opens the window with its writers and history.
    fn who_wrote(&mut self, w: crate::ui::command::WordRef) {
        self.sync_after_run();
        match self.debugger.who_wrote(w) {
            Some(answer) => {
                self.status_line = match answer.last {
                    Some(l) => format!(
                        "{}: last changed at point {}, {}",
                        w.describe(),
                        answer.history[l].point,
                        crate::ui::plural(answer.writers.len() as u64, "writer", "writers")
                    ),
                    None => format!("{} has not changed up to this point", w.describe()),
                };
                self.who_wrote.shown = Some(answer);
            }
            None => self
                .toasts
                .error(format!("{} is past the end of its buffer", w.describe())),
        }
    }

    /// Highlights the slots the query matches at the point shown (the grid's highlight,
    /// which otherwise marks what the point changed) and counts them.
    pub(super) fn mark_query_matches(&mut self) {
        if self.query.is_none() {
            return;
        }
        self.sync_after_run();
        let Some(q) = &self.query else {
            return;
        };
        let hits = q.matches(self.debugger.state());
        let count = hits.len();
        let first = hits.first().copied();
        self.mark(hits);
        self.grid.highlight_changes = true;
        self.status_line = format!(
            "{} {} {}",
            crate::ui::plural(count as u64, "slot", "slots"),
            if count == 1 { "matches" } else { "match" },
            self.query_text.trim()
        );
        if let (None, Some(first)) = (self.selection, first) {
            self.selection = Some(first);
        }
        self.query_result = Some(Ok(count));
    }

    /// Writes an export the user gave a path for.
    fn export_to(&mut self, path: std::path::PathBuf, what: crate::ui::export::Export) {
        use crate::files::csv;
        use crate::ui::export::Export;
        self.sync_after_run();
        let text = match what {
            Export::Plot => {
                // the pixels come with the next frame's screenshot
                self.pending_plot_png = Some(path);
                return;
            }
            Export::DebugLog => {
                let log =
                    crate::abi::debug_log::DebugLogView::decode(self.debugger.state().debug_log());
                csv::debug_log(&log.records)
            }
            Export::Diagnostics => csv::diagnostics(self.debugger.diagnostics_shown()),
            Export::Diff => {
                // the diff the timeline panel shows, between its two points
                let v = crate::ui::timeline_panel::diff(
                    &self.debugger,
                    self.timeline.a,
                    self.timeline.b,
                );
                let slots: Vec<(u32, u32, u32)> = v
                    .slots
                    .iter()
                    .zip(&v.slot_statuses)
                    .map(|(&s, &(old, new))| (s, old, new))
                    .collect();
                csv::diff(&slots, &v.control)
            }
            Export::WordHistory(w) => match self.debugger.who_wrote(w) {
                Some(answer) => csv::word_history(&answer),
                None => {
                    self.toasts
                        .error(format!("{} is past the end of its buffer", w.describe()));
                    return;
                }
            },
        };
        self.write_export(&path, text.as_bytes());
    }

    fn write_export(&mut self, path: &std::path::Path, bytes: &[u8]) {
        match crate::files::dump::write_atomic(path, bytes) {
            Ok(()) => self.toasts.info(format!("exported {}", path.display())),
            Err(e) => self
                .toasts
                .error(format!("exporting {}: {e}", path.display())),
        }
    }

    /// Asks for a screenshot when a plot export waits for one, and reports the PNG written
    /// from it (the pixels arrive after the frame is rendered).
    pub(super) fn take_screenshot(&mut self, ctx: &egui::Context) {
        if let Some(rx) = &self.plot_png_rx {
            match rx.try_recv() {
                Ok(Ok(p)) => {
                    self.toasts.info(format!("exported {}", p.display()));
                    self.plot_png_rx = None;
                }
                Ok(Err(e)) => {
                    self.toasts.error(e);
                    self.plot_png_rx = None;
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => ctx.request_repaint(),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    self.toasts
                        .error("the window gave no screenshot: the plot was not exported");
                    self.plot_png_rx = None;
                }
            }
        }
        let Some(path) = self.pending_plot_png.take() else {
            return;
        };
        let Some(rect) = self.plots.last_rect else {
            self.toasts
                .error("no plot is on screen: show the Plots panel and export again");
            return;
        };
        let ppp = ctx.pixels_per_point();
        let (tx, rx) = std::sync::mpsc::channel();
        self.plot_png_rx = Some(rx);
        ctx.request_screenshot(move |image| {
            let written = crate::ui::export::png_of(&image, rect, ppp).and_then(|bytes| {
                crate::files::dump::write_atomic(&path, &bytes)
                    .map(|()| path.clone())
                    .map_err(|e| format!("exporting {}: {e}", path.display()))
            });
            let _ = tx.send(written);
        });
        ctx.request_repaint();
    }

    pub(super) fn file_outcome(&mut self, o: FileOutcome) {
        match o {
            FileOutcome::Loaded {
                debugger,
                view,
                path,
            } => {
                self.replace_debugger(*debugger);
                if let Some(v) = view {
                    self.apply_view_state(&v);
                }
                self.toasts.info(format!("opened {}", path.display()));
                if let Some(b) = self.initial_backend.take()
                    && let Err(e) = self.debugger.set_backend(b)
                {
                    self.toasts.error(e.to_string());
                }
            }
            FileOutcome::Saved(path) => self.toasts.info(format!("saved {}", path.display())),
            FileOutcome::Error(e) => {
                // the file opened at launch failed: the flag is not for a later file
                self.initial_backend = None;
                self.toasts.error(e)
            }
            FileOutcome::NewRequested => {
                self.new_dialog = Some(crate::ui::new_dialog::NewDialog::default())
            }
            FileOutcome::SaveRequested { path, snapshot } => {
                let view = self.view_state();
                self.sync_after_run();
                self.files.save_to(&path, &self.debugger, &view, snapshot);
            }
            FileOutcome::ExportTo(dir) => {
                self.sync_after_run();
                match crate::files::dump::write_dump(&dir, self.debugger.state()) {
                    Ok(()) => self
                        .toasts
                        .info(format!("exported the four buffers to {}", dir.display())),
                    Err(e) => self.toasts.error(e.to_string()),
                }
            }
            FileOutcome::ExportFile { path, what } => self.export_to(path, what),
            FileOutcome::Quit => {}
        }
        self.sync_dirty();
    }

    /// Paths given on the command line.
    pub fn open_initial(&mut self, path: std::path::PathBuf) {
        self.files.open_path(path);
    }
}
