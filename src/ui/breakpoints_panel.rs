//! Breakpoints and watchpoints: a form to add one and the list (enable, hit count, remove).

use egui::RichText;

use crate::abi::control::parse_word;
use crate::abi::opcode::{Opcode, parse_u32};
use crate::abi::status::SlotStatus;
use crate::debugger::Geometry;
use crate::debugger::breakpoint::{Breakpoint, CompareOp, Condition, SlotSelector};
use crate::debugger::settings::Edit;
use crate::engine::DiagnosticKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Kind {
    #[default]
    SlotEnters,
    OpcodeRuns,
    TenantRuns,
    ControlChanges,
    ControlCompare,
    DebugFmt,
    DebugOverflow,
    Diagnostic,
    SlotStuck,
}

impl Kind {
    const ALL: [Kind; 9] = [
        Kind::SlotEnters,
        Kind::OpcodeRuns,
        Kind::TenantRuns,
        Kind::ControlChanges,
        Kind::ControlCompare,
        Kind::DebugFmt,
        Kind::DebugOverflow,
        Kind::Diagnostic,
        Kind::SlotStuck,
    ];
    fn name(self) -> &'static str {
        match self {
            Kind::SlotEnters => "slot enters status",
            Kind::OpcodeRuns => "opcode executes",
            Kind::TenantRuns => "tenant's slot runs",
            Kind::ControlChanges => "control word changes",
            Kind::ControlCompare => "control word compares",
            Kind::DebugFmt => "debug log gets fmt id",
            Kind::DebugOverflow => "debug log overflows",
            Kind::Diagnostic => "diagnostic fires",
            Kind::SlotStuck => "slot stuck PUBLISHED",
        }
    }
}

/// The add-breakpoint form.
#[derive(Debug, Clone)]
pub struct BreakpointForm {
    pub kind: Kind,
    pub slots: String,
    pub status: SlotStatus,
    pub text: String,
    pub op: CompareOp,
    pub value: String,
    pub mask: String,
    pub diagnostic: DiagnosticKind,
}

impl Default for BreakpointForm {
    fn default() -> Self {
        BreakpointForm {
            kind: Kind::SlotEnters,
            slots: "any".into(),
            status: SlotStatus::Done,
            text: String::new(),
            op: CompareOp::Ge,
            value: String::new(),
            mask: String::new(),
            diagnostic: DiagnosticKind::OutOfRange,
        }
    }
}

/// Parses `any`, `12`, or `4..8`.
pub fn parse_selector(t: &str) -> Result<SlotSelector, String> {
    let t = t.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("any") {
        return Ok(SlotSelector::Any);
    }
    if let Some((a, b)) = t.split_once("..") {
        let (a, b) = (
            parse_u32(a).ok_or("range start is not a number")?,
            parse_u32(b).ok_or("range end is not a number")?,
        );
        if a >= b {
            return Err(format!("the range {a}..{b} is empty"));
        }
        return Ok(SlotSelector::Range(a, b));
    }
    parse_u32(t)
        .map(SlotSelector::One)
        .ok_or_else(|| format!("`{t}`: write any, a slot such as 12, or a range such as 4..8"))
}

impl BreakpointForm {
    /// The condition the form describes, checked against the state's geometry (a breakpoint
    /// that could never fire is refused here, as when a session loads).
    pub fn build(&self, geometry: &Geometry) -> Result<Condition, String> {
        let c = self.build_unchecked()?;
        c.check(geometry)?;
        Ok(c)
    }

    fn build_unchecked(&self) -> Result<Condition, String> {
        let num = |t: &str, what: &str| {
            parse_u32(t).ok_or_else(|| format!("{what}: `{}` is not a number", t.trim()))
        };
        let word = |t: &str| {
            parse_word(t).map(|w| w as u32).ok_or_else(|| {
                format!(
                    "`{}` is not a control word (a number or a name such as EPOCH)",
                    t.trim()
                )
            })
        };
        Ok(match self.kind {
            Kind::SlotEnters => Condition::SlotEnters {
                slots: parse_selector(&self.slots)?,
                status: self.status,
            },
            Kind::OpcodeRuns => Condition::OpcodeRuns {
                opcode: Opcode::parse(&self.text)?,
            },
            Kind::TenantRuns => Condition::TenantRuns {
                tenant: num(&self.text, "tenant")?,
            },
            Kind::ControlChanges => Condition::ControlChanges {
                word: word(&self.text)?,
            },
            Kind::ControlCompare => Condition::ControlCompare {
                word: word(&self.text)?,
                op: self.op,
                value: num(&self.value, "value")?,
                mask: if self.mask.trim().is_empty() {
                    u32::MAX
                } else {
                    num(&self.mask, "mask")?
                },
            },
            Kind::DebugFmt => Condition::DebugFmt {
                fmt_id: num(&self.text, "fmt id")?,
            },
            Kind::DebugOverflow => Condition::DebugOverflow,
            Kind::Diagnostic => Condition::Diagnostic {
                kind: self.diagnostic,
            },
            Kind::SlotStuck => Condition::SlotStuck {
                passes: num(&self.text, "passes")?.max(1),
            },
        })
    }
}

impl BreakpointForm {
    /// Whether the field the chosen kind needs is still empty: the form then says what to
    /// type instead of showing an error for input nobody has given yet.
    pub fn is_blank(&self) -> bool {
        match self.kind {
            Kind::OpcodeRuns
            | Kind::TenantRuns
            | Kind::ControlChanges
            | Kind::DebugFmt
            | Kind::SlotStuck => self.text.trim().is_empty(),
            Kind::ControlCompare => self.text.trim().is_empty() || self.value.trim().is_empty(),
            Kind::SlotEnters | Kind::DebugOverflow | Kind::Diagnostic => false,
        }
    }
}

/// Draws the form and the list; returns the edit the user asked for (the debugger applies
/// it, so the session knows it changed).
pub fn ui(
    ui: &mut egui::Ui,
    bps: &[Breakpoint],
    hits: &[u64],
    form: &mut BreakpointForm,
    geometry: &Geometry,
) -> Option<Edit> {
    let mut edit = None;
    egui::ComboBox::from_label("when")
        .selected_text(form.kind.name())
        .show_ui(ui, |ui| {
            for k in Kind::ALL {
                ui.selectable_value(&mut form.kind, k, k.name());
            }
        });
    let field = |ui: &mut egui::Ui, label: &str, text: &mut String, hint: &str| {
        ui.horizontal(|ui| {
            let l = ui.label(label);
            ui.add(
                egui::TextEdit::singleline(text)
                    .desired_width(110.0)
                    .hint_text(hint),
            )
            .labelled_by(l.id);
        });
    };
    match form.kind {
        Kind::SlotEnters => {
            field(ui, "slots", &mut form.slots, "any, 12, 4..8");
            egui::ComboBox::from_label("status")
                .selected_text(form.status.lower_name())
                .show_ui(ui, |ui| {
                    for s in SlotStatus::NAMED {
                        ui.selectable_value(&mut form.status, s, s.lower_name());
                    }
                });
        }
        Kind::OpcodeRuns => field(ui, "opcode", &mut form.text, "PRINTF"),
        Kind::TenantRuns => field(ui, "tenant", &mut form.text, "1"),
        Kind::ControlChanges => field(ui, "word", &mut form.text, "EPOCH or 128"),
        Kind::ControlCompare => {
            field(ui, "word", &mut form.text, "OBSERVABLE[0]");
            ui.horizontal(|ui| {
                egui::ComboBox::from_label("op")
                    .selected_text(form.op.symbol())
                    .width(40.0)
                    .show_ui(ui, |ui| {
                        for op in CompareOp::ALL {
                            ui.selectable_value(&mut form.op, op, op.symbol());
                        }
                    });
                let l = ui.label("value");
                ui.add(egui::TextEdit::singleline(&mut form.value).desired_width(70.0))
                    .labelled_by(l.id);
                let l = ui.label("mask");
                ui.add(
                    egui::TextEdit::singleline(&mut form.mask)
                        .desired_width(70.0)
                        .hint_text("optional"),
                )
                .labelled_by(l.id);
            });
        }
        Kind::DebugFmt => field(ui, "fmt id", &mut form.text, "7"),
        Kind::DebugOverflow => {}
        Kind::Diagnostic => {
            egui::ComboBox::from_label("kind")
                .selected_text(form.diagnostic.name())
                .show_ui(ui, |ui| {
                    for k in DiagnosticKind::ALL {
                        ui.selectable_value(&mut form.diagnostic, k, k.name());
                    }
                });
        }
        Kind::SlotStuck => field(ui, "passes", &mut form.text, "16"),
    }
    match form.build(geometry) {
        Ok(c) => {
            if ui.button(format!("Add: {}", c.describe())).clicked() {
                edit = Some(Edit::AddBreakpoint(c));
            }
        }
        Err(_) if form.is_blank() => {
            ui.label(RichText::new("fill in the field above to add the breakpoint").weak());
        }
        Err(e) => {
            ui.label(RichText::new(e).color(crate::ui::theme::ERROR).small());
        }
    }
    ui.separator();
    if bps.is_empty() {
        ui.label(RichText::new("no breakpoints").weak());
    }
    for (i, b) in bps.iter().enumerate() {
        ui.horizontal(|ui| {
            let mut enabled = b.enabled;
            if ui.checkbox(&mut enabled, "on").changed() {
                edit = Some(Edit::EnableBreakpoint { index: i, enabled });
            }
            ui.label(b.condition.describe());
            // hits up to the timeline point shown, not those of a future stepped back from
            let n = hits.get(i).copied().unwrap_or(b.hits);
            ui.label(RichText::new(super::plural(n, "hit", "hits")).weak());
            if ui
                .small_button("x")
                .on_hover_text("remove this breakpoint")
                .clicked()
            {
                edit = Some(Edit::RemoveBreakpoint(i));
            }
        });
    }
    edit
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Geometry = Geometry {
        slot_count: 64,
        tenant_count: 1,
        observable_slots: 4,
    };

    #[test]
    fn form_builds_conditions_and_rejects_bad_input() {
        let mut f = BreakpointForm {
            kind: Kind::SlotEnters,
            slots: "4..8".into(),
            ..Default::default()
        };
        assert_eq!(
            f.build(&G).unwrap(),
            Condition::SlotEnters {
                slots: SlotSelector::Range(4, 8),
                status: SlotStatus::Done
            }
        );
        f.slots = "8..4".into();
        assert!(f.build(&G).unwrap_err().contains("empty"));
        let f = BreakpointForm {
            kind: Kind::ControlCompare,
            text: "EPOCH".into(),
            value: "3".into(),
            ..Default::default()
        };
        assert!(matches!(
            f.build(&G).unwrap(),
            Condition::ControlCompare {
                word: 128,
                value: 3,
                ..
            }
        ));
        let f = BreakpointForm {
            kind: Kind::OpcodeRuns,
            text: "FROB".into(),
            ..Default::default()
        };
        assert!(f.build(&G).is_err());
        let f = BreakpointForm {
            kind: Kind::ControlChanges,
            text: "nope".into(),
            ..Default::default()
        };
        assert!(f.build(&G).unwrap_err().contains("control word"));
    }

    #[test]
    fn breakpoints_that_could_never_fire_are_refused() {
        let mut f = BreakpointForm {
            kind: Kind::SlotEnters,
            slots: "64".into(),
            ..Default::default()
        };
        assert!(
            f.build(&G)
                .unwrap_err()
                .contains("past the ring's 64 slots")
        );
        f.slots = "60..65".into();
        assert!(f.build(&G).unwrap_err().contains("runs past"));
        f.slots = "60..64".into();
        assert!(f.build(&G).is_ok());
        let f = BreakpointForm {
            kind: Kind::ControlChanges,
            text: "164".into(),
            ..Default::default()
        };
        assert!(
            f.build(&G)
                .unwrap_err()
                .contains("past the 164-word control buffer")
        );
        let f = BreakpointForm {
            kind: Kind::ControlCompare,
            text: "OBSERVABLE[3]".into(),
            value: "1".into(),
            ..Default::default()
        };
        assert!(f.build(&G).is_ok());
    }
}
