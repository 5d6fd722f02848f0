//! Messages at the bottom-right: errors stay until dismissed, notes fade. The app never
//! panics on bad input; it says what happened here.

use std::time::{Duration, Instant};

use egui::{Align2, Color32, RichText};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

#[derive(Debug, Clone)]
pub struct Toast {
    pub level: Level,
    pub text: String,
    pub at: Instant,
}

#[derive(Debug, Default)]
pub struct Toasts {
    pub items: Vec<Toast>,
}

const INFO_FOR: Duration = Duration::from_secs(4);

impl Toasts {
    pub fn info(&mut self, text: impl Into<String>) {
        self.push(Level::Info, text.into());
    }

    pub fn error(&mut self, text: impl Into<String>) {
        self.push(Level::Error, text.into());
    }

    fn push(&mut self, level: Level, text: String) {
        if let Some(last) = self.items.last_mut()
            && last.text == text
        {
            last.at = Instant::now();
            return;
        }
        self.items.push(Toast {
            level,
            text,
            at: Instant::now(),
        });
        if self.items.len() > 6 {
            self.items.remove(0);
        }
    }

    /// The newest error, if any (tests and the status line read it).
    pub fn last_error(&self) -> Option<&str> {
        self.items
            .iter()
            .rev()
            .find(|t| t.level == Level::Error)
            .map(|t| t.text.as_str())
    }

    pub fn show(&mut self, ctx: &egui::Context) {
        self.items
            .retain(|t| t.level == Level::Error || t.at.elapsed() < INFO_FOR);
        if self.items.is_empty() {
            return;
        }
        let mut dismiss = None;
        egui::Area::new(egui::Id::unique("toasts"))
            .anchor(Align2::RIGHT_BOTTOM, [-12.0, -12.0])
            .show(ctx, |ui| {
                for (i, t) in self.items.iter().enumerate() {
                    let (bg, fg) = match t.level {
                        Level::Error => (
                            crate::ui::theme::TOAST_ERROR_BG,
                            crate::ui::theme::TOAST_ERROR_TEXT,
                        ),
                        Level::Info => (crate::ui::theme::TOAST_INFO_BG, Color32::WHITE),
                    };
                    egui::Frame::new()
                        .fill(bg)
                        .inner_margin(8.0)
                        .corner_radius(4.0)
                        .show(ui, |ui| {
                            ui.set_max_width(420.0);
                            ui.horizontal(|ui| {
                                ui.add(egui::Label::new(RichText::new(&t.text).color(fg)).wrap());
                                if ui.small_button("x").clicked() {
                                    dismiss = Some(i);
                                }
                            });
                        });
                }
            });
        if let Some(i) = dismiss {
            self.items.remove(i);
        }
        if self.items.iter().any(|t| t.level == Level::Info) {
            ctx.request_repaint_after(Duration::from_millis(250));
        }
    }
}
