// The ring grid's colour pass: one invocation per cell turns the slot's words into its
// colour in a texture of columns × rows texels, so the fragment stage (ring_grid.wgsl) does
// one texture load per pixel instead of reading the ring and decoding it per pixel. It runs
// only when the ring, the colour mode or the highlighted dispatch changed.
//
// The colour mode and the highlight switch are pipeline constants: a software rasterizer
// (lavapipe) runs every side of a branch under a lane mask, so a runtime switch would pay
// for all four colourings on every cell.
override MODE: u32 = 0u;         // 0 status, 1 opcode, 2 tenant, 3 priority partition
override HIGHLIGHT: bool = true; // mark cells the highlighted dispatch changed

@group(0) @binding(2) var<storage, read> ring: array<u32>;
@group(0) @binding(3) var<storage, read> changed: array<u32>;
@group(0) @binding(4) var cells: texture_storage_2d<rgba8unorm, write>;

fn word(i: u32) -> u32 {
    if (i < arrayLength(&ring)) {
        return ring[i];
    }
    return 0u;
}

fn status_index(s: u32) -> u32 {
    let st = word(s * grid.ring_stride);
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

fn slot_colour(s: u32, st: u32) -> vec4<f32> {
    switch MODE {
        case 1u: {
            if (st == 0u) { return palette.status[0]; }
            return palette.opcode[opcode_index(word(s * grid.ring_stride + 1u))];
        }
        case 2u: {
            if (st == 0u) { return palette.status[0]; }
            return palette.tenant[word(s * grid.ring_stride + 2u) % 12u];
        }
        case 3u: {
            return palette.priority[partition_of(s)];
        }
        default: { return palette.status[st]; }
    }
}

@compute @workgroup_size(8, 8)
fn cs_main(@builtin(global_invocation_id) id: vec3<u32>) {
    let dims = textureDimensions(cells);
    if (id.x >= dims.x || id.y >= dims.y) {
        return;
    }
    let s = id.y * grid.columns + id.x;
    var colour = vec4<f32>(0.0);
    var cell = 0u;
    if (id.x < grid.columns && s < grid.slot_count) {
        let st = status_index(s);
        colour = slot_colour(s, st);
        cell = CELL_SLOT | importance(st);
        if (HIGHLIGHT && grid.serial != 0u && s < arrayLength(&changed) && changed[s] == grid.serial) {
            cell |= CELL_CHANGED;
            // small cells (no border, see ring_grid.wgsl) show a change as a lift
            if (grid.cell >= 1.0 && grid.cell < 6.0) {
                colour = mix(colour, palette.changed, 0.3);
            }
        }
    }
    textureStore(cells, vec2<i32>(id.xy), vec4<f32>(colour.rgb, f32(cell) / 255.0));
}
