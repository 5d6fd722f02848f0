// megascope's megakernel: one pass of vyre's resident megakernel (ABI.md §4, §5) over the
// four buffers, with every control and debug index guarded (out-of-range loads read 0,
// stores are dropped, and both are counted) instead of relying on robust access.
//
// One dispatch of `pass_direct` (once, persistent) or `pass_priority` is one pass: one
// iteration of every workgroup that has not returned. The host encodes passes back to back;
// `pass_gate.wgsl` runs between them and zeroes the indirect arguments once the dispatch has
// ended, so no host round trip is needed per pass. The constants (RS_*, DIAG_*, ABI words)
// are prepended by the host from `src/engine/gpu/run_state.rs`, the single source of the
// run-state layout.
//
// Style: hot paths nest `if`s instead of returning early. A software driver (lavapipe)
// runs lanes in SIMD groups with masks and lowers an early return into a predicate on every
// later statement; nesting lets a group skip a whole body with one test. `pass_direct` has no
// barrier on a software driver (barriers make lavapipe run each workgroup as coroutines,
// several times slower); on a GPU its one barrier is the workgroup tallies' (`agg_flush`,
// prepended by the host from src/engine/gpu/kernels.rs). The priority scan needs three.

override WG: u32 = 64u;
// The dispatch's workgroups one workgroup of this kernel runs (`pass_direct` only; 1 unless
// the workgroup tallies are on): a million slots then flush a quarter as many tallies, and
// the device serializes those per word.
override PER: u32 = 1u;
// Whether a claim writes the dispatch's serial into `changed` (the app's grid highlights
// those slots); off where nothing reads them (the bench, `megascope run`), which saves a
// store per claimed slot.
override MARK_CHANGED: bool = true;
// The handlers this build has, one HB_* bit each (`HANDLED` in run_state.rs): on a software
// driver the host scans the opcodes it uploads (the kernels never write one) and builds only
// the handlers they need, since lavapipe runs every branch, masked, for every lane — the
// inner-op loop's second copy of the handlers alone was about half the kernel's time there.
// A ring with a PACKED_SLOT gets them all (its inner opcodes are in its arguments). A GPU
// keeps every handler.
override OPS: u32 = 0xFFFFFFFFu;

fn has(handler: u32) -> bool {
    return (OPS & handler) != 0u;
}

// struct Params: generated from src/engine/gpu/run_state.rs (shader_source)

@group(0) @binding(0) var<storage, read_write> control: array<atomic<u32>>;
@group(0) @binding(1) var<storage, read_write> ring: array<atomic<u32>>;
@group(0) @binding(2) var<storage, read_write> debug_log: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> run: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> changed: array<u32>;
@group(0) @binding(5) var<uniform> params: Params;
// The same ring as `ring`, read without atomics: the kernels write nothing in the ring but
// status words, so a slot's opcode, tenant and arguments cannot change during a dispatch. A
// software driver (lavapipe) runs an atomic load lane by lane, a plain load as a gather.
@group(0) @binding(8) var<storage, read_write> ring_words: array<u32>;

// priority scan: claims per level in this workgroup (wgpu zeroes workgroup memory)
var<workgroup> wg_levels: array<atomic<u32>, 5>;

// ---- diagnostics ---------------------------------------------------------------------

// Diagnostics are counted in two steps. `note` (called wherever something is odd) only adds
// to this lane's private tally of the kind, keeping the first slot, word and extra value the
// lane saw for it; `flush_notes`, once at the end of the lane, adds each non-zero tally to
// the run-state record. So the atomics of a record are inlined once, not at each of the
// dozens of call sites: on a software driver (lavapipe) every inlined copy runs, masked, for
// every lane, and the copies cost several times the rest of the kernel.
var<private> pend_lo: array<u32, DIAG_KINDS>;
var<private> pend_hi: array<u32, DIAG_KINDS>;
var<private> pend_slot: array<u32, DIAG_KINDS>;
var<private> pend_word: array<u32, DIAG_KINDS>;
var<private> pend_extra: array<u32, DIAG_KINDS>;
// bit k: kind k has a non-zero tally
var<private> pend_kinds: u32;
// Where the lane is in the CPU engine's lockstep order, for the race analysis' keyed
// diagnostics (`race_keyed`): its workgroup and lane, the step of the slot's handler chain
// (0..4 the claim, at the priority level it was made at — 0 in the direct variants; STEP_OP
// the slot's op; STEP_OP + 1 + 2i a packed op i's argument check, STEP_OP + 2 + 2i the op
// itself; STEP_PACKED_COUNT the packed count check), and the level of the lane's claim
// (which, with the lane, names its slot).
var<private> note_group: u32;
var<private> note_lane: u32;
var<private> note_step: u32;
var<private> note_level: u32;

// Counts `count` occurrences of diagnostic `kind` (a 64-bit count); the lane's first
// occurrence of the kind keeps its slot, word and extra value.
fn note(kind: u32, slot: u32, word: u32, extra: u32, count: u32) {
    if (kind <= DK_OOB_STORE && count != 0u) {
        race_oob(kind, slot, word, count);
    }
    if (count != 0u) {
        race_keyed(kind, slot, word, extra, count);
        if ((pend_kinds & (1u << kind)) == 0u) {
            pend_kinds |= 1u << kind;
            pend_slot[kind] = slot;
            pend_word[kind] = word;
            pend_extra[kind] = extra;
        }
        let lo = pend_lo[kind] + count;
        if (lo < count) {
            pend_hi[kind] += 1u;
        }
        pend_lo[kind] = lo;
    }
}

// Adds the lane's tallies to the diagnostic records; the first lane to record a kind stores
// its slot, word, extra value and the pass.
fn flush_notes() {
    var m = pend_kinds;
    loop {
        if (m == 0u) {
            break;
        }
        let kind = firstTrailingBit(m);
        m &= m - 1u;
        let b = RS_DIAG + kind * DIAG_WORDS;
        let count = pend_lo[kind];
        let old = atomicAdd(&run[b + D_COUNT_LO], count);
        let carry = select(0u, 1u, old > 0xFFFFFFFFu - count);
        if (pend_hi[kind] + carry != 0u) {
            atomicAdd(&run[b + D_COUNT_HI], pend_hi[kind] + carry);
        }
        if (atomicExchange(&run[b + D_TAKEN], 1u) == 0u) {
            atomicStore(&run[b + D_SLOT], pend_slot[kind]);
            atomicStore(&run[b + D_WORD], pend_word[kind]);
            atomicStore(&run[b + D_EXTRA], pend_extra[kind]);
            atomicStore(&run[b + D_PASS], atomicLoad(&run[RS_PASSES]));
        }
    }
}

// ---- guarded control access (ABI.md §9) --------------------------------------------------
//
// Every in-range access also goes to the race analysis (`race_*`, from race_tracking.wgsl, or
// empty functions when analysis is off).

fn c_load(slot: u32, i: u32) -> u32 {
    var v = 0u;
    if (i < arrayLength(&control)) {
        v = atomicLoad(&control[i]);
        race_read(slot, i);
    } else {
        note(DK_OOB_LOAD, slot, i, 0u, 1u);
    }
    return v;
}

fn c_store(slot: u32, i: u32, v: u32) {
    if (i < arrayLength(&control)) {
        atomicExchange(&control[i], v);
        race_store(slot, i, v);
    } else {
        note(DK_OOB_STORE, slot, i, 0u, 1u);
    }
}

fn c_add(slot: u32, i: u32, v: u32) {
    if (i < arrayLength(&control)) {
        if (!agg_add(i, v)) {
            atomicAdd(&control[i], v);
        }
        race_add(slot, i, v);
    } else {
        note(DK_OOB_STORE, slot, i, 0u, 1u);
    }
}

// A strong compare-and-swap: success is `old == expected`, as in vyre (a spurious failure of
// the weak form is retried so the store happens whenever the value matched).
fn c_cas(slot: u32, i: u32, expected: u32, new_value: u32) -> u32 {
    var old = 0u;
    if (i < arrayLength(&control)) {
        loop {
            let r = atomicCompareExchangeWeak(&control[i], expected, new_value);
            old = r.old_value;
            if (r.exchanged || r.old_value != expected) {
                break;
            }
        }
        race_read(slot, i);
        if (old == expected) {
            race_store(slot, i, new_value);
        }
    } else {
        note(DK_OOB_LOAD, slot, i, 0u, 1u);
    }
    return old;
}

fn ring_cas(i: u32, expected: u32, new_value: u32) -> u32 {
    var old = 0u;
    loop {
        let r = atomicCompareExchangeWeak(&ring[i], expected, new_value);
        old = r.old_value;
        if (r.exchanged || r.old_value != expected) {
            break;
        }
    }
    return old;
}

fn tenant_mask(slot: u32, tenant: u32) -> u32 {
    let base = c_load(slot, TENANT_BASE);
    return c_load(slot, base + tenant);
}

// The direct passes' mask reads: a lane that runs several of the dispatch's workgroups
// (PER > 1) loads TENANT_BASE once, and a tenant's mask word again only for a different
// word. Every workgroup loads them on its own otherwise, and a million lanes loading the same
// two words keep one memory partition busy. A slot still records both reads (race analysis)
// and its own out-of-range note. Reusing a value is as if the lane's later workgroups had
// read it before its earlier ones ran — an order the device could have picked; within one
// workgroup every lane reads its mask before any runs its op, in the CPU engine's lockstep
// order too.
var<private> dm_loaded: bool;
var<private> dm_base: u32;
var<private> dm_word: u32;
var<private> dm_mask: u32;

fn direct_mask(slot: u32, tenant: u32) -> u32 {
    if (PER == 1u) {
        return tenant_mask(slot, tenant);
    }
    let len = arrayLength(&control);
    var mask = 0u;
    if (TENANT_BASE < len) {
        if (!dm_loaded) {
            dm_base = atomicLoad(&control[TENANT_BASE]);
            dm_word = 0xFFFFFFFFu;
            dm_loaded = true;
        }
        race_read(slot, TENANT_BASE);
        let i = dm_base + tenant;
        if (i < len) {
            if (dm_word != i) {
                dm_mask = atomicLoad(&control[i]);
                dm_word = i;
            }
            mask = dm_mask;
            race_read(slot, i);
        } else {
            note(DK_OOB_LOAD, slot, i, 0u, 1u);
        }
    } else {
        mask = tenant_mask(slot, tenant);
    }
    return mask;
}

fn note_if_aliased(slot: u32, tenant: u32) {
    if (tenant >= MAX_ENCODED_TENANT_MASKS) {
        let base = atomicLoad(&control[TENANT_BASE]);
        note(DK_ALIASED, slot, base + tenant, tenant, 1u);
    }
}

// ---- handlers (ABI.md §4.2) ----------------------------------------------------------------

// The number of loop steps i < count whose index (start + i) mod 2^32 is below len: the
// steps of [0, e0) and [s1, e1) (see `effective_steps` in the CPU engine).
struct Steps {
    e0: u32,
    s1: u32,
    e1: u32,
}

fn effective_steps(start: u32, count: u32, len: u32) -> Steps {
    var out = Steps(0u, 0u, 0u);
    if (start < len) {
        out.e0 = min(count, len - start);
    }
    if (start != 0u) {
        let wrap = 0u - start;
        if (wrap < count) {
            out.s1 = wrap;
            out.e1 = wrap + min(len, count - wrap);
        }
    }
    return out;
}

fn first_out_of_range(start: u32, len: u32) -> u32 {
    return select(len, start, start >= len);
}

fn copy_word(slot: u32, a0: u32, a1: u32, i: u32, len: u32) {
    let src = a0 + i;
    var v = 0u;
    if (src < len) {
        v = atomicLoad(&control[src]);
        race_read(slot, src);
    }
    atomicStore(&control[a1 + i], v);
    race_store(slot, a1 + i, v);
}

// MEMCPY: element by element, ascending; only steps whose destination is in range do
// anything, so a count of 2^32 - 1 never loops 2^32 times.
fn memcpy(slot: u32, a0: u32, a1: u32, count: u32) {
    let len = arrayLength(&control);
    let dst = effective_steps(a1, count, len);
    let dst_in = dst.e0 + (dst.e1 - dst.s1);
    if (count > dst_in) {
        note(DK_OOB_STORE, slot, first_out_of_range(a1, len), 0u, count - dst_in);
    }
    let src = effective_steps(a0, count, len);
    let src_in = src.e0 + (src.e1 - src.s1);
    if (count > src_in) {
        note(DK_OOB_LOAD, slot, first_out_of_range(a0, len), 0u, count - src_in);
    }
    for (var i = 0u; i < dst.e0; i++) {
        copy_word(slot, a0, a1, i, len);
    }
    for (var i = dst.s1; i < dst.e1; i++) {
        copy_word(slot, a0, a1, i, len);
    }
}

// PRINTF: reserve 4 words, write the record only below the compile-time bound of 257 words.
fn printf(slot: u32, a0: u32, a1: u32, a2: u32) {
    let base = atomicAdd(&debug_log[0], 4u) + 1u;
    atomicAdd(&run[RS_DEBUG_RECORDS], 1u);
    if (base <= DEBUG_LOG_WORDS - 4u) {
        atomicStore(&debug_log[base], a0);
        atomicStore(&debug_log[base + 1u], a1);
        atomicStore(&debug_log[base + 2u], a2);
        atomicStore(&debug_log[base + 3u], slot * SLOT_WORDS);
    } else {
        atomicAdd(&run[RS_DEBUG_DROPPED], 1u);
    }
}

// §4.2 steps 2 and 3 for one op (a top-level slot's or a packed inner op).
fn run_op(slot: u32, op: u32, a0: u32, a1: u32, a2: u32) {
    if (op < 32u) {
        c_add(slot, METRICS + op, 1u);
    }
    if (has(HB_STORE_U32) && op == OP_STORE_U32) {
        c_store(slot, a1, a0);
    } else if (has(HB_ATOMIC_ADD) && op == OP_ATOMIC_ADD) {
        c_add(slot, a1, a0);
    } else if (has(HB_LOAD_U32) && op == OP_LOAD_U32) {
        let v = c_load(slot, a0);
        c_store(slot, OBSERVABLE + a1, v);
    } else if (has(HB_COMPARE_SWAP) && op == OP_COMPARE_SWAP) {
        let old = c_cas(slot, a0, a1, a2);
        c_store(slot, OBSERVABLE + a0, old);
    } else if (has(HB_MEMCPY) && op == OP_MEMCPY) {
        memcpy(slot, a0, a1, a2);
    } else if (has(HB_BATCH_FENCE) && op == OP_BATCH_FENCE) {
        c_add(slot, EPOCH, 1u);
        c_store(slot, OBSERVABLE, a1);
    } else if (has(HB_PRINTF) && op == OP_PRINTF) {
        printf(slot, a0, a1, a2);
    } else if (has(HB_SHUTDOWN) && op == OP_SHUTDOWN) {
        c_store(slot, SHUTDOWN, 1u);
        atomicStore(&run[RS_SHUTDOWN_RAN], 1u);
    } else if (op == OP_NOP || op == OP_PACKED_SLOT) {
    } else if (op == OP_DFA_STEP) {
        note(DK_DFA_STEP, slot, 0u, op, 1u);
    } else {
        note(DK_UNKNOWN, slot, 0u, op, 1u);
    }
}

fn arg_byte(b: u32, k: u32) -> u32 {
    let w = ring_words[b + W_ARGS + k / 4u];
    return (w >> (8u * (k % 4u))) & 0xFFu;
}

// §4.3: PACKED_SLOT inner ops.
fn run_packed(slot: u32) {
    let b = slot * SLOT_WORDS;
    let raw = arg_byte(b, 0u);
    let n = min(raw, PACKED_MAX_OPS);
    let meta_words = (2u + 2u * n + 3u) / 4u;
    for (var i = 0u; i < n; i++) {
        let op = arg_byte(b, 2u + 2u * i);
        let base = meta_words + arg_byte(b, 3u + 2u * i);
        note_step = STEP_OP + 1u + 2u * i;
        if (base + 3u > ARG_WORDS) {
            note(DK_PACKED_SKIPPED, slot, base, i, 1u);
            continue;
        }
        note_step = STEP_OP + 2u + 2u * i;
        let w = b + W_ARGS + base;
        run_op(slot, op, ring_words[w], ring_words[w + 1u], ring_words[w + 2u]);
    }
    note_step = STEP_PACKED_COUNT;
    if (raw > PACKED_MAX_OPS) {
        note(DK_PACKED_COUNT, slot, 0u, raw, 1u);
    }
}

// §4.2 for a claimed slot: handlers, packed inner ops, DONE_COUNT, status DONE. `counted`:
// add it to the executed count (a fused `once` pass needs no count: the host derives it from
// the slots it did not claim). `direct`: the lane owns the slot (no other lane touches its
// status this pass, so a plain store ends it), and its commutative adds may be tallied per
// workgroup (`agg_begin`, from the aggregation snippet) — DONE_COUNT always, as it is the
// slot's last control access.
fn execute(slot: u32, counted: bool, direct: bool) {
    let b = slot * SLOT_WORDS;
    let op = ring_words[b + W_OPCODE];
    let a1 = ring_words[b + W_ARGS + 1u];
    if (direct) {
        agg_begin(op, a1);
    }
    note_step = STEP_OP;
    run_op(slot, op, ring_words[b + W_ARGS], a1, ring_words[b + W_ARGS + 2u]);
    if (has(HB_PACKED_SLOT) && op == OP_PACKED_SLOT) {
        run_packed(slot);
    }
    if (direct) {
        agg_begin(OP_NOP, 0u);
    }
    c_add(slot, DONE_COUNT, 1u);
    if (direct) {
        ring_words[b + W_STATUS] = ST_DONE;
    } else {
        atomicStore(&ring[b + W_STATUS], ST_DONE);
    }
    if (counted) {
        if (direct && AGG_TALLIES) {
            agg_claim();
        } else {
            atomicAdd(&run[RS_EXECUTED + slot % SHARDS], 1u);
        }
    }
}

// Whether workgroup g still runs this pass: not returned earlier in the dispatch and, when
// `checks_shutdown`, SHUTDOWN clear. Seeing SHUTDOWN set returns the workgroup for the rest
// of the dispatch (the first lane to see it counts the return). A returned flag holds the
// serial of the dispatch it returned in, so flags left by earlier dispatches need no clearing
// (the host clears them only when the serial wraps).
fn workgroup_live(g: u32, checks_shutdown: bool) -> bool {
    if (atomicLoad(&run[RS_RETURNED_FLAGS + g]) == params.serial) {
        return false;
    }
    if (checks_shutdown && atomicLoad(&control[SHUTDOWN]) != 0u) {
        if (atomicExchange(&run[RS_RETURNED_FLAGS + g], params.serial) != params.serial) {
            atomicAdd(&run[RS_RETURNED], 1u);
        }
        return false;
    }
    return true;
}

// ---- direct variants (ABI.md §5.2): lane i owns slot i ------------------------------------

// Lane i is the only lane that reads or writes slot i's status in a direct pass, so the
// claim needs no compare-and-swap: PUBLISHED with a non-zero mask is claimed, and the status
// goes straight to DONE (CLAIMED is never observable in between — the kernels write nothing
// else in the ring and nothing reads it during the pass).
fn direct_lane(slot: u32) -> bool {
    var claimed = false;
    let b = slot * SLOT_WORDS;
    if (ring_words[b + W_STATUS] == ST_PUBLISHED) {
        let tenant = ring_words[b + W_TENANT];
        if (direct_mask(slot, tenant) != 0u) {
            note_if_aliased(slot, tenant);
            // a lane that claims has read SHUTDOWN first (when its variant checks it)
            if (params.checks_shutdown != 0u) {
                race_read(slot, SHUTDOWN);
            }
            if (MARK_CHANGED) {
                changed[slot] = params.serial;
            }
            execute(slot, params.looping != 0u, true);
            claimed = true;
        }
    }
    return claimed;
}

// One pass of a workgroup of the direct variants. Each lane checks the workgroup's returned
// flag and (looping variants, or `once` with the check) SHUTDOWN itself: no barrier. On a
// race-free workload the lanes of a workgroup agree, as SHUTDOWN only changes when nothing
// else runs.
//
// `once` runs as this kernel alone (`RunPlan::fused_once`): no gate and no status histogram
// after it. Lane i is the only writer of slot i's status, so once it is done the slot's
// final status is known: a lane that did not claim counts its slot's status here, sharded
// by workgroup so a ring of unclaimable slots does not send every lane to one word, and a
// claiming lane counts nothing at all — every other slot was claimed, executed and ended
// DONE, which is how the host finishes the header (claims = slots - counted). So a claim
// costs no atomic beyond the ABI's own.
@compute @workgroup_size(WG)
fn pass_direct(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    // this workgroup runs PER of the dispatch's workgroups one after the other (each keeps
    // its own id: returned flags, histogram shards and the race analysis' order see no
    // difference), so their tallies reach the device as one flush
    let first = (wid.x + wid.y * nwg.x) * PER;
    agg_enter_direct();
    if (first < params.groups) {
        // (a bound the compiler cannot know keeps it from copying the body PER times)
        let end = min(first + PER, params.groups);
        for (var g = first; g < end; g++) {
            direct_group(g, lid);
        }
        flush_notes();
        // every lane of the workgroup (first is uniform): the tallied adds reach control
        agg_flush(lid, first);
    }
}

// Lane `lid` of workgroup g in one direct pass.
fn direct_group(g: u32, lid: u32) {
    note_group = g;
    note_lane = lid;
    let slot = g * WG + lid;
    var claimed = false;
    if (workgroup_live(g, params.checks_shutdown != 0u)) {
        claimed = direct_lane(slot);
        // (with the workgroup tallies, the claims of a looping pass are counted in
        // `execute` and added once for the workgroup by `agg_flush`)
        if (claimed && params.looping != 0u && !AGG_TALLIES) {
            atomicAdd(&run[RS_PASS_CLAIMS + g % SHARDS], 1u);
        }
    }
    if (params.looping == 0u && !claimed) {
        let st = ring_words[slot * SLOT_WORDS + W_STATUS];
        atomicAdd(&run[RS_HIST_SHARDS + min(st, 8u) * SHARDS + g % SHARDS], 1u);
    }
}

// ---- priority variant (ABI.md §5.4) -----------------------------------------------------

struct Claim {
    won: bool,
    slot: u32,
    tenant: u32,
    level: u32,
}

// Probes slot i: schedulable (PUBLISHED, YIELD, REQUEUE) with a non-zero mask, then CAS from
// the observed status to CLAIMED.
fn try_claim(i: u32, lane: u32) -> Claim {
    race_probe(i, lane);
    let b = i * SLOT_WORDS;
    let st = atomicLoad(&ring[b + W_STATUS]);
    let tenant = ring_words[b + W_TENANT];
    let mask = tenant_mask(i, tenant);
    let schedulable = st == ST_PUBLISHED || st == ST_YIELD || st == ST_REQUEUE;
    if (!schedulable || mask == 0u) {
        return Claim(false, 0u, 0u, 0u);
    }
    if (ring_cas(b + W_STATUS, st, ST_CLAIMED) != st) {
        return Claim(false, 0u, 0u, 0u);
    }
    note_if_aliased(i, tenant);
    if (MARK_CHANGED) {
        changed[i] = params.serial;
    }
    return Claim(true, i, tenant, 0u);
}

// A winner's commutative counter updates: tenant and priority fairness. (The starvation
// counter is updated in `pass_priority`, between barriers.)
fn winner_fairness(c: Claim) {
    c_add(c.slot, TENANT_FAIRNESS + c.tenant % 32u, 1u);
    c_add(c.slot, PRIORITY_FAIRNESS + c.level, 1u);
    atomicAdd(&wg_levels[c.level], 1u);
}

// The slot lane `lm` probes in round k of partition [start, start + len) with stride s.
fn probe_slot(start: u32, len: u32, lm: u32, k: u32, s: u32) -> u32 {
    return start + (lm + k * s) % len;
}

// Probe rounds of one partition in ascending round order, stopping at the first claim.
// Normal partitions take one round; garbage offsets can make `probes` ~2^32 / s, so past 64
// rounds only the rounds that land below n are visited (as `probe_hits` in the CPU engine):
// for every round but the last the probed slot is start + lm + k*s (mod 2^32), which climbs
// by s and falls below n once per wrap of 2^32.
fn probe_partition(start: u32, len: u32, probes: u32, lm: u32, s: u32, n: u32) -> Claim {
    if (probes <= 64u) {
        for (var k = 0u; k < probes; k++) {
            let i = probe_slot(start, len, lm, k, s);
            if (i < n) {
                let c = try_claim(i, lm);
                if (c.won) {
                    return c;
                }
            }
        }
        return Claim(false, 0u, 0u, 0u);
    }
    let last = probes - 1u;
    var k = 0u;
    var v = start + lm;
    loop {
        if (k >= last) {
            break;
        }
        if (v < n) {
            let c = try_claim(v, lm);
            if (c.won) {
                return c;
            }
        }
        // rounds until v wraps past 2^32: ceil((2^32 - v) / s) = (~v) / s + 1
        let q = (~v) / s;
        if (q >= last - k - 1u) {
            break;
        }
        k += q + 1u;
        v += (q + 1u) * s;
    }
    let i = probe_slot(start, len, lm, last, s);
    if (i < n) {
        return try_claim(i, lm);
    }
    return Claim(false, 0u, 0u, 0u);
}

// One iteration of the scan for one lane: levels 0 to 4 (0 and 1 skipped when starving), the
// first claim wins. Counter updates are left to the caller.
fn priority_scan(lane: u32, starving: bool) -> Claim {
    let n = params.n;
    let s = n;
    var claim = Claim(false, 0u, 0u, 0u);
    for (var p = 0u; p < 5u; p++) {
        if (!(starving && p <= 1u) && !claim.won) {
            let start = c_load(SCHEDULER, PRIORITY_OFFSETS + p);
            let end = c_load(SCHEDULER, PRIORITY_OFFSETS + p + 1u);
            let len = end - start;
            let probes = (len + s - 1u) / s;
            let lm = lane % s;
            if (len != 0u && probes != 0u && lm < len) {
                note_step = p;
                note_level = p;
                claim = probe_partition(start, len, probes, lm, s, n);
                claim.level = p;
            }
        }
    }
    return claim;
}

// One pass of a workgroup of the priority variant (ABI.md §5.4). The CPU engine's lockstep
// order is kept within a workgroup with three barriers: every lane reads SHUTDOWN and the
// starvation counter and scans before any lane writes (barrier 1); level-0/1 winners add to
// the starvation counter before level-2..4 winners reset it (barrier 2), as the level-by-level
// updates would leave it; the claimed slots execute after all updates (barrier 3). So a
// workgroup ends the same whatever order its lanes run in.
@compute @workgroup_size(WG)
fn pass_priority(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let g = wid.x + wid.y * nwg.x;
    if (g >= params.groups) {
        return;
    }
    note_group = g;
    note_lane = lid;
    var claim = Claim(false, 0u, 0u, 0u);
    if (workgroup_live(g, true)) {
        let starving = atomicLoad(&control[STARVATION]) >= STARVATION_THRESHOLD;
        race_threshold();
        claim = priority_scan(g * WG + lid, starving);
        if (claim.won) {
            winner_fairness(claim);
        }
    }
    workgroupBarrier();
    if (claim.won && claim.level <= 1u) {
        c_add(claim.slot, STARVATION, 1u);
    }
    workgroupBarrier();
    if (claim.won && claim.level >= 2u) {
        c_store(claim.slot, STARVATION, 0u);
    }
    workgroupBarrier();
    if (lid == 0u) {
        for (var p = 0u; p < 5u; p++) {
            let l = atomicLoad(&wg_levels[p]);
            if (l != 0u) {
                atomicAdd(&run[RS_LEVELS + p], l);
            }
        }
    }
    if (claim.won) {
        atomicAdd(&run[RS_PASS_CLAIMS + g % SHARDS], 1u);
        race_read(claim.slot, SHUTDOWN);
        // after the scan: re-read control[2] and the mask, execute only if still non-zero
        note_level = claim.level;
        if (tenant_mask(claim.slot, claim.tenant) != 0u) {
            execute(claim.slot, true, false);
        } else {
            note(DK_STUCK_CLAIMED, claim.slot, 0u, claim.tenant, 1u);
        }
    }
    flush_notes();
}
