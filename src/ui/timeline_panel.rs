//! The timeline tab: every point (action, pass, dispatch) in a list to jump to, and a diff
//! of any two points — changed slots (highlighted in the grid), control words old → new,
//! new debug records, and status counts before and after.

use egui::RichText;

use crate::abi::control::word_name;
use crate::abi::debug_log::{DebugLogView, DebugRecord};
use crate::abi::status::{SlotStatus, StatusCounts};
use crate::debugger::Debugger;

/// What the panel asks of the app.
#[derive(Debug, Clone, PartialEq)]
pub enum TimelineRequest {
    Seek(usize),
    Select(u32),
    /// Highlight these slots in the grid (a diff).
    Highlight(Vec<u32>),
}

/// A computed diff between two points.
#[derive(Debug, Clone)]
pub struct DiffView {
    pub key: (usize, usize, usize, (u64, u64)),
    pub slots: Vec<u32>,
    /// Each of `slots`' status word at `a` and at `b`.
    pub slot_statuses: Vec<(u32, u32)>,
    pub control: Vec<(u32, u32, u32)>,
    pub new_records: Vec<DebugRecord>,
    pub counts: (StatusCounts, StatusCounts),
}

/// Computes the difference between points `a` and `b` of the debugger's timeline.
pub fn diff(d: &Debugger, a: usize, b: usize) -> DiffView {
    let t = d.timeline();
    let (sa, sb) = t.diff(d.state(), a, b);
    let slots: Vec<u32> = (0..sa.slot_count().min(sb.slot_count()))
        .filter(|&s| sa.slot_words(s) != sb.slot_words(s))
        .collect();
    let slot_statuses = slots
        .iter()
        .map(|&s| (sa.slot_status(s).word(), sb.slot_status(s).word()))
        .collect();
    let n = sa.control().len().max(sb.control().len());
    let control = (0..n)
        .filter_map(|i| {
            let (x, y) = (
                sa.control().get(i).copied().unwrap_or(0),
                sb.control().get(i).copied().unwrap_or(0),
            );
            (x != y).then_some((i as u32, x, y))
        })
        .collect();
    let (la, lb) = (
        DebugLogView::decode(sa.debug_log()),
        DebugLogView::decode(sb.debug_log()),
    );
    let from = if lb.cursor < la.cursor {
        0
    } else {
        la.records.len()
    };
    DiffView {
        key: (a, b, t.len(), d.state().version()),
        slots,
        slot_statuses,
        control,
        new_records: lb.records.get(from..).unwrap_or(&[]).to_vec(),
        counts: (
            StatusCounts::of_ring(sa.ring()),
            StatusCounts::of_ring(sb.ring()),
        ),
    }
}

#[derive(Debug, Default)]
pub struct TimelinePanel {
    pub a: usize,
    pub b: usize,
    pub diff: Option<DiffView>,
}

impl TimelinePanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, d: &Debugger) -> Option<TimelineRequest> {
        let mut req = None;
        let t = d.timeline();
        let last = t.len() - 1;
        ui.columns(2, |cols| {
            let ui = &mut cols[0];
            ui.label(format!(
                "{} points · {:.1} MiB of deltas{}",
                t.len(),
                t.bytes() as f64 / (1 << 20) as f64,
                if t.trimmed() > 0 {
                    format!(" · {} oldest trimmed", t.trimmed())
                } else {
                    String::new()
                }
            ));
            let row_h = ui.text_style_height(&egui::TextStyle::Body);
            egui::ScrollArea::vertical()
                .id_salt("timeline points")
                .auto_shrink([false, false])
                .show_rows(ui, row_h, t.len(), |ui, rows| {
                    for i in rows {
                        let p = &t.points()[i];
                        let here = i == t.cursor();
                        let text = RichText::new(format!("{i:>6}  {}", p.label)).monospace();
                        if ui
                            .selectable_label(here, if here { text.strong() } else { text })
                            .clicked()
                        {
                            req = Some(TimelineRequest::Seek(i));
                        }
                    }
                });
            let ui = &mut cols[1];
            ui.horizontal(|ui| {
                ui.label("diff");
                ui.add(
                    egui::DragValue::new(&mut self.a)
                        .range(0..=last)
                        .prefix("A "),
                );
                ui.label("to");
                ui.add(
                    egui::DragValue::new(&mut self.b)
                        .range(0..=last)
                        .prefix("B "),
                );
                if ui.button("previous to current").clicked() {
                    self.b = t.cursor();
                    self.a = t.cursor().saturating_sub(1);
                }
            });
            self.a = self.a.min(last);
            self.b = self.b.min(last);
            let key = (self.a, self.b, t.len(), d.state().version());
            if ui.button("compare").clicked()
                || self
                    .diff
                    .as_ref()
                    .is_some_and(|v| v.key.0 != self.a || v.key.1 != self.b)
            {
                let v = diff(d, self.a, self.b);
                req = Some(TimelineRequest::Highlight(v.slots.clone()));
                self.diff = Some(v);
            }
            let Some(v) = &self.diff else {
                ui.label(RichText::new("pick two points and compare").weak());
                return;
            };
            if v.key != key {
                ui.label(RichText::new("the timeline moved on; compare again").weak());
            }
            egui::ScrollArea::vertical()
                .id_salt("diff")
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    ui.label(format!(
                        "{} slots changed (highlighted in the grid)",
                        v.slots.len()
                    ));
                    ui.horizontal_wrapped(|ui| {
                        for &s in v.slots.iter().take(64) {
                            if ui.link(format!("{s}")).clicked() {
                                req = Some(TimelineRequest::Select(s));
                            }
                        }
                        if v.slots.len() > 64 {
                            ui.label(format!("… {} more", v.slots.len() - 64));
                        }
                    });
                    ui.separator();
                    ui.label(format!("{} control words changed", v.control.len()));
                    for (w, old, new) in v.control.iter().take(200) {
                        ui.monospace(format!(
                            "{:<28} {old} → {new}",
                            format!("[{w}] {}", word_name(*w as usize))
                        ));
                    }
                    ui.separator();
                    ui.label(format!("{} new debug records", v.new_records.len()));
                    for r in v.new_records.iter().take(64) {
                        ui.monospace(format!(
                            "fmt {} args {} {} slot {}",
                            r.fmt_id,
                            r.a1,
                            r.a2,
                            r.slot().map(|s| s.to_string()).unwrap_or_default()
                        ));
                    }
                    ui.separator();
                    egui::Grid::new("diff counts")
                        .num_columns(3)
                        .show(ui, |ui| {
                            ui.strong("status");
                            ui.strong("A");
                            ui.strong("B");
                            ui.end_row();
                            for s in SlotStatus::NAMED {
                                let (x, y) = (v.counts.0.get(s), v.counts.1.get(s));
                                if x == 0 && y == 0 {
                                    continue;
                                }
                                ui.label(s.lower_name());
                                ui.monospace(format!("{x}"));
                                ui.monospace(format!("{y}"));
                                ui.end_row();
                            }
                        });
                });
        });
        req
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::opcode::Opcode;
    use crate::debugger::action::Action;

    #[test]
    fn a_diff_lists_each_changed_slot_with_its_statuses_and_the_control_words() {
        let mut d = crate::debugger::test_debugger(32, 0);
        d.apply(Action::Publish {
            slot: 5,
            tenant: 0,
            opcode: Opcode::ATOMIC_ADD,
            args: vec![2, 150],
            priority: None,
        })
        .unwrap();
        d.dispatch().unwrap();
        let end = d.timeline().len() - 1;
        let v = diff(&d, 0, end);
        assert_eq!(v.slots, [5]);
        assert_eq!(v.slot_statuses, [(0, crate::abi::status::DONE)]);
        assert!(v.control.contains(&(150, 0, 2)), "{:?}", v.control);
    }
}
