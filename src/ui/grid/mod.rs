//! The centre of the app: every ring slot as a coloured cell. Zoom with the wheel (about the
//! pointer), pan by dragging, `F` or double-click to fit, click to select, hover for the
//! slot's decoded words. Drawn on the GPU from the ring buffer itself ([`crate::ui::grid::render`]);
//! without a wgpu renderer (tests, the GL backend) a CPU rasteriser of the visible window
//! draws the same picture.

use egui::{Color32, Pos2, Rect, Sense, Vec2};

pub mod colours;
pub mod host_upload;
pub mod layout;
pub mod render;

use crate::abi::control::ControlView;
use crate::abi::opcode::{Opcode, Priority};
use crate::abi::slot::Slot;
use crate::abi::status::SlotStatus;
use crate::files::session::ColourMode;
use crate::ui::grid::colours as palette;
use crate::ui::grid::render::{
    ContentVersion, FLAG_HIGHLIGHT, GridCallback, GridUniforms, NONE, RING_STRIDE,
};
use layout::GridLayout;

/// What the grid draws from.
pub struct GridSource<'a> {
    pub slot_count: u32,
    /// The host ring (the mirror; with the GPU backend it may lag: used for the fallback
    /// and for hover text only when `slot_words` has nothing better).
    pub ring: &'a [u32],
    pub control: &'a [u32],
    /// Per slot: the serial of the last dispatch that changed it.
    pub changed: &'a [u32],
    /// The serial to highlight (the last dispatch), 0 for none.
    pub serial: u32,
    /// Device buffers to draw from (ring, changed); `None` = the renderer's host copies.
    pub device_buffers: Option<(eframe::wgpu::Buffer, eframe::wgpu::Buffer)>,
    /// Whether a wgpu renderer is available for the paint callback.
    pub gpu_paint: bool,
    /// What the ring and changed words hold (the GPU picture is recoloured when it moves).
    pub content: ContentVersion,
    /// Slots with a diagnostic at the point shown: marked with a red corner.
    pub marked: &'a [u32],
}

/// What happened in the grid this frame.
#[derive(Default, Debug, Clone, Copy, PartialEq)]
pub struct GridResponse {
    pub clicked: Option<u32>,
    pub hovered: Option<u32>,
    /// A cell's context menu asked who wrote this slot's status word.
    pub who_wrote: Option<u32>,
}

/// The grid's view state.
#[derive(Clone)]
pub struct RingGrid {
    /// Cell size in points; `None` = fit to the view.
    pub cell: Option<f32>,
    pub pan: Vec2,
    pub mode: ColourMode,
    pub highlight_changes: bool,
    /// A race's two slots: while the first is selected the second is ringed too.
    pub race_pair: Option<[u32; 2]>,
    /// A slot to bring into view on the next frame ("go to slot").
    pub reveal: Option<u32>,
    /// The cell a context menu was opened on.
    context_slot: Option<u32>,
    /// Where the cells were drawn last frame (screen points).
    pub last_rect: Option<Rect>,
    fallback: Option<(FallbackKey, egui::TextureHandle)>,
}

#[derive(Debug, Clone, PartialEq)]
struct FallbackKey {
    size: [usize; 2],
    cell_bits: u32,
    pan: [u32; 2],
    mode: ColourMode,
    selected: Option<u32>,
    hovered: Option<u32>,
    serial: u32,
    fingerprint: u64,
}

impl Default for RingGrid {
    fn default() -> Self {
        RingGrid {
            cell: None,
            pan: Vec2::ZERO,
            mode: ColourMode::Status,
            highlight_changes: true,
            race_pair: None,
            reveal: None,
            context_slot: None,
            last_rect: None,
            fallback: None,
        }
    }
}

/// The colour of slot `s` in `mode` (the shader's `slot_colour`).
pub fn slot_colour(mode: ColourMode, ring: &[u32], control: &[u32], s: u32) -> Color32 {
    let w = |i: usize| ring.get(s as usize * 16 + i).copied().unwrap_or(0);
    let st = SlotStatus::from_word(w(0));
    match mode {
        ColourMode::Status => palette::status_colour(st),
        ColourMode::Opcode if st == SlotStatus::Empty => palette::STATUS[0],
        ColourMode::Opcode => palette::OPCODE[palette::opcode_index(w(1))],
        ColourMode::Tenant if st == SlotStatus::Empty => palette::STATUS[0],
        ColourMode::Tenant => palette::TENANT[(w(2) % 12) as usize],
        ColourMode::Priority => {
            palette::PRIORITY[ControlView(control).partition_of(s).unwrap_or(5) as usize]
        }
    }
}

impl RingGrid {
    pub fn layout(&self, slot_count: u32, view: Vec2) -> GridLayout {
        let cell = self
            .cell
            .unwrap_or_else(|| GridLayout::fit_cell(slot_count, view));
        GridLayout::new(slot_count, cell)
    }

    pub fn fit(&mut self) {
        self.cell = None;
        self.pan = Vec2::ZERO;
    }

    /// Zooms by `factor` keeping the content point under `anchor` (view coordinates) fixed.
    pub fn zoom_about(&mut self, slot_count: u32, view: Vec2, anchor: Vec2, factor: f32) {
        let old = self.layout(slot_count, view).cell;
        let new = (old * factor).clamp(
            crate::ui::grid::layout::MIN_CELL,
            crate::ui::grid::layout::MAX_CELL,
        );
        let content = self.pan + anchor;
        self.pan = content * (new / old) - anchor;
        self.cell = Some(new);
    }

    /// Shows the grid in `ui` (taking the available space) and the legend above it.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        src: &GridSource,
        selected: Option<u32>,
    ) -> GridResponse {
        legend(ui, self.mode, src.control);
        let size = ui.available_size().max(Vec2::splat(16.0));
        let (rect, response) = ui.allocate_exact_size(size, Sense::click_and_drag());
        self.last_rect = Some(rect);
        let view = rect.size();
        let n = src.slot_count;
        // input: zoom, pan, fit
        if response.hovered() {
            let (scroll, zoom_delta) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
            let factor = if zoom_delta != 1.0 {
                zoom_delta
            } else {
                (scroll * 0.004).exp()
            };
            if factor != 1.0
                && let Some(p) = response.hover_pos()
            {
                self.zoom_about(n, view, p - rect.min, factor);
            }
        }
        if response.dragged() {
            self.pan -= response.drag_delta();
            if self.cell.is_none() {
                self.cell = Some(self.layout(n, view).cell);
            }
        }
        if response.double_clicked() {
            self.fit();
        }
        if let Some(s) = self.reveal.take() {
            // a cell too small to click is zoomed to a size one can
            if self.layout(n, view).cell < REVEAL_CELL {
                self.cell = Some(REVEAL_CELL);
            }
            self.pan = reveal_pan(&self.layout(n, view), self.pan, view, s);
        }
        let layout = self.layout(n, view);
        self.pan = layout.clamp_pan(self.pan, view);
        let to_content =
            |p: Pos2| Pos2::new(p.x - rect.min.x + self.pan.x, p.y - rect.min.y + self.pan.y);
        let hovered = response
            .hover_pos()
            .and_then(|p| layout.slot_at(to_content(p)));
        let mut out = GridResponse {
            hovered,
            clicked: None,
            who_wrote: None,
        };
        if response.clicked()
            && let Some(p) = response.interact_pointer_pos()
        {
            out.clicked = layout.slot_at(to_content(p));
        }
        // right-click a cell: its menu names the cell it was opened on
        if response.secondary_clicked() {
            self.context_slot = hovered;
        }
        if let Some(s) = self.context_slot {
            response.context_menu(|ui| {
                ui.label(egui::RichText::new(format!("slot {s}")).strong());
                if ui.button("Select").clicked() {
                    out.clicked = Some(s);
                    ui.close();
                }
                if ui.button("Who wrote its status?").clicked() {
                    out.who_wrote = Some(s);
                    ui.close();
                }
            });
        }
        // paint
        let serial = if self.highlight_changes {
            src.serial
        } else {
            0
        };
        if src.gpu_paint {
            let ppp = ui.ctx().pixels_per_point();
            let o = ControlView(src.control).priority_offsets();
            let uniforms = GridUniforms {
                origin: [rect.min.x * ppp, rect.min.y * ppp],
                size: [rect.width() * ppp, rect.height() * ppp],
                pan: [self.pan.x * ppp, self.pan.y * ppp],
                cell: layout.cell * ppp,
                gap: layout.gap() * ppp,
                columns: layout.columns,
                slot_count: n,
                mode: match self.mode {
                    ColourMode::Status => 0,
                    ColourMode::Opcode => 1,
                    ColourMode::Tenant => 2,
                    ColourMode::Priority => 3,
                },
                selected: selected.unwrap_or(NONE),
                hovered: hovered.unwrap_or(NONE),
                serial,
                flags: if self.highlight_changes {
                    FLAG_HIGHLIGHT
                } else {
                    0
                },
                ring_stride: RING_STRIDE,
                offsets: [o[0], o[1], o[2], o[3], o[4], o[5], 0, 0],
            };
            ui.painter()
                .add(eframe::egui_wgpu::Callback::new_paint_callback(
                    rect,
                    GridCallback {
                        uniforms,
                        buffers: src.device_buffers.clone(),
                        content: src.content,
                    },
                ));
        } else {
            self.paint_fallback(ui, rect, &layout, src, selected, hovered, serial);
        }
        // Cells of a few pixels (a million slots fit to the view) leave the selection a
        // single pixel: ring it so it can be found again.
        let painter = ui.painter_at(rect);
        for (slot, colour) in [(hovered, Color32::WHITE), (selected, palette::SELECTED)] {
            if let Some(m) = slot.and_then(|s| marker_rect(&layout, self.pan, rect, s)) {
                painter.rect_stroke(m, 1.0, (1.5, colour), egui::StrokeKind::Outside);
            }
        }
        // Cells with diagnostics get a red corner (a dot when cells are a few pixels).
        let visible = |s: u32| {
            let c = layout.cell_rect(s).translate(rect.min.to_vec2() - self.pan);
            rect.intersects(c).then_some(c)
        };
        for c in src.marked.iter().filter_map(|&s| visible(s)) {
            if layout.cell >= MARKER_BELOW_CELL {
                let k = (c.width() * 0.45).max(3.0);
                painter.add(egui::Shape::convex_polygon(
                    vec![
                        c.right_top(),
                        c.right_top() + Vec2::new(0.0, k),
                        c.right_top() - Vec2::new(k, 0.0),
                    ],
                    crate::ui::theme::ERROR,
                    egui::Stroke::NONE,
                ));
            } else {
                painter.circle_filled(c.center(), 2.0, crate::ui::theme::ERROR);
            }
        }
        // The other slot of a selected race, ringed at any cell size.
        if let Some([a, b]) = self.race_pair
            && selected == Some(a)
            && let Some(m) = partner_rect(&layout, self.pan, rect, b)
        {
            painter.rect_stroke(m, 1.0, (2.0, palette::SELECTED), egui::StrokeKind::Outside);
        }
        if let Some(s) = hovered
            && !response.dragged()
        {
            response.on_hover_ui_at_pointer(|ui| slot_tooltip(ui, src, s));
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn paint_fallback(
        &mut self,
        ui: &mut egui::Ui,
        rect: Rect,
        layout: &GridLayout,
        src: &GridSource,
        selected: Option<u32>,
        hovered: Option<u32>,
        serial: u32,
    ) {
        let w = (rect.width().round() as usize).clamp(1, 2048);
        let h = (rect.height().round() as usize).clamp(1, 2048);
        let key = FallbackKey {
            size: [w, h],
            cell_bits: layout.cell.to_bits(),
            pan: [self.pan.x.to_bits(), self.pan.y.to_bits()],
            mode: self.mode,
            selected,
            hovered,
            serial,
            fingerprint: fingerprint(src.ring, src.control, src.changed),
        };
        if self.fallback.as_ref().is_none_or(|(k, _)| *k != key) {
            let image = rasterise(
                layout,
                self.pan,
                [w, h],
                self.mode,
                src,
                selected,
                hovered,
                serial,
            );
            let tex = ui
                .ctx()
                .load_texture("ring grid", image, egui::TextureOptions::NEAREST);
            self.fallback = Some((key, tex));
        }
        if let Some((_, tex)) = &self.fallback {
            ui.painter().image(
                tex.id(),
                rect,
                Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
                Color32::WHITE,
            );
        }
    }
}

/// Where to ring the second slot of a selected race: its cell, or the small-cell marker;
/// `None` when out of view.
pub fn partner_rect(layout: &GridLayout, pan: Vec2, rect: Rect, slot: u32) -> Option<Rect> {
    if slot >= layout.slot_count {
        return None;
    }
    marker_rect(layout, pan, rect, slot).or_else(|| {
        let cell = layout.cell_rect(slot).translate(rect.min.to_vec2() - pan);
        rect.contains(cell.center()).then_some(cell)
    })
}

/// The slots the diagnostics name (both slots of a race), sorted, at most `max`.
pub fn marked_slots(diagnostics: &[crate::engine::Diagnostic], max: usize) -> Vec<u32> {
    let mut v: Vec<u32> = diagnostics
        .iter()
        .flat_map(|d| match d.slots {
            Some(pair) => pair.to_vec(),
            None => d.slot.into_iter().collect(),
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v.truncate(max);
    v
}

/// The cell size "go to slot" zooms to when the cells are smaller.
pub const REVEAL_CELL: f32 = 12.0;

/// The pan that shows `slot`: unchanged when its cell is already in view, otherwise the
/// cell centred (then clamped like any pan).
pub fn reveal_pan(layout: &GridLayout, pan: Vec2, view: Vec2, slot: u32) -> Vec2 {
    if slot >= layout.slot_count {
        return pan;
    }
    let cell = layout.cell_rect(slot);
    let shown = Rect::from_min_size(Pos2::new(pan.x, pan.y), view);
    if shown.contains_rect(cell) {
        return pan;
    }
    layout.clamp_pan(cell.center().to_vec2() - view / 2.0, view)
}

/// Cells below this size (points) get a ring around the hovered and selected slot.
pub const MARKER_BELOW_CELL: f32 = 6.0;

/// Where to ring `slot` in a grid drawn in `rect` with `pan`: a square of at least 7
/// points centred on its cell; `None` when cells are big enough to show the selection
/// themselves or the cell is out of view.
pub fn marker_rect(layout: &GridLayout, pan: Vec2, rect: Rect, slot: u32) -> Option<Rect> {
    if layout.cell >= MARKER_BELOW_CELL || slot >= layout.slot_count {
        return None;
    }
    let cell = layout.cell_rect(slot).translate(rect.min.to_vec2() - pan);
    rect.contains(cell.center())
        .then(|| Rect::from_center_size(cell.center(), Vec2::splat(cell.width().max(7.0))))
}

fn fingerprint(ring: &[u32], control: &[u32], changed: &[u32]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    // statuses, opcodes and tenants are all the fallback reads
    for s in ring.chunks_exact(16) {
        (s[0], s[1], s[2]).hash(&mut h);
    }
    control.get(129..135).hash(&mut h);
    changed.hash(&mut h);
    h.finish()
}

/// The CPU picture of the visible window, one pixel per point (the shader's algorithm).
#[allow(clippy::too_many_arguments)]
pub fn rasterise(
    layout: &GridLayout,
    pan: Vec2,
    size: [usize; 2],
    mode: ColourMode,
    src: &GridSource,
    selected: Option<u32>,
    hovered: Option<u32>,
    serial: u32,
) -> egui::ColorImage {
    let [w, h] = size;
    let mut pixels = vec![palette::BACKGROUND; w * h];
    for y in 0..h {
        for x in 0..w {
            let p = Pos2::new(x as f32 + 0.5 + pan.x, y as f32 + 0.5 + pan.y);
            if let Some(s) = layout.slot_at(p) {
                let mut c = slot_colour(mode, src.ring, src.control, s);
                if serial != 0 && src.changed.get(s as usize) == Some(&serial) {
                    c = c.lerp_to_gamma(palette::CHANGED, 0.2);
                }
                if Some(s) == hovered {
                    c = c.lerp_to_gamma(Color32::WHITE, 0.3);
                }
                if Some(s) == selected {
                    c = palette::SELECTED;
                }
                pixels[y * w + x] = c;
            }
        }
    }
    egui::ColorImage::new([w, h], pixels)
}

/// The slot's decoded words, for the hover tooltip.
pub fn slot_tooltip(ui: &mut egui::Ui, src: &GridSource, s: u32) {
    let slot = Slot::of_ring(src.ring, s);
    let view = ControlView(src.control);
    ui.strong(format!("slot {s}"));
    egui::Grid::new("slot tooltip")
        .num_columns(2)
        .show(ui, |ui| {
            ui.label("status");
            ui.colored_label(palette::status_colour(slot.status()), slot.status().name());
            ui.end_row();
            ui.label("opcode");
            ui.label(format!("{} ({:#x})", slot.opcode.label(), slot.opcode.0));
            ui.end_row();
            ui.label("tenant");
            ui.label(format!(
                "{} (mask control[{}] = {:#x})",
                slot.tenant,
                view.tenant_mask_index(slot.tenant),
                view.tenant_mask(slot.tenant)
            ));
            ui.end_row();
            ui.label("partition");
            ui.label(
                view.partition_of(s)
                    .and_then(Priority::from_level)
                    .map(|p| p.name().to_string())
                    .unwrap_or_else(|| "none".into()),
            );
            ui.end_row();
            let names = slot.opcode.arg_names();
            for (i, a) in slot.args.iter().enumerate().take(names.len().max(3)) {
                ui.label(
                    names
                        .get(i)
                        .map(|n| format!("a{i} ({n})"))
                        .unwrap_or_else(|| format!("a{i}")),
                );
                ui.monospace(format!("{a} ({a:#x})"));
                ui.end_row();
            }
        });
    if slot.opcode == Opcode::PACKED_SLOT
        && let Some(p) = slot.packed()
    {
        for op in &p.ops {
            ui.label(format!(
                "  inner {}: {} {}",
                op.index,
                op.opcode.label(),
                op.args
                    .map(|a| format!("{a:?}"))
                    .unwrap_or_else(|| "(skipped)".into())
            ));
        }
    }
}

/// The always-visible legend for the current colour mode.
pub fn legend(ui: &mut egui::Ui, mode: ColourMode, control: &[u32]) {
    let swatch = |ui: &mut egui::Ui, c: Color32, text: &str| {
        let (r, _) = ui.allocate_exact_size(Vec2::splat(11.0), Sense::hover());
        ui.painter().rect_filled(r, 2.0, c);
        ui.label(egui::RichText::new(text).small());
    };
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 4.0;
        match mode {
            ColourMode::Status => {
                for s in SlotStatus::NAMED {
                    swatch(ui, palette::status_colour(s), s.lower_name());
                }
                swatch(ui, palette::STATUS[8], "invalid");
            }
            ColourMode::Opcode => {
                for (i, op) in Opcode::NAMED.iter().enumerate() {
                    swatch(ui, palette::OPCODE[i], op.name().unwrap_or("?"));
                }
                swatch(ui, palette::OPCODE[12], "user 8..0xFFEF");
                swatch(ui, palette::OPCODE[13], "other system");
                swatch(ui, palette::STATUS[0], "empty");
            }
            ColourMode::Tenant => {
                for (t, c) in palette::TENANT.iter().enumerate() {
                    swatch(ui, *c, &format!("t{t}"));
                }
                ui.label(egui::RichText::new("(tenant mod 12)").small().weak());
                swatch(ui, palette::STATUS[0], "empty");
            }
            ColourMode::Priority => {
                let o = ControlView(control).priority_offsets();
                for p in Priority::ALL {
                    let i = p as usize;
                    swatch(
                        ui,
                        palette::PRIORITY[i],
                        &format!("{} {}..{}", p.name(), o[i], o[i + 1]),
                    );
                }
                swatch(ui, palette::PRIORITY[5], "no partition");
            }
        }
        swatch(ui, palette::CHANGED, "changed by last dispatch");
        swatch(ui, palette::SELECTED, "selected");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_mark_every_slot_they_name_once() {
        let d = |slot: Option<u32>, slots: Option<[u32; 2]>| crate::engine::Diagnostic {
            kind: crate::engine::DiagnosticKind::Race,
            dispatch: 0,
            pass: None,
            slot,
            word: None,
            slots,
            scheduler: false,
            count: 1,
            message: String::new(),
        };
        let list = [
            d(Some(9), Some([9, 4])),
            d(Some(4), None),
            d(None, None),
            d(Some(30), None),
        ];
        assert_eq!(marked_slots(&list, 10), [4, 9, 30]);
        assert_eq!(marked_slots(&list, 2), [4, 9]);
    }

    #[test]
    fn revealing_a_slot_pans_only_when_it_is_out_of_view() {
        let l = GridLayout::new(1 << 16, 12.0);
        let view = Vec2::new(400.0, 300.0);
        // slot 1 is in view at the origin: no move
        assert_eq!(reveal_pan(&l, Vec2::ZERO, view, 1), Vec2::ZERO);
        // the last slot is far away: centred
        let last = (1 << 16) - 1;
        let pan = reveal_pan(&l, Vec2::ZERO, view, last);
        let shown = Rect::from_min_size(Pos2::new(pan.x, pan.y), view);
        assert!(shown.contains_rect(l.cell_rect(last)), "{pan:?}");
        // past the ring: unchanged
        assert_eq!(reveal_pan(&l, Vec2::ZERO, view, 1 << 16), Vec2::ZERO);
    }

    #[test]
    fn a_race_partner_is_ringed_at_any_cell_size_while_in_view() {
        let rect = Rect::from_min_size(Pos2::new(100.0, 50.0), Vec2::new(400.0, 300.0));
        let big = GridLayout::new(64, 10.0);
        let cell = big.cell_rect(9).translate(rect.min.to_vec2());
        assert_eq!(partner_rect(&big, Vec2::ZERO, rect, 9), Some(cell));
        let small = GridLayout::new(1 << 20, 0.25);
        assert_eq!(
            partner_rect(&small, Vec2::ZERO, rect, 3),
            marker_rect(&small, Vec2::ZERO, rect, 3)
        );
        assert_eq!(
            partner_rect(&big, Vec2::ZERO, rect, 64),
            None,
            "past the ring"
        );
        assert_eq!(
            partner_rect(&big, Vec2::new(0.0, 500.0), rect, 9),
            None,
            "out of view"
        );
    }

    #[test]
    fn small_cells_get_a_marker_where_the_slot_is_and_big_cells_none() {
        let rect = Rect::from_min_size(Pos2::new(100.0, 50.0), Vec2::new(400.0, 300.0));
        // 1M slots: 1024 columns of 0.25-point cells
        let small = GridLayout::new(1 << 20, 0.25);
        let s = 3 * 1024 + 10; // row 3, column 10: centre (2.625, 0.875) in content space
        let m = marker_rect(&small, Vec2::ZERO, rect, s).expect("in view");
        assert_eq!(m.center(), Pos2::new(102.625, 50.875));
        assert_eq!(m.width(), 7.0);
        // panned past it, or off the bottom of the view: no marker
        assert_eq!(marker_rect(&small, Vec2::new(0.0, 10.0), rect, s), None);
        let one_point = GridLayout::new(1 << 20, 1.0); // 1024 points tall
        assert!(marker_rect(&one_point, Vec2::ZERO, rect, 5).is_some());
        assert_eq!(
            marker_rect(&one_point, Vec2::ZERO, rect, (1 << 20) - 1),
            None
        );
        assert_eq!(marker_rect(&small, Vec2::ZERO, rect, 1 << 20), None);
        // cells big enough to show the selection themselves
        let big = GridLayout::new(64, 10.0);
        assert_eq!(marker_rect(&big, Vec2::ZERO, rect, 5), None);
    }

    #[test]
    fn fallback_picture_matches_slot_colours() {
        let mut m = crate::resident::ResidentBuffers::new(16, 1, 0).unwrap();
        m.publish_slot(5, 0, Opcode::NOP, &[]).unwrap();
        let changed = vec![0u32; 16];
        let src = GridSource {
            marked: &[],
            slot_count: 16,
            ring: m.ring(),
            control: m.control(),
            changed: &changed,
            serial: 0,
            device_buffers: None,
            gpu_paint: false,
            content: (0, 0, 0),
        };
        let layout = GridLayout::new(16, 10.0);
        let img = rasterise(
            &layout,
            Vec2::ZERO,
            [40, 40],
            ColourMode::Status,
            &src,
            None,
            None,
            0,
        );
        let at = |s: u32| {
            let c = layout.cell_rect(s).center();
            img.pixels[c.y as usize * 40 + c.x as usize]
        };
        assert_eq!(at(5), palette::STATUS[1]);
        assert_eq!(at(4), palette::STATUS[0]);
    }

    #[test]
    fn zoom_keeps_the_anchor_fixed() {
        let mut g = RingGrid {
            cell: Some(10.0),
            ..Default::default()
        };
        let view = Vec2::new(400.0, 400.0);
        let anchor = Vec2::new(100.0, 50.0);
        let before = g.layout(4096, view).slot_at((g.pan + anchor).to_pos2());
        g.zoom_about(4096, view, anchor, 2.0);
        assert_eq!(g.cell, Some(20.0));
        let after = g.layout(4096, view).slot_at((g.pan + anchor).to_pos2());
        assert_eq!(before, after);
    }
}
