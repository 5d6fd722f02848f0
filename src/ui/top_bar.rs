//! The top bar: file menu, transport (step, pass, step N, run/pause, run until breakpoint,
//! reset, step back/forward), the timeline scrubber, and where things stand (dispatch index,
//! backend, variant, FPS, dispatch time).

use egui::RichText;

use super::command::{Pane, UiCommand};
use crate::debugger::settings::Edit;
use crate::engine::{Backend, Variant};

/// Transport state the bar shows and edits.
#[derive(Debug, Clone)]
pub struct Transport {
    pub running: bool,
    pub until_break: bool,
    /// Dispatches per second while running; 0 = one per frame.
    pub rate: f32,
    pub step_n: String,
    /// Dispatches left of a Step N, run a frame's worth at a time so the window stays
    /// responsive for any N (and Pause stops it).
    pub steps_left: Option<u64>,
    /// Run pauses once a dispatch claims nothing (a fixed point). Frame benchmarks turn it
    /// off: they measure a dispatch every frame.
    pub pause_at_fixed_point: bool,
}

impl Default for Transport {
    fn default() -> Self {
        Transport {
            running: false,
            until_break: false,
            rate: 0.0,
            step_n: "10".into(),
            steps_left: None,
            pause_at_fixed_point: true,
        }
    }
}

/// What the bar displays.
pub struct BarInfo<'a> {
    pub dispatches: u64,
    pub in_progress: Option<(u64, u32)>,
    pub point: usize,
    pub points: usize,
    pub point_label: &'a str,
    pub backend: Backend,
    pub gpu_available: bool,
    pub variant: Variant,
    pub pass_budget: u32,
    pub fps: f32,
    pub running: bool,
    pub last_dispatch_ms: Option<f64>,
    pub dirty: bool,
    pub title: &'a str,
    pub recent: &'a [std::path::PathBuf],
    /// Timeline points marked on the scrubber (a replayed recording's steps that differ
    /// from the oracle).
    pub marks: &'a [usize],
}

pub fn ui(ui: &mut egui::Ui, t: &mut Transport, info: &BarInfo) -> Vec<UiCommand> {
    let mut out = Vec::new();
    ui.horizontal(|ui| {
        ui.menu_button("File", |ui| {
            for c in [UiCommand::New, UiCommand::Open] {
                menu_item(ui, c, &mut out);
            }
            ui.menu_button("Open recent", |ui| {
                if info.recent.is_empty() {
                    ui.label(RichText::new("nothing yet").weak());
                }
                for p in info.recent {
                    if ui.button(p.display().to_string()).clicked() {
                        out.push(UiCommand::OpenRecent(p.clone()));
                    }
                }
            });
            ui.separator();
            for c in [
                UiCommand::Save,
                UiCommand::SaveAs,
                UiCommand::SaveSnapshotAs,
            ] {
                menu_item(ui, c, &mut out);
            }
            ui.separator();
            menu_item(ui, UiCommand::ImportDump, &mut out);
            menu_item(ui, UiCommand::ExportDump, &mut out);
            ui.separator();
            menu_item(ui, UiCommand::Quit, &mut out);
        });
        ui.menu_button("View", |ui| {
            menu_item(ui, UiCommand::CommandPalette, &mut out);
            menu_item(ui, UiCommand::GoToSlotPrompt, &mut out);
            menu_item(ui, UiCommand::FitGrid, &mut out);
            ui.separator();
            for p in Pane::ALL {
                if ui.button(p.title()).clicked() {
                    out.push(UiCommand::ShowPane(p));
                }
            }
            ui.separator();
            menu_item(ui, UiCommand::ResetLayout, &mut out);
        });
        ui.separator();
        bar_button(ui, "Back", UiCommand::StepBack, &mut out);
        let run_label = if t.running { "Pause" } else { "Run" };
        bar_button(ui, run_label, UiCommand::ToggleRun, &mut out);
        bar_button(ui, "Run to break", UiCommand::RunUntilBreak, &mut out);
        bar_button(ui, "Step", UiCommand::Step, &mut out);
        bar_button(ui, "Pass", UiCommand::StepPass, &mut out);
        let n_label = ui.label("N");
        ui.add(egui::TextEdit::singleline(&mut t.step_n).desired_width(44.0))
            .labelled_by(n_label.id);
        let n = crate::abi::opcode::parse_u32(&t.step_n).filter(|n| *n > 0);
        if ui
            .add_enabled(n.is_some(), egui::Button::new("Step N"))
            .on_hover_text("run N dispatches")
            .on_disabled_hover_text("type how many dispatches (1 or more) in N")
            .clicked()
            && let Some(n) = n
        {
            out.push(UiCommand::StepN(n));
        }
        bar_button(ui, "Forward", UiCommand::StepForward, &mut out);
        ui.add(
            egui::Slider::new(&mut t.rate, 0.0..=240.0)
                .text("disp/s")
                .clamping(egui::SliderClamping::Always),
        )
        .on_hover_text("0 = one dispatch per frame");
        ui.separator();
        // away from Back: a slip of the mouse should not reset the state
        bar_button(ui, "Reset", UiCommand::Reset, &mut out);
        ui.separator();
        let mut backend = info.backend;
        egui::ComboBox::from_label("backend")
            .selected_text(backend.name())
            .width(50.0)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut backend, Backend::Cpu, "cpu");
                ui.add_enabled_ui(info.gpu_available, |ui| {
                    ui.selectable_value(&mut backend, Backend::Gpu, "gpu");
                });
            });
        if backend != info.backend {
            out.push(UiCommand::Edit(Edit::Backend(backend)));
        }
        let mut variant = info.variant;
        egui::ComboBox::from_label("variant")
            .selected_text(variant.name())
            .width(80.0)
            .show_ui(ui, |ui| {
                for v in Variant::ALL {
                    ui.selectable_value(&mut variant, v, v.name());
                }
            });
        if variant != info.variant {
            out.push(UiCommand::Edit(Edit::Variant(variant)));
        }
        if info.variant.is_looping() {
            let mut budget = info.pass_budget;
            ui.add(
                egui::DragValue::new(&mut budget)
                    .range(1..=1_000_000)
                    .prefix("budget "),
            );
            if budget != info.pass_budget {
                out.push(UiCommand::Edit(Edit::PassBudget(budget)));
            }
        }
    });
    ui.horizontal(|ui| {
        let mut point = info.point;
        let max = info.points.saturating_sub(1);
        ui.spacing_mut().slider_width = (ui.available_width() * 0.4).clamp(120.0, 560.0);
        let slider = ui.add(egui::Slider::new(&mut point, 0..=max.max(1)).show_value(false));
        if slider.changed() && point != info.point {
            out.push(UiCommand::Seek(point.min(max)));
        }
        if !info.marks.is_empty() && max > 0 {
            // the rail runs between the handle's centres at either end
            let r = slider.rect;
            let inset = r.height() / 2.5;
            let (x0, x1) = (r.left() + inset, r.right() - inset);
            let painter = ui.painter_at(r.expand(2.0));
            for &m in info.marks {
                let x = x0 + (x1 - x0) * m.min(max) as f32 / max as f32;
                painter.line_segment(
                    [egui::pos2(x, r.top()), egui::pos2(x, r.bottom())],
                    egui::Stroke::new(2.0, super::replay_bar::DIVERGING),
                );
            }
        }
        slider.on_hover_text("timeline: every action, pass and dispatch");
        ui.label(
            RichText::new(format!(
                "point {}/{} · {}",
                info.point, max, info.point_label
            ))
            .small(),
        );
        ui.separator();
        let d = match info.in_progress {
            Some((d, p)) => format!("dispatch {d} in progress (pass {p})"),
            None => super::plural(info.dispatches, "dispatch", "dispatches"),
        };
        ui.label(d);
        ui.separator();
        if info.running {
            ui.label(format!("{:.0} fps", info.fps));
        } else {
            ui.label(RichText::new("paused").weak());
        }
        if let Some(ms) = info.last_dispatch_ms {
            ui.label(format!("last dispatch {ms:.2} ms"));
        }
        ui.separator();
        ui.label(
            RichText::new(format!(
                "{}{}",
                info.title,
                if info.dirty { " •" } else { "" }
            ))
            .weak(),
        );
    });
    out
}

/// A menu entry for `c`, with its shortcut beside it and its tooltip on hover.
pub fn menu_item(ui: &mut egui::Ui, c: UiCommand, out: &mut Vec<UiCommand>) {
    let mut b = egui::Button::new(c.label());
    if let Some(k) = c.shortcut_text(ui.ctx()) {
        b = b.shortcut_text(k);
    }
    let mut r = ui.add(b);
    if let Some(t) = c.tooltip() {
        r = r.on_hover_text(t);
    }
    if r.clicked() {
        out.push(c);
    }
}

/// A toolbar button for `c`: its tooltip says what it does and which key does it too.
pub fn bar_button(ui: &mut egui::Ui, label: &str, c: UiCommand, out: &mut Vec<UiCommand>) {
    let hover = match (c.tooltip(), c.shortcut_text(ui.ctx())) {
        (Some(t), Some(k)) => format!("{t} ({k})"),
        (Some(t), None) => t.to_string(),
        (None, Some(k)) => format!("{} ({k})", c.label()),
        (None, None) => c.label(),
    };
    if ui.button(label).on_hover_text(hover).clicked() {
        out.push(c);
    }
}
