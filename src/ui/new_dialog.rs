//! The New dialog: geometry (slots, tenants, observable words) and the kernel variant.

use crate::abi::layout::{MAX_OBSERVABLE, MAX_SLOTS};
use crate::debugger::{Geometry, RunConfig};
use crate::engine::Variant;

#[derive(Debug, Clone)]
pub struct NewDialog {
    pub slots: String,
    pub tenants: String,
    pub observable: String,
    pub variant: Variant,
}

impl Default for NewDialog {
    fn default() -> Self {
        NewDialog {
            slots: "4096".into(),
            tenants: "1".into(),
            observable: "16".into(),
            variant: Variant::Once,
        }
    }
}

impl NewDialog {
    pub fn build(&self) -> Result<(Geometry, RunConfig), String> {
        let num = |t: &str, what: &str| {
            crate::abi::opcode::parse_u32(t)
                .ok_or_else(|| format!("{what}: `{}` is not a number", t.trim()))
        };
        let slot_count = num(&self.slots, "slots")?;
        if slot_count == 0 || slot_count > MAX_SLOTS {
            return Err(format!("slots must be between 1 and {MAX_SLOTS}"));
        }
        let observable_slots = num(&self.observable, "observable words")?;
        if observable_slots > MAX_OBSERVABLE {
            return Err(format!("observable words must be at most {MAX_OBSERVABLE}"));
        }
        let tenant_count = num(&self.tenants, "tenants")?;
        Ok((
            Geometry {
                slot_count,
                tenant_count,
                observable_slots,
            },
            RunConfig {
                variant: self.variant,
                ..Default::default()
            },
        ))
    }

    /// Returns `Some(Ok(..))` when the user creates, `Some(Err(()))` when cancelled.
    pub fn ui(&mut self, ctx: &egui::Context) -> Option<Result<(Geometry, RunConfig), ()>> {
        let mut out = None;
        egui::Modal::new(egui::Id::unique("new dialog")).show(ctx, |ui| {
            ui.heading("New state");
            egui::Grid::new("new grid").num_columns(2).show(ui, |ui| {
                let l = ui.label("slots");
                ui.text_edit_singleline(&mut self.slots).labelled_by(l.id);
                ui.end_row();
                let l = ui.label("tenants");
                ui.text_edit_singleline(&mut self.tenants).labelled_by(l.id);
                ui.end_row();
                let l = ui.label("observable words");
                ui.text_edit_singleline(&mut self.observable)
                    .labelled_by(l.id);
                ui.end_row();
                ui.label("");
                egui::ComboBox::from_label("variant")
                    .selected_text(self.variant.name())
                    .show_ui(ui, |ui| {
                        for v in Variant::ALL {
                            ui.selectable_value(&mut self.variant, v, v.name());
                        }
                    });
                ui.end_row();
            });
            ui.horizontal(|ui| {
                for (label, n) in [("4 Ki", 4096u32), ("64 Ki", 65_536), ("1 Mi", 1 << 20)] {
                    if ui.small_button(label).clicked() {
                        self.slots = n.to_string();
                    }
                }
            });
            let built = self.build();
            if let Err(e) = &built {
                ui.colored_label(crate::ui::theme::ERROR, e);
            }
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(built.is_ok(), egui::Button::new("Create"))
                    .clicked()
                    && let Ok(b) = built
                {
                    out = Some(Ok(b));
                }
                if ui.button("Cancel").clicked() || ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                    out = Some(Err(()));
                }
            });
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_geometry() {
        let mut d = NewDialog::default();
        assert!(d.build().is_ok());
        d.slots = "0".into();
        assert!(d.build().is_err());
        d.slots = "2000000".into();
        assert!(d.build().unwrap_err().contains("1048576"));
        d.slots = "64".into();
        d.observable = "x".into();
        assert!(d.build().unwrap_err().contains("observable"));
    }
}
