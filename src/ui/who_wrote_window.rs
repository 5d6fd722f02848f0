//! The "who wrote?" window: for one word, every writer of the change at or before the
//! cursor with what each wrote, and the word's history over the timeline as a table or a
//! plot. Rows link to their slot or timeline point.

use egui::RichText;
use egui_plot::{Line, Plot, PlotPoints};

use super::command::UiCommand;
use super::export::Export;
use crate::debugger::who_wrote::WhoWrote;

/// Writers listed before "and N more" (a dispatch of a million slots has a million).
const WRITERS_SHOWN: usize = 2_000;

#[derive(Debug, Default)]
pub struct WhoWroteWindow {
    pub shown: Option<WhoWrote>,
    pub plot: bool,
}

impl WhoWroteWindow {
    pub fn ui(&mut self, ctx: &egui::Context) -> Vec<UiCommand> {
        let mut out = Vec::new();
        let Some(w) = &self.shown else {
            return out;
        };
        let mut open = true;
        egui::Window::new(format!("Who wrote {}?", w.word.describe()))
            .id(egui::Id::unique("who wrote"))
            .open(&mut open)
            .default_size([460.0, 420.0])
            .show(ctx, |ui| {
                match w.last {
                    None => {
                        ui.label(
                            "it has not changed from the start of the timeline to the point shown",
                        );
                    }
                    Some(l) => {
                        let c = &w.history[l];
                        ui.horizontal(|ui| {
                            ui.label(format!(
                                "last changed at point {}: {} ({:#x} -> {:#x})",
                                c.point, c.label, c.old, c.new
                            ));
                            if ui.small_button("go").clicked() {
                                out.push(UiCommand::Seek(c.point));
                            }
                        });
                        ui.strong(super::plural(w.writers.len() as u64, "writer", "writers"));
                        egui::ScrollArea::vertical()
                            .id_salt("writers")
                            .max_height(140.0)
                            .show(ui, |ui| {
                                for x in w.writers.iter().take(WRITERS_SHOWN) {
                                    ui.horizontal(|ui| {
                                        match x.slot {
                                            Some(s) => {
                                                if ui.link(format!("slot {s}")).clicked() {
                                                    out.push(UiCommand::GoToSlot(s));
                                                }
                                            }
                                            None => {
                                                ui.label("host");
                                            }
                                        }
                                        ui.label(&x.how);
                                    });
                                }
                                if w.writers.len() > WRITERS_SHOWN {
                                    ui.label(
                                        RichText::new(format!(
                                            "and {} more",
                                            w.writers.len() - WRITERS_SHOWN
                                        ))
                                        .weak(),
                                    );
                                }
                            });
                    }
                }
                ui.separator();
                ui.horizontal(|ui| {
                    ui.strong(format!(
                        "history: {}",
                        super::plural(w.history.len() as u64, "change", "changes")
                    ));
                    ui.selectable_value(&mut self.plot, false, "table");
                    ui.selectable_value(&mut self.plot, true, "plot");
                    if ui.button("Export CSV…").clicked() {
                        out.push(UiCommand::Export(Export::WordHistory(w.word)));
                    }
                });
                if self.plot {
                    history_plot(ui, w);
                } else {
                    history_table(ui, w, &mut out);
                }
            });
        if !open {
            self.shown = None;
        }
        out
    }
}

fn history_table(ui: &mut egui::Ui, w: &WhoWrote, out: &mut Vec<UiCommand>) {
    ui.monospace(format!("start: {} ({:#x})", w.initial, w.initial));
    egui::ScrollArea::vertical()
        .id_salt("history")
        .auto_shrink([false, false])
        .show_rows(ui, 18.0, w.history.len(), |ui, rows| {
            for c in &w.history[rows] {
                ui.horizontal(|ui| {
                    if ui.small_button(format!("point {}", c.point)).clicked() {
                        out.push(UiCommand::Seek(c.point));
                    }
                    ui.monospace(format!("{:#x} → {:#x}", c.old, c.new));
                    ui.label(RichText::new(&c.label).weak());
                });
            }
        });
}

fn history_plot(ui: &mut egui::Ui, w: &WhoWrote) {
    // a step line: the value holds until the next change
    let mut pts = vec![[0.0, w.initial as f64]];
    for c in &w.history {
        pts.push([c.point as f64, c.old as f64]);
        pts.push([c.point as f64, c.new as f64]);
    }
    Plot::new(("word history", format!("{:?}", w.word)))
        .x_axis_label("timeline point")
        .x_axis_formatter(|m, _| super::plots::integer_tick(m.value))
        .x_grid_spacer(egui_plot::uniform_grid_spacer(super::plots::whole_steps))
        .include_y(0.0)
        .allow_scroll(false)
        .show(ui, |p| {
            p.line(Line::new("value", PlotPoints::from(pts)));
        });
}
