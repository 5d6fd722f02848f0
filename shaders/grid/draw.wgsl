// The ring grid: one cell per slot, so a million slots draw without a readback or an egui
// shape per slot. Drawn by an egui_wgpu paint callback into the grid's rect, from the cell
// texture the colour pass (grid_colour.wgsl) wrote from the ring storage buffer.
//
// How much detail cells get, and whether the target is sRGB, are pipeline constants: a
// software rasterizer runs both sides of every branch, so each pipeline compiles only the
// path it draws.
override DETAIL: u32 = 1u;       // 0: cells under a pixel; 1: small cells; 2: gaps and borders
override SRGB_OUT: bool = false; // the target is sRGB: convert the sRGB palette to linear

@group(0) @binding(2) var cells: texture_2d<f32>;

@vertex
fn vs_main(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    // one triangle covering the viewport (the callback's rect)
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return vec4<f32>(uv * 2.0 - 1.0, 0.0, 1.0);
}

fn to_output(c: vec4<f32>) -> vec4<f32> {
    if (SRGB_OUT) {
        // palette colours are sRGB-encoded; an sRGB target expects linear values
        let lo = c.rgb / 12.92;
        let hi = pow((c.rgb + 0.055) / 1.055, vec3<f32>(2.4));
        return vec4<f32>(select(hi, lo, c.rgb <= vec3<f32>(0.04045)), c.a);
    }
    return c;
}

// The cell at column `cx`, row `cy`: its colour and its flag byte (0 outside the grid).
// Straight-line code, here and in fs_main's usual path: a software rasterizer pays for
// every branch on every pixel, so choices are selects.
struct Cell {
    colour: vec4<f32>,
    flags: u32,
};

fn cell_at(cx: u32, cy: u32) -> Cell {
    let dims = textureDimensions(cells);
    let inside = cx < dims.x && cy < dims.y;
    let t = textureLoad(cells, vec2<i32>(vec2<u32>(min(cx, dims.x - 1u), min(cy, dims.y - 1u))), 0);
    return Cell(vec4<f32>(t.rgb, 1.0), select(0u, u32(round(t.a * 255.0)), inside));
}

@fragment
fn fs_main(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let local = pos.xy - grid.origin + grid.pan;
    let outside = local.x < 0.0 || local.y < 0.0;
    if (DETAIL == 1u) {
        // small cells: no gap, no border; the colour pass already lifted changed cells
        let cx = u32(floor(local.x / grid.cell));
        let cy = u32(floor(local.y / grid.cell));
        let cell = cell_at(cx, cy);
        let s = cy * grid.columns + cx;
        var c = mix(cell.colour, vec4<f32>(1.0), select(0.0, 0.3, s == grid.hovered));
        c = select(c, palette.selected, s == grid.selected);
        let empty = outside || (cell.flags & CELL_SLOT) == 0u;
        return to_output(select(c, palette.background, empty));
    }
    if (DETAIL == 2u) {
        let cx = u32(floor(local.x / grid.cell));
        let cy = u32(floor(local.y / grid.cell));
        let cell = cell_at(cx, cy);
        let s = cy * grid.columns + cx;
        let within = local - vec2<f32>(f32(cx), f32(cy)) * grid.cell;
        let edge = min(min(within.x, within.y), min(grid.cell - within.x, grid.cell - within.y));
        // changed by the last dispatch: a thin bright border and a slight lift
        let border = edge < max(1.0, grid.cell * 0.07) + grid.gap;
        let changed = (cell.flags & CELL_CHANGED) != 0u;
        var c = mix(cell.colour, palette.changed, select(0.0, select(0.12, 0.824, border), changed));
        c = mix(c, vec4<f32>(1.0), select(0.0, 0.3, s == grid.hovered));
        let selected = s == grid.selected && edge < max(2.0, grid.cell * 0.15) + grid.gap;
        c = select(c, palette.selected, selected);
        let in_gap = grid.gap > 0.0 && (within.x < grid.gap || within.y < grid.gap);
        c = select(c, palette.gap, in_gap);
        let empty = outside || (cell.flags & CELL_SLOT) == 0u;
        return to_output(select(c, palette.background, empty));
    }
    if (outside) {
        return to_output(palette.background);
    }
    // Cells smaller than a pixel: look at every slot the pixel covers (at most 16 × 16) and
    // show the most important one.
    // The pixel spans [left, left + 1) (`pos` is its centre).
    let left = max(local - vec2<f32>(0.5), vec2<f32>(0.0));
    let c0 = u32(floor(left.x / grid.cell));
    let r0 = u32(floor(left.y / grid.cell));
    let c1 = clamp(u32(ceil((left.x + 1.0) / grid.cell)), c0 + 1u, c0 + 16u) - 1u;
    let r1 = clamp(u32(ceil((left.y + 1.0) / grid.cell)), r0 + 1u, r0 + 16u) - 1u;
    var best = vec4<f32>(0.0);
    var best_rank = 0u;
    var any_changed = false;
    var any_selected = false;
    for (var r = r0; r <= r1; r++) {
        for (var cc = c0; cc <= c1; cc++) {
            let cell = cell_at(cc, r);
            if ((cell.flags & CELL_SLOT) == 0u) { continue; }
            let rank = (cell.flags & CELL_RANK) + 1u;
            if (rank > best_rank) { best_rank = rank; best = cell.colour; }
            if ((cell.flags & CELL_CHANGED) != 0u) { any_changed = true; }
            if (r * grid.columns + cc == grid.selected) { any_selected = true; }
        }
    }
    if (best_rank == 0u) {
        return to_output(palette.background);
    }
    var c = best;
    if (any_changed) { c = mix(c, palette.changed, 0.3); }
    if (any_selected) { c = palette.selected; }
    return to_output(c);
}
