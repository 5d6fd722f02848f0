//! The UI's colours and spacing besides the grid's (those are in `grid/colours.rs`): every
//! panel takes them from here, so one change restyles the whole app.

use egui::Color32;

const fn c(hex: u32) -> Color32 {
    Color32::from_rgb((hex >> 16) as u8, (hex >> 8) as u8, hex as u8)
}

/// Text that reports an error (form checks, failed reads).
pub const ERROR: Color32 = c(0xff6b6b);
/// Something wrong in the state (a fault, a dropped record, a disabled tenant).
pub const BAD: Color32 = c(0xe5484d);
/// Something to look at (a warning diagnostic, an overflow).
pub const WARN: Color32 = c(0xf2b134);
/// Something fine (an enabled tenant).
pub const GOOD: Color32 = c(0x3fbf6f);
/// Secondary text: hints, hex beside decimal.
pub const HINT: Color32 = c(0x9aa0a6);
/// A recorded step that differs from the oracle.
pub const DIVERGING: Color32 = c(0xff9f43);
/// Plot series without a palette of their own.
pub const SERIES_YELLOW: Color32 = c(0xfadb14);
pub const SERIES_BLUE: Color32 = c(0x3d9df3);
/// Toast backgrounds and text.
pub const TOAST_ERROR_BG: Color32 = c(0x5c1d20);
pub const TOAST_ERROR_TEXT: Color32 = c(0xffd0d0);
pub const TOAST_INFO_BG: Color32 = c(0x1e334a);

/// Spacing, in points: the gap between docked panels and the padding inside them.
pub const PANEL_GAP: f32 = 2.0;
pub const PANEL_PADDING: i8 = 6;
pub const TAB_BAR_HEIGHT: f32 = 22.0;
