//! The bar shown while a recording is replayed: which step of which file, how many steps
//! differ from the oracle and a way to walk them, and "Continue from here".

use egui::RichText;

use crate::debugger::Debugger;

/// What the bar asks of the app.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplayRequest {
    /// Seek to recorded step `step` and select `slot` (the first slot that differs there).
    GoTo {
        step: usize,
        slot: Option<u32>,
    },
    /// Walk the steps forward or backward to the next one where a breakpoint holds.
    RunToBreak {
        forward: bool,
    },
    /// Keep the view on the newest step while a program is still recording.
    Follow(bool),
    ContinueFromHere,
}

/// The warning colour of diverging steps.
pub use crate::ui::theme::DIVERGING;

/// Draws the bar; `None` when the debugger replays nothing. `follow` is the follow toggle.
pub fn ui(ui: &mut egui::Ui, d: &Debugger, follow: bool) -> Option<ReplayRequest> {
    let r = d.replay()?;
    let step = d.replay_step();
    let mut req = None;
    ui.horizontal_wrapped(|ui| {
        let name = r
            .path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| r.path.display().to_string());
        ui.label(RichText::new(format!("Replaying {name}")).strong())
            .on_hover_text(r.path.display().to_string());
        ui.label(format!(
            "step {} of {} · read-only",
            step.map_or("?".to_string(), |s| s.to_string()),
            r.steps.saturating_sub(1)
        ));
        ui.separator();
        if r.diverging.is_empty() {
            ui.label("every dispatch matches the oracle");
        } else {
            let here = step.and_then(|s| r.diverging.get(&s));
            let n = r.diverging.len();
            let steps = format!("{n} step{} differ{}", if n == 1 { "" } else { "s" }, if n == 1 { "s" } else { "" });
            let text = match here {
                Some(d) => format!("this step differs from the oracle in {} · {steps}", d.describe()),
                None => format!("{steps} from the oracle"),
            };
            ui.colored_label(DIVERGING, text)
                .on_hover_text("re-run on the CPU engine from the recorded state before, the dispatch gives other words: run `megascope record verify` for each word and what explains it");
            let cur = step.unwrap_or(0);
            let prev = r.diverging.range(..cur).next_back();
            let next = r.diverging.range(cur + 1..).next();
            for (label, target) in [("previous", prev), ("next", next)] {
                if ui
                    .add_enabled(target.is_some(), egui::Button::new(label))
                    .on_hover_text("go to the previous / next step that differs from the oracle")
                    .clicked()
                    && let Some((s, d)) = target
                {
                    req = Some(ReplayRequest::GoTo {
                        step: *s,
                        slot: d.slots.first().copied(),
                    });
                }
            }
        }
        if !r.unchecked.is_empty() {
            ui.label(
                RichText::new(format!("{} dispatch steps not checked", r.unchecked.len())).weak(),
            )
            .on_hover_text(
                r.unchecked
                    .iter()
                    .map(|(s, why)| format!("step {s}: {why}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
        for w in &r.warnings {
            ui.colored_label(DIVERGING, RichText::new(w).small());
        }
        ui.separator();
        let enabled = d.breakpoints().iter().any(|b| b.enabled);
        for (label, forward, tip) in [
            ("back to breakpoint", false, "walk back to the latest earlier step where an enabled breakpoint holds"),
            ("on to breakpoint", true, "walk forward to the next step where an enabled breakpoint holds"),
        ] {
            if ui
                .add_enabled(enabled, egui::Button::new(label))
                .on_hover_text(tip)
                .on_disabled_hover_text("add or enable a breakpoint in the left panel first")
                .clicked()
            {
                req = Some(ReplayRequest::RunToBreak { forward });
            }
        }
        let mut f = follow;
        if ui
            .checkbox(&mut f, "follow")
            .on_hover_text("keep the view on the newest step while the program is still recording")
            .changed()
        {
            req = Some(ReplayRequest::Follow(f));
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui
                .button("Continue from here")
                .on_hover_text("turn this step into a normal session: run, publish and step from it")
                .clicked()
            {
                req = Some(ReplayRequest::ContinueFromHere);
            }
        });
    });
    req
}
