//! One frame: the top bar, the replay bar and the status line around the dock of panels,
//! then the palette and dialogs. Drawing only queues commands; they are applied at the end
//! of the frame ([`MegascopeApp::apply_queue`]).

use std::time::Instant;

use egui::RichText;

use super::dock::Panes;
use super::{MegascopeApp, bare_panel};
use crate::debugger::Debugger;
use crate::engine::Backend;
use crate::ui::command::{Pane, UiCommand};
use crate::ui::files::PendingAfterPrompt;
use crate::ui::grid::GridSource;
use crate::ui::inspector::InspectorRequest;
use crate::ui::top_bar::{self, BarInfo};

/// Diagnostic markers drawn at most (a flood of diagnostics would otherwise cost a frame).
const MARKED_MAX: usize = 10_000;

impl MegascopeApp {
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
        self.measure_frame(now);

        let pressed = UiCommand::pressed(&ctx);
        self.queue.extend(pressed);
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
        if !self.transport.running && self.debugger.is_stale() {
            // paused with the GPU holding newer state: read it back once, so the forms,
            // the inspector and the status line agree with the grid drawn from the device
            self.sync_after_run();
        }
        self.follow_recording(&ctx, now);
        self.track_changes();
        self.sync_dirty();

        // set again by the plot when it is drawn this frame (a PNG export crops it)
        self.plots.last_rect = None;
        self.top_bar(ui);
        if self.debugger.replay().is_some() {
            egui::Panel::top("replay bar")
                .frame(bare_panel(ui))
                .show(ui, |ui| {
                    if let Some(r) = crate::ui::replay_bar::ui(ui, &self.debugger, self.follow) {
                        self.queue.push(UiCommand::Replay(r));
                    }
                });
        }
        self.status_bar(ui);

        egui::CentralPanel::default_margins()
            .frame(egui::Frame::central_panel(ui.style()).fill(egui::Color32::TRANSPARENT))
            .show(ui, |ui| {
                let mut tree = std::mem::replace(
                    &mut self.layout,
                    egui_tiles::Tree::empty(egui::Id::unique("dock (drawing)")),
                );
                tree.ui(&mut Panes { app: self, render }, ui);
                self.layout = tree;
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
        let who = self.who_wrote.ui(&ctx);
        self.queue.extend(who);
        self.take_screenshot(&ctx);
        if self.palette.open {
            let catalogue = UiCommand::catalogue(&self.files.recent);
            if let Some(c) = self.palette.ui(&ctx, &catalogue) {
                self.queue.push(c);
            }
        }
        self.apply_queue(&ctx);
        self.toasts.show(&ctx);
    }

    fn measure_frame(&mut self, now: Instant) {
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
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
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
        let mut out = Vec::new();
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
                    dirty: self.is_dirty(),
                    title: &title,
                    recent: &recent,
                    marks: &marks,
                };
                out = top_bar::ui(ui, &mut self.transport, &info);
            });
        self.queue.extend(out);
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        let mut undo = false;
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
                    if self.debugger.can_restore_future()
                        && ui
                            .small_button("Undo")
                            .on_hover_text("put back the timeline points the last action after a step back dropped (Ctrl+Z)")
                            .clicked()
                    {
                        undo = true;
                    }
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
        if undo {
            self.queue.push(UiCommand::RestoreFuture);
        }
    }

    /// Every panel but the grid.
    pub(super) fn pane_ui(&mut self, ui: &mut egui::Ui, pane: Pane) {
        use crate::ui::export::Export;
        let export = match pane {
            Pane::Plots => Some((Export::Plot, "Export PNG…")),
            Pane::DebugLog => Some((Export::DebugLog, "Export CSV…")),
            Pane::Diagnostics => Some((Export::Diagnostics, "Export CSV…")),
            Pane::Timeline => Some((Export::Diff, "Export diff CSV…")),
            _ => None,
        };
        if let Some((what, label)) = export {
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Min), |ui| {
                if ui.small_button(label).on_hover_text(what.title()).clicked() {
                    self.queue.push(UiCommand::Export(what));
                }
            });
        }
        match pane {
            Pane::Publish => self.publish_pane(ui),
            Pane::Breakpoints => {
                let geometry = self.debugger.geometry();
                let hits = self.debugger.breakpoint_hits_shown();
                if let Some(e) = crate::ui::breakpoints_panel::ui(
                    ui,
                    self.debugger.breakpoints(),
                    &hits,
                    &mut self.bp_form,
                    &geometry,
                ) {
                    self.queue.push(UiCommand::Edit(e));
                }
            }
            Pane::Inspector => {
                if let Err(e) = self.debugger.refresh_slot(self.selection) {
                    ui.colored_label(
                        crate::ui::theme::ERROR,
                        format!("reading the slot from the GPU: {e}"),
                    );
                }
                match self
                    .inspector
                    .ui(ui, self.debugger.state(), self.selection, true)
                {
                    Some(InspectorRequest::GoToSlot(s)) => self.queue.push(UiCommand::GoToSlot(s)),
                    Some(InspectorRequest::WhoWrote(w)) => self.queue.push(UiCommand::WhoWrote(w)),
                    None => {}
                }
            }
            Pane::Plots => self.plots.ui(ui, self.debugger.history()),
            Pane::DebugLog => {
                if let Some(s) = self.debug_log.ui(
                    ui,
                    self.debugger.state().debug_log(),
                    self.debugger.history(),
                ) {
                    self.queue.push(UiCommand::Select(Some(s)));
                }
            }
            Pane::Diagnostics => {
                let races = self
                    .debugger
                    .last_report()
                    .map(|r| (&r.race_analysis, r.backend));
                if let Some(s) = self.diagnostics.ui(
                    ui,
                    self.debugger.diagnostics_shown(),
                    self.debugger.diagnostics_dropped(),
                    races,
                ) {
                    self.queue.push(UiCommand::Select(Some(s)));
                }
            }
            Pane::Timeline => {
                self.bookmarks_ui(ui);
                ui.separator();
                if let Some(req) = self.timeline.ui(ui, &self.debugger) {
                    self.queue.push(UiCommand::Timeline(req));
                }
            }
            Pane::Grid => {}
        }
    }

    /// Named timeline points: name the point shown, go to one, remove one.
    fn bookmarks_ui(&mut self, ui: &mut egui::Ui) {
        use crate::debugger::settings::Edit;
        ui.horizontal(|ui| {
            let l = ui.label("bookmark");
            let r = ui
                .add(
                    egui::TextEdit::singleline(&mut self.bookmark_name)
                        .desired_width(180.0)
                        .hint_text("a name for this point"),
                )
                .labelled_by(l.id);
            let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            let named = !self.bookmark_name.trim().is_empty();
            if (ui
                .add_enabled(named, egui::Button::new("Bookmark this point"))
                .on_disabled_hover_text("type a name first")
                .clicked()
                || enter)
                && named
            {
                let name = std::mem::take(&mut self.bookmark_name);
                self.queue.push(UiCommand::Edit(Edit::AddBookmark(name)));
            }
        });
        let cursor = self.debugger.timeline().cursor();
        for (i, b) in self.debugger.bookmarks().iter().enumerate() {
            let Some(p) = self.debugger.bookmark_point(b) else {
                continue;
            };
            ui.horizontal(|ui| {
                let text = format!("{} (point {p})", b.name);
                if ui.selectable_label(p == cursor, text).clicked() {
                    self.queue.push(UiCommand::Seek(p));
                }
                if ui
                    .small_button("x")
                    .on_hover_text("remove this bookmark")
                    .clicked()
                {
                    self.queue.push(UiCommand::Edit(Edit::RemoveBookmark(i)));
                }
            });
        }
    }

    fn publish_pane(&mut self, ui: &mut egui::Ui) {
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
        let mut acts = Vec::new();
        let state = self.debugger.state();
        ui.add_enabled_ui(!replaying, |ui| {
            egui::CollapsingHeader::new("Publish one work item")
                .default_open(true)
                .show(ui, |ui| {
                    if self.debugger.is_stale() {
                        ui.label(
                            RichText::new("the GPU is running: checks use the last synced state")
                                .weak()
                                .small(),
                        );
                    }
                    acts.extend(self.publish.ui(ui, state));
                });
            egui::CollapsingHeader::new("Batch generator")
                .default_open(false)
                .show(ui, |ui| acts.extend(self.batch.ui(ui, state)));
            egui::CollapsingHeader::new("Control words")
                .default_open(false)
                .show(ui, |ui| acts.extend(self.control_edit.ui(ui, state)));
        });
        self.queue.extend(acts.into_iter().map(UiCommand::Act));
    }

    pub(super) fn grid_pane(
        &mut self,
        ui: &mut egui::Ui,
        render: Option<&eframe::egui_wgpu::RenderState>,
    ) {
        ui.horizontal(|ui| {
            ui.label("colour by");
            for m in crate::files::session::ColourMode::ALL {
                if ui.selectable_label(self.grid.mode == m, m.name()).clicked() {
                    self.queue.push(UiCommand::ColourMode(m));
                }
            }
            ui.separator();
            let mut on = self.grid.highlight_changes;
            if ui.checkbox(&mut on, "highlight changes").changed() {
                self.queue.push(UiCommand::ToggleHighlightChanges);
            }
            top_bar::bar_button(ui, "fit", UiCommand::FitGrid, &mut self.queue);
            if let Some(s) = self.selection {
                ui.label(format!("selected slot {s}"));
            }
        });
        ui.horizontal(|ui| {
            let l = ui.label("where");
            let r = ui
                .add(
                    egui::TextEdit::singleline(&mut self.query_text)
                        .desired_width(260.0)
                        .hint_text("PUBLISHED && tenant == 1"),
                )
                .labelled_by(l.id)
                .on_hover_text(
                    "highlight the slots that match: a status name, or status / opcode / tenant / priority / partition / slot / a0..a11 compared with a value; && || ! ( )",
                );
            if r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                self.queue
                    .push(UiCommand::SelectWhere(self.query_text.clone()));
            }
            match &self.query_result {
                Some(Ok(n)) => {
                    ui.label(crate::ui::plural(*n as u64, "slot matches", "slots match"));
                    if ui.small_button("clear").clicked() {
                        self.queue.push(UiCommand::ClearSelectWhere);
                    }
                }
                Some(Err(e)) => {
                    ui.colored_label(crate::ui::theme::ERROR, e);
                }
                None => {}
            }
        });
        let gpu_paint = render.is_some_and(|rs| {
            rs.renderer
                .read()
                .callback_resources
                .get::<crate::ui::grid::render::GridRenderer>()
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
        // recomputed only when the state or the point shown moved, not every frame
        let key = self.debugger.revision();
        if self.diagnostic_marks.0 != Some(key) {
            self.diagnostic_marks = (
                Some(key),
                crate::ui::grid::marked_slots(self.debugger.diagnostics_shown(), MARKED_MAX),
            );
        }
        let marked = &self.diagnostic_marks.1;
        let state = self.debugger.state();
        let src = GridSource {
            marked,
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
        if let Some(s) = r.who_wrote {
            self.queue
                .push(UiCommand::WhoWrote(crate::ui::command::WordRef::Slot {
                    slot: s,
                    word: 0,
                }));
        }
        if let Some(s) = r.clicked {
            let next = if self.selection == Some(s) {
                None
            } else {
                Some(s)
            };
            self.queue.push(UiCommand::Select(next));
        }
    }

    fn upload_host_grid(
        &mut self,
        rs: &eframe::egui_wgpu::RenderState,
        content: crate::ui::grid::render::ContentVersion,
    ) {
        let mut renderer = rs.renderer.write();
        if let Some(g) = renderer
            .callback_resources
            .get_mut::<crate::ui::grid::render::GridRenderer>()
        {
            let slots = crate::ui::grid::host_upload::slots_to_upload(
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

    /// Keeps the CPU-backend "changed" marks in step with the timeline point shown.
    pub(super) fn track_changes(&mut self) {
        let t = self.debugger.timeline();
        let now = (t.cursor(), t.len());
        if now == self.last_point_seen {
            return;
        }
        self.last_point_seen = now;
        if self.query.is_some() {
            self.mark_query_matches();
            return;
        }
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
        if marked.is_empty() && self.marked.is_empty() {
            // nothing was highlighted and nothing is: the grid's picture stays as it is
            return;
        }
        self.mark(marked);
    }
}
