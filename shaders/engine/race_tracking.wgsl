// Race analysis on the device (the layout and why: src/engine/gpu/race_state.rs). Prepended
// to megakernel.wgsl only for the pipelines built with analysis on; with it off the same
// `race_*` functions are empty (`RACE_OFF` in src/engine/gpu/kernels.rs) and the kernel is
// the one without analysis, bindings included.
//
// For every in-range control access the kernel folds the slot into that word's summary:
// lowest and highest reader, storer, adder and changer, and the lowest and highest value
// stored. Minimums are kept as `atomicMax` of the inverted id, so every word starts at zero.
// Each update first loads the word and skips the atomic when it would change nothing, which
// keeps a million lanes reading TENANT_BASE or adding to DONE_COUNT from all writing one
// address.

@group(0) @binding(6) var<storage, read_write> race_words: array<atomic<u32>>;
@group(0) @binding(7) var<storage, read_write> race_log: array<u32>;

fn race_up(i: u32, v: u32) {
    if (v > atomicLoad(&race_words[i])) {
        atomicMax(&race_words[i], v);
    }
}

fn race_sum(w: u32) -> u32 {
    return RW_HEADER + arrayLength(&control) + w * SUM_WORDS;
}

fn race_role(w: u32, min_field: u32, slot: u32) {
    let b = race_sum(w);
    // with the workgroup tallies, the workgroup's extremes go up once, at its end
    if (!agg_role(b + min_field, slot)) {
        race_up(b + min_field, ~slot);
        race_up(b + min_field + 1u, slot);
    }
}

// A workgroup's lowest (inverted) and highest slot of the summary pair at `i`.
fn race_flush_role(i: u32, min_inverted: u32, max: u32) {
    race_up(i, min_inverted);
    race_up(i + 1u, max);
}

fn race_read(slot: u32, w: u32) {
    race_role(w, SUM_RMIN, slot);
}

fn race_add(slot: u32, w: u32, v: u32) {
    if (v != 0u) {
        // an add is a change too: the host merges adders into the changers, which saves a
        // second pair of atomics on the hottest words (DONE_COUNT, METRICS)
        race_role(w, SUM_AMIN, slot);
        if (w == STARVATION) {
            let old = atomicAdd(&race_words[RW_ADD_LO], v);
            if (old > 0xFFFFFFFFu - v) {
                atomicAdd(&race_words[RW_ADD_HI], 1u);
            }
        }
    }
}

fn race_store(slot: u32, w: u32, v: u32) {
    race_role(w, SUM_SMIN, slot);
    if (v != atomicLoad(&race_words[RW_HEADER + w])) {
        race_role(w, SUM_CMIN, slot);
    }
    // a store at or past a running extreme may be the one the host must name: log it
    let b = race_sum(w);
    let old_min = ~atomicMax(&race_words[b + SUM_VMIN], ~v);
    let old_max = atomicMax(&race_words[b + SUM_VMAX], v);
    if (v <= old_min || v >= old_max) {
        let i = atomicAdd(&race_words[RW_LOG_COUNT], 1u);
        if (i < arrayLength(&race_log) / LOG_RECORD_WORDS) {
            let r = i * LOG_RECORD_WORDS;
            race_log[r] = w;
            race_log[r + 1u] = slot;
            race_log[r + 2u] = v;
        }
    }
}

// The priority scan's `control[135] >= 16` test.
fn race_threshold() {
    if (atomicLoad(&race_words[RW_THRESHOLD]) == 0u) {
        atomicStore(&race_words[RW_THRESHOLD], 1u);
    }
}

// Lane `lane` probes slot `slot` (kept only when the partitions overlap).
fn race_probe(slot: u32, lane: u32) {
    if (params.race_probes != 0u) {
        let b = RW_HEADER + arrayLength(&control) * (1u + SUM_WORDS) + 2u * slot;
        race_up(b, ~lane);
        race_up(b + 1u, lane);
    }
}

// An out-of-range access by `slot` (`kind` DK_OOB_LOAD or DK_OOB_STORE, `count` of them): the
// slot's own count, and the first index and pass (a slot's accesses come in its lane's
// program order, so the first to count is the first it made).
fn race_oob(kind: u32, slot: u32, word: u32, count: u32) {
    if (slot < params.n) {
        let b = RW_HEADER + arrayLength(&control) * (1u + SUM_WORDS) + 2u * max(params.n, 1u)
            + slot * OOB_WORDS + kind * 3u;
        if (atomicAdd(&race_words[b], count) == 0u) {
            atomicStore(&race_words[b + 1u], word);
            atomicStore(&race_words[b + 2u], atomicLoad(&run[RS_PASSES]));
        }
    }
}

// Unknown opcodes, DFA_STEP, aliased tenants and clamped packed slots, listed per key as the
// CPU engine lists them (opcode, opcode, tenant, slot): a small open-addressing table per
// kind keeps, for each key, the first pass it was noted in, the lowest order of a note in
// that pass (workgroup, then the step of the slot's handler chain, then lane: the CPU's
// lockstep order; the lane's claim level below), the lowest slot in it, the word and the
// count. Passes are dispatches one
// after another, so "the first pass" settles before a later pass reads it. A full table is
// counted, and the host then falls back on one entry per kind.
fn race_keyed(kind: u32, slot: u32, word: u32, extra: u32, count: u32) {
    var table = 4u;
    var key = 0u;
    if (kind == DK_UNKNOWN) {
        table = 0u;
        key = extra;
    } else if (kind == DK_DFA_STEP) {
        table = 1u;
        key = extra;
    } else if (kind == DK_ALIASED) {
        table = 2u;
        key = extra;
    } else if (kind == DK_PACKED_SKIPPED || kind == DK_PACKED_COUNT) {
        table = 3u;
        key = slot + 1u;
    }
    if (table < 4u && key != 0u) {
        let base = RW_KEYED + table * KEYED_ENTRIES * KEYED_WORDS;
        var k = key % KEYED_ENTRIES;
        var probes = 0u;
        loop {
            let e = base + k * KEYED_WORDS;
            var cur = atomicLoad(&race_words[e]);
            if (cur == 0u) {
                let r = atomicCompareExchangeWeak(&race_words[e], 0u, key);
                cur = select(r.old_value, key, r.exchanged);
            }
            if (cur == key) {
                race_keyed_note(e, slot, word, extra, count);
                break;
            }
            if (cur != 0u) {
                probes += 1u;
                if (probes >= KEYED_ENTRIES) {
                    atomicAdd(&race_words[RW_KEYED_OVERFLOW], 1u);
                    break;
                }
                k = (k + 1u) % KEYED_ENTRIES;
            }
        }
    }
}

// The word and extra value go with the first note: a clamped packed slot's notes all come
// from its own lane in program order, so the first to lower the order is the first; an
// aliased tenant's word is the same for every lane of a race-free pass.
fn race_keyed_note(e: u32, slot: u32, word: u32, extra: u32, count: u32) {
    let this_pass = atomicLoad(&run[RS_PASSES]);
    // the first pass wins (kept inverted, like every minimum here)
    let before = atomicMax(&race_words[e + KE_PASS], ~this_pass);
    if (before <= ~this_pass) {
        // the level rides below the lane: it orders nothing (a lane claims one slot a pass)
        let order = ((note_group * KEYED_STEPS + note_step) * WG + note_lane) * 8u + note_level;
        let prev = atomicMax(&race_words[e + KE_ORDER], ~order);
        if (~order > prev) {
            atomicStore(&race_words[e + KE_WORD], word);
            atomicStore(&race_words[e + KE_EXTRA], extra);
        }
        race_up(e + KE_SLOT, ~slot);
    }
    let lo = atomicAdd(&race_words[e + KE_COUNT_LO], count);
    if (lo > 0xFFFFFFFFu - count) {
        atomicAdd(&race_words[e + KE_COUNT_HI], 1u);
    }
}
