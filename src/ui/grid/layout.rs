//! Where each slot sits in the grid. Columns are fixed per geometry (the power of two
//! nearest √N from above), so zooming scales the picture without reflowing it and
//! `slot = row × columns + column` is easy to read. The shader does the same arithmetic.

use egui::{Pos2, Rect, Vec2};

/// The grid's geometry for a slot count and a cell size (in points).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridLayout {
    pub slot_count: u32,
    pub columns: u32,
    pub rows: u32,
    /// Cell edge in points; may be below one pixel at fit zoom on big rings.
    pub cell: f32,
}

/// Smallest and largest cell sizes, in points.
pub const MIN_CELL: f32 = 0.05;
pub const MAX_CELL: f32 = 96.0;

impl GridLayout {
    pub fn columns_for(slot_count: u32) -> u32 {
        let root = (slot_count.max(1) as f64).sqrt().ceil() as u32;
        root.next_power_of_two().max(1)
    }

    pub fn new(slot_count: u32, cell: f32) -> GridLayout {
        let columns = Self::columns_for(slot_count);
        GridLayout {
            slot_count,
            columns,
            rows: slot_count.div_ceil(columns),
            cell: cell.clamp(MIN_CELL, MAX_CELL),
        }
    }

    /// The cell size that shows every slot in `size`.
    pub fn fit_cell(slot_count: u32, size: Vec2) -> f32 {
        let columns = Self::columns_for(slot_count) as f32;
        let rows = slot_count.div_ceil(columns as u32).max(1) as f32;
        (size.x / columns)
            .min(size.y / rows)
            .clamp(MIN_CELL, MAX_CELL)
    }

    /// The content size in points.
    pub fn content_size(&self) -> Vec2 {
        Vec2::new(
            self.columns as f32 * self.cell,
            self.rows as f32 * self.cell,
        )
    }

    /// The slot under a content-space point (relative to the grid's origin, pan applied).
    pub fn slot_at(&self, p: Pos2) -> Option<u32> {
        if p.x < 0.0 || p.y < 0.0 {
            return None;
        }
        let col = (p.x / self.cell).floor() as u64;
        let row = (p.y / self.cell).floor() as u64;
        if col >= self.columns as u64 {
            return None;
        }
        let s = row * self.columns as u64 + col;
        (s < self.slot_count as u64).then_some(s as u32)
    }

    /// A slot's cell in content space.
    pub fn cell_rect(&self, slot: u32) -> Rect {
        let col = (slot % self.columns) as f32;
        let row = (slot / self.columns) as f32;
        Rect::from_min_size(
            Pos2::new(col * self.cell, row * self.cell),
            Vec2::splat(self.cell),
        )
    }

    /// The gap drawn between cells, in points: none for small cells.
    pub fn gap(&self) -> f32 {
        if self.cell >= 6.0 { 1.0 } else { 0.0 }
    }

    /// Keeps the pan inside the content (with a little slack) for a view of `view` points.
    pub fn clamp_pan(&self, pan: Vec2, view: Vec2) -> Vec2 {
        let content = self.content_size();
        let max = (content - view * 0.5).max(Vec2::ZERO);
        let min = -view * 0.5;
        Vec2::new(
            pan.x.clamp(min.x, max.x.max(min.x)),
            pan.y.clamp(min.y, max.y.max(min.y)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_powers_of_two_covering_sqrt_n() {
        assert_eq!(GridLayout::columns_for(1 << 20), 1024);
        assert_eq!(GridLayout::columns_for(65_536), 256);
        assert_eq!(GridLayout::columns_for(10), 4);
        assert_eq!(GridLayout::columns_for(1), 1);
        assert_eq!(GridLayout::columns_for(0), 1);
    }

    #[test]
    fn slot_at_and_cell_rect_agree() {
        let l = GridLayout::new(1000, 10.0);
        for s in [0u32, 1, 31, 32, 999] {
            let r = l.cell_rect(s);
            assert_eq!(l.slot_at(r.center()), Some(s));
        }
        assert_eq!(l.slot_at(Pos2::new(-1.0, 5.0)), None);
        assert_eq!(
            l.slot_at(Pos2::new(l.columns as f32 * 10.0 + 1.0, 5.0)),
            None
        );
        assert_eq!(
            l.slot_at(Pos2::new(5.0, 10_000.0)),
            None,
            "past the last slot"
        );
    }

    #[test]
    fn fit_shows_everything() {
        let size = Vec2::new(800.0, 600.0);
        let cell = GridLayout::fit_cell(65_536, size);
        let l = GridLayout::new(65_536, cell);
        let c = l.content_size();
        assert!(c.x <= size.x + 0.01 && c.y <= size.y + 0.01, "{c:?}");
        assert!(
            GridLayout::fit_cell(1 << 20, size) < 1.0,
            "a million slots need sub-point cells"
        );
    }

    #[test]
    fn gaps_only_for_big_cells() {
        assert_eq!(GridLayout::new(16, 20.0).gap(), 1.0);
        assert_eq!(GridLayout::new(16, 2.0).gap(), 0.0);
    }
}
