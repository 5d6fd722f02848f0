//! The right panel: the selected slot fully decoded, control words by name, per-opcode
//! metrics, tenants, the priority scheduler, observable words and the IO queue.

use egui::RichText;

use crate::abi::control::{self, ControlView, word_name};
use crate::abi::io_queue::decode_io_queue;
use crate::abi::layout::MAX_ENCODED_TENANT_MASKS;
use crate::abi::opcode::{Opcode, Priority};
use crate::abi::slot::Slot;
use crate::debugger::who_wrote::WordRef;
use crate::resident::ResidentBuffers;
use crate::ui::grid::colours as palette;

/// What the inspector asks of the app.
#[derive(Debug, Clone, PartialEq)]
pub enum InspectorRequest {
    /// Who wrote this word, and its history.
    WhoWrote(WordRef),
    /// Go to a slot: select it and bring it into view.
    GoToSlot(u32),
}

/// Inspector view state.
#[derive(Debug, Default)]
pub struct Inspector {
    pub observable_page: usize,
    pub goto: String,
    goto_error: Option<String>,
}

const PAGE: usize = 64;

/// A row label whose context menu asks who wrote `word`.
fn word_label(
    ui: &mut egui::Ui,
    text: impl Into<egui::WidgetText>,
    word: WordRef,
    req: &mut Option<InspectorRequest>,
) {
    ui.label(text)
        .on_hover_text("right-click: who wrote this word, and its history")
        .context_menu(|ui| {
            if ui.button("Who wrote this word?").clicked() {
                *req = Some(InspectorRequest::WhoWrote(word));
            }
        });
}

fn row(
    ui: &mut egui::Ui,
    name: &str,
    value: u32,
    word: WordRef,
    req: &mut Option<InspectorRequest>,
) {
    word_label(ui, name, word, req);
    ui.monospace(format!("{value}"));
    ui.monospace(RichText::new(format!("{value:#010x}")).color(crate::ui::theme::HINT));
    ui.end_row();
}

impl Inspector {
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        state: &ResidentBuffers,
        selected: Option<u32>,
        can_trace: bool,
    ) -> Option<InspectorRequest> {
        let mut req = None;
        let view = ControlView(state.control());
        ui.horizontal(|ui| {
            let l = ui.label("go to slot");
            let r = ui
                .add(egui::TextEdit::singleline(&mut self.goto).desired_width(70.0))
                .labelled_by(l.id);
            if r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                match crate::abi::opcode::parse_u32(&self.goto) {
                    Some(s) => {
                        self.goto_error = None;
                        req = Some(InspectorRequest::GoToSlot(s));
                    }
                    None => {
                        self.goto_error = Some(format!(
                            "`{}` is not a slot number: type one such as 12 or 0x40",
                            self.goto.trim()
                        ))
                    }
                }
            }
        });
        if let Some(e) = &self.goto_error {
            ui.colored_label(crate::ui::theme::ERROR, e);
        }
        egui::CollapsingHeader::new("Selected slot")
            .default_open(true)
            .show(ui, |ui| match selected {
                None => {
                    ui.label(RichText::new("click a cell to select a slot").weak());
                }
                Some(s) => {
                    if let Some(w) = slot_details(ui, state, s) {
                        req = Some(InspectorRequest::WhoWrote(WordRef::Slot {
                            slot: s,
                            word: w,
                        }));
                    }
                }
            });
        egui::CollapsingHeader::new("Control words")
            .default_open(true)
            .show(ui, |ui| {
                egui::Grid::new("control words")
                    .num_columns(4)
                    .striped(true)
                    .show(ui, |ui| {
                        let mut named = |ui: &mut egui::Ui, i: usize| {
                            let v = view.word(i);
                            // the button first: a narrow panel clips the right-hand columns
                            if can_trace {
                                if ui
                                    .small_button("who?")
                                    .on_hover_text(
                                        "every writer of the last change, and the word's history",
                                    )
                                    .clicked()
                                {
                                    req = Some(InspectorRequest::WhoWrote(WordRef::Control(
                                        i as u32,
                                    )));
                                }
                            } else {
                                ui.label("");
                            }
                            word_label(ui, word_name(i), WordRef::Control(i as u32), &mut req);
                            ui.monospace(format!("{v}"));
                            ui.monospace(
                                RichText::new(format!("{v:#010x}")).color(crate::ui::theme::HINT),
                            );
                            ui.end_row();
                        };
                        for i in [
                            control::SHUTDOWN,
                            control::DONE_COUNT,
                            control::TENANT_BASE,
                            control::EPOCH,
                            control::STARVATION,
                        ] {
                            named(ui, i);
                        }
                    });
            });
        egui::CollapsingHeader::new("Metrics")
            .default_open(false)
            .show(ui, |ui| {
                let m = view.metrics();
                if m.is_empty() {
                    ui.label(RichText::new("no opcode has run").weak());
                }
                egui::Grid::new("metrics")
                    .num_columns(3)
                    .striped(true)
                    .show(ui, |ui| {
                        for (op, n) in m {
                            ui.colored_label(
                                palette::OPCODE[palette::opcode_index(op.0)],
                                op.label(),
                            );
                            ui.monospace(format!("{n}"));
                            ui.label(format!("control[{}]", control::METRICS + op.0 as usize));
                            ui.end_row();
                        }
                    });
            });
        egui::CollapsingHeader::new("Tenants")
            .default_open(false)
            .show(ui, |ui| {
                ui.label(format!("mask pointer control[2] = {}", view.tenant_base()));
                egui::Grid::new("tenants")
                    .num_columns(4)
                    .striped(true)
                    .show(ui, |ui| {
                        ui.strong("tenant");
                        ui.strong("mask");
                        ui.strong("quota");
                        ui.strong("fairness");
                        ui.end_row();
                        for t in 0..MAX_ENCODED_TENANT_MASKS {
                            let mask = view.tenant_mask(t);
                            let (quota, fair) =
                                (view.quota(t as usize), view.tenant_fairness(t as usize));
                            if mask == 0 && quota == 0 && fair == 0 {
                                continue;
                            }
                            ui.label(format!("{t}"));
                            ui.colored_label(
                                if mask == 0 {
                                    crate::ui::theme::BAD
                                } else {
                                    crate::ui::theme::GOOD
                                },
                                format!("{mask:#x}"),
                            );
                            ui.monospace(format!("{quota}"));
                            ui.monospace(format!("{fair}"));
                            ui.end_row();
                        }
                    });
                ui.label(
                    RichText::new("tenant ids ≥ 29 read their mask outside the table (aliasing)")
                        .weak()
                        .small(),
                );
            });
        egui::CollapsingHeader::new("Priority scheduler")
            .default_open(false)
            .show(ui, |ui| {
                let o = view.priority_offsets();
                let fair = view.priority_fairness();
                egui::Grid::new("priority")
                    .num_columns(3)
                    .striped(true)
                    .show(ui, |ui| {
                        ui.strong("level");
                        ui.strong("partition");
                        ui.strong("claims");
                        ui.end_row();
                        for p in Priority::ALL {
                            let i = p as usize;
                            ui.colored_label(palette::PRIORITY[i], p.name());
                            ui.monospace(format!("{}..{}", o[i], o[i + 1]));
                            ui.monospace(format!("{}", fair[i]));
                            ui.end_row();
                        }
                    });
                let sv = view.starvation();
                ui.label(format!(
                    "starvation counter {sv}{}",
                    if sv >= control::STARVATION_THRESHOLD {
                        " — levels 0 and 1 are skipped"
                    } else {
                        ""
                    }
                ));
            });
        egui::CollapsingHeader::new(format!("Observable words ({})", view.observable_count()))
            .default_open(false)
            .show(ui, |ui| {
                let n = view.observable_count();
                let pages = n.div_ceil(PAGE).max(1);
                self.observable_page = self.observable_page.min(pages - 1);
                if pages > 1 {
                    ui.horizontal(|ui| {
                        if ui.small_button("<").clicked() {
                            self.observable_page = self.observable_page.saturating_sub(1);
                        }
                        ui.label(format!("page {}/{pages}", self.observable_page + 1));
                        if ui.small_button(">").clicked() {
                            self.observable_page = (self.observable_page + 1).min(pages - 1);
                        }
                    });
                }
                egui::Grid::new("observable")
                    .num_columns(3)
                    .striped(true)
                    .show(ui, |ui| {
                        for i in
                            self.observable_page * PAGE..((self.observable_page + 1) * PAGE).min(n)
                        {
                            let w = WordRef::Control((control::OBSERVABLE + i) as u32);
                            row(ui, &format!("[{i}]"), view.observable(i), w, &mut req);
                        }
                    });
            });
        egui::CollapsingHeader::new("IO queue")
            .default_open(false)
            .show(ui, |ui| {
                let slots: Vec<_> = decode_io_queue(state.io_queue())
                    .into_iter()
                    .enumerate()
                    .filter(|(_, s)| !s.is_empty_slot())
                    .collect();
                if slots.is_empty() {
                    ui.label(
                        RichText::new(format!(
                            "all {} IO slots are empty",
                            state.io_queue().len() / 8
                        ))
                        .weak(),
                    );
                }
                for (i, s) in slots {
                    ui.label(format!(
                        "io {i}: {} {} src {} dst {} offset {} bytes {} tag {}",
                        s.op_name(),
                        s.status_name(),
                        s.src_handle,
                        s.dst_handle,
                        s.offset,
                        s.byte_count,
                        s.tag
                    ));
                }
            });
        req
    }
}

/// Everything about one slot. Returns the slot word whose writers the user asked for.
pub fn slot_details(ui: &mut egui::Ui, state: &ResidentBuffers, s: u32) -> Option<u32> {
    let slot = Slot::of_ring(state.ring(), s);
    let view = ControlView(state.control());
    let mut asked = None;
    let mut label = |ui: &mut egui::Ui, text: String, word: u32| {
        let mut r = None;
        word_label(ui, text, WordRef::Slot { slot: s, word }, &mut r);
        if r.is_some() {
            asked = Some(word);
        }
    };
    egui::Grid::new("slot details")
        .num_columns(3)
        .striped(true)
        .show(ui, |ui| {
            ui.label("slot");
            ui.monospace(format!("{s}"));
            ui.monospace(
                RichText::new(format!("ring word {}", s as usize * 16))
                    .color(crate::ui::theme::HINT),
            );
            ui.end_row();
            label(ui, "status".into(), 0);
            ui.colored_label(palette::status_colour(slot.status()), slot.status().name());
            ui.monospace(format!("{:#x}", slot.status));
            ui.end_row();
            label(ui, "opcode".into(), 1);
            ui.colored_label(
                palette::OPCODE[palette::opcode_index(slot.opcode.0)],
                slot.opcode.label(),
            );
            ui.monospace(format!("{:#x}", slot.opcode.0));
            ui.end_row();
            label(ui, "tenant".into(), 2);
            ui.monospace(format!("{}", slot.tenant));
            ui.monospace(
                RichText::new(format!(
                    "mask control[{}] = {:#x}",
                    view.tenant_mask_index(slot.tenant),
                    view.tenant_mask(slot.tenant)
                ))
                .color(crate::ui::theme::HINT),
            );
            ui.end_row();
            label(ui, "priority".into(), 3);
            ui.monospace(format!("word 3 = {}", slot.priority));
            ui.monospace(
                RichText::new(format!(
                    "partition: {}",
                    view.partition_of(s)
                        .and_then(Priority::from_level)
                        .map(Priority::name)
                        .unwrap_or("none")
                ))
                .color(crate::ui::theme::HINT),
            );
            ui.end_row();
            let names = slot.opcode.arg_names();
            for (i, a) in slot.args.iter().enumerate() {
                let text = match names.get(i) {
                    Some(n) => format!("a{i} ({n})"),
                    None => format!("a{i}"),
                };
                label(ui, text, 4 + i as u32);
                ui.monospace(format!("{a}"));
                ui.monospace(RichText::new(format!("{a:#010x}")).color(crate::ui::theme::HINT));
                ui.end_row();
            }
        });
    if slot.opcode == Opcode::PACKED_SLOT
        && let Some(p) = slot.packed()
    {
        ui.label(format!(
            "packed: count byte {}, {} metadata words",
            p.raw_count, p.meta_words
        ));
        for op in &p.ops {
            ui.monospace(format!(
                "  {}: {} @ word {} {}",
                op.index,
                op.opcode.label(),
                op.base,
                op.args
                    .map(|a| format!("{a:?}"))
                    .unwrap_or_else(|| "— skipped (past word 12)".into())
            ));
        }
        if p.clamped_ops() > 0 {
            ui.colored_label(
                crate::ui::theme::WARN,
                format!("{} ops past the 4th are never run", p.clamped_ops()),
            );
        }
    }
    if ui
        .small_button("who wrote the status?")
        .on_hover_text("the status word's history; right-click any row for its word")
        .clicked()
    {
        asked = Some(0);
    }
    asked
}
