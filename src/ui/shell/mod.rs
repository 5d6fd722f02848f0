//! The app: its state (this file), the one place commands are applied (`apply.rs`), the
//! frame's bars and dialogs (`frame.rs`) and the dock layout of the panels (`dock.rs`).
//! Reads the debugger model and sends it actions; never computes a dispatch itself.

mod apply;
mod dock;
mod frame;

pub use dock::{LAYOUT_KEY, checked as checked_layout, default_layout};

use std::time::{Duration, Instant};

use super::command::{Pane, UiCommand};
use super::command_palette::CommandPalette;
use super::debug_log::DebugLogPanel;
use super::diagnostics_panel::DiagnosticsPanel;
use super::files::FileOps;
use super::inspector::Inspector;
use super::new_dialog::NewDialog;
use super::plots::Plots;
use super::publish_form::{BatchForm, ControlEditor, PublishForm};
use super::timeline_panel::TimelinePanel;
use super::toasts::Toasts;
use super::top_bar::Transport;
use crate::debugger::Debugger;
use crate::engine::Backend;
use crate::files::session::{Panels, ViewState};
use crate::ui::grid::RingGrid;

/// How long one frame may spend on a Step N's dispatches before the window draws again.
const STEP_N_FRAME_BUDGET: Duration = Duration::from_millis(16);

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
    pub toasts: Toasts,
    /// The dock layout of the panels (saved in eframe's storage under [`LAYOUT_KEY`]).
    pub layout: egui_tiles::Tree<Pane>,
    pub palette: CommandPalette,
    pub who_wrote: crate::ui::who_wrote_window::WhoWroteWindow,
    /// The grid's "where" field, and the parsed query it holds once applied.
    pub query_text: String,
    /// The name typed for a new bookmark.
    pub bookmark_name: String,
    pub query: Option<crate::debugger::select::SlotQuery>,
    /// Slots the query matched at the point shown, or why it could not run.
    pub query_result: Option<Result<usize, String>>,
    /// Where a plot PNG goes once the screenshot asked for arrives.
    pending_plot_png: Option<std::path::PathBuf>,
    plot_png_rx: Option<std::sync::mpsc::Receiver<Result<std::path::PathBuf, String>>>,
    /// Commands queued while the frame draws, applied after it ([`MegascopeApp::apply`]).
    pub queue: Vec<UiCommand>,
    /// The debugger revision last saved or opened; `None` when the state was never saved
    /// (an imported dump, a continued recording).
    clean_revision: Option<u64>,
    pub new_dialog: Option<NewDialog>,
    pub files: FileOps,
    /// Per slot: the serial of the timeline point that last changed it (CPU backend grid).
    pub changed: Vec<u32>,
    pub changed_serial: u32,
    /// The slots marked with `changed_serial` (only they go up to the grid when the serial
    /// moves; see `grid::host_upload`).
    marked: Vec<u32>,
    /// The slots the shown diagnostics name, and the debugger revision they were taken at.
    diagnostic_marks: (Option<u64>, Vec<u32>),
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
            toasts: Toasts::default(),
            layout: default_layout(),
            palette: CommandPalette::default(),
            who_wrote: Default::default(),
            query_text: String::new(),
            bookmark_name: String::new(),
            query: None,
            query_result: None,
            pending_plot_png: None,
            plot_png_rx: None,
            queue: Vec::new(),
            clean_revision: None,
            new_dialog: None,
            files: FileOps::default(),
            changed: vec![0; n],
            changed_serial: 0,
            marked: Vec::new(),
            diagnostic_marks: (None, Vec::new()),
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
        .clean()
    }

    /// Highlights `slots` on the grid under a new serial (the changes of the point shown, a
    /// diff, a query's matches).
    pub(super) fn mark(&mut self, slots: Vec<u32>) {
        let n = self.debugger.state().slot_count() as usize;
        if self.changed.len() != n {
            self.changed = vec![0; n];
        }
        self.changed_serial = self.changed_serial.wrapping_add(1).max(1);
        for &s in &slots {
            if let Some(c) = self.changed.get_mut(s as usize) {
                *c = self.changed_serial;
            }
        }
        self.marked = slots;
    }

    /// Marks what is shown now as saved.
    fn clean(mut self) -> Self {
        self.clean_revision = Some(self.debugger.revision());
        self
    }

    /// Whether the session has changes a save would keep: follows from the debugger's
    /// revision, which every action, dispatch, move in time and settings edit advances.
    pub fn is_dirty(&self) -> bool {
        self.clean_revision != Some(self.debugger.revision())
    }

    /// Takes in what the file layer says about saving: a save or open makes the current
    /// revision the clean one; an imported dump is never clean until saved.
    fn sync_dirty(&mut self) {
        match self.files.take_clean_event() {
            Some(true) => self.clean_revision = Some(self.debugger.revision()),
            Some(false) => self.clean_revision = None,
            None => {}
        }
        self.files.dirty = self.is_dirty();
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
        self.diagnostic_marks = (None, Vec::new());
        self.last_point_seen = (usize::MAX, 0);
        self.selection = None;
        self.transport.running = false;
        self.grid.fit();
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

    use crate::ui::files::FileOutcome;

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
