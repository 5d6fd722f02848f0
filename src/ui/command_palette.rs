//! The command palette (Ctrl+K, Ctrl+Shift+P): fuzzy search over every command with its
//! shortcut, plus "slot N" and "step N" typed as a query. Enter runs the highlighted entry,
//! ↑/↓ move, Escape closes.

use egui::RichText;

use super::command::UiCommand;

#[derive(Debug, Default)]
pub struct CommandPalette {
    pub open: bool,
    pub query: String,
    selected: usize,
    focus: bool,
}

impl CommandPalette {
    /// Opens it with `query` typed (empty for the whole list).
    pub fn open_with(&mut self, query: &str) {
        self.open = true;
        self.query = query.to_string();
        self.selected = 0;
        self.focus = true;
    }

    /// Draws the palette when open; returns the command picked.
    pub fn ui(&mut self, ctx: &egui::Context, catalogue: &[UiCommand]) -> Option<UiCommand> {
        if !self.open {
            return None;
        }
        let matches = matches(&self.query, catalogue);
        let (up, down, enter, escape) = ctx.input_mut(|i| {
            (
                i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowUp),
                i.consume_key(egui::Modifiers::NONE, egui::Key::ArrowDown),
                i.consume_key(egui::Modifiers::NONE, egui::Key::Enter),
                i.consume_key(egui::Modifiers::NONE, egui::Key::Escape),
            )
        });
        if escape {
            self.open = false;
            return None;
        }
        if down && self.selected + 1 < matches.len() {
            self.selected += 1;
        }
        if up {
            self.selected = self.selected.saturating_sub(1);
        }
        self.selected = self.selected.min(matches.len().saturating_sub(1));
        let mut picked = None;
        if enter && let Some(c) = matches.get(self.selected) {
            picked = Some(c.clone());
        }
        let mut still_open = true;
        egui::Window::new("Command palette")
            .id(egui::Id::unique("command palette"))
            .title_bar(false)
            .resizable(false)
            .collapsible(false)
            .fixed_size([520.0, 0.0])
            .anchor(egui::Align2::CENTER_TOP, [0.0, 60.0])
            .show(ctx, |ui| {
                let before = self.query.clone();
                let r = ui
                    .horizontal(|ui| {
                        let l = ui.label("Run a command");
                        ui.add(
                            egui::TextEdit::singleline(&mut self.query)
                                .desired_width(f32::INFINITY)
                                .hint_text("a command, \"slot 12\", \"step 40\"…"),
                        )
                        .labelled_by(l.id)
                    })
                    .inner;
                if self.focus {
                    r.request_focus();
                    self.focus = false;
                }
                if self.query != before {
                    self.selected = 0;
                }
                ui.separator();
                if matches.is_empty() {
                    ui.label(RichText::new("no command matches").weak());
                }
                egui::ScrollArea::vertical()
                    .max_height(360.0)
                    .show(ui, |ui| {
                        for (i, c) in matches.iter().enumerate() {
                            let chosen = i == self.selected;
                            let shortcut = c.shortcut_text(ctx).unwrap_or_default();
                            let row = ui.horizontal(|ui| {
                                let l = ui.selectable_label(chosen, c.label());
                                ui.with_layout(
                                    egui::Layout::right_to_left(egui::Align::Center),
                                    |ui| ui.label(RichText::new(shortcut).weak()),
                                );
                                l
                            });
                            if chosen {
                                row.response.scroll_to_me(None);
                            }
                            if row.inner.clicked() {
                                picked = Some(c.clone());
                            }
                        }
                    });
                if r.lost_focus() && ui.input(|i| i.pointer.any_click()) && picked.is_none() {
                    // a click outside the palette closes it
                    still_open = ui.rect_contains_pointer(ui.min_rect());
                }
            });
        if picked.is_some() || !still_open {
            self.open = false;
        }
        picked
    }
}

/// The commands that match `query`, best first: the catalogue's commands scored by fuzzy
/// match, and a "go to" for "slot N" / "step N" / a bare number.
pub fn matches(query: &str, catalogue: &[UiCommand]) -> Vec<UiCommand> {
    let q = query.trim().to_lowercase();
    let mut out = Vec::new();
    let words: Vec<&str> = q.split_whitespace().collect();
    let number = |s: &str| crate::abi::opcode::parse_u32(s);
    match words.as_slice() {
        ["slot", n] | ["go", "to", "slot", n] => {
            if let Some(n) = number(n) {
                out.push(UiCommand::GoToSlot(n));
            }
        }
        ["step", n] | ["go", "to", "step", n] => {
            if let Some(n) = number(n) {
                out.push(UiCommand::GoToStep(n as usize));
            }
        }
        [n] => {
            if let Some(n) = number(n) {
                out.push(UiCommand::GoToSlot(n));
                out.push(UiCommand::GoToStep(n as usize));
            }
        }
        _ => {}
    }
    let mut scored: Vec<(i64, usize, &UiCommand)> = catalogue
        .iter()
        .enumerate()
        .filter_map(|(i, c)| fuzzy_score(&q, &c.label().to_lowercase()).map(|s| (s, i, c)))
        .collect();
    scored.sort_by_key(|&(s, i, _)| (std::cmp::Reverse(s), i));
    out.extend(scored.into_iter().map(|(_, _, c)| c.clone()));
    out
}

/// A subsequence match of `query` in `text`, or None. Higher is better: consecutive
/// characters and characters at the start of a word score more, gaps cost.
fn fuzzy_score(query: &str, text: &str) -> Option<i64> {
    if query.is_empty() {
        return Some(0);
    }
    let t: Vec<char> = text.chars().collect();
    let mut score = 0i64;
    let mut ti = 0usize;
    let mut last: Option<usize> = None;
    for qc in query.chars().filter(|c| !c.is_whitespace()) {
        let found = (ti..t.len()).find(|&k| t[k] == qc)?;
        let word_start = found == 0 || !t[found - 1].is_alphanumeric();
        score += 1;
        if word_start {
            score += 8;
        }
        match last {
            Some(l) if found == l + 1 => score += 6,
            Some(l) => score -= (found - l - 1).min(8) as i64,
            None => score -= found.min(8) as i64,
        }
        last = Some(found);
        ti = found + 1;
    }
    Some(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzzy_queries_find_commands_best_first() {
        let all = UiCommand::catalogue(&[]);
        assert_eq!(matches("step", &all)[0], UiCommand::Step);
        assert_eq!(matches("sva", &all)[0], UiCommand::SaveAs);
        assert_eq!(matches("rst lay", &all)[0], UiCommand::ResetLayout);
        assert!(matches("zzzz", &all).is_empty());
        assert_eq!(matches("", &all).len(), all.len());
    }

    #[test]
    fn numbers_become_go_to_entries() {
        let all = UiCommand::catalogue(&[]);
        assert_eq!(matches("slot 12", &all)[0], UiCommand::GoToSlot(12));
        assert_eq!(matches("go to step 0x10", &all)[0], UiCommand::GoToStep(16));
        let m = matches("7", &all);
        assert_eq!(m[..2], [UiCommand::GoToSlot(7), UiCommand::GoToStep(7)]);
        assert!(
            matches("slot x", &all)
                .iter()
                .all(|c| !matches!(c, UiCommand::GoToSlot(_)))
        );
    }
}
