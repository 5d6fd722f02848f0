//! The app's frame: panels around the ring grid, keyboard shortcuts, the run loop, and the
//! one place user requests become debugger actions. Reads the debugger model and sends it
//! actions; never computes a dispatch itself.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui::RichText;

use super::debug_log::DebugLogPanel;
use super::diagnostics_panel::DiagnosticsPanel;
use super::files::{FileOps, FileOutcome, PendingAfterPrompt};
use super::inspector::{Inspector, InspectorRequest};
use super::new_dialog::NewDialog;
use super::plots::Plots;
use super::publish_form::{BatchForm, ControlEditor, PublishForm};
use super::ring_grid::{GridSource, RingGrid};
use super::timeline_panel::TimelinePanel;
use super::toasts::Toasts;
use super::top_bar::{self, BarAction, BarInfo, Transport};
use crate::debugger::action::Action;
use crate::debugger::{Debugger, PassOutcome};
use crate::engine::Backend;
use crate::session::{Panels, ViewState};

/// How long one frame may spend on a Step N's dispatches before the window draws again.
const STEP_N_FRAME_BUDGET: Duration = Duration::from_millis(16);

/// Which tab of the bottom panel is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BottomTab {
    #[default]
    Plots,
    DebugLog,
    Diagnostics,
    Timeline,
}

/// Frame-time measurement for `--bench-frames`.
#[derive(Debug)]
pub struct FrameBench {
    pub frames: u32,
    pub warmup: u32,
    pub samples: Vec<Duration>,
    pub dispatch_ms: Vec<f64>,
    pub last: Option<Instant>,
    pub done: bool,
    pub started: Instant,
}

impl FrameBench {
    pub fn new(frames: u32) -> FrameBench {
        FrameBench {
            frames,
            warmup: 10,
            samples: Vec::new(),
            dispatch_ms: Vec::new(),
            last: None,
            done: false,
            started: Instant::now(),
        }
    }
}

/// The whole app state.
pub struct MegascopeApp {
    pub debugger: Debugger,
    pub bp_form: super::breakpoints_panel::BreakpointForm,
    pub grid: RingGrid,
    pub selection: Option<u32>,
    pub panels: Panels,
    pub transport: Transport,
    pub publish: PublishForm,
    pub batch: BatchForm,
    pub control_edit: ControlEditor,
    pub inspector: Inspector,
    pub plots: Plots,
    pub debug_log: DebugLogPanel,
    pub diagnostics: DiagnosticsPanel,
    pub timeline: TimelinePanel,
    pub bottom_tab: BottomTab,
    pub toasts: Toasts,
    pub new_dialog: Option<NewDialog>,
    pub files: FileOps,
    /// Per slot: the serial of the timeline point that last changed it (CPU backend grid).
    pub changed: Vec<u32>,
    pub changed_serial: u32,
    /// The slots marked with `changed_serial`.
    marked: Vec<u32>,
    last_point_seen: (usize, usize),
    last_frame: Option<Instant>,
    pub fps: f32,
    run_accum: f32,
    pub bench: Option<FrameBench>,
    /// The engine asked for on the command line together with a file: applied once that
    /// file has loaded, so `megascope --backend gpu FILE` runs FILE on the GPU whatever
    /// backend the session was saved with (as `megascope run` does).
    pub initial_backend: Option<Backend>,
    pub status_line: String,
    /// Keep a replayed recording's view on its newest step (a program still recording).
    pub follow: bool,
    last_refresh: Option<Instant>,
}

impl MegascopeApp {
    pub fn new(debugger: Debugger) -> MegascopeApp {
        let n = debugger.state().slot_count() as usize;
        MegascopeApp {
            debugger,
            bp_form: Default::default(),
            grid: RingGrid::default(),
            selection: None,
            panels: Panels::default(),
            transport: Transport::default(),
            publish: PublishForm::default(),
            batch: BatchForm::default(),
            control_edit: ControlEditor::default(),
            inspector: Inspector::default(),
            plots: Plots::default(),
            debug_log: DebugLogPanel::default(),
            diagnostics: DiagnosticsPanel::default(),
            timeline: TimelinePanel::default(),
            bottom_tab: BottomTab::default(),
            toasts: Toasts::default(),
            new_dialog: None,
            files: FileOps::default(),
            changed: vec![0; n],
            changed_serial: 0,
            marked: Vec::new(),
            last_point_seen: (0, 1),
            last_frame: None,
            fps: 0.0,
            run_accum: 0.0,
            bench: None,
            initial_backend: None,
            status_line: String::new(),
            follow: false,
            last_refresh: None,
        }
    }

    /// The view state a session saves.
    pub fn view_state(&self) -> ViewState {
        ViewState {
            colour_mode: self.grid.mode,
            zoom: self.grid.cell.unwrap_or(0.0),
            pan: [self.grid.pan.x, self.grid.pan.y],
            panels: self.panels,
            selection: self.selection,
            highlight_changes: self.grid.highlight_changes,
        }
    }

    pub fn apply_view_state(&mut self, v: &ViewState) {
        self.grid.mode = v.colour_mode;
        self.grid.cell = (v.zoom > 0.0).then_some(v.zoom);
        self.grid.pan = egui::vec2(v.pan[0], v.pan[1]);
        self.panels = v.panels;
        self.selection = v
            .selection
            .filter(|s| *s < self.debugger.state().slot_count());
        self.grid.highlight_changes = v.highlight_changes;
    }

    /// Replaces the whole debugger (New, Open), resetting per-state view bits.
    pub fn replace_debugger(&mut self, debugger: Debugger) {
        let gpu = self.debugger.take_gpu();
        self.debugger = debugger;
        if let Some(g) = gpu {
            self.debugger.attach_gpu(g);
        }
        self.changed = vec![0; self.debugger.state().slot_count() as usize];
        self.changed_serial = 0;
        self.marked.clear();
        self.last_point_seen = (usize::MAX, 0);
        self.selection = None;
        self.transport.running = false;
        self.grid.fit();
    }

    // ---- actions ------------------------------------------------------------------------

    /// Applies an action, reporting failure in a toast. Returns whether it succeeded.
    pub fn act(&mut self, action: Action) -> bool {
        let label = action.label();
        match self.debugger.apply(action) {
            Ok(()) => {
                self.files.dirty = true;
                true
            }
            Err(e) => {
                self.transport.running = false;
                self.toasts.error(format!("{label}: {e}"));
                false
            }
        }
    }

    fn step_dispatch(&mut self) -> bool {
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
                self.files.dirty = true;
                if let Some(b) = &mut self.bench {
                    b.dispatch_ms.push(r.elapsed.as_secs_f64() * 1e3);
                }
                if self.check_breakpoints() {
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
                    "dispatch {} finished: {} after {} passes",
                    r.dispatch_index,
                    r.end.describe(),
                    r.passes
                );
                self.check_breakpoints();
            }
            Err(e) => self.toasts.error(format!("pass: {e}")),
        }
        self.files.dirty = true;
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

    fn handle_bar(&mut self, a: BarAction, ctx: &egui::Context) {
        if self.debugger.replay().is_some() {
            match a {
                BarAction::Save | BarAction::SaveAs | BarAction::SaveSnapshotAs => {
                    self.toasts.info(
                        "a recording is saved as it was recorded: use Continue from here to make a session you can save",
                    );
                    return;
                }
                BarAction::StepPass => {
                    self.transport.running = false;
                    self.step_dispatch();
                    return;
                }
                BarAction::Reset => {
                    self.transport.running = false;
                    self.debugger.seek(0);
                    return;
                }
                BarAction::RunUntilBreak => {
                    self.replay_request(super::replay_bar::ReplayRequest::RunToBreak {
                        forward: true,
                    });
                    return;
                }
                _ => {}
            }
        }
        match a {
            BarAction::New => self
                .files
                .guard(PendingAfterPrompt::New, &mut self.new_dialog),
            BarAction::Open => self
                .files
                .guard(PendingAfterPrompt::Open, &mut self.new_dialog),
            BarAction::OpenRecent(p) => self
                .files
                .guard(PendingAfterPrompt::OpenPath(p), &mut self.new_dialog),
            BarAction::Save => self.files.save(false),
            BarAction::SaveAs => self.files.save_as(false),
            BarAction::SaveSnapshotAs => self.files.save_as(true),
            BarAction::ImportDump => self
                .files
                .guard(PendingAfterPrompt::ImportDump, &mut self.new_dialog),
            BarAction::ExportDump => self.files.export_dump(),
            BarAction::Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
            BarAction::Step => {
                self.transport.running = false;
                self.step_dispatch();
            }
            BarAction::StepPass => {
                self.transport.running = false;
                self.step_pass();
            }
            BarAction::StepN(n) => {
                // spread over frames (see `run_loop`): Step N of 4,000,000,000 froze the window
                self.transport.running = true;
                self.transport.until_break = false;
                self.transport.steps_left = Some(n as u64);
            }
            BarAction::ToggleRun => {
                self.transport.running = !self.transport.running;
                self.transport.until_break = false;
                if !self.transport.running {
                    self.sync_after_run();
                }
            }
            BarAction::RunUntilBreak => {
                if self.debugger.breakpoints().iter().all(|b| !b.enabled) {
                    self.toasts
                        .info("no breakpoint is enabled: add one in the left panel");
                }
                self.transport.running = true;
                self.transport.until_break = true;
            }
            BarAction::Reset => {
                self.transport.running = false;
                self.act(Action::Reset);
            }
            BarAction::StepBack => {
                self.transport.running = false;
                self.sync_after_run();
                if !self.debugger.step_back() {
                    self.toasts.info("at the start of the timeline");
                }
            }
            BarAction::StepForward => {
                self.transport.running = false;
                if !self.debugger.step_forward() {
                    self.toasts.info("at the end of the timeline");
                }
            }
            BarAction::Seek(p) => {
                self.transport.running = false;
                self.sync_after_run();
                self.debugger.seek(p);
            }
            BarAction::Backend(b) => {
                if let Err(e) = self.debugger.set_backend(b) {
                    self.toasts.error(e.to_string());
                } else {
                    self.files.dirty = true;
                }
            }
            BarAction::Variant(v) => {
                let mut c = self.debugger.config();
                c.variant = v;
                match self.debugger.set_config(c) {
                    Ok(()) => self.files.dirty = true,
                    Err(e) => self.toasts.error(e.to_string()),
                }
            }
            BarAction::PassBudget(b) => {
                let mut c = self.debugger.config();
                c.pass_budget = b;
                if let Err(e) = self.debugger.set_config(c) {
                    self.toasts.error(e.to_string());
                }
            }
        }
    }

    fn sync_after_run(&mut self) {
        if let Err(e) = self.debugger.sync() {
            self.toasts
                .error(format!("reading the state back from the GPU: {e}"));
        }
    }

    // ---- frame --------------------------------------------------------------------------

    fn shortcuts(&mut self, ctx: &egui::Context) -> Vec<BarAction> {
        let mut out = Vec::new();
        let typing = ctx.egui_wants_keyboard_input();
        ctx.input(|i| {
            let cmd = i.modifiers.command;
            if cmd && i.key_pressed(egui::Key::O) {
                out.push(BarAction::Open);
            }
            if cmd && i.key_pressed(egui::Key::S) {
                out.push(if i.modifiers.shift {
                    BarAction::SaveAs
                } else {
                    BarAction::Save
                });
            }
            if cmd && i.key_pressed(egui::Key::N) {
                out.push(BarAction::New);
            }
            if cmd && i.key_pressed(egui::Key::Q) {
                out.push(BarAction::Quit);
            }
            if typing || cmd {
                return;
            }
            if i.key_pressed(egui::Key::Space) {
                out.push(BarAction::ToggleRun);
            }
            if i.key_pressed(egui::Key::ArrowRight) {
                out.push(if i.modifiers.shift {
                    BarAction::StepPass
                } else {
                    BarAction::Step
                });
            }
            if i.key_pressed(egui::Key::ArrowLeft) {
                out.push(BarAction::StepBack);
            }
        });
        out
    }

    fn run_loop(&mut self, ctx: &egui::Context, dt: f32) {
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
        ctx.request_repaint();
    }

    /// Twice a second, takes in the steps a program still recording has appended to the
    /// replayed file; with `follow` on, moves to the newest.
    fn follow_recording(&mut self, ctx: &egui::Context, now: Instant) {
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

    /// Keeps the CPU-backend "changed" marks in step with the timeline point shown.
    fn track_changes(&mut self) {
        let t = self.debugger.timeline();
        let now = (t.cursor(), t.len());
        if now == self.last_point_seen {
            return;
        }
        self.last_point_seen = now;
        let mut marked = t.current().delta.changed_slots();
        // A recorded step that differs from the oracle shows the slots that differ.
        let diverging = self
            .debugger
            .replay_step()
            .and_then(|step| self.debugger.replay()?.diverging.get(&step));
        if let Some(d) = diverging {
            marked.extend_from_slice(&d.slots);
            self.grid.highlight_changes = true;
        }
        let n = self.debugger.state().slot_count() as usize;
        if self.changed.len() != n {
            self.changed = vec![0; n];
        }
        if marked.is_empty() && self.marked.is_empty() {
            // nothing was highlighted and nothing is: the grid's picture stays as it is
            return;
        }
        self.changed_serial = self.changed_serial.wrapping_add(1).max(1);
        let serial = self.changed_serial;
        for &s in &marked {
            if let Some(c) = self.changed.get_mut(s as usize) {
                *c = serial;
            }
        }
        self.marked = marked;
    }

    /// Draws one frame. `render` is eframe's wgpu state when there is one.
    pub fn show(&mut self, ui: &mut egui::Ui, render: Option<&eframe::egui_wgpu::RenderState>) {
        let ctx = ui.ctx().clone();
        let now = Instant::now();
        let dt = self
            .last_frame
            .map(|l| now.duration_since(l).as_secs_f32())
            .unwrap_or(1.0 / 60.0);
        self.last_frame = Some(now);
        self.fps = if self.fps == 0.0 {
            1.0 / dt.max(1e-4)
        } else {
            self.fps * 0.9 + 0.1 / dt.max(1e-4)
        };
        if let Some(b) = &mut self.bench {
            if let Some(last) = b.last {
                if b.warmup > 0 {
                    b.warmup -= 1;
                } else {
                    b.samples.push(now.duration_since(last));
                }
            }
            b.last = Some(now);
            if b.samples.len() as u32 >= b.frames {
                b.done = true;
            }
        }

        let mut actions = self.shortcuts(&ctx);
        for outcome in self.files.poll(&mut self.debugger, &ctx) {
            self.file_outcome(outcome);
        }
        for dropped in ctx.input(|i| i.raw.dropped_files.clone()) {
            let p = dropped.path().to_path_buf();
            if !p.as_os_str().is_empty() {
                self.files
                    .guard(PendingAfterPrompt::OpenPath(p), &mut self.new_dialog);
            }
        }
        self.run_loop(&ctx, dt);
        self.follow_recording(&ctx, now);
        self.track_changes();

        let in_progress = self
            .debugger
            .in_progress()
            .map(|d| (d, self.debugger.passes_in_progress().unwrap_or(0)));
        let point_label = self.debugger.timeline().current().label.clone();
        let title = self.files.title();
        let recent = self.files.recent.clone();
        let marks: Vec<usize> = self
            .debugger
            .replay()
            .map(|r| {
                r.diverging
                    .keys()
                    .take(1000)
                    .filter_map(|&s| self.debugger.point_of_step(s))
                    .collect()
            })
            .unwrap_or_default();
        egui::Panel::top("top bar")
            .frame(bare_panel(ui))
            .show(ui, |ui| {
                let info = BarInfo {
                    dispatches: self.debugger.dispatches(),
                    in_progress,
                    point: self.debugger.timeline().cursor(),
                    points: self.debugger.timeline().len(),
                    point_label: &point_label,
                    backend: self.debugger.backend(),
                    gpu_available: self.debugger.has_gpu(),
                    variant: self.debugger.config().variant,
                    pass_budget: self.debugger.config().pass_budget,
                    fps: self.fps,
                    running: self.transport.running,
                    last_dispatch_ms: self
                        .debugger
                        .last_report()
                        .map(|r| r.elapsed.as_secs_f64() * 1e3),
                    dirty: self.files.dirty,
                    title: &title,
                    recent: &recent,
                    marks: &marks,
                };
                actions.extend(top_bar::ui(ui, &mut self.transport, &info));
            });
        let mut replay_req = None;
        if self.debugger.replay().is_some() {
            egui::Panel::top("replay bar")
                .frame(bare_panel(ui))
                .show(ui, |ui| {
                    replay_req = super::replay_bar::ui(ui, &self.debugger, self.follow);
                });
        }
        if let Some(r) = replay_req {
            self.replay_request(r);
        }
        egui::Panel::bottom("status line")
            .frame(bare_panel(ui))
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    if let Some((path, done, total)) = self.files.loading_progress() {
                        ui.spinner();
                        let name = path
                            .file_name()
                            .map(|n| n.to_string_lossy().to_string())
                            .unwrap_or_default();
                        ui.label(RichText::new(if total > 0 {
                            format!("opening {name}: step {done} of {total}, checking each dispatch against the CPU engine")
                        } else {
                            format!("opening {name}…")
                        }).small());
                        ui.separator();
                    }
                    ui.label(RichText::new(&self.status_line).small());
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        let g = self.debugger.geometry();
                        ui.label(
                            RichText::new(format!(
                                "{} slots · {} tenants · {} observable · {} backend{}",
                                g.slot_count,
                                g.tenant_count,
                                g.observable_slots,
                                self.debugger.backend().name(),
                                self.debugger
                                    .gpu_adapter()
                                    .map(|a| format!(" ({a})"))
                                    .unwrap_or_default()
                            ))
                            .small()
                            .weak(),
                        );
                    });
                });
            });
        for a in actions {
            self.handle_bar(a, &ctx);
        }

        let mut left_actions: Vec<Action> = Vec::new();
        egui::Panel::left("publish panel")
            .frame(bare_panel(ui))
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    let state = self.debugger.state();
                    let replaying = self.debugger.replay().is_some();
                    if replaying {
                        ui.label(
                            RichText::new(
                                "a recording replays read-only: Continue from here (top right) to publish and edit",
                            )
                            .weak()
                            .small(),
                        );
                    }
                    ui.add_enabled_ui(!replaying, |ui| {
                    egui::CollapsingHeader::new("Publish one work item")
                        .default_open(true)
                        .show(ui, |ui| {
                            if self.debugger.is_stale() {
                                ui.label(
                                    RichText::new(
                                        "the GPU is running: checks use the last synced state",
                                    )
                                    .weak()
                                    .small(),
                                );
                            }
                            if let Some(a) = self.publish.ui(ui, state) {
                                left_actions.push(a);
                            }
                        });
                    egui::CollapsingHeader::new("Batch generator")
                        .default_open(false)
                        .show(ui, |ui| {
                            if let Some(a) = self.batch.ui(ui, state) {
                                left_actions.push(a);
                            }
                        });
                    egui::CollapsingHeader::new("Control words")
                        .default_open(false)
                        .show(ui, |ui| {
                            if let Some(a) = self.control_edit.ui(ui, state) {
                                left_actions.push(a);
                            }
                        });
                    });
                    let n = self.debugger.breakpoints().len();
                    egui::CollapsingHeader::new(format!("Breakpoints ({n})"))
                        .default_open(true)
                        .show(ui, |ui| {
                            let geometry = self.debugger.geometry();
                            super::breakpoints_panel::ui(
                                ui,
                                self.debugger.breakpoints_mut(),
                                &mut self.bp_form,
                                &geometry,
                            );
                        });
                });
            });
        for a in left_actions {
            if let Action::Publish { slot, .. } | Action::PublishPacked { slot, .. } = &a {
                let slot = *slot;
                if self.act(a) {
                    self.selection = Some(slot);
                }
            } else {
                self.act(a);
            }
        }

        let mut inspector_req = None;
        egui::Panel::right("inspector")
            .frame(bare_panel(ui))
            .resizable(true)
            .default_size(330.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    if let Err(e) = self.debugger.refresh_slot(self.selection) {
                        ui.colored_label(
                            egui::Color32::from_rgb(0xff, 0x6b, 0x6b),
                            format!("reading the slot from the GPU: {e}"),
                        );
                    }
                    inspector_req =
                        self.inspector
                            .ui(ui, self.debugger.state(), self.selection, true);
                });
            });
        match inspector_req {
            Some(InspectorRequest::Select(s)) => self.selection = Some(s),
            Some(InspectorRequest::WhoChanged(w)) => {
                self.sync_after_run();
                match self.debugger.who_changed_control_word(w) {
                    Some((point, slot)) => {
                        self.debugger.seek(point);
                        if let Some(s) = slot {
                            self.selection = Some(s);
                        }
                        self.status_line = format!(
                            "control[{w}] last changed at point {point}: {}{}",
                            self.debugger.timeline().current().label,
                            slot.map(|s| format!(", by slot {s}")).unwrap_or_default()
                        );
                    }
                    None => self.toasts.info(format!(
                        "control[{w}] has not changed since the start of the timeline"
                    )),
                }
            }
            None => {}
        }

        let mut select = None;
        egui::Panel::bottom("bottom panel")
            .frame(bare_panel(ui))
            .resizable(true)
            .default_size(230.0)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.selectable_value(&mut self.bottom_tab, BottomTab::Plots, "Plots");
                    ui.selectable_value(&mut self.bottom_tab, BottomTab::DebugLog, "Debug log");
                    let nd = self.debugger.diagnostics_shown().len();
                    ui.selectable_value(
                        &mut self.bottom_tab,
                        BottomTab::Diagnostics,
                        format!("Diagnostics ({nd})"),
                    );
                    ui.selectable_value(
                        &mut self.bottom_tab,
                        BottomTab::Timeline,
                        "Timeline & diff",
                    );
                });
                ui.separator();
                match self.bottom_tab {
                    BottomTab::Plots => self.plots.ui(ui, self.debugger.history()),
                    BottomTab::DebugLog => {
                        select = self.debug_log.ui(
                            ui,
                            self.debugger.state().debug_log(),
                            self.debugger.history(),
                        )
                    }
                    BottomTab::Diagnostics => {
                        select = self.diagnostics.ui(
                            ui,
                            self.debugger.diagnostics_shown(),
                            self.debugger.diagnostics_dropped(),
                        )
                    }
                    BottomTab::Timeline => {
                        if let Some(req) = self.timeline.ui(ui, &self.debugger) {
                            self.timeline_request(req);
                        }
                    }
                }
            });
        if let Some(s) = select {
            self.selection = Some(s);
            self.grid.race_pair = self.diagnostics.race_pair.take();
        }

        egui::CentralPanel::default_margins()
            .frame(egui::Frame::central_panel(ui.style()).fill(egui::Color32::TRANSPARENT))
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.label("colour by");
                    for m in crate::session::ColourMode::ALL {
                        ui.selectable_value(&mut self.grid.mode, m, m.name());
                    }
                    ui.separator();
                    ui.checkbox(&mut self.grid.highlight_changes, "highlight changes");
                    if ui
                        .button("fit")
                        .on_hover_text("show every slot (F, double-click)")
                        .clicked()
                    {
                        self.grid.fit();
                    }
                    if let Some(s) = self.selection {
                        ui.label(format!("selected slot {s}"));
                    }
                });
                let gpu_paint = render.is_some_and(|rs| {
                    rs.renderer
                        .read()
                        .callback_resources
                        .get::<super::grid_render::GridRenderer>()
                        .is_some()
                });
                let device_buffers = self.debugger.grid_device_buffers();
                let serial = if device_buffers.is_some() {
                    self.debugger.grid_serial()
                } else {
                    self.changed_serial
                };
                let (id, generation) = self.debugger.state().version();
                let content = (id, generation, serial);
                if let (Some(rs), None) = (render, &device_buffers) {
                    self.upload_host_grid(rs, content);
                }
                let state = self.debugger.state();
                let src = GridSource {
                    slot_count: state.slot_count(),
                    ring: state.ring(),
                    control: state.control(),
                    changed: &self.changed,
                    serial,
                    device_buffers,
                    gpu_paint,
                    content,
                };
                let r = self.grid.show(ui, &src, self.selection);
                if let Some(s) = r.clicked {
                    self.selection = if self.selection == Some(s) {
                        None
                    } else {
                        Some(s)
                    };
                }
            });

        if let Some(d) = &mut self.new_dialog {
            match d.ui(&ctx) {
                Some(Ok((g, c))) => {
                    self.new_dialog = None;
                    match Debugger::new(g, c, Backend::Cpu) {
                        Ok(d) => {
                            self.replace_debugger(d);
                            self.files.new_session();
                            self.toasts
                                .info(format!("new state: {} slots", g.slot_count));
                        }
                        Err(e) => self.toasts.error(e.to_string()),
                    }
                }
                Some(Err(())) => self.new_dialog = None,
                None => {}
            }
        }
        if let Some(o) = self.files.prompt_ui(&ctx) {
            self.file_outcome(o);
        }
        self.toasts.show(&ctx);
    }

    fn upload_host_grid(
        &mut self,
        rs: &eframe::egui_wgpu::RenderState,
        content: super::grid_render::ContentVersion,
    ) {
        let mut renderer = rs.renderer.write();
        if let Some(g) = renderer
            .callback_resources
            .get_mut::<super::grid_render::GridRenderer>()
        {
            let slots = super::host_grid::slots_to_upload(
                g.host_content(),
                content,
                &mut self.debugger,
                &self.marked,
            );
            g.upload_host(
                &rs.device,
                &rs.queue,
                content,
                self.debugger.state().ring(),
                &self.changed,
                slots.as_deref(),
            );
        }
    }

    fn replay_request(&mut self, req: super::replay_bar::ReplayRequest) {
        use super::replay_bar::ReplayRequest;
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
                self.files.dirty = true;
                self.status_line = format!(
                    "continued from recorded step {step}: this is now a normal session (untitled)"
                );
            }
        }
    }

    fn timeline_request(&mut self, req: super::timeline_panel::TimelineRequest) {
        use super::timeline_panel::TimelineRequest;
        self.sync_after_run();
        match req {
            TimelineRequest::Seek(p) => self.debugger.seek(p),
            TimelineRequest::Select(s) => self.selection = Some(s),
            TimelineRequest::Highlight(slots) => {
                self.changed_serial = self.changed_serial.wrapping_add(1).max(1);
                for &s in &slots {
                    if let Some(c) = self.changed.get_mut(s as usize) {
                        *c = self.changed_serial;
                    }
                }
                self.marked = slots;
                self.grid.highlight_changes = true;
            }
        }
    }

    fn file_outcome(&mut self, o: FileOutcome) {
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
            FileOutcome::NewRequested => self.new_dialog = Some(NewDialog::default()),
            FileOutcome::SaveRequested { path, snapshot } => {
                let view = self.view_state();
                self.sync_after_run();
                self.files.save_to(&path, &self.debugger, &view, snapshot);
            }
            FileOutcome::ExportTo(dir) => {
                self.sync_after_run();
                match crate::dump::write_dump(&dir, self.debugger.state()) {
                    Ok(()) => self
                        .toasts
                        .info(format!("exported the four buffers to {}", dir.display())),
                    Err(e) => self.toasts.error(e.to_string()),
                }
            }
            FileOutcome::Quit => {}
        }
    }

    /// Paths given on the command line.
    pub fn open_initial(&mut self, path: PathBuf) {
        self.files.open_path(path);
    }
}

/// A side or top panel's frame without its fill: the window's clear colour
/// ([`background_colour`]) is the panels' colour instead. On the software rasterizer every
/// filled pixel costs tens of nanoseconds, and the panel fills painted the whole window a
/// second time each frame — about half the frame time at 1600×1000 on lavapipe.
fn bare_panel(ui: &egui::Ui) -> egui::Frame {
    egui::Frame::side_top_panel(ui.style()).fill(egui::Color32::TRANSPARENT)
}

/// Lightens drawing on a software rasterizer (lavapipe, llvmpipe): shapes lose their
/// one-pixel anti-aliasing fringe. egui-wgpu's fragment shader costs about 40 ns a pixel
/// there, and the fringes of every line, frame and rounded corner were a fifth of a frame;
/// text keeps its smoothing (it comes from the font texture). Returns whether it did.
pub fn tune_for_adapter(ctx: &egui::Context, device_type: eframe::wgpu::DeviceType) -> bool {
    let software = device_type == eframe::wgpu::DeviceType::Cpu;
    if software {
        ctx.tessellation_options_mut(|o| o.feathering = false);
    }
    software
}

/// The colour the renderer clears the window to: the panels' fill, which the panels no
/// longer paint themselves (see [`bare_panel`]).
pub fn background_colour(visuals: &egui::Visuals) -> [f32; 4] {
    visuals.panel_fill.to_normalized_gamma_f32()
}

#[cfg(test)]
mod tests {
    use super::*;
    use eframe::wgpu::DeviceType;

    fn loaded(backend: Backend) -> FileOutcome {
        let geometry = crate::debugger::Geometry {
            slot_count: 64,
            tenant_count: 1,
            observable_slots: 0,
        };
        let d = Debugger::new(geometry, Default::default(), backend).unwrap();
        FileOutcome::Loaded {
            debugger: Box::new(d),
            view: None,
            path: "s.ron".into(),
        }
    }

    #[test]
    fn a_backend_given_with_the_launch_file_wins_over_the_files_own_once() {
        let geometry = crate::debugger::Geometry {
            slot_count: 16,
            tenant_count: 1,
            observable_slots: 0,
        };
        let mut app =
            MegascopeApp::new(Debugger::new(geometry, Default::default(), Backend::Cpu).unwrap());
        app.debugger.attach_gpu(
            crate::engine::gpu::GpuEngine::new_headless().expect("a wgpu adapter (lavapipe in CI)"),
        );
        app.initial_backend = Some(Backend::Gpu);
        app.file_outcome(loaded(Backend::Cpu));
        assert_eq!(app.debugger.backend(), Backend::Gpu);
        // a file opened later keeps its own backend
        app.file_outcome(loaded(Backend::Cpu));
        assert_eq!(app.debugger.backend(), Backend::Cpu);
        // a launch file that fails to load uses the flag up
        app.initial_backend = Some(Backend::Gpu);
        app.file_outcome(FileOutcome::Error("bad file".into()));
        app.file_outcome(loaded(Backend::Cpu));
        assert_eq!(app.debugger.backend(), Backend::Cpu);
    }

    #[test]
    fn a_software_adapter_drops_the_anti_aliasing_fringe_and_a_gpu_keeps_it() {
        let ctx = egui::Context::default();
        assert!(!tune_for_adapter(&ctx, DeviceType::DiscreteGpu));
        assert!(ctx.tessellation_options(|o| o.feathering));
        assert!(tune_for_adapter(&ctx, DeviceType::Cpu));
        assert!(!ctx.tessellation_options(|o| o.feathering));
    }
}
