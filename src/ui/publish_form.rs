//! The publish panel: one work item (slot, tenant, opcode by name or number, priority
//! label, args — or packed inner ops), a batch generator, and hand edits of control words.
//! Every field is text so bad input can be shown, not silently clamped; each form turns
//! into an [`Action`] only when it validates, and says why not otherwise.

use egui::{Color32, RichText};

use crate::abi::control::{self, ControlView, parse_word, word_name};
use crate::abi::layout::ARG_WORDS;
use crate::abi::opcode::{Opcode, parse_u32};
use crate::debugger::action::{Action, PackedOp, Pattern};
use crate::debugger::expr::ArgExpr;
use crate::resident::ResidentBuffers;

const ERROR: Color32 = crate::ui::theme::ERROR;
use crate::ui::theme::HINT;

/// The single-item form.
#[derive(Clone, Debug)]
pub struct PublishForm {
    pub slot: String,
    pub tenant: String,
    pub opcode: String,
    pub priority: String,
    pub args: String,
    /// Inner ops when the opcode is PACKED_SLOT: (opcode, args).
    pub packed: Vec<(String, String)>,
    /// Step the slot after a successful publish (quick fill of consecutive slots).
    pub advance: bool,
}

impl Default for PublishForm {
    fn default() -> Self {
        PublishForm {
            slot: "0".into(),
            tenant: "0".into(),
            opcode: "ATOMIC_ADD".into(),
            priority: String::new(),
            args: "1, 160".into(),
            packed: vec![("ATOMIC_ADD".into(), "1, 160".into())],
            advance: true,
        }
    }
}

/// Parses a list of u32 separated by commas (or spaces). An empty item (`1,,2`, a leading
/// or trailing comma) is refused: it is a value forgotten, not a separator doubled.
pub fn parse_list(text: &str, what: &str) -> Result<Vec<u32>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (i, item) in text.split(',').enumerate() {
        if item.trim().is_empty() {
            return Err(format!(
                "{what}: item {} is empty (two commas in a row, or a comma at an end); write a number there or remove the comma",
                i + 1
            ));
        }
        for t in item.split_whitespace() {
            out.push(
                parse_u32(t)
                    .ok_or_else(|| format!("{what}: `{t}` is not a 32-bit unsigned number"))?,
            );
        }
    }
    Ok(out)
}

/// Splits a comma-separated list into its items, refusing an empty one as [`parse_list`]
/// does.
fn comma_items<'a>(text: &'a str, what: &str) -> Result<Vec<&'a str>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .enumerate()
        .map(|(i, t)| {
            if t.trim().is_empty() {
                Err(format!(
                    "{what}: item {} is empty (two commas in a row, or a comma at an end); write a value there or remove the comma",
                    i + 1
                ))
            } else {
                Ok(t.trim())
            }
        })
        .collect()
}

/// Warnings for arguments that name a control word past the buffer: the kernel drops such
/// a store and reads such a load as 0, which is rarely what was meant.
fn control_word_warnings(op: Opcode, args: &[u32], control_len: usize) -> Vec<String> {
    let mut out = Vec::new();
    for (i, (name, &v)) in op.arg_names().iter().zip(args).enumerate() {
        let word = if name.ends_with("word") {
            v as u64
        } else if *name == "observable index" {
            crate::abi::control::OBSERVABLE as u64 + v as u64
        } else {
            continue;
        };
        if word >= control_len as u64 {
            out.push(format!(
                "arg {i} ({name}) addresses control[{word}], past the {control_len}-word control buffer: the kernel drops the access (stores are lost, loads read 0) and reports out_of_range"
            ));
        }
    }
    out
}

fn parse_field(text: &str, what: &str) -> Result<u32, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("{what} is required"));
    }
    parse_u32(t).ok_or_else(|| format!("{what}: `{t}` is not a 32-bit unsigned number"))
}

/// Field-by-field validation of the single-item form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Validation {
    pub slot: Option<String>,
    pub tenant: Option<String>,
    pub opcode: Option<String>,
    pub priority: Option<String>,
    pub args: Option<String>,
    pub packed: Option<String>,
    /// Non-fatal notes (an aliased tenant, a skipped packed op).
    pub warnings: Vec<String>,
    pub action: Option<Action>,
}

impl Validation {
    pub fn errors(&self) -> Vec<&str> {
        [
            &self.slot,
            &self.tenant,
            &self.opcode,
            &self.priority,
            &self.args,
            &self.packed,
        ]
        .into_iter()
        .filter_map(|e| e.as_deref())
        .collect()
    }
}

impl PublishForm {
    /// Checks every field against the current state and builds the action if all pass.
    pub fn validate(&self, state: &ResidentBuffers) -> Validation {
        let mut v = Validation::default();
        let n = state.slot_count();
        let slot = match parse_field(&self.slot, "slot") {
            Ok(s) if s >= n => {
                v.slot = Some(format!(
                    "slot {s} is out of range: the ring has {n} slots (0..{})",
                    n.saturating_sub(1)
                ));
                None
            }
            Ok(s) => {
                let st = state.slot_status(s);
                if !st.is_publishable_over() {
                    v.slot = Some(format!(
                        "slot {s} is in flight ({st}); publish over EMPTY or DONE slots only"
                    ));
                    None
                } else {
                    Some(s)
                }
            }
            Err(e) => {
                v.slot = Some(e);
                None
            }
        };
        let tenant = match parse_field(&self.tenant, "tenant") {
            Ok(t) => {
                let view = ControlView(state.control());
                if view.tenant_mask(t) == 0 {
                    v.warnings.push(format!(
                        "tenant {t}'s mask control[{}] reads 0: the slot will stay PUBLISHED",
                        view.tenant_mask_index(t)
                    ));
                } else if view.tenant_is_aliased(t) {
                    v.warnings.push(format!(
                        "tenant {t} reads its mask from control[{}] ({}), outside the mask table",
                        view.tenant_mask_index(t),
                        word_name(view.tenant_mask_index(t) as usize)
                    ));
                }
                Some(t)
            }
            Err(e) => {
                v.tenant = Some(e);
                None
            }
        };
        let opcode = match Opcode::parse(&self.opcode) {
            Ok(op) => match op.unpublishable_reason() {
                Some(r) => {
                    v.opcode = Some(format!("{op} cannot be published: {r}"));
                    None
                }
                None => {
                    if op == Opcode::DFA_STEP {
                        v.warnings
                            .push("DFA_STEP has no handler: it only counts in METRICS".into());
                    } else if !op.has_handler() {
                        v.warnings.push(format!(
                            "{op} has no handler in this kernel: it ends DONE with no effect"
                        ));
                    }
                    Some(op)
                }
            },
            Err(e) => {
                v.opcode = Some(e);
                None
            }
        };
        let priority = if self.priority.trim().is_empty() {
            None
        } else {
            match parse_field(&self.priority, "priority") {
                Ok(p) => {
                    if p > 4 {
                        v.warnings.push(format!("priority label {p} names no level (0..4); no kernel reads word 3 anyway"));
                    }
                    Some(p)
                }
                Err(e) => {
                    v.priority = Some(e);
                    None
                }
            }
        };
        let mut action = None;
        if opcode == Some(Opcode::PACKED_SLOT) {
            match self.packed_ops() {
                Ok(ops) => {
                    let mut inner = Vec::new();
                    for op in &ops {
                        inner.push((op.opcode.0 as u8, op.args.clone()));
                    }
                    match crate::abi::slot::encode_packed(&inner) {
                        Ok(enc) => {
                            v.warnings.extend(enc.warnings);
                            if let (Some(slot), Some(tenant)) = (slot, tenant) {
                                action = Some(Action::PublishPacked { slot, tenant, ops });
                            }
                        }
                        Err(e) => v.packed = Some(e.to_string()),
                    }
                }
                Err(e) => v.packed = Some(e),
            }
        } else {
            match parse_list(&self.args, "args") {
                Ok(a) if a.len() > ARG_WORDS => {
                    v.args = Some(format!(
                        "{} arguments given; a slot holds at most 12",
                        a.len()
                    ))
                }
                Ok(args) => {
                    if let Some(op) = opcode {
                        v.warnings
                            .extend(control_word_warnings(op, &args, state.control().len()));
                    }
                    if let (Some(slot), Some(tenant), Some(opcode)) = (slot, tenant, opcode) {
                        action = Some(Action::Publish {
                            slot,
                            tenant,
                            opcode,
                            args,
                            priority,
                        });
                    }
                }
                Err(e) => v.args = Some(e),
            }
        }
        if v.errors().is_empty() {
            v.action = action;
        }
        v
    }

    fn packed_ops(&self) -> Result<Vec<PackedOp>, String> {
        self.packed
            .iter()
            .enumerate()
            .map(|(i, (op, args))| {
                let opcode = Opcode::parse(op).map_err(|e| format!("inner op {i}: {e}"))?;
                if opcode.0 > 255 {
                    return Err(format!(
                        "inner op {i}: {opcode} does not fit in a byte (packed ops are 0..=255)"
                    ));
                }
                let args = parse_list(args, &format!("inner op {i} args"))?;
                Ok(PackedOp { opcode, args })
            })
            .collect()
    }

    /// Draws the form; returns the action when the user publishes.
    pub fn ui(&mut self, ui: &mut egui::Ui, state: &ResidentBuffers) -> Option<Action> {
        let v = self.validate(state);
        let err = |ui: &mut egui::Ui, e: &Option<String>| {
            if let Some(e) = e {
                ui.label(RichText::new(e).color(ERROR).small());
            }
        };
        egui::Grid::new("publish form")
            .num_columns(2)
            .show(ui, |ui| {
                let l = ui.label("slot");
                ui.add(
                    egui::TextEdit::singleline(&mut self.slot)
                        .desired_width(90.0)
                        .hint_text("0"),
                )
                .labelled_by(l.id);
                ui.end_row();
                let l = ui.label("tenant");
                ui.add(egui::TextEdit::singleline(&mut self.tenant).desired_width(90.0))
                    .labelled_by(l.id);
                ui.end_row();
                let l = ui.label("opcode");
                ui.horizontal(|ui| {
                    ui.add(
                        egui::TextEdit::singleline(&mut self.opcode)
                            .desired_width(110.0)
                            .hint_text("name or number"),
                    )
                    .labelled_by(l.id);
                    ui.menu_button("names", |ui| {
                        for op in Opcode::PUBLISHABLE_BUILTINS {
                            if ui.button(op.label()).clicked() {
                                self.opcode = op.label();
                                ui.close();
                            }
                        }
                    });
                });
                ui.end_row();
                let l = ui.label("priority");
                ui.add(
                    egui::TextEdit::singleline(&mut self.priority)
                        .desired_width(90.0)
                        .hint_text("word 3 (optional)"),
                )
                .labelled_by(l.id);
                ui.end_row();
            });
        err(ui, &v.slot);
        err(ui, &v.tenant);
        err(ui, &v.opcode);
        err(ui, &v.priority);
        let op = Opcode::parse(&self.opcode).ok();
        if op == Some(Opcode::PACKED_SLOT) {
            ui.label("inner ops (opcode, args)");
            let mut remove = None;
            for (i, (o, a)) in self.packed.iter_mut().enumerate() {
                ui.horizontal(|ui| {
                    let l = ui.label(format!("op {i}"));
                    ui.add(egui::TextEdit::singleline(o).desired_width(90.0))
                        .labelled_by(l.id);
                    let l = ui.label("args");
                    ui.add(
                        egui::TextEdit::singleline(a)
                            .desired_width(90.0)
                            .hint_text("a0, a1, a2"),
                    )
                    .labelled_by(l.id);
                    if ui
                        .small_button("x")
                        .on_hover_text("remove this inner op")
                        .clicked()
                    {
                        remove = Some(i);
                    }
                });
            }
            if let Some(i) = remove {
                self.packed.remove(i);
            }
            if self.packed.len() < 4 && ui.small_button("+ inner op").clicked() {
                self.packed.push(("NOP".into(), String::new()));
            }
            err(ui, &v.packed);
        } else {
            ui.horizontal(|ui| {
                let l = ui.label("args");
                ui.add(
                    egui::TextEdit::singleline(&mut self.args)
                        .desired_width(150.0)
                        .hint_text("a0, a1, a2 …"),
                )
                .labelled_by(l.id);
            });
            if let Some(op) = op {
                let names = op.arg_names();
                if !names.is_empty() {
                    ui.label(
                        RichText::new(format!("{op}: {}", names.join(", ")))
                            .color(HINT)
                            .small(),
                    );
                }
            }
            err(ui, &v.args);
        }
        for w in &v.warnings {
            ui.label(
                RichText::new(format!("! {w}"))
                    .color(crate::ui::theme::WARN)
                    .small(),
            );
        }
        let mut out = None;
        ui.horizontal(|ui| {
            let publish = ui.add_enabled(v.action.is_some(), egui::Button::new("Publish"));
            if publish.clicked() {
                out = v.action.clone();
                if self.advance
                    && let Ok(s) = parse_field(&self.slot, "slot")
                {
                    self.slot = (s + 1)
                        .min(state.slot_count().saturating_sub(1))
                        .to_string();
                }
            }
            ui.checkbox(&mut self.advance, "then next slot");
        });
        out
    }
}

/// The batch generator.
#[derive(Clone, Debug)]
pub struct BatchForm {
    pub start: String,
    pub end: String,
    pub step: String,
    pub tenants: String,
    pub opcodes: String,
    pub priorities: String,
    pub args: String,
}

impl Default for BatchForm {
    fn default() -> Self {
        BatchForm {
            start: "0".into(),
            end: "64".into(),
            step: "1".into(),
            tenants: "0".into(),
            opcodes: "ATOMIC_ADD".into(),
            priorities: String::new(),
            args: "1, 160 + slot % 8".into(),
        }
    }
}

impl BatchForm {
    pub fn build(&self, state: &ResidentBuffers) -> Result<Pattern, String> {
        let start = parse_field(&self.start, "start")?;
        let end = parse_field(&self.end, "end")?;
        let step = parse_field(&self.step, "step")?;
        let tenants = parse_list(&self.tenants, "tenants")?;
        let opcodes = comma_items(&self.opcodes, "opcodes")?
            .into_iter()
            .map(Opcode::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let priorities = parse_list(&self.priorities, "priorities")?;
        let args = comma_items(&self.args, "args")?
            .into_iter()
            .enumerate()
            .map(|(i, t)| ArgExpr::parse(t).map_err(|e| format!("arg {i}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let p = Pattern {
            start,
            end,
            step,
            tenants,
            opcodes,
            priorities,
            args,
        };
        p.check(state.slot_count()).map_err(|e| e.to_string())?;
        if let Some(s) = p
            .slots()
            .find(|&s| !state.slot_status(s).is_publishable_over())
        {
            return Err(format!(
                "slot {s} is in flight; the batch publishes nothing unless every slot is EMPTY or DONE"
            ));
        }
        Ok(p)
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, state: &ResidentBuffers) -> Option<Action> {
        egui::Grid::new("batch form").num_columns(2).show(ui, |ui| {
            let slots = ui.label("slots");
            ui.horizontal(|ui| {
                ui.add(egui::TextEdit::singleline(&mut self.start).desired_width(60.0))
                    .labelled_by(slots.id);
                let l = ui.label("..");
                ui.add(egui::TextEdit::singleline(&mut self.end).desired_width(60.0))
                    .labelled_by(l.id);
                let l = ui.label("step");
                ui.add(egui::TextEdit::singleline(&mut self.step).desired_width(30.0))
                    .labelled_by(l.id);
            });
            ui.end_row();
            let l = ui.label("tenants");
            ui.add(
                egui::TextEdit::singleline(&mut self.tenants)
                    .desired_width(150.0)
                    .hint_text("0, 1 (cycled)"),
            )
            .labelled_by(l.id);
            ui.end_row();
            let l = ui.label("opcodes");
            ui.add(
                egui::TextEdit::singleline(&mut self.opcodes)
                    .desired_width(150.0)
                    .hint_text("NOP, PRINTF (cycled)"),
            )
            .labelled_by(l.id);
            ui.end_row();
            let l = ui.label("priorities");
            ui.add(
                egui::TextEdit::singleline(&mut self.priorities)
                    .desired_width(150.0)
                    .hint_text("word 3, cycled (optional)"),
            )
            .labelled_by(l.id);
            ui.end_row();
            let l = ui.label("args");
            ui.add(
                egui::TextEdit::singleline(&mut self.args)
                    .desired_width(150.0)
                    .hint_text("slot * 2, 160 + i % 4"),
            )
            .labelled_by(l.id);
            ui.end_row();
        });
        ui.label(
            RichText::new("args: expressions of `slot` and `i` (+ - * / % & | ^ << >>)")
                .color(HINT)
                .small(),
        );
        let built = self.build(state);
        let mut out = None;
        match &built {
            Ok(p) => {
                if ui.button(format!("Publish {} slots", p.len())).clicked() {
                    out = Some(Action::PublishPattern(p.clone()));
                }
            }
            Err(e) => {
                ui.label(RichText::new(e).color(ERROR).small());
                ui.add_enabled(false, egui::Button::new("Publish batch"));
            }
        }
        out
    }
}

/// Hand edits of control words.
#[derive(Clone, Debug, Default)]
pub struct ControlEditor {
    pub word: String,
    pub value: String,
    pub tenant: String,
}

impl ControlEditor {
    pub fn build(&self, state: &ResidentBuffers) -> Result<Action, String> {
        let w = self.word.trim();
        let word = parse_word(w).ok_or_else(|| {
            format!("`{w}` is not a control word: give a number or a name such as SHUTDOWN, TENANT_MASK[1], PRIORITY_OFFSET[2], OBSERVABLE[0]")
        })?;
        if word >= state.control().len() {
            return Err(format!(
                "control[{word}] is past the {}-word control buffer",
                state.control().len()
            ));
        }
        let value = parse_field(&self.value, "value")?;
        Ok(Action::WriteControl {
            word: word as u32,
            value,
        })
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, state: &ResidentBuffers) -> Option<Action> {
        let mut out = None;
        ui.horizontal(|ui| {
            let l = ui.label("word");
            ui.add(
                egui::TextEdit::singleline(&mut self.word)
                    .desired_width(120.0)
                    .hint_text("SHUTDOWN or 4"),
            )
            .labelled_by(l.id);
            let l = ui.label("=");
            ui.add(
                egui::TextEdit::singleline(&mut self.value)
                    .desired_width(80.0)
                    .hint_text("0xFFFFFFFF"),
            )
            .labelled_by(l.id);
        });
        match self.build(state) {
            Ok(a) => {
                if let Action::WriteControl { word, .. } = &a {
                    let current = state.control()[*word as usize];
                    ui.label(
                        RichText::new(format!(
                            "{} is now {current} ({current:#x})",
                            word_name(*word as usize)
                        ))
                        .color(HINT)
                        .small(),
                    );
                }
                if ui.button("Write").clicked() {
                    out = Some(a);
                }
            }
            Err(e) if !self.word.is_empty() || !self.value.is_empty() => {
                ui.label(RichText::new(e).color(ERROR).small());
            }
            Err(_) => {}
        }
        ui.separator();
        let view = ControlView(state.control());
        if view.shutdown() != 0 && ui.button("Clear SHUTDOWN (control[0] = 0)").clicked() {
            out = Some(Action::WriteControl {
                word: control::SHUTDOWN as u32,
                value: 0,
            });
        }
        ui.horizontal(|ui| {
            let l = ui.label("tenant");
            ui.add(
                egui::TextEdit::singleline(&mut self.tenant)
                    .desired_width(40.0)
                    .hint_text("0"),
            )
            .labelled_by(l.id);
            // the buttons are always there, enabled once a tenant with a mask is typed
            let target = tenant_mask_word(&self.tenant, state);
            let why = match &target {
                Ok(_) => String::new(),
                Err(e) => e.clone(),
            };
            for (label, value) in [("enable", control::TENANT_ENABLED), ("disable", 0)] {
                if ui
                    .add_enabled(target.is_ok(), egui::Button::new(label))
                    .on_disabled_hover_text(&why)
                    .clicked()
                    && let Ok(word) = target
                {
                    out = Some(Action::WriteControl { word, value });
                }
            }
        });
        if let Err(e) = tenant_mask_word(&self.tenant, state)
            && !self.tenant.trim().is_empty()
        {
            ui.label(RichText::new(e).color(ERROR).small());
        }
        out
    }
}

/// The control word holding tenant `text`'s mask, or why there is none.
fn tenant_mask_word(text: &str, state: &ResidentBuffers) -> Result<u32, String> {
    if text.trim().is_empty() {
        return Err("type a tenant id to enable or disable it".into());
    }
    let t = parse_u32(text).ok_or_else(|| format!("`{}` is not a tenant id", text.trim()))?;
    let idx = ControlView(state.control()).tenant_mask_index(t);
    if (idx as usize) < state.control().len() {
        Ok(idx)
    } else {
        Err(format!(
            "tenant {t}'s mask would be control[{idx}], past the {}-word control buffer",
            state.control().len()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_buttons_say_why_they_wait() {
        let m = state();
        assert!(
            tenant_mask_word("", &m)
                .unwrap_err()
                .contains("type a tenant")
        );
        assert!(
            tenant_mask_word("x", &m)
                .unwrap_err()
                .contains("not a tenant id")
        );
        let w = tenant_mask_word("1", &m).unwrap();
        assert_eq!(w, ControlView(m.control()).tenant_mask_index(1));
    }

    fn state() -> ResidentBuffers {
        let mut m = ResidentBuffers::new(16, 2, 4).unwrap();
        m.publish_slot(3, 0, Opcode::NOP, &[]).unwrap();
        m
    }

    fn form(slot: &str, op: &str, args: &str) -> PublishForm {
        PublishForm {
            slot: slot.into(),
            opcode: op.into(),
            args: args.into(),
            ..Default::default()
        }
    }

    #[test]
    fn good_input_builds_a_publish() {
        let v = form("2", "atomic_add", "1, 0xA0").validate(&state());
        assert!(v.errors().is_empty(), "{v:?}");
        assert_eq!(
            v.action,
            Some(Action::Publish {
                slot: 2,
                tenant: 0,
                opcode: Opcode::ATOMIC_ADD,
                args: vec![1, 160],
                priority: None
            })
        );
    }

    #[test]
    fn each_bad_field_says_why() {
        let s = state();
        assert!(
            form("16", "NOP", "")
                .validate(&s)
                .slot
                .unwrap()
                .contains("out of range")
        );
        assert!(
            form("3", "NOP", "")
                .validate(&s)
                .slot
                .unwrap()
                .contains("in flight")
        );
        assert!(
            form("x", "NOP", "")
                .validate(&s)
                .slot
                .unwrap()
                .contains("not a 32-bit")
        );
        assert!(
            form("1", "LOAD_MISS", "")
                .validate(&s)
                .opcode
                .unwrap()
                .contains("cannot be published")
        );
        assert!(
            form("1", "0xFFF0", "")
                .validate(&s)
                .opcode
                .unwrap()
                .contains("system range")
        );
        assert!(
            form("1", "FROB", "")
                .validate(&s)
                .opcode
                .unwrap()
                .contains("not an opcode")
        );
        let many = vec!["1"; 13].join(",");
        assert!(
            form("1", "NOP", &many)
                .validate(&s)
                .args
                .unwrap()
                .contains("at most 12")
        );
        assert!(
            form("1", "NOP", "1, -2")
                .validate(&s)
                .args
                .unwrap()
                .contains("`-2`")
        );
        let v = form("16", "NOP", "").validate(&s);
        assert!(v.action.is_none());
    }

    #[test]
    fn empty_list_items_are_refused() {
        let e = parse_list("1,,2", "args").unwrap_err();
        assert!(e.contains("item 2 is empty"), "{e}");
        assert!(parse_list("1, 2,", "args").is_err());
        assert!(parse_list(",1", "args").is_err());
        assert_eq!(parse_list(" 1, 2 ", "args").unwrap(), vec![1, 2]);
        assert_eq!(parse_list("1 2", "args").unwrap(), vec![1, 2]);
        assert_eq!(parse_list("  ", "args").unwrap(), Vec::<u32>::new());
        let v = form("1", "ATOMIC_ADD", "1,,160").validate(&state());
        assert!(v.args.is_some() && v.action.is_none());
    }

    #[test]
    fn batch_lists_refuse_empty_items_too() {
        let s = state();
        let b = BatchForm {
            args: "1,,160".into(),
            ..Default::default()
        };
        assert!(b.build(&s).unwrap_err().contains("item 2 is empty"));
        let b = BatchForm {
            opcodes: "NOP,".into(),
            ..Default::default()
        };
        assert!(b.build(&s).unwrap_err().contains("item 2 is empty"));
    }

    #[test]
    fn a_word_past_the_control_buffer_warns() {
        let s = state();
        let len = s.control().len();
        let v = form("1", "ATOMIC_ADD", &format!("1, {}", len + 1000)).validate(&s);
        assert!(v.action.is_some(), "a warning does not block");
        assert!(
            v.warnings
                .iter()
                .any(|w| w.contains("arg 1 (word)") && w.contains("past the")),
            "{:?}",
            v.warnings
        );
        let v = form("1", "ATOMIC_ADD", "1, 160").validate(&s);
        assert!(v.warnings.is_empty(), "{:?}", v.warnings);
        let v = form("1", "LOAD_U32", "0, 100000").validate(&s);
        assert!(
            v.warnings.iter().any(|w| w.contains("observable index")),
            "{:?}",
            v.warnings
        );
    }

    #[test]
    fn warnings_do_not_block() {
        let mut f = form("1", "DFA_STEP", "");
        f.tenant = "5".into();
        let v = f.validate(&state());
        assert!(v.action.is_some());
        assert_eq!(v.warnings.len(), 2, "{:?}", v.warnings);
    }

    #[test]
    fn packed_form() {
        let mut f = form("1", "PACKED_SLOT", "");
        f.packed = vec![
            ("ATOMIC_ADD".into(), "1, 160".into()),
            ("STORE_U32".into(), "5, 161".into()),
        ];
        assert!(matches!(
            f.validate(&state()).action,
            Some(Action::PublishPacked { .. })
        ));
        f.packed.push(("PRINTF".into(), "".into()));
        assert!(f.validate(&state()).packed.unwrap().contains("byte"));
    }

    #[test]
    fn batch_form_validates() {
        let s = state();
        let mut b = BatchForm {
            end: "16".into(),
            ..Default::default()
        };
        assert!(b.build(&s).unwrap_err().contains("slot 3 is in flight"));
        b.start = "4".into();
        assert_eq!(b.build(&s).unwrap().len(), 12);
        b.args = "slot +".into();
        assert!(b.build(&s).unwrap_err().contains("arg 0"));
        b.args = "1".into();
        b.end = "17".into();
        assert!(b.build(&s).is_err());
    }

    #[test]
    fn control_editor_accepts_names() {
        let s = state();
        let e = ControlEditor {
            word: "TENANT_MASK[1]".into(),
            value: "0".into(),
            tenant: String::new(),
        };
        assert_eq!(
            e.build(&s).unwrap(),
            Action::WriteControl { word: 4, value: 0 }
        );
        let e = ControlEditor {
            word: "OBSERVABLE[4]".into(),
            value: "1".into(),
            tenant: String::new(),
        };
        assert!(e.build(&s).unwrap_err().contains("past"));
        let e = ControlEditor {
            word: "nonsense".into(),
            value: "1".into(),
            tenant: String::new(),
        };
        assert!(e.build(&s).unwrap_err().contains("not a control word"));
    }
}
