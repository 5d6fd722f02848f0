//! Every user action as one value. Buttons, menus, shortcuts, panels and the command
//! palette all queue a [`UiCommand`] while the frame draws; the shell applies the queue in
//! one place after drawing ([`super::MegascopeApp::apply`]). A command carries its own
//! label, tooltip and shortcuts, so a menu, a tooltip and the palette can never disagree
//! about what a key does.

use std::path::PathBuf;

use egui::{Key, KeyboardShortcut, Modifiers};

use super::replay_bar::ReplayRequest;
use super::timeline_panel::TimelineRequest;
use crate::debugger::action::Action;
use crate::debugger::settings::Edit;
use crate::engine::{Backend, Variant};
use crate::files::session::ColourMode;

/// A panel of the dock layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Pane {
    Grid,
    Publish,
    Breakpoints,
    Inspector,
    Plots,
    DebugLog,
    Diagnostics,
    Timeline,
}

impl Pane {
    pub const ALL: [Pane; 8] = [
        Pane::Grid,
        Pane::Publish,
        Pane::Breakpoints,
        Pane::Inspector,
        Pane::Plots,
        Pane::DebugLog,
        Pane::Diagnostics,
        Pane::Timeline,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Grid => "Ring",
            Pane::Publish => "Publish & control",
            Pane::Breakpoints => "Breakpoints",
            Pane::Inspector => "Inspector",
            Pane::Plots => "Plots",
            Pane::DebugLog => "Debug log",
            Pane::Diagnostics => "Diagnostics",
            Pane::Timeline => "Timeline & diff",
        }
    }
}

/// One user action.
#[derive(Clone, Debug, PartialEq)]
pub enum UiCommand {
    New,
    Open,
    OpenRecent(PathBuf),
    Save,
    SaveAs,
    SaveSnapshotAs,
    ImportDump,
    ExportDump,
    Quit,
    Step,
    StepPass,
    StepN(u32),
    ToggleRun,
    RunUntilBreak,
    Reset,
    StepBack,
    StepForward,
    Seek(usize),
    /// Puts back the timeline points the last Reset, Publish or Pass dropped.
    RestoreFuture,
    /// A host action on the state (publish, control write, …): a timeline point.
    Act(Action),
    /// A settings edit (breakpoints, variant, pass budget, backend).
    Edit(Edit),
    CommandPalette,
    /// Opens the palette on "slot ", ready for a number.
    GoToSlotPrompt,
    GoToSlot(u32),
    /// A recorded step while a recording replays, otherwise a timeline point.
    GoToStep(usize),
    Select(Option<u32>),
    FitGrid,
    ColourMode(ColourMode),
    ToggleHighlightChanges,
    ShowPane(Pane),
    ResetLayout,
    /// Lists who wrote a word in the dispatch shown and opens its history.
    WhoWrote(WordRef),
    /// Highlights and counts the slots that match a condition (`PUBLISHED && tenant == 1`).
    SelectWhere(String),
    ClearSelectWhere,
    /// Asks for a path and writes a CSV or PNG there.
    Export(super::export::Export),
    Replay(ReplayRequest),
    Timeline(TimelineRequest),
}

pub use crate::debugger::who_wrote::WordRef;

/// Every shortcut with its command, more modifiers first; built once, read every frame.
static SHORTCUTS: std::sync::LazyLock<Vec<(KeyboardShortcut, UiCommand)>> =
    std::sync::LazyLock::new(|| {
        let mut table: Vec<(KeyboardShortcut, UiCommand)> = UiCommand::catalogue(&[])
            .into_iter()
            .flat_map(|c| c.shortcuts().iter().map(move |s| (*s, c.clone())))
            .collect();
        let weight = |m: Modifiers| m.shift as u8 + m.alt as u8 + m.command as u8 + m.ctrl as u8;
        table.sort_by_key(|(s, _)| std::cmp::Reverse(weight(s.modifiers)));
        table
    });

const fn key(k: Key) -> KeyboardShortcut {
    KeyboardShortcut::new(Modifiers::NONE, k)
}
const fn cmd(k: Key) -> KeyboardShortcut {
    KeyboardShortcut::new(Modifiers::COMMAND, k)
}
const fn cmd_shift(k: Key) -> KeyboardShortcut {
    KeyboardShortcut::new(
        Modifiers {
            shift: true,
            ..Modifiers::COMMAND
        },
        k,
    )
}
const fn shift(k: Key) -> KeyboardShortcut {
    KeyboardShortcut::new(Modifiers::SHIFT, k)
}
const fn alt(k: Key) -> KeyboardShortcut {
    KeyboardShortcut::new(Modifiers::ALT, k)
}

impl UiCommand {
    /// What menus, the palette and toasts call it.
    pub fn label(&self) -> String {
        match self {
            UiCommand::New => "New state…".into(),
            UiCommand::Open => "Open…".into(),
            UiCommand::OpenRecent(p) => format!("Open recent: {}", p.display()),
            UiCommand::Save => "Save".into(),
            UiCommand::SaveAs => "Save As…".into(),
            UiCommand::SaveSnapshotAs => "Save state snapshot As…".into(),
            UiCommand::ImportDump => "Import dump directory…".into(),
            UiCommand::ExportDump => "Export dump directory…".into(),
            UiCommand::Quit => "Quit".into(),
            UiCommand::Step => "Step one dispatch".into(),
            UiCommand::StepPass => "Step one pass".into(),
            UiCommand::StepN(n) => format!("Step {n} dispatches"),
            UiCommand::ToggleRun => "Run / pause".into(),
            UiCommand::RunUntilBreak => "Run to breakpoint".into(),
            UiCommand::Reset => "Reset the state".into(),
            UiCommand::StepBack => "Back one timeline point".into(),
            UiCommand::StepForward => "Forward one timeline point".into(),
            UiCommand::Seek(p) => format!("Go to timeline point {p}"),
            UiCommand::RestoreFuture => "Undo: restore the dropped timeline points".into(),
            UiCommand::Act(a) => a.label(),
            UiCommand::Edit(e) => e.label(),
            UiCommand::CommandPalette => "Command palette".into(),
            UiCommand::GoToSlotPrompt => "Go to slot…".into(),
            UiCommand::GoToSlot(s) => format!("Go to slot {s}"),
            UiCommand::GoToStep(s) => format!("Go to step {s}"),
            UiCommand::Select(Some(s)) => format!("Select slot {s}"),
            UiCommand::Select(None) => "Clear the selection".into(),
            UiCommand::FitGrid => "Fit the grid to the window".into(),
            UiCommand::ColourMode(m) => format!("Colour by {}", m.name()),
            UiCommand::ToggleHighlightChanges => "Highlight changes on / off".into(),
            UiCommand::ShowPane(p) => format!("Show panel: {}", p.title()),
            UiCommand::ResetLayout => "Reset layout".into(),
            UiCommand::WhoWrote(w) => format!("Who wrote {}?", w.describe()),
            UiCommand::Export(e) => e.title().to_string(),
            UiCommand::SelectWhere(q) => format!("Select slots where {q}"),
            UiCommand::ClearSelectWhere => "Clear the slot query".into(),
            UiCommand::Replay(r) => match r {
                ReplayRequest::GoTo { step, .. } => format!("Go to recorded step {step}"),
                ReplayRequest::RunToBreak { forward: true } => "On to the next breakpoint".into(),
                ReplayRequest::RunToBreak { forward: false } => {
                    "Back to the previous breakpoint".into()
                }
                ReplayRequest::Follow(on) => {
                    format!("Follow the recording {}", if *on { "on" } else { "off" })
                }
                ReplayRequest::ContinueFromHere => "Continue from here".into(),
            },
            UiCommand::Timeline(t) => match t {
                TimelineRequest::Seek(p) => format!("Go to timeline point {p}"),
                TimelineRequest::Select(s) => format!("Select slot {s}"),
                TimelineRequest::Highlight(s) => format!("Highlight {} slots", s.len()),
            },
        }
    }

    /// A sentence for hover text, where the label alone does not say enough.
    pub fn tooltip(&self) -> Option<&'static str> {
        Some(match self {
            UiCommand::SaveSnapshotAs => "the current buffers, no script: exact and quick to open",
            UiCommand::Step => "one dispatch",
            UiCommand::StepPass => "one pass of a looping variant",
            UiCommand::ToggleRun => {
                "run one dispatch per frame, or at the chosen rate; pauses by itself once a dispatch changes nothing"
            }
            UiCommand::RunUntilBreak => "run until an enabled breakpoint hits",
            UiCommand::Reset => {
                "reset the state; points after the cursor are dropped, and Undo puts them back"
            }
            UiCommand::StepBack => "step back one timeline point",
            UiCommand::StepForward => "step forward along the kept future",
            UiCommand::FitGrid => "show every slot (also: double-click the grid)",
            UiCommand::ResetLayout => "put every panel back where it starts",
            _ => return None,
        })
    }

    /// The keys that run it; the first is the one menus show.
    pub fn shortcuts(&self) -> &'static [KeyboardShortcut] {
        const PALETTE: [KeyboardShortcut; 2] = [cmd(Key::K), cmd_shift(Key::P)];
        match self {
            UiCommand::New => const { &[cmd(Key::N)] },
            UiCommand::Open => const { &[cmd(Key::O)] },
            UiCommand::Save => const { &[cmd(Key::S)] },
            UiCommand::SaveAs => const { &[cmd_shift(Key::S)] },
            UiCommand::Quit => const { &[cmd(Key::Q)] },
            UiCommand::ToggleRun => const { &[key(Key::Space)] },
            UiCommand::Step => const { &[key(Key::ArrowRight)] },
            UiCommand::StepPass => const { &[shift(Key::ArrowRight)] },
            UiCommand::StepBack => const { &[key(Key::ArrowLeft)] },
            UiCommand::StepForward => const { &[alt(Key::ArrowRight)] },
            UiCommand::RunUntilBreak => const { &[key(Key::F5)] },
            UiCommand::CommandPalette => &PALETTE,
            UiCommand::GoToSlotPrompt => const { &[cmd(Key::G)] },
            UiCommand::FitGrid => const { &[key(Key::F)] },
            UiCommand::RestoreFuture => const { &[cmd(Key::Z)] },
            _ => &[],
        }
    }

    /// The first shortcut as the platform writes it ("Ctrl+K"), for menus and tooltips.
    pub fn shortcut_text(&self, ctx: &egui::Context) -> Option<String> {
        self.shortcuts().first().map(|s| ctx.format_shortcut(s))
    }

    /// Every command that takes no argument from a panel, for the palette and the shortcut
    /// table.
    pub fn catalogue(recent: &[PathBuf]) -> Vec<UiCommand> {
        let mut v = vec![
            UiCommand::CommandPalette,
            UiCommand::New,
            UiCommand::Open,
            UiCommand::Save,
            UiCommand::SaveAs,
            UiCommand::SaveSnapshotAs,
            UiCommand::ImportDump,
            UiCommand::ExportDump,
            UiCommand::Quit,
            UiCommand::Step,
            UiCommand::StepPass,
            UiCommand::ToggleRun,
            UiCommand::RunUntilBreak,
            UiCommand::StepBack,
            UiCommand::StepForward,
            UiCommand::Reset,
            UiCommand::RestoreFuture,
            UiCommand::GoToSlotPrompt,
            UiCommand::FitGrid,
            UiCommand::ToggleHighlightChanges,
            UiCommand::ResetLayout,
        ];
        v.extend(
            [
                super::export::Export::DebugLog,
                super::export::Export::Diagnostics,
                super::export::Export::Diff,
                super::export::Export::Plot,
            ]
            .map(UiCommand::Export),
        );
        v.extend(ColourMode::ALL.map(UiCommand::ColourMode));
        v.extend(Pane::ALL.map(UiCommand::ShowPane));
        v.extend(Variant::ALL.map(|x| UiCommand::Edit(Edit::Variant(x))));
        v.extend([Backend::Cpu, Backend::Gpu].map(|b| UiCommand::Edit(Edit::Backend(b))));
        v.extend(recent.iter().cloned().map(UiCommand::OpenRecent));
        v
    }

    /// The commands whose shortcuts were pressed this frame. Nothing fires while a text
    /// field has the keyboard (typing "f" in a field must not fit the grid), and a
    /// shortcut with more modifiers is tried first, so Shift+→ is a pass and not a step.
    pub fn pressed(ctx: &egui::Context) -> Vec<UiCommand> {
        if ctx.egui_wants_keyboard_input() {
            return Vec::new();
        }
        let mut out = Vec::new();
        ctx.input_mut(|i| {
            for (s, c) in SHORTCUTS.iter() {
                if i.consume_shortcut(s) && !out.contains(c) {
                    out.push(c.clone());
                }
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_commands_share_a_shortcut() {
        let mut seen = std::collections::HashMap::new();
        for c in UiCommand::catalogue(&[]) {
            for s in c.shortcuts() {
                if let Some(other) = seen.insert(*s, c.label()) {
                    panic!("{s:?} runs both {other} and {}", c.label());
                }
            }
        }
        assert!(seen.len() >= 14, "{}", seen.len());
    }

    #[test]
    fn every_catalogued_command_has_a_distinct_label() {
        let recent = vec![PathBuf::from("/tmp/a.ron")];
        let all = UiCommand::catalogue(&recent);
        let mut labels: Vec<String> = all.iter().map(|c| c.label()).collect();
        labels.sort();
        let n = labels.len();
        labels.dedup();
        assert_eq!(labels.len(), n, "{labels:?}");
        assert!(labels.iter().any(|l| l == "Open recent: /tmp/a.ron"));
    }

    fn press(ctx: &egui::Context, modifiers: Modifiers, k: Key) -> Vec<UiCommand> {
        let mut input = egui::RawInput::default();
        input.events.push(egui::Event::Key {
            key: k,
            physical_key: None,
            pressed: true,
            repeat: false,
            modifiers,
        });
        let mut out = Vec::new();
        let mut output = ctx.run_ui(input, |ui| out = UiCommand::pressed(ui.ctx()));
        output.textures_delta.clear();
        out
    }

    #[test]
    fn the_table_maps_keys_to_commands_most_modifiers_first() {
        let ctx = egui::Context::default();
        assert_eq!(
            press(&ctx, Modifiers::NONE, Key::ArrowRight),
            [UiCommand::Step]
        );
        assert_eq!(
            press(&ctx, Modifiers::SHIFT, Key::ArrowRight),
            [UiCommand::StepPass]
        );
        assert_eq!(
            press(&ctx, Modifiers::COMMAND, Key::K),
            [UiCommand::CommandPalette]
        );
        let cs = Modifiers {
            shift: true,
            ..Modifiers::COMMAND
        };
        assert_eq!(press(&ctx, cs, Key::P), [UiCommand::CommandPalette]);
        assert_eq!(press(&ctx, cs, Key::S), [UiCommand::SaveAs]);
        assert_eq!(press(&ctx, Modifiers::COMMAND, Key::S), [UiCommand::Save]);
    }
}
