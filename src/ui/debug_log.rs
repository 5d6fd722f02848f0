//! The decoded debug log: each record's fmt id, args, the slot that printed it and the
//! dispatch that wrote it, filterable; the dropped count when the log overflowed.

use egui::RichText;

use crate::abi::debug_log::{DebugLogView, DebugRecord};
use crate::abi::opcode::parse_u32;
use crate::debugger::history::DispatchSummary;

/// A record filter: `fmt=7`, `slot=12`, `dispatch=3`, or a bare number matching any field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordFilter {
    All,
    Fmt(u32),
    Slot(u32),
    Dispatch(u64),
    Any(u32),
}

impl RecordFilter {
    pub fn parse(text: &str) -> Result<RecordFilter, String> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(RecordFilter::All);
        }
        let bad = || format!("`{t}`: filter with a number, or fmt=N, slot=N, dispatch=N");
        match t.split_once('=') {
            Some((k, v)) => {
                let v = parse_u32(v.trim()).ok_or_else(bad)?;
                match k.trim() {
                    "fmt" | "fmt_id" => Ok(RecordFilter::Fmt(v)),
                    "slot" => Ok(RecordFilter::Slot(v)),
                    "dispatch" => Ok(RecordFilter::Dispatch(v as u64)),
                    _ => Err(bad()),
                }
            }
            None => parse_u32(t).map(RecordFilter::Any).ok_or_else(bad),
        }
    }

    pub fn matches(&self, r: &DebugRecord, dispatch: Option<u64>) -> bool {
        match *self {
            RecordFilter::All => true,
            RecordFilter::Fmt(f) => r.fmt_id == f,
            RecordFilter::Slot(s) => r.slot() == Some(s),
            RecordFilter::Dispatch(d) => dispatch == Some(d),
            RecordFilter::Any(v) => r.fmt_id == v || r.a1 == v || r.a2 == v || r.slot() == Some(v),
        }
    }
}

/// The dispatch that reserved record `k`, from the per-dispatch cumulative counts since the
/// log was last cleared (a drop in the count marks a reset).
pub fn writer_of(k: u64, history: &[DispatchSummary]) -> Option<u64> {
    let mut start = history.len();
    while start > 0 {
        let prev = if start >= 2 {
            history[start - 2].debug_total
        } else {
            0
        };
        if prev > history[start - 1].debug_total {
            break;
        }
        start -= 1;
    }
    let seg = &history[start..];
    let i = seg.partition_point(|d| d.debug_total <= k);
    seg.get(i).map(|d| d.index)
}

#[derive(Debug, Default)]
pub struct DebugLogPanel {
    pub filter: String,
}

impl DebugLogPanel {
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        log_words: &[u32],
        history: &[DispatchSummary],
    ) -> Option<u32> {
        let log = DebugLogView::decode(log_words);
        let mut select = None;
        ui.horizontal(|ui| {
            let l = ui.label("filter");
            ui.add(
                egui::TextEdit::singleline(&mut self.filter)
                    .desired_width(140.0)
                    .hint_text("7, fmt=7, slot=3, dispatch=2"),
            )
            .labelled_by(l.id);
            ui.label(format!(
                "cursor {} · {} records held",
                log.cursor,
                log.records.len()
            ));
            if log.dropped > 0 {
                ui.colored_label(
                    crate::ui::theme::BAD,
                    format!("{} dropped (log full)", log.dropped),
                );
            }
            if log.misaligned {
                ui.colored_label(crate::ui::theme::WARN, "cursor not a multiple of 4");
            }
        });
        let filter = match RecordFilter::parse(&self.filter) {
            Ok(f) => f,
            Err(e) => {
                ui.colored_label(crate::ui::theme::ERROR, e);
                RecordFilter::All
            }
        };
        let rows: Vec<(usize, &DebugRecord, Option<u64>)> = log
            .records
            .iter()
            .enumerate()
            .map(|(i, r)| (i, r, writer_of(i as u64, history)))
            .filter(|(_, r, d)| filter.matches(r, *d))
            .collect();
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                egui::Grid::new("debug log")
                    .num_columns(6)
                    .striped(true)
                    .show(ui, |ui| {
                        for h in ["#", "fmt id", "a1", "a2", "slot", "dispatch"] {
                            ui.strong(h);
                        }
                        ui.end_row();
                        for (i, r, d) in rows {
                            ui.monospace(format!("{i}"));
                            ui.monospace(format!("{}", r.fmt_id));
                            ui.monospace(format!("{} ({:#x})", r.a1, r.a1));
                            ui.monospace(format!("{} ({:#x})", r.a2, r.a2));
                            match r.slot() {
                                Some(s) => {
                                    if ui
                                        .link(format!("{s}"))
                                        .on_hover_text("select this slot")
                                        .clicked()
                                    {
                                        select = Some(s);
                                    }
                                }
                                None => {
                                    ui.monospace(format!("base {}", r.slot_base));
                                }
                            }
                            ui.monospace(
                                d.map(|d| d.to_string()).unwrap_or_else(|| "before".into()),
                            );
                            ui.end_row();
                        }
                    });
                if log.records.is_empty() {
                    ui.label(RichText::new("no PRINTF record yet").weak());
                }
            });
        select
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(index: u64, total: u64) -> DispatchSummary {
        DispatchSummary {
            index,
            variant: crate::engine::Variant::Once,
            passes: 1,
            end: crate::engine::DispatchEnd::OnePass,
            claimed: 0,
            executed: 0,
            claims_per_level: [0; 5],
            debug_records: 0,
            debug_dropped: 0,
            debug_total: total,
            status_counts: Default::default(),
            priority_offsets: [0; 6],
            starvation: 0,
            done_count: 0,
            diagnostics: 0,
            elapsed_ms: 0.0,
        }
    }

    #[test]
    fn writers_follow_cumulative_counts_since_the_last_reset() {
        let h = vec![
            summary(0, 2),
            summary(1, 2),
            summary(2, 5),
            summary(3, 0),
            summary(4, 3),
        ];
        assert_eq!(
            writer_of(0, &h),
            Some(4),
            "after the reset at 3, records 0..3 came from 4"
        );
        assert_eq!(writer_of(3, &h), None);
        let h = vec![summary(0, 2), summary(1, 2), summary(2, 5)];
        assert_eq!(writer_of(0, &h), Some(0));
        assert_eq!(writer_of(2, &h), Some(2));
        assert_eq!(writer_of(4, &h), Some(2));
    }

    #[test]
    fn filters() {
        let r = DebugRecord {
            fmt_id: 7,
            a1: 1,
            a2: 2,
            slot_base: 48,
        };
        assert!(RecordFilter::parse("fmt=7").unwrap().matches(&r, None));
        assert!(RecordFilter::parse("slot=3").unwrap().matches(&r, None));
        assert!(!RecordFilter::parse("slot=4").unwrap().matches(&r, None));
        assert!(RecordFilter::parse("2").unwrap().matches(&r, None));
        assert!(
            RecordFilter::parse("dispatch=5")
                .unwrap()
                .matches(&r, Some(5))
        );
        assert!(RecordFilter::parse("colour=3").is_err());
        assert_eq!(RecordFilter::parse("  ").unwrap(), RecordFilter::All);
    }
}
