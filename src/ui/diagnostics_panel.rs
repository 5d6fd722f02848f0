//! The diagnostics list: what vyre never reports. Clicking an entry selects its slot.

use egui::{Color32, RichText};

use crate::engine::{Backend, Diagnostic, DiagnosticKind, RaceCoverage};

fn kind_colour(k: DiagnosticKind) -> Color32 {
    match k {
        DiagnosticKind::Race | DiagnosticKind::OutOfRange | DiagnosticKind::StuckClaimed => {
            crate::ui::theme::BAD
        }
        DiagnosticKind::DebugOverflow
        | DiagnosticKind::StuckTenant
        | DiagnosticKind::Starvation
        | DiagnosticKind::ShutdownWithWork => crate::ui::theme::WARN,
        _ => crate::ui::theme::HINT,
    }
}

#[derive(Debug, Default)]
pub struct DiagnosticsPanel {
    /// Show only this kind.
    pub only: Option<DiagnosticKind>,
    /// The two slots of the race clicked last, for the grid to mark both.
    pub race_pair: Option<[u32; 2]>,
}

impl DiagnosticsPanel {
    /// Returns a slot to select when an entry is clicked. `dropped` older entries were
    /// dropped to keep the list bounded: say so, so the counts are not taken as the total.
    /// `races` is the last dispatch's race analysis: the panel always says whether it ran,
    /// so an empty list is never read as "no races" when nobody looked.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        diagnostics: &[Diagnostic],
        dropped: u64,
        races: Option<(&RaceCoverage, Backend)>,
    ) -> Option<u32> {
        let mut select = None;
        let looked = !matches!(races, Some((RaceCoverage::Off, _)));
        if let Some((coverage, backend)) = races {
            let text = RichText::new(coverage.describe(backend));
            ui.label(match coverage {
                RaceCoverage::Full => text.weak(),
                _ => text.color(Color32::from_rgb(0xf2, 0xb1, 0x34)),
            });
        }
        if dropped > 0 {
            ui.label(
                RichText::new(format!(
                    "{dropped} older diagnostics dropped: the list keeps the latest {}",
                    crate::debugger::DIAGNOSTIC_LOG_CAP
                ))
                .color(crate::ui::theme::WARN),
            );
        }
        ui.horizontal_wrapped(|ui| {
            ui.selectable_value(&mut self.only, None, format!("all ({})", diagnostics.len()));
            for k in DiagnosticKind::ALL {
                let n = diagnostics.iter().filter(|d| d.kind == k).count();
                if n > 0 {
                    ui.selectable_value(&mut self.only, Some(k), format!("{} ({n})", k.name()));
                }
            }
        });
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .stick_to_bottom(true)
            .show(ui, |ui| {
                if diagnostics.is_empty() {
                    let text = if looked {
                        "no diagnostics: nothing racy, stuck or out of range so far"
                    } else {
                        "no diagnostics: nothing stuck or out of range so far (races were not looked for)"
                    };
                    ui.label(RichText::new(text).weak());
                }
                for d in diagnostics
                    .iter()
                    .filter(|d| self.only.is_none_or(|k| k == d.kind))
                {
                    ui.horizontal(|ui| {
                        ui.colored_label(
                            kind_colour(d.kind),
                            RichText::new(d.kind.name()).monospace(),
                        );
                        ui.label(RichText::new(format!("d{}", d.dispatch)).weak().monospace());
                        if d.count > 1 {
                            ui.label(RichText::new(format!("×{}", d.count)).weak());
                        }
                        let text = ui.add(
                            egui::Label::new(&d.message)
                                .sense(egui::Sense::click())
                                .wrap(),
                        );
                        let hint = match d.slots {
                            Some([a, b]) => format!("click to select slot {a} and mark slot {b}"),
                            None => d
                                .slot
                                .map(|s| format!("click to select slot {s}"))
                                .unwrap_or_default(),
                        };
                        if let Some(s) = d.slot
                            && text.on_hover_text(hint).clicked()
                        {
                            select = Some(s);
                            self.race_pair = d.slots;
                        }
                    });
                }
            });
        select
    }
}
