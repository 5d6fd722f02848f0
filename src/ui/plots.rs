//! The bottom plots (egui_plot), one series per line, over dispatches: partition offsets
//! per level, debug-log throughput, slot-status counts, claims per level. Long histories
//! are decimated to min/max pairs per bucket so spikes survive and 100,000 dispatches stay
//! smooth.

use egui::Color32;
use egui_plot::{Legend, Line, Plot, PlotPoints};

use crate::abi::opcode::Priority;
use crate::abi::status::SlotStatus;
use crate::debugger::history::DispatchSummary;
use crate::ui::grid::colours as palette;

/// Which plot is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PlotKind {
    #[default]
    Statuses,
    Offsets,
    DebugLog,
    Claims,
}

impl PlotKind {
    pub const ALL: [PlotKind; 4] = [
        PlotKind::Statuses,
        PlotKind::Offsets,
        PlotKind::DebugLog,
        PlotKind::Claims,
    ];
    pub fn name(self) -> &'static str {
        match self {
            PlotKind::Statuses => "slot statuses",
            PlotKind::Offsets => "partition offsets",
            PlotKind::DebugLog => "debug log",
            PlotKind::Claims => "claims per level",
        }
    }
}

/// Series this short also get a marker per dispatch.
const FEW_POINTS: usize = 32;

/// Points to draw at most per series (about two per horizontal pixel).
pub const MAX_POINTS: usize = 4000;

/// Reduces `ys` (one value per dispatch) to at most `max` points, keeping each bucket's
/// minimum and maximum in order so no spike disappears.
pub fn decimate(ys: &[f64], max: usize) -> Vec<[f64; 2]> {
    if ys.len() <= max || max < 4 {
        return ys.iter().enumerate().map(|(i, y)| [i as f64, *y]).collect();
    }
    let buckets = max / 2;
    let per = ys.len().div_ceil(buckets);
    let mut out = Vec::with_capacity(buckets * 2);
    for start in (0..ys.len()).step_by(per) {
        let end = (start + per).min(ys.len());
        let (mut lo, mut hi) = (start, start);
        for i in start..end {
            if ys[i] < ys[lo] {
                lo = i;
            }
            if ys[i] > ys[hi] {
                hi = i;
            }
        }
        let (a, b) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        out.push([a as f64, ys[a]]);
        if b != a {
            out.push([b as f64, ys[b]]);
        }
    }
    out
}

/// A line of one value per dispatch, the first being dispatch `x0` (the history keeps the
/// most recent dispatches only).
fn series<'a>(name: &str, colour: Color32, ys: Vec<f64>, x0: f64) -> Line<'a> {
    let mut points = decimate(&ys, MAX_POINTS);
    for p in &mut points {
        p[0] += x0;
    }
    Line::new(name.to_string(), PlotPoints::from(points)).color(colour)
}

/// The series of a plot: (name, colour, one value per dispatch).
pub fn plot_series(kind: PlotKind, h: &[DispatchSummary]) -> Vec<(String, Color32, Vec<f64>)> {
    match kind {
        PlotKind::Statuses => SlotStatus::NAMED
            .iter()
            .map(|s| {
                (
                    s.lower_name().to_string(),
                    palette::status_colour(*s),
                    h.iter()
                        .map(|d| d.status_counts.get(*s) as f64)
                        .collect::<Vec<f64>>(),
                )
            })
            .filter(|(_, _, ys)| ys.iter().any(|y| *y != 0.0))
            .collect(),
        PlotKind::Offsets => (0..6)
            .map(|i| {
                let name = Priority::from_level(i as u32)
                    .map(|p| p.name().to_string())
                    .unwrap_or_else(|| "sentinel".into());
                (
                    format!("{name} start"),
                    palette::PRIORITY[i.min(5)],
                    h.iter().map(|d| d.priority_offsets[i] as f64).collect(),
                )
            })
            .collect(),
        PlotKind::DebugLog => vec![
            (
                "records this dispatch".into(),
                crate::ui::theme::SERIES_YELLOW,
                h.iter().map(|d| d.debug_records as f64).collect(),
            ),
            (
                "dropped this dispatch".into(),
                crate::ui::theme::BAD,
                h.iter().map(|d| d.debug_dropped as f64).collect(),
            ),
            (
                "cumulative (cursor / 4)".into(),
                crate::ui::theme::SERIES_BLUE,
                h.iter().map(|d| d.debug_total as f64).collect(),
            ),
        ],
        PlotKind::Claims => Priority::ALL
            .iter()
            .map(|p| {
                (
                    p.name().to_string(),
                    palette::PRIORITY[*p as usize],
                    h.iter()
                        .map(|d| d.claims_per_level[*p as usize] as f64)
                        .collect(),
                )
            })
            .chain(std::iter::once((
                "all (claimed)".into(),
                Color32::WHITE,
                h.iter().map(|d| d.claimed as f64).collect(),
            )))
            .collect(),
    }
}

/// The plot panel.
#[derive(Debug, Default)]
pub struct Plots {
    pub kind: PlotKind,
    /// Where the plot was drawn last frame (for a PNG export), if it was.
    pub last_rect: Option<egui::Rect>,
}

impl Plots {
    pub fn ui(&mut self, ui: &mut egui::Ui, history: &[DispatchSummary]) {
        ui.horizontal(|ui| {
            for k in PlotKind::ALL {
                ui.selectable_value(&mut self.kind, k, k.name());
            }
            ui.label(
                egui::RichText::new(super::plural(
                    history.len() as u64,
                    "dispatch",
                    "dispatches",
                ))
                .weak(),
            );
        });
        let y_label = match self.kind {
            PlotKind::Statuses => "slots",
            PlotKind::Offsets => "slot index",
            PlotKind::DebugLog => "records",
            PlotKind::Claims => "claims",
        };
        if history.is_empty() {
            // an empty plot shows a meaningless default axis; say what will appear instead
            ui.centered_and_justified(|ui| {
                ui.weak(
                    "no dispatches yet: Step (Right arrow) or Run (Space) and the plot fills in",
                );
            });
            return;
        }
        let lines = plot_series(self.kind, history);
        let x0 = history.first().map_or(0, |d| d.index) as f64;
        let x1 = x0 + history.len().saturating_sub(1) as f64;
        let y_max = lines
            .iter()
            .flat_map(|(_, _, ys)| ys.iter().copied())
            .fold(0.0f64, f64::max);
        // No filled background, only its outline: the panel behind already has that colour,
        // and on a software rasterizer the fill was 40 % of all the pixels egui drew.
        let plot = Plot::new(("plot", self.kind as u8))
            // in the order the series are listed (CRITICAL first), not alphabetical
            .legend(Legend::default().follow_insertion_order(true))
            // dispatches are whole numbers: no tick at 2.5
            .x_axis_formatter(|mark, _| integer_tick(mark.value))
            .x_grid_spacer(egui_plot::uniform_grid_spacer(whole_steps))
            // one dispatch is a point, not an axis from -20 to 20
            .include_x(x0 - 0.5)
            .include_x(x1 + 0.5)
            .include_y(0.0)
            .include_y(y_max * 1.1 + 1.0)
            .x_axis_label("dispatch")
            .y_axis_label(y_label)
            .allow_scroll(false)
            .show_background(false)
            .show(ui, |p| {
                for (name, colour, ys) in lines {
                    let colour = legible(colour);
                    if ys.len() <= FEW_POINTS {
                        // a line through one point draws nothing: mark each dispatch
                        let pts: Vec<[f64; 2]> = ys
                            .iter()
                            .enumerate()
                            .map(|(i, y)| [x0 + i as f64, *y])
                            .collect();
                        p.points(
                            egui_plot::Points::new(name.clone(), PlotPoints::from(pts))
                                .color(colour)
                                .radius(3.0),
                        );
                    }
                    p.line(series(&name, colour, ys, x0));
                }
            });
        self.last_rect = Some(plot.response.rect);
        ui.painter().rect_stroke(
            plot.response.rect,
            2,
            ui.visuals().widgets.noninteractive.bg_stroke,
            egui::StrokeKind::Inside,
        );
    }
}

/// Grid steps for an axis of whole numbers: powers of ten, never below 1.
pub fn whole_steps(input: egui_plot::GridInput) -> [f64; 3] {
    let base = input.base_step_size.abs().max(1.0);
    let small = 10f64.powi(base.log10().ceil() as i32).max(1.0);
    [small, small * 10.0, small * 100.0]
}

/// An axis label for a whole number, nothing for a fraction.
pub fn integer_tick(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        String::new()
    }
}

/// The colour lightened until it reads on the dark plot background (the grid's EMPTY
/// colour, a near-black, drew an invisible "empty" series).
pub fn legible(c: Color32) -> Color32 {
    let lum = |c: Color32| 0.2126 * c.r() as f32 + 0.7152 * c.g() as f32 + 0.0722 * c.b() as f32;
    let mut c = c;
    while lum(c) < 110.0 {
        c = c.lerp_to_gamma(Color32::WHITE, 0.25);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_whole_dispatches_and_every_series_reads_on_dark() {
        assert_eq!(integer_tick(3.0), "3");
        assert_eq!(integer_tick(2.5), "");
        assert_eq!(integer_tick(-1.0), "-1");
        let steps = |b| {
            whole_steps(egui_plot::GridInput {
                bounds: (0.0, 10.0),
                base_step_size: b,
            })
        };
        assert_eq!(
            steps(0.03),
            [1.0, 10.0, 100.0],
            "no grid line between dispatches"
        );
        assert_eq!(steps(4.0), [10.0, 100.0, 1000.0]);
        let dark = palette::STATUS[0];
        let l = legible(dark);
        assert!(l.r() > dark.r() && l.g() > dark.g(), "{l:?}");
        // colours that already read are kept
        assert_eq!(legible(Color32::WHITE), Color32::WHITE);
        assert_eq!(legible(palette::STATUS[1]), palette::STATUS[1]);
    }

    #[test]
    fn decimation_keeps_extremes_and_bounds_points() {
        let mut ys: Vec<f64> = (0..100_000).map(|i| (i % 7) as f64).collect();
        ys[54_321] = 1000.0;
        let d = decimate(&ys, 1000);
        assert!(d.len() <= 1000, "{}", d.len());
        assert!(d.iter().any(|p| p[1] == 1000.0 && p[0] == 54_321.0));
        assert!(
            d.windows(2).all(|w| w[0][0] < w[1][0]),
            "x stays increasing"
        );
        assert_eq!(decimate(&[1.0, 2.0], 1000), vec![[0.0, 1.0], [1.0, 2.0]]);
    }
}
