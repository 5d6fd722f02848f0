// Ring scans on the device, so only a few words come back. `histogram` is the end-of-dispatch
// scan: the status
// histogram (eight named statuses and one bucket for every other value) and the waiting-slot
// diagnostics the CPU engine's end scan gives (stuck behind a zero tenant mask, outside every
// priority partition, abandoned by SHUTDOWN, starving, CLAIMED forever). Each of those keeps
// a count and the lowest slot; `finalize` then fills in the stuck tenant and its mask word.
// Runs through indirect arguments the pass gate arms when the dispatch ends (or directly
// when the host ends a dispatch early, or finds that a fused `once` pass left slots waiting). `gather_status` copies every slot's status word into
// a dense array: the kernels write nothing else in the ring, so a host copy that was equal
// before the dispatches needs only those words back (a sixteenth of the ring).

// struct Params: generated from src/engine/gpu/run_state.rs (shader_source)

// read_write: it shares a buffer with the run state (one usage per buffer in a dispatch)
@group(0) @binding(0) var<storage, read_write> control: array<u32>;
@group(0) @binding(1) var<storage, read> ring: array<u32>;
@group(0) @binding(2) var<storage, read_write> run: array<atomic<u32>>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<storage, read_write> statuses: array<u32>;

var<workgroup> hist: array<atomic<u32>, 9>;

fn c_word(i: u32) -> u32 {
    if (i < arrayLength(&control)) {
        return control[i];
    }
    return 0u;
}

fn note_min(kind: u32, slot: u32) {
    let b = RS_DIAG + kind * DIAG_WORDS;
    atomicAdd(&run[b + D_COUNT_LO], 1u);
    atomicMin(&run[b + D_SLOT], slot);
}

fn in_some_partition(s: u32) -> bool {
    for (var p = 0u; p < 5u; p++) {
        if (c_word(PRIORITY_OFFSETS + p) <= s && s < c_word(PRIORITY_OFFSETS + p + 1u)) {
            return true;
        }
    }
    return false;
}

@compute @workgroup_size(256)
fn histogram(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    if (lid < 9u) {
        atomicStore(&hist[lid], 0u);
    }
    workgroupBarrier();
    let s = (wid.x + wid.y * nwg.x) * 256u + lid;
    // a fused `once` pass counted the statuses; then only the waiting slots are scanned
    let counts = atomicLoad(&run[RS_HIST_MODE]) == HIST_COUNTS;
    if (s < params.n) {
        let st = ring[s * SLOT_WORDS + W_STATUS];
        if (counts) {
            atomicAdd(&hist[min(st, 8u)], 1u);
        }
        let priority = params.variant == VARIANT_PRIORITY;
        let waiting = st == ST_PUBLISHED || (priority && (st == ST_YIELD || st == ST_REQUEUE));
        if (waiting) {
            let tenant = ring[s * SLOT_WORDS + W_TENANT];
            let end = atomicLoad(&run[RS_END]);
            if (c_word(c_word(TENANT_BASE) + tenant) == 0u) {
                note_min(DK_STUCK_TENANT, s);
            } else if (priority && !in_some_partition(s)) {
                note_min(DK_UNSCHEDULED, s);
            } else if (atomicLoad(&run[RS_SHUTDOWN_RAN]) != 0u || end == END_SHUTDOWN) {
                note_min(DK_SHUTDOWN_WITH_WORK, s);
            } else if (params.looping != 0u
                && (end == END_PASS_BUDGET || atomicLoad(&run[RS_PASSES]) >= params.starvation_passes)) {
                note_min(DK_STARVATION, s);
            }
        } else if (st == ST_CLAIMED) {
            note_min(DK_CLAIMED_AT_END, s);
        }
    }
    workgroupBarrier();
    if (lid < 9u) {
        let c = atomicLoad(&hist[lid]);
        if (c != 0u) {
            atomicAdd(&run[RS_HIST + lid], c);
        }
    }
}

// Fills in the tenant and mask word of the lowest stuck slot.
@compute @workgroup_size(1)
fn finalize() {
    let b = RS_DIAG + DK_STUCK_TENANT * DIAG_WORDS;
    let slot = atomicLoad(&run[b + D_SLOT]);
    if (slot < params.n) {
        let tenant = ring[slot * SLOT_WORDS + W_TENANT];
        atomicStore(&run[b + D_EXTRA], tenant);
        atomicStore(&run[b + D_WORD], c_word(TENANT_BASE) + tenant);
    }
}

@compute @workgroup_size(256)
fn gather_status(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let s = (wid.x + wid.y * nwg.x) * 256u + lid;
    if (s < arrayLength(&statuses) && s < arrayLength(&ring) / SLOT_WORDS) {
        statuses[s] = ring[s * SLOT_WORDS + W_STATUS];
    }
}
