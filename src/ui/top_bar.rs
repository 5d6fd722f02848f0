//! The top bar: file menu, transport (step, pass, step N, run/pause, run until breakpoint,
//! reset, step back/forward), the timeline scrubber, and where things stand (dispatch index,
//! backend, variant, FPS, dispatch time).

use egui::RichText;

use crate::engine::{Backend, Variant};

/// What the user asked for in the top bar.
#[derive(Debug, Clone, PartialEq)]
pub enum BarAction {
    New,
    Open,
    OpenRecent(std::path::PathBuf),
    Save,
    SaveAs,
    SaveSnapshotAs,
    ImportDump,
    ExportDump,
    Quit,
    Step,
    StepPass,
    StepN(u32),
    ToggleRun,
    RunUntilBreak,
    Reset,
    StepBack,
    StepForward,
    Seek(usize),
    Backend(Backend),
    Variant(Variant),
    PassBudget(u32),
}

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
}

impl Default for Transport {
    fn default() -> Self {
        Transport {
            running: false,
            until_break: false,
            rate: 0.0,
            step_n: "10".into(),
            steps_left: None,
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

pub fn ui(ui: &mut egui::Ui, t: &mut Transport, info: &BarInfo) -> Vec<BarAction> {
    let mut out = Vec::new();
    ui.horizontal(|ui| {
        ui.menu_button("File", |ui| {
            if ui.button("New…  (Ctrl+N)").clicked() {
                out.push(BarAction::New);
            }
            if ui.button("Open…  (Ctrl+O)").clicked() {
                out.push(BarAction::Open);
            }
            ui.menu_button("Open recent", |ui| {
                if info.recent.is_empty() {
                    ui.label(RichText::new("nothing yet").weak());
                }
                for p in info.recent {
                    if ui.button(p.display().to_string()).clicked() {
                        out.push(BarAction::OpenRecent(p.clone()));
                    }
                }
            });
            ui.separator();
            if ui.button("Save  (Ctrl+S)").clicked() {
                out.push(BarAction::Save);
            }
            if ui.button("Save As…  (Ctrl+Shift+S)").clicked() {
                out.push(BarAction::SaveAs);
            }
            if ui
                .button("Save state snapshot As…")
                .on_hover_text("the current buffers, no script: exact and quick to open")
                .clicked()
            {
                out.push(BarAction::SaveSnapshotAs);
            }
            ui.separator();
            if ui.button("Import dump directory…").clicked() {
                out.push(BarAction::ImportDump);
            }
            if ui.button("Export dump directory…").clicked() {
                out.push(BarAction::ExportDump);
            }
            ui.separator();
            if ui.button("Quit  (Ctrl+Q)").clicked() {
                out.push(BarAction::Quit);
            }
        });
        ui.separator();
        if ui
            .button("Reset")
            .on_hover_text("reset the state (undoable)")
            .clicked()
        {
            out.push(BarAction::Reset);
        }
        if ui
            .button("Back")
            .on_hover_text("step back one timeline point (←)")
            .clicked()
        {
            out.push(BarAction::StepBack);
        }
        let run_label = if t.running { "Pause" } else { "Run" };
        if ui
            .button(run_label)
            .on_hover_text("run one dispatch per frame, or at the chosen rate (Space)")
            .clicked()
        {
            out.push(BarAction::ToggleRun);
        }
        if ui
            .button("Run to break")
            .on_hover_text("run until a breakpoint hits")
            .clicked()
        {
            out.push(BarAction::RunUntilBreak);
        }
        if ui
            .button("Step")
            .on_hover_text("one dispatch (→)")
            .clicked()
        {
            out.push(BarAction::Step);
        }
        if ui
            .button("Pass")
            .on_hover_text("one pass of a looping variant (Shift+→)")
            .clicked()
        {
            out.push(BarAction::StepPass);
        }
        let n_label = ui.label("N");
        ui.add(egui::TextEdit::singleline(&mut t.step_n).desired_width(44.0))
            .labelled_by(n_label.id);
        let n = crate::abi::opcode::parse_u32(&t.step_n).filter(|n| *n > 0);
        if ui
            .add_enabled(n.is_some(), egui::Button::new("Step N"))
            .on_hover_text("run N dispatches")
            .clicked()
            && let Some(n) = n
        {
            out.push(BarAction::StepN(n));
        }
        if ui
            .button("Forward")
            .on_hover_text("step forward along the kept future")
            .clicked()
        {
            out.push(BarAction::StepForward);
        }
        ui.add(
            egui::Slider::new(&mut t.rate, 0.0..=240.0)
                .text("disp/s")
                .clamping(egui::SliderClamping::Always),
        )
        .on_hover_text("0 = one dispatch per frame");
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
            out.push(BarAction::Backend(backend));
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
            out.push(BarAction::Variant(variant));
        }
        if info.variant.is_looping() {
            let mut budget = info.pass_budget;
            ui.add(
                egui::DragValue::new(&mut budget)
                    .range(1..=1_000_000)
                    .prefix("budget "),
            );
            if budget != info.pass_budget {
                out.push(BarAction::PassBudget(budget));
            }
        }
    });
    ui.horizontal(|ui| {
        let mut point = info.point;
        let max = info.points.saturating_sub(1);
        ui.spacing_mut().slider_width = (ui.available_width() * 0.4).clamp(120.0, 560.0);
        let slider = ui.add(egui::Slider::new(&mut point, 0..=max.max(1)).show_value(false));
        if slider.changed() && point != info.point {
            out.push(BarAction::Seek(point.min(max)));
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
            None => format!("{} dispatches", info.dispatches),
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
