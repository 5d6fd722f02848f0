// Declarations shared by the ring grid's two stages (grid_colour.wgsl, ring_grid.wgsl);
// src/ui/grid_render.rs puts this in front of each. Layout math mirrors
// src/ui/grid_layout.rs: slot = row × columns + column.

struct Grid {
    origin: vec2<f32>,   // the grid rect's top-left, framebuffer pixels
    size: vec2<f32>,     // the grid rect's size, pixels
    pan: vec2<f32>,      // content offset at the rect's top-left, pixels
    cell: f32,           // cell size, pixels
    gap: f32,            // gap between cells, pixels (0 when cells are small)
    columns: u32,
    slot_count: u32,
    mode: u32,           // unused by the shaders: the colour pass's MODE constant
    selected: u32,       // 0xFFFFFFFF: none
    hovered: u32,
    serial: u32,         // highlight slots whose changed word equals this (0: none)
    flags: u32,          // unused by the shaders: the colour pass's HIGHLIGHT constant
    ring_stride: u32,    // words per slot in the bound ring: 16 (the ring), 3 (the host copy)
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

// The cell texture's alpha channel, as a byte: what the colour pass knows of the slot
// beyond its colour.
const CELL_SLOT: u32 = 128u;    // a slot (clear: past the last slot of the last row)
const CELL_CHANGED: u32 = 16u;  // changed by the highlighted dispatch
const CELL_RANK: u32 = 15u;     // importance of its status (see colour.wgsl)
