// The ring grid: one cell per slot, coloured straight from the ring storage buffer, so a
// million slots draw without a readback or an egui shape per slot. Drawn by an egui_wgpu
// paint callback into the grid's rect. Layout math mirrors src/ui/grid_layout.rs.

struct Grid {
    origin: vec2<f32>,   // the grid rect's top-left, framebuffer pixels
    size: vec2<f32>,     // the grid rect's size, pixels
    pan: vec2<f32>,      // content offset at the rect's top-left, pixels
    cell: f32,           // cell size, pixels
    gap: f32,            // gap between cells, pixels (0 when cells are small)
    columns: u32,
    slot_count: u32,
    mode: u32,           // 0 status, 1 opcode, 2 tenant, 3 priority partition
    selected: u32,       // 0xFFFFFFFF: none
    hovered: u32,
    serial: u32,         // highlight slots whose changed word equals this (0: none)
    flags: u32,          // bit 0: highlight changes; bit 1: output is sRGB (convert)
    _pad: u32,
    offsets_lo: vec4<u32>, // priority offsets 0..3
    offsets_hi: vec4<u32>, // priority offsets 4..5, then padding
};

struct Palette {
    status: array<vec4<f32>, 9>,
    opcode: array<vec4<f32>, 14>,
    tenant: array<vec4<f32>, 12>,
    priority: array<vec4<f32>, 6>,
    background: vec4<f32>,
    gap: vec4<f32>,
    changed: vec4<f32>,
    selected: vec4<f32>,
};

@group(0) @binding(0) var<uniform> grid: Grid;
@group(0) @binding(1) var<uniform> palette: Palette;
@group(0) @binding(2) var<storage, read> ring: array<u32>;
@group(0) @binding(3) var<storage, read> changed: array<u32>;

@vertex
fn vs_main(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    // one triangle covering the viewport (the callback's rect)
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return vec4<f32>(uv * 2.0 - 1.0, 0.0, 1.0);
}

fn word(i: u32) -> u32 {
    if (i < arrayLength(&ring)) {
        return ring[i];
    }
    return 0u;
}

fn status_index(s: u32) -> u32 {
    let st = word(s * 16u);
    return select(8u, st, st < 8u);
}

// How much a status matters when several slots share one pixel: the rarest and most
// alarming wins, so a single stuck or faulted slot among a million stays visible.
fn importance(st: u32) -> u32 {
    switch st {
        case 8u: { return 9u; }  // invalid
        case 7u: { return 8u; }  // FAULT
        case 2u: { return 7u; }  // CLAIMED
        case 1u: { return 6u; }  // PUBLISHED
        case 4u: { return 5u; }  // WAIT_IO
        case 5u: { return 4u; }  // YIELD
        case 6u: { return 3u; }  // REQUEUE
        case 3u: { return 2u; }  // DONE
        default: { return 0u; }  // EMPTY
    }
}

fn opcode_index(op: u32) -> u32 {
    if (op <= 7u) { return op; }
    if (op == 0xFFFDu) { return 8u; }
    if (op == 0xFFFEu) { return 9u; }
    if (op == 0x80000001u) { return 10u; }
    if (op == 0xFFFFFFFFu) { return 11u; }
    let system = (op & 0x80000000u) != 0u || (op >= 0xFFF0u && op <= 0xFFFFu);
    return select(12u, 13u, system);
}

fn offset(p: u32) -> u32 {
    if (p < 4u) { return grid.offsets_lo[p]; }
    return grid.offsets_hi[p - 4u];
}

fn partition_of(s: u32) -> u32 {
    for (var p = 0u; p < 5u; p++) {
        if (offset(p) <= s && s < offset(p + 1u)) { return p; }
    }
    return 5u;
}

fn slot_colour(s: u32) -> vec4<f32> {
    let st = status_index(s);
    switch grid.mode {
        case 1u: {
            if (st == 0u) { return palette.status[0]; }
            return palette.opcode[opcode_index(word(s * 16u + 1u))];
        }
        case 2u: {
            if (st == 0u) { return palette.status[0]; }
            return palette.tenant[word(s * 16u + 2u) % 12u];
        }
        case 3u: {
            return palette.priority[partition_of(s)];
        }
        default: { return palette.status[st]; }
    }
}

fn to_output(c: vec4<f32>) -> vec4<f32> {
    if ((grid.flags & 2u) != 0u) {
        // palette colours are sRGB-encoded; an sRGB target expects linear values
        let lo = c.rgb / 12.92;
        let hi = pow((c.rgb + 0.055) / 1.055, vec3<f32>(2.4));
        return vec4<f32>(select(hi, lo, c.rgb <= vec3<f32>(0.04045)), c.a);
    }
    return c;
}

@fragment
fn fs_main(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let local = pos.xy - grid.origin + grid.pan;
    if (local.x < 0.0 || local.y < 0.0) {
        return to_output(palette.background);
    }
    let cols = grid.columns;
    if (grid.cell >= 1.0) {
        let cx = u32(floor(local.x / grid.cell));
        let cy = u32(floor(local.y / grid.cell));
        if (cx >= cols) { return to_output(palette.background); }
        let s = cy * cols + cx;
        if (s >= grid.slot_count || cy > 0xFFFFu) { return to_output(palette.background); }
        let within = local - vec2<f32>(f32(cx), f32(cy)) * grid.cell;
        if (grid.gap > 0.0 && (within.x < grid.gap || within.y < grid.gap)) {
            return to_output(palette.gap);
        }
        var c = slot_colour(s);
        let edge = min(min(within.x, within.y), min(grid.cell - within.x, grid.cell - within.y));
        let ring_w = max(1.0, grid.cell * 0.07);
        if ((grid.flags & 1u) != 0u && grid.serial != 0u && s < arrayLength(&changed) && changed[s] == grid.serial) {
            // changed by the last dispatch: a thin bright border and a slight lift
            if (grid.cell >= 6.0) {
                c = mix(c, palette.changed, 0.12);
                if (edge < ring_w + grid.gap) { c = mix(c, palette.changed, 0.8); }
            } else {
                // too small for a border: lift the whole cell a little
                c = mix(c, palette.changed, 0.3);
            }
        }
        if (s == grid.hovered) {
            c = mix(c, vec4<f32>(1.0, 1.0, 1.0, 1.0), 0.3);
        }
        if (s == grid.selected && edge < max(2.0, grid.cell * 0.15) + grid.gap) {
            c = palette.selected;
        }
        return to_output(c);
    }
    // Cells smaller than a pixel: look at every slot the pixel covers (at most 16 × 16) and
    // show the most important one.
    let c0 = u32(floor(local.x / grid.cell));
    let r0 = u32(floor(local.y / grid.cell));
    let c1 = min(u32(floor((local.x + 1.0) / grid.cell)), c0 + 15u);
    let r1 = min(u32(floor((local.y + 1.0) / grid.cell)), r0 + 15u);
    var best = 0xFFFFFFFFu;
    var best_rank = 0u;
    var any_changed = false;
    var any_selected = false;
    for (var r = r0; r <= r1; r++) {
        for (var cc = c0; cc <= c1; cc++) {
            if (cc >= cols) { continue; }
            let s = r * cols + cc;
            if (s >= grid.slot_count) { continue; }
            let rank = importance(status_index(s)) + 1u;
            if (rank > best_rank) { best_rank = rank; best = s; }
            if (grid.serial != 0u && s < arrayLength(&changed) && changed[s] == grid.serial) { any_changed = true; }
            if (s == grid.selected) { any_selected = true; }
        }
    }
    if (best == 0xFFFFFFFFu) {
        return to_output(palette.background);
    }
    var c = slot_colour(best);
    if ((grid.flags & 1u) != 0u && any_changed) { c = mix(c, palette.changed, 0.3); }
    if (any_selected) { c = palette.selected; }
    return to_output(c);
}
