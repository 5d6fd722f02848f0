//! The dock layout: every panel is a tile the user can drag to another place, resize, or
//! stack as a tab (egui_tiles). Tiles keep their share of the window whatever their content
//! does, so the grid no longer jumps when a section collapses or a label grows. The layout
//! is kept in eframe's storage under [`LAYOUT_KEY`]; View → Reset layout restores
//! [`default_layout`].

use egui_tiles::{Linear, LinearDir, Tile, TileId, Tiles, Tree, UiResponse};

use super::MegascopeApp;
use crate::ui::command::Pane;

/// Where the layout is stored. The version goes up when [`Pane`] changes in a way an old
/// layout cannot describe; an old key is then ignored and the default layout used.
pub const LAYOUT_KEY: &str = "megascope.layout.v1";

/// Publish and Breakpoints on the left, the ring in the middle, the inspector on the right,
/// and plots, debug log, diagnostics and timeline as tabs below.
pub fn default_layout() -> Tree<Pane> {
    let mut tiles = Tiles::default();
    let publish = tiles.insert_pane(Pane::Publish);
    let breakpoints = tiles.insert_pane(Pane::Breakpoints);
    let grid = tiles.insert_pane(Pane::Grid);
    let inspector = tiles.insert_pane(Pane::Inspector);
    let bottom: Vec<TileId> = [
        Pane::Plots,
        Pane::DebugLog,
        Pane::Diagnostics,
        Pane::Timeline,
    ]
    .into_iter()
    .map(|p| tiles.insert_pane(p))
    .collect();
    let mut left = Linear::new(LinearDir::Vertical, vec![publish, breakpoints]);
    left.shares.set_share(publish, 0.62);
    left.shares.set_share(breakpoints, 0.38);
    let left = tiles.insert_container(left);
    let mut middle = Linear::new(LinearDir::Horizontal, vec![left, grid, inspector]);
    middle.shares.set_share(left, 0.22);
    middle.shares.set_share(grid, 0.52);
    middle.shares.set_share(inspector, 0.26);
    let middle = tiles.insert_container(middle);
    let bottom = tiles.insert_tab_tile(bottom);
    let mut root = Linear::new(LinearDir::Vertical, vec![middle, bottom]);
    root.shares.set_share(middle, 0.7);
    root.shares.set_share(bottom, 0.3);
    let root = tiles.insert_container(root);
    Tree::new(egui::Id::unique("megascope dock"), root, tiles)
}

/// A stored layout, if it holds every panel once (a layout saved by a build with other
/// panels is not trusted).
pub fn checked(tree: Tree<Pane>) -> Option<Tree<Pane>> {
    let mut seen: Vec<Pane> = tree
        .tiles
        .tiles()
        .filter_map(|t| match t {
            Tile::Pane(p) => Some(*p),
            _ => None,
        })
        .collect();
    seen.sort_by_key(|p| Pane::ALL.iter().position(|q| q == p));
    (seen == Pane::ALL && tree.root().is_some()).then_some(tree)
}

/// Brings `pane` to the front of its tab group and makes it visible.
pub fn show(tree: &mut Tree<Pane>, pane: Pane) {
    if let Some(id) = tree.tiles.find_pane(&pane) {
        tree.tiles.set_visible(id, true);
        tree.make_active(|tile_id, _| tile_id == id);
    }
}

/// Draws the panes; what they ask for goes to the app's command queue.
pub struct Panes<'a> {
    pub app: &'a mut MegascopeApp,
    pub render: Option<&'a eframe::egui_wgpu::RenderState>,
}

impl egui_tiles::Behavior<Pane> for Panes<'_> {
    fn pane_ui(&mut self, ui: &mut egui::Ui, _tile_id: TileId, pane: &mut Pane) -> UiResponse {
        let app = &mut *self.app;
        egui::Frame::new()
            .inner_margin(egui::Margin::same(crate::ui::theme::PANEL_PADDING))
            .show(ui, |ui| match pane {
                Pane::Grid => app.grid_pane(ui, self.render),
                other => {
                    egui::ScrollArea::both()
                        .id_salt(other.title())
                        .auto_shrink([false, false])
                        .show(ui, |ui| app.pane_ui(ui, *other));
                }
            });
        UiResponse::None
    }

    fn tab_title_for_pane(&mut self, pane: &Pane) -> egui::WidgetText {
        match pane {
            Pane::Diagnostics => format!(
                "Diagnostics ({})",
                self.app.debugger.diagnostics_shown().len()
            )
            .into(),
            Pane::Breakpoints => {
                format!("Breakpoints ({})", self.app.debugger.breakpoints().len()).into()
            }
            p => p.title().into(),
        }
    }

    fn simplification_options(&self) -> egui_tiles::SimplificationOptions {
        egui_tiles::SimplificationOptions {
            all_panes_must_have_tabs: true,
            ..Default::default()
        }
    }

    fn is_tab_closable(&self, _tiles: &Tiles<Pane>, _tile_id: TileId) -> bool {
        // every panel stays reachable: rearrange them, never lose one
        false
    }

    fn tab_bar_height(&self, _style: &egui::Style) -> f32 {
        crate::ui::theme::TAB_BAR_HEIGHT
    }

    fn gap_width(&self, _style: &egui::Style) -> f32 {
        crate::ui::theme::PANEL_GAP
    }
}

/// A container's children, for tests.
#[cfg(test)]
fn children(tree: &Tree<Pane>, id: TileId) -> Vec<TileId> {
    use egui_tiles::Container;
    match tree.tiles.get(id) {
        Some(Tile::Container(Container::Linear(l))) => l.children.clone(),
        Some(Tile::Container(Container::Tabs(t))) => t.children.clone(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_layout_holds_every_panel_once_and_survives_a_round_trip() {
        let tree = default_layout();
        let root = tree.root().unwrap();
        assert_eq!(children(&tree, root).len(), 2, "main row and bottom tabs");
        let text = ron::to_string(&tree).unwrap();
        let back: Tree<Pane> = ron::from_str(&text).unwrap();
        assert!(checked(back).is_some());
    }

    #[test]
    fn a_stored_layout_missing_a_panel_is_not_trusted() {
        let partial = Tree::new_tabs(
            egui::Id::unique("megascope dock"),
            vec![Pane::Grid, Pane::Publish],
        );
        assert!(checked(partial).is_none());
    }

    #[test]
    fn showing_a_pane_activates_its_tab() {
        let mut tree = default_layout();
        show(&mut tree, Pane::Timeline);
        let id = tree.tiles.find_pane(&Pane::Timeline).unwrap();
        assert!(tree.active_tiles().contains(&id));
        let plots = tree.tiles.find_pane(&Pane::Plots).unwrap();
        assert!(!tree.active_tiles().contains(&plots));
    }
}
