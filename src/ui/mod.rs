//! The egui app. One file per panel; the shell lays them out and turns what the user does
//! into debugger actions. Only this module (and `app.rs`) knows egui.

pub mod breakpoints_panel;
pub mod command;
pub mod command_palette;
pub mod debug_log;
pub mod diagnostics_panel;
pub mod export;
pub mod files;
pub mod grid;
pub mod inspector;
pub mod new_dialog;
pub mod plots;
pub mod publish_form;
pub mod replay_bar;
pub mod shell;
pub mod theme;
pub mod timeline_panel;
pub mod toasts;
pub mod top_bar;
pub mod who_wrote_window;

pub use shell::MegascopeApp;

/// "1 dispatch", "2 dispatches": counts read as English.
pub fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}
