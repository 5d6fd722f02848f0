//! The run-state buffer: the small device buffer one dispatch keeps its bookkeeping in (end
//! reason, pass count, claim/execute counters, the status histogram, diagnostic records and
//! one "returned" flag per workgroup), plus the indirect-arguments buffer and the uniform
//! parameters. This file is the single source of that layout: [`wgsl_constants`] turns it
//! (and the ABI words the kernels use) into WGSL `const`s prepended to every shader.
//!
//! Everything here is pure (no wgpu), so it is unit-tested on its own.

use crate::abi::control::{
    DONE_COUNT, EPOCH, METRICS, OBSERVABLE, PRIORITY_FAIRNESS, PRIORITY_OFFSETS, SHUTDOWN,
    STARVATION, STARVATION_THRESHOLD, TENANT_BASE, TENANT_FAIRNESS,
};
use crate::abi::layout::{
    ARG_WORDS, DEBUG_LOG_WORDS, MAX_ENCODED_TENANT_MASKS, SLOT_WORDS, W_ARGS, W_OPCODE, W_STATUS,
    W_TENANT,
};
use crate::abi::opcode::Opcode;
use crate::abi::slot::PACKED_MAX_OPS;
use crate::abi::status;
use crate::engine::race::SCHEDULER;
use crate::engine::{DispatchEnd, DispatchOptions, Variant};

// ---- header words -------------------------------------------------------------------------

/// End reason: [`END_RUNNING`] until the gate decides, then one of the `END_*` codes.
pub const RS_END: usize = 0;
/// Passes run so far (the gate counts them).
pub const RS_PASSES: usize = 1;
/// Claims of the whole dispatch (the gate adds each pass's claims).
pub const RS_CLAIMED: usize = 2;
/// Claims per priority level, 5 words.
pub const RS_LEVELS: usize = 3;
pub const RS_DEBUG_RECORDS: usize = 8;
pub const RS_DEBUG_DROPPED: usize = 9;
/// Non-zero once a SHUTDOWN op ran in this dispatch.
pub const RS_SHUTDOWN_RAN: usize = 10;
/// Workgroups that saw SHUTDOWN and returned.
pub const RS_RETURNED: usize = 11;
/// SHUTDOWN (control word 0) as the dispatch found it, copied before the first pass.
pub const RS_SHUTDOWN_AT_START: usize = 12;
/// Passes this dispatch may run.
pub const RS_ALLOWED: usize = 13;
/// Workgroups of a pass.
pub const RS_GROUPS: usize = 14;
/// 1 for the looping variants.
pub const RS_LOOPING: usize = 15;
/// The histogram's grid, which the gate copies into the indirect arguments at the end.
pub const RS_HIST_X: usize = 16;
pub const RS_HIST_Y: usize = 17;
/// Workgroup-passes that ran (a pass of every workgroup not yet returned): the priority
/// kernel's IO loop runs once in each, which is what `io_unserviced` counts on the CPU too.
pub const RS_LIVE_GROUP_PASSES: usize = 18;
/// How the status-histogram kernel runs: [`HIST_COUNTS`] counts every slot's status and
/// scans the waiting slots; [`HIST_DIAGNOSTICS_ONLY`] only scans (a fused `once` pass has
/// counted the statuses itself, see [`RS_HIST_SHARDS`]).
pub const RS_HIST_MODE: usize = 19;
pub const HIST_COUNTS: u32 = 0;
pub const HIST_DIAGNOSTICS_ONLY: u32 = 1;
/// The status histogram: 8 named statuses, then every other value.
pub const RS_HIST: usize = 20;
/// Buckets of the status histogram.
pub const HIST_BUCKETS: usize = 9;
/// Counters every claiming lane bumps are split over [`SHARDS`] words (by workgroup or
/// slot), so a million lanes do not all hit one address; the gate and the host sum them.
pub const SHARDS: usize = 32;
/// Claims of the pass in progress, sharded by workgroup (the gate sums and clears them).
pub const RS_PASS_CLAIMS: usize = 32;
/// Slots executed (DONE_COUNT increments), sharded by slot.
pub const RS_EXECUTED: usize = RS_PASS_CLAIMS + SHARDS;
/// Diagnostic records, [`DIAG_WORDS`] each, indexed by the `DK_*` kinds.
pub const RS_DIAG: usize = RS_EXECUTED + SHARDS;
/// Words of one diagnostic record.
pub const DIAG_WORDS: usize = 8;
/// Record fields: a 64-bit count, a taken flag (first lane wins), slot, word, an extra value
/// (opcode, tenant, …) and the pass.
pub const D_COUNT_LO: usize = 0;
pub const D_COUNT_HI: usize = 1;
pub const D_TAKEN: usize = 2;
pub const D_SLOT: usize = 3;
pub const D_WORD: usize = 4;
pub const D_EXTRA: usize = 5;
pub const D_PASS: usize = 6;

/// Kinds of diagnostic record. Those noted during a pass keep the first lane's details; the
/// end-scan kinds keep the lowest slot.
pub const DK_OOB_LOAD: usize = 0;
pub const DK_OOB_STORE: usize = 1;
pub const DK_UNKNOWN: usize = 2;
pub const DK_DFA_STEP: usize = 3;
pub const DK_PACKED_SKIPPED: usize = 4;
pub const DK_PACKED_COUNT: usize = 5;
pub const DK_ALIASED: usize = 6;
pub const DK_STUCK_CLAIMED: usize = 7;
pub const DK_STUCK_TENANT: usize = 8;
pub const DK_UNSCHEDULED: usize = 9;
pub const DK_SHUTDOWN_WITH_WORK: usize = 10;
pub const DK_STARVATION: usize = 11;
pub const DK_CLAIMED_AT_END: usize = 12;
pub const DIAG_KINDS: usize = 13;

/// A fused `once` pass's histogram of the slots it did not claim, [`SHARDS`] words per bucket
/// (bucket-major, sharded by workgroup): the host adds the shards, and the claimed slots —
/// all the others, each ended DONE ([`end_fused_once`]).
pub const RS_HIST_SHARDS: usize = 208;

/// Words of the header (everything but the per-workgroup flags); a multiple of 4.
pub const HEADER_WORDS: usize = RS_HIST_SHARDS + HIST_BUCKETS * SHARDS;
/// One flag per workgroup follows the header.
pub const RS_RETURNED_FLAGS: usize = HEADER_WORDS;

const _: () = assert!(RS_LEVELS + 5 <= RS_DEBUG_RECORDS);
const _: () = assert!(RS_LIVE_GROUP_PASSES < RS_HIST && RS_HIST + 9 <= RS_PASS_CLAIMS);
const _: () = assert!(RS_DIAG + DIAG_KINDS * DIAG_WORDS <= RS_HIST_SHARDS);
const _: () = assert!(RS_HIST_MODE < RS_HIST && RS_HIST_MODE != RS_LIVE_GROUP_PASSES);
const _: () = assert!(HEADER_WORDS.is_multiple_of(4));

pub const END_RUNNING: u32 = 0;
pub const END_ONE_PASS: u32 = 1;
pub const END_SHUTDOWN: u32 = 2;
pub const END_SETTLED: u32 = 3;
pub const END_PASS_BUDGET: u32 = 4;

/// "No slot yet" in a record's slot field.
pub const NO_SLOT: u32 = u32::MAX;

// ---- indirect arguments ------------------------------------------------------------------

/// The megakernel's `(x, y, z)` workgroup counts.
pub const IND_PASS: usize = 0;
/// The status histogram's `(x, y, z)`; zero until the dispatch ends.
pub const IND_HIST: usize = 3;
pub const INDIRECT_WORDS: usize = 8;

// ---- uniform parameters --------------------------------------------------------------------

pub const VARIANT_ONCE: u32 = 0;
pub const VARIANT_PERSISTENT: u32 = 1;
pub const VARIANT_PRIORITY: u32 = 2;

/// The kernels' uniform block (`struct Params` in the shaders): 8 words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Params {
    pub n: u32,
    pub groups: u32,
    pub variant: u32,
    pub checks_shutdown: u32,
    pub serial: u32,
    pub starvation_passes: u32,
    pub looping: u32,
    /// Keep each slot's lowest and highest probing lane (race analysis on, priority
    /// partitions overlapping at the start of the dispatch).
    pub race_probes: u32,
}

/// [`Params`] as WGSL, prepended to every shader by [`shader_source`] so the kernels share one
/// declaration, written next to the Rust struct it must match field for field.
const PARAMS_WGSL: &str = "struct Params {
    n: u32,
    groups: u32,
    variant: u32,
    checks_shutdown: u32,
    serial: u32,
    starvation_passes: u32,
    looping: u32,
    race_probes: u32,
}
";

pub fn variant_code(v: Variant) -> u32 {
    match v {
        Variant::Once => VARIANT_ONCE,
        Variant::Persistent => VARIANT_PERSISTENT,
        Variant::Priority => VARIANT_PRIORITY,
    }
}

/// A workgroup grid of `groups` workgroups that respects the per-dimension limit: `(x, y)`
/// with `x · y ≥ groups` and `x, y ≤ max_per_dim`; the kernels skip ids past `groups`.
pub fn grid(groups: u32, max_per_dim: u32) -> (u32, u32) {
    if groups == 0 {
        return (0, 0);
    }
    let max = max_per_dim.max(1);
    let x = groups.min(max);
    (x, groups.div_ceil(x))
}

/// How one dispatch is laid out on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunPlan {
    pub params: Params,
    pub allowed: u32,
    pub pass_grid: (u32, u32),
    pub hist_grid: (u32, u32),
    /// `once` as a single kernel: the megakernel pass counts the statuses of the slots it
    /// does not claim, and the host applies the gate's rule ([`end_fused_once`]), so the
    /// gate and the status histogram do not run; the histogram's scan of waiting slots runs
    /// only when a slot was left waiting or CLAIMED ([`needs_end_scan`]). Needs every slot in
    /// a workgroup (the slot count a multiple of the workgroup size), as the histogram counts
    /// every slot.
    pub fused_once: bool,
    /// The workgroups of a direct pass one device workgroup runs (the `PER` override); the
    /// pass grid covers `groups / groups_per_workgroup` of them.
    pub groups_per_workgroup: u32,
}

/// Lanes a direct pass keeps in flight at least when its workgroups run several of the
/// dispatch's each: half of what an H200 holds at once (132 multiprocessors × 2,048 lanes).
pub const LANES_IN_FLIGHT: u64 = 1 << 17;
/// The most of the dispatch's workgroups one device workgroup runs.
pub const MAX_GROUPS_PER_WORKGROUP: u32 = 8;

/// How many of a direct pass's `groups` workgroups (of `wg` lanes) one device workgroup runs
/// with the workgroup tallies on: the largest power of two up to
/// [`MAX_GROUPS_PER_WORKGROUP`] that still leaves [`LANES_IN_FLIGHT`] lanes. Measured on an
/// H200 at a million slots (4,096 workgroups of 256), kernel time for NOP / ATOMIC_ADD:
/// one each 0.067 / 0.100 ms, two 0.064 / 0.078, four 0.060 / 0.065, eight 0.054 / 0.054,
/// sixteen 0.065 / 0.065. A device workgroup flushes its tallies once, and the device
/// serializes those atomics per word; its lanes also reuse their mask reads and gather their
/// adds before the workgroup table. Past eight too few lanes are left to hide the memory's
/// latency. A small ring keeps one: its workgroups are too few to fill the device as it is.
pub fn groups_per_workgroup(groups: u32, wg: u32) -> u32 {
    let mut per = 1;
    while per < MAX_GROUPS_PER_WORKGROUP
        && u64::from(groups.div_ceil(per * 2)) * u64::from(wg) >= LANES_IN_FLIGHT
    {
        per *= 2;
    }
    per
}

impl RunPlan {
    /// `probes_overlap`: the priority partitions overlap as the dispatch begins.
    pub fn new(
        n: u32,
        wg: u32,
        options: &DispatchOptions,
        serial: u32,
        max_per_dim: u32,
        probes_overlap: bool,
    ) -> Self {
        let groups = if n == 0 { 0 } else { n / wg };
        let looping = options.variant.is_looping();
        RunPlan {
            params: Params {
                n,
                groups,
                variant: variant_code(options.variant),
                checks_shutdown: (looping || options.once_checks_shutdown) as u32,
                serial,
                starvation_passes: options.starvation_passes,
                looping: looping as u32,
                race_probes: (options.race_analysis
                    && options.variant == Variant::Priority
                    && probes_overlap) as u32,
            },
            allowed: options.passes_allowed(),
            pass_grid: grid(groups, max_per_dim),
            hist_grid: grid(n.div_ceil(256), max_per_dim),
            fused_once: !looping && groups > 0 && u64::from(groups) * u64::from(wg) == u64::from(n),
            groups_per_workgroup: 1,
        }
    }

    /// The plan with each device workgroup of a direct pass running `per` of the dispatch's
    /// workgroups (at least 1).
    pub fn with_groups_per_workgroup(mut self, per: u32, max_per_dim: u32) -> Self {
        self.groups_per_workgroup = per.max(1);
        self.pass_grid = grid(
            self.params.groups.div_ceil(self.groups_per_workgroup),
            max_per_dim,
        );
        self
    }

    /// The header a dispatch starts from: zero counters, record slots "none", and the
    /// constants the gate needs. A dispatch with no workgroup has ended before its first pass.
    pub fn initial_header(&self) -> Vec<u32> {
        let mut h = vec![0u32; HEADER_WORDS];
        h[RS_ALLOWED] = self.allowed;
        h[RS_GROUPS] = self.params.groups;
        h[RS_LOOPING] = self.params.looping;
        h[RS_HIST_X] = self.hist_grid.0;
        h[RS_HIST_Y] = self.hist_grid.1;
        for k in 0..DIAG_KINDS {
            h[RS_DIAG + k * DIAG_WORDS + D_SLOT] = NO_SLOT;
        }
        if self.params.groups == 0 {
            h[RS_END] = if self.params.looping != 0 {
                END_SETTLED
            } else {
                END_ONE_PASS
            };
        }
        h
    }

    /// The indirect arguments a dispatch starts from.
    pub fn initial_indirect(&self) -> [u32; INDIRECT_WORDS] {
        let mut a = [0u32; INDIRECT_WORDS];
        if self.params.groups > 0 {
            a[IND_PASS] = self.pass_grid.0;
            a[IND_PASS + 1] = self.pass_grid.1;
            a[IND_PASS + 2] = 1;
        }
        a
    }
}

/// The pass gate's rule (`shaders/engine/pass_gate.wgsl`) for a fused `once` pass over `n`
/// slots, applied on the host to the header read back after the pass: one pass, ended as
/// OnePass, the workgroups that ran it counted, and the status histogram completed. The pass
/// counted the statuses of the slots it did not claim; every other slot was claimed,
/// executed once and ended DONE, so claims = executed = `n` minus those counted. The device
/// header is left as the pass wrote it, so applying this to every readback of it gives the
/// same words.
pub fn end_fused_once(h: &mut [u32], n: u32) {
    if h.len() < HEADER_WORDS || h[RS_END] != END_RUNNING {
        return;
    }
    h[RS_PASSES] = 1;
    let groups = h[RS_GROUPS];
    h[RS_LIVE_GROUP_PASSES] =
        h[RS_LIVE_GROUP_PASSES].wrapping_add(groups - h[RS_RETURNED].min(groups));
    h[RS_END] = END_ONE_PASS;
    let mut unclaimed = 0u32;
    for b in 0..HIST_BUCKETS {
        let shards = &h[RS_HIST_SHARDS + b * SHARDS..RS_HIST_SHARDS + (b + 1) * SHARDS];
        let count = shards.iter().fold(0u32, |a, &c| a.wrapping_add(c));
        unclaimed = unclaimed.wrapping_add(count);
        h[RS_HIST + b] = h[RS_HIST + b].wrapping_add(count);
    }
    let claims = n.saturating_sub(unclaimed);
    h[RS_CLAIMED] = h[RS_CLAIMED].wrapping_add(claims);
    h[RS_EXECUTED] = h[RS_EXECUTED].wrapping_add(claims);
    let done = RS_HIST + (status::DONE as usize).min(HIST_BUCKETS - 1);
    h[done] = h[done].wrapping_add(claims);
}

/// Header words a fused `once` pass reads or overwrites rather than adds to: the pass count
/// (its notes and the race analysis record it), the SHUTDOWN flags and every record's taken
/// flag. A header left by an earlier dispatch can stand in for a fresh one
/// ([`rebase_header`]) only if it holds the template's values in these.
fn absolute_words() -> impl Iterator<Item = usize> {
    [RS_PASSES, RS_SHUTDOWN_RAN, RS_SHUTDOWN_AT_START]
        .into_iter()
        .chain((0..DIAG_KINDS).map(|k| RS_DIAG + k * DIAG_WORDS + D_TAKEN))
}

/// Whether a fused `once` pass may run on the header the device holds (`base`, as last read
/// back) instead of a fresh copy of `template`: the copy is a command and a barrier of its
/// own before the pass (on an H200 0.011 ms of a 4,096-slot resident dispatch, host and
/// device together), and the pass only adds to the header apart from [`absolute_words`].
pub fn can_rebase(base: &[u32], template: &[u32]) -> bool {
    base.len() == HEADER_WORDS
        && template.len() == HEADER_WORDS
        && absolute_words().all(|i| base[i] == template[i])
}

/// The header a fused `once` pass would have left on a fresh copy of `template`, from the
/// words it left (`read`) on a header that held `base` ([`can_rebase`]): every counter is
/// the template's plus what the pass added (record counts as 64-bit pairs, since the pass
/// carries into the high word), words the pass does not write come out as the template's,
/// and a record the pass took keeps the slot, word, extra value and pass it stored (the
/// template's otherwise).
pub fn rebase_header(read: &[u32], base: &[u32], template: &[u32]) -> Vec<u32> {
    let mut out: Vec<u32> = (0..HEADER_WORDS)
        .map(|i| {
            let at = |h: &[u32]| h.get(i).copied().unwrap_or(0);
            at(template).wrapping_add(at(read).wrapping_sub(at(base)))
        })
        .collect();
    let at = |h: &[u32], i: usize| h.get(i).copied().unwrap_or(0);
    for k in 0..DIAG_KINDS {
        let b = RS_DIAG + k * DIAG_WORDS;
        let count =
            |h: &[u32]| u64::from(at(h, b + D_COUNT_LO)) | u64::from(at(h, b + D_COUNT_HI)) << 32;
        let total = count(template).wrapping_add(count(read).wrapping_sub(count(base)));
        out[b + D_COUNT_LO] = total as u32;
        out[b + D_COUNT_HI] = (total >> 32) as u32;
        let taken = at(read, b + D_TAKEN) != at(base, b + D_TAKEN);
        let from = if taken { read } else { template };
        for f in [D_TAKEN, D_SLOT, D_WORD, D_EXTRA, D_PASS] {
            out[b + f] = at(from, b + f);
        }
    }
    out
}

/// Whether a fused `once` pass left a slot that the end scan reports on: PUBLISHED (stuck
/// behind a zero mask, or abandoned by SHUTDOWN) or CLAIMED. Read after [`end_fused_once`].
pub fn needs_end_scan(h: &[u32]) -> bool {
    let count = |st: u32| {
        h.get(RS_HIST + (st as usize).min(HIST_BUCKETS - 1))
            .copied()
    };
    count(status::PUBLISHED).unwrap_or(0) > 0 || count(status::CLAIMED).unwrap_or(0) > 0
}

/// Passes the first submission of a dispatch encodes: enough for the usual dispatch (a
/// looping variant settles after 2 passes, the priority scan after at most 6) in one round
/// trip, while the passes encoded past the end stay few (each costs an empty dispatch).
pub const FIRST_CHUNK_PASSES: u32 = 8;
/// The most passes one submission encodes; chunks double from [`FIRST_CHUNK_PASSES`] up to it.
pub const CHUNK_PASSES: u32 = 64;

/// Passes the next submission encodes: what the dispatch may still run, what the caller
/// still asks for, and the chunk size after `chunks_done` earlier submissions.
pub fn next_chunk(allowed: u32, passes_run: u32, requested_left: u32, chunks_done: u32) -> u32 {
    let size = if chunks_done >= 3 {
        CHUNK_PASSES
    } else {
        (FIRST_CHUNK_PASSES << chunks_done).min(CHUNK_PASSES)
    };
    allowed
        .saturating_sub(passes_run)
        .min(requested_left)
        .min(size)
}

pub fn decode_end(code: u32) -> Option<DispatchEnd> {
    match code {
        END_ONE_PASS => Some(DispatchEnd::OnePass),
        END_SHUTDOWN => Some(DispatchEnd::Shutdown),
        END_SETTLED => Some(DispatchEnd::Settled),
        END_PASS_BUDGET => Some(DispatchEnd::PassBudget),
        _ => None,
    }
}

/// The opcodes with a handler of their own in the megakernel, in the order of their bits in
/// its `OPS` override (a build has the handlers whose bits are set). NOP, DFA_STEP and
/// unknown opcodes cost no handler and are always handled.
pub const HANDLED: [Opcode; 9] = [
    Opcode::STORE_U32,
    Opcode::ATOMIC_ADD,
    Opcode::LOAD_U32,
    Opcode::COMPARE_SWAP,
    Opcode::MEMCPY,
    Opcode::BATCH_FENCE,
    Opcode::PRINTF,
    Opcode::SHUTDOWN,
    Opcode::PACKED_SLOT,
];

/// Every handler: the build a ring of any opcodes can run.
pub const ALL_HANDLERS: u32 = (1 << HANDLED.len()) - 1;

/// The `OPS` bit of `op`'s handler (0 for an opcode without one).
pub fn handler_bit(op: u32) -> u32 {
    HANDLED.iter().position(|h| h.0 == op).map_or(0, |i| 1 << i)
}

/// The handlers a ring's opcodes need, whatever their slots' statuses (a slot may be
/// republished by the host between passes, but its opcode only changes through an upload).
/// A PACKED_SLOT's inner opcodes sit in its argument bytes, so a ring with one needs them all.
pub fn handlers_for(ring: &[u32]) -> u32 {
    let mut bits = 0;
    for slot in ring.chunks_exact(SLOT_WORDS) {
        bits |= handler_bit(slot[W_OPCODE]);
    }
    if bits & handler_bit(Opcode::PACKED_SLOT.0) != 0 {
        ALL_HANDLERS
    } else {
        bits
    }
}

/// The WGSL `const` block every shader starts with.
pub fn wgsl_constants() -> String {
    let u = |name: &str, v: u64| format!("const {name}: u32 = {v}u;\n");
    let mut s = String::from("// generated from src/engine/gpu/run_state.rs\n");
    for (name, v) in [
        ("RS_END", RS_END),
        ("RS_PASSES", RS_PASSES),
        ("RS_PASS_CLAIMS", RS_PASS_CLAIMS),
        ("SHARDS", SHARDS),
        ("RS_CLAIMED", RS_CLAIMED),
        ("RS_EXECUTED", RS_EXECUTED),
        ("RS_LEVELS", RS_LEVELS),
        ("RS_DEBUG_RECORDS", RS_DEBUG_RECORDS),
        ("RS_DEBUG_DROPPED", RS_DEBUG_DROPPED),
        ("RS_SHUTDOWN_RAN", RS_SHUTDOWN_RAN),
        ("RS_RETURNED", RS_RETURNED),
        ("RS_SHUTDOWN_AT_START", RS_SHUTDOWN_AT_START),
        ("RS_ALLOWED", RS_ALLOWED),
        ("RS_GROUPS", RS_GROUPS),
        ("RS_LOOPING", RS_LOOPING),
        ("RS_HIST_X", RS_HIST_X),
        ("RS_HIST_Y", RS_HIST_Y),
        ("RS_LIVE_GROUP_PASSES", RS_LIVE_GROUP_PASSES),
        ("RS_HIST", RS_HIST),
        ("RS_HIST_MODE", RS_HIST_MODE),
        ("RS_HIST_SHARDS", RS_HIST_SHARDS),
        ("RS_DIAG", RS_DIAG),
        ("RS_RETURNED_FLAGS", RS_RETURNED_FLAGS),
        ("DIAG_WORDS", DIAG_WORDS),
        ("DIAG_KINDS", DIAG_KINDS),
        ("D_COUNT_LO", D_COUNT_LO),
        ("D_COUNT_HI", D_COUNT_HI),
        ("D_TAKEN", D_TAKEN),
        ("D_SLOT", D_SLOT),
        ("D_WORD", D_WORD),
        ("D_EXTRA", D_EXTRA),
        ("D_PASS", D_PASS),
        ("DK_OOB_LOAD", DK_OOB_LOAD),
        ("DK_OOB_STORE", DK_OOB_STORE),
        ("DK_UNKNOWN", DK_UNKNOWN),
        ("DK_DFA_STEP", DK_DFA_STEP),
        ("DK_PACKED_SKIPPED", DK_PACKED_SKIPPED),
        ("DK_PACKED_COUNT", DK_PACKED_COUNT),
        ("DK_ALIASED", DK_ALIASED),
        ("DK_STUCK_CLAIMED", DK_STUCK_CLAIMED),
        ("DK_STUCK_TENANT", DK_STUCK_TENANT),
        ("DK_UNSCHEDULED", DK_UNSCHEDULED),
        ("DK_SHUTDOWN_WITH_WORK", DK_SHUTDOWN_WITH_WORK),
        ("DK_STARVATION", DK_STARVATION),
        ("DK_CLAIMED_AT_END", DK_CLAIMED_AT_END),
        ("IND_PASS", IND_PASS),
        ("IND_HIST", IND_HIST),
        // ABI words and layout
        ("SHUTDOWN", SHUTDOWN),
        ("DONE_COUNT", DONE_COUNT),
        ("TENANT_BASE", TENANT_BASE),
        ("TENANT_FAIRNESS", TENANT_FAIRNESS),
        ("METRICS", METRICS),
        ("EPOCH", EPOCH),
        ("PRIORITY_OFFSETS", PRIORITY_OFFSETS),
        ("STARVATION", STARVATION),
        ("PRIORITY_FAIRNESS", PRIORITY_FAIRNESS),
        ("OBSERVABLE", OBSERVABLE),
        ("SLOT_WORDS", SLOT_WORDS),
        ("ARG_WORDS", ARG_WORDS),
        ("W_STATUS", W_STATUS),
        ("W_OPCODE", W_OPCODE),
        ("W_TENANT", W_TENANT),
        ("W_ARGS", W_ARGS),
        ("DEBUG_LOG_WORDS", DEBUG_LOG_WORDS),
        ("PACKED_MAX_OPS", PACKED_MAX_OPS),
    ]
    .into_iter()
    .chain(super::race_state::wgsl_constants())
    {
        s += &u(name, v as u64);
    }
    for (name, v) in [
        ("END_RUNNING", END_RUNNING),
        ("END_ONE_PASS", END_ONE_PASS),
        ("END_SHUTDOWN", END_SHUTDOWN),
        ("END_SETTLED", END_SETTLED),
        ("END_PASS_BUDGET", END_PASS_BUDGET),
        ("HIST_COUNTS", HIST_COUNTS),
        ("VARIANT_PRIORITY", VARIANT_PRIORITY),
        ("STARVATION_THRESHOLD", STARVATION_THRESHOLD),
        ("MAX_ENCODED_TENANT_MASKS", MAX_ENCODED_TENANT_MASKS),
        ("SCHEDULER", SCHEDULER),
        ("ST_PUBLISHED", status::PUBLISHED),
        ("ST_CLAIMED", status::CLAIMED),
        ("ST_DONE", status::DONE),
        ("ST_YIELD", status::YIELD),
        ("ST_REQUEUE", status::REQUEUE),
        ("OP_NOP", Opcode::NOP.0),
        ("OP_STORE_U32", Opcode::STORE_U32.0),
        ("OP_ATOMIC_ADD", Opcode::ATOMIC_ADD.0),
        ("OP_LOAD_U32", Opcode::LOAD_U32.0),
        ("OP_COMPARE_SWAP", Opcode::COMPARE_SWAP.0),
        ("OP_MEMCPY", Opcode::MEMCPY.0),
        ("OP_DFA_STEP", Opcode::DFA_STEP.0),
        ("OP_BATCH_FENCE", Opcode::BATCH_FENCE.0),
        ("OP_PRINTF", Opcode::PRINTF.0),
        ("OP_PACKED_SLOT", Opcode::PACKED_SLOT.0),
        ("OP_SHUTDOWN", Opcode::SHUTDOWN.0),
    ] {
        s += &u(name, v as u64);
    }
    for op in HANDLED {
        let name = format!("HB_{}", op.name().unwrap_or("UNNAMED"));
        s += &u(&name, handler_bit(op.0) as u64);
    }
    s
}

/// A shader's full source: the generated constants, the uniform block, then the file.
pub fn shader_source(body: &str) -> String {
    let mut s = wgsl_constants();
    s.push('\n');
    s.push_str(PARAMS_WGSL);
    s.push('\n');
    s.push_str(body);
    s
}

/// The serial of the dispatch after one of serial `s`: never 0, which is what a fresh run-state
/// buffer's returned flags hold.
pub fn next_serial(s: u32) -> u32 {
    s.wrapping_add(1).max(1)
}

/// Copies of the parameters the params buffer holds, one for each of a run of serials: a
/// dispatch picks its copy with a dynamic offset, so the host writes the buffer once every
/// this many dispatches (or when the parameters change) rather than before each one — a
/// queued write is a staging buffer and a copy of its own, a fixed cost that weighs on a
/// small ring's dispatch.
pub const PARAMS_COPIES: u32 = 64;
/// Bytes from one copy to the next: WebGPU's largest uniform offset alignment.
pub const PARAMS_STRIDE: u64 = 256;
/// Bytes of one copy: what the kernels' uniform binding covers.
pub const PARAMS_BYTES: u64 = std::mem::size_of::<Params>() as u64;

/// What a params buffer holds: the parameters with serial 0, and the serial of its first
/// copy (the others follow by [`next_serial`]).
pub type ParamsBlock = (Params, u32);

/// The copy of `block` that holds `p` (same parameters, its serial among the block's), if
/// any.
pub fn params_copy(block: Option<ParamsBlock>, p: Params) -> Option<u32> {
    let (held, first) = block?;
    if held != (Params { serial: 0, ..p }) {
        return None;
    }
    let mut s = first;
    for i in 0..PARAMS_COPIES {
        if s == p.serial {
            return Some(i);
        }
        s = next_serial(s);
    }
    None
}

/// A new block for `p`: its bytes ([`PARAMS_COPIES`] copies, [`PARAMS_STRIDE`] apart, the
/// serials from `p.serial` on) and what it holds. `p` is its copy 0.
pub fn params_block(p: Params) -> (Vec<u8>, ParamsBlock) {
    let mut bytes = vec![0u8; PARAMS_COPIES as usize * PARAMS_STRIDE as usize];
    let mut copy = p;
    for chunk in bytes.chunks_exact_mut(PARAMS_STRIDE as usize) {
        chunk[..PARAMS_BYTES as usize].copy_from_slice(bytemuck::bytes_of(&copy));
        copy.serial = next_serial(copy.serial);
    }
    (bytes, (Params { serial: 0, ..p }, p.serial))
}

/// Whether a dispatch of serial `s` must clear the per-workgroup returned flags before its
/// first pass: each flag holds the serial of the dispatch its workgroup returned in, so only
/// once the serials wrap could an old flag read as this dispatch's.
pub fn returned_flags_need_clearing(s: u32) -> bool {
    s == 1
}

#[cfg(test)]
mod tests {
    #[test]
    fn handlers_follow_the_opcode_words_and_a_packed_slot_needs_all() {
        use super::{ALL_HANDLERS, handler_bit, handlers_for};
        use crate::abi::layout::{SLOT_WORDS, W_ARGS, W_OPCODE};
        use crate::abi::opcode::Opcode;
        let mut ring = vec![0u32; 4 * SLOT_WORDS];
        ring[W_OPCODE] = Opcode::NOP.0;
        ring[SLOT_WORDS + W_OPCODE] = Opcode::ATOMIC_ADD.0;
        ring[2 * SLOT_WORDS + W_OPCODE] = Opcode::ATOMIC_ADD.0;
        ring[3 * SLOT_WORDS + W_OPCODE] = 0x1234; // no handler: handled as unknown
        // an argument word that happens to hold an opcode's value is not an opcode
        ring[3 * SLOT_WORDS + W_ARGS] = Opcode::MEMCPY.0;
        assert_eq!(handlers_for(&ring), handler_bit(Opcode::ATOMIC_ADD.0));
        ring[3 * SLOT_WORDS + W_OPCODE] = Opcode::PRINTF.0;
        assert_eq!(
            handlers_for(&ring),
            handler_bit(Opcode::ATOMIC_ADD.0) | handler_bit(Opcode::PRINTF.0)
        );
        ring[W_OPCODE] = Opcode::PACKED_SLOT.0;
        assert_eq!(handlers_for(&ring), ALL_HANDLERS);
        assert_eq!(handler_bit(Opcode::NOP.0), 0);
        assert_eq!(handler_bit(Opcode::DFA_STEP.0), 0);
        // every handled opcode has a bit of its own
        let bits: Vec<u32> = super::HANDLED.iter().map(|o| handler_bit(o.0)).collect();
        assert_eq!(bits.iter().fold(0, |a, b| a | b), ALL_HANDLERS);
        assert!(bits.iter().all(|b| b.count_ones() == 1));
    }

    #[test]
    fn returned_flags_are_cleared_exactly_when_the_serial_wraps() {
        use super::{next_serial, returned_flags_need_clearing};
        let mut s = u32::MAX - 2;
        let mut seen = std::collections::HashSet::new();
        let mut cleared = Vec::new();
        for k in 0..6 {
            s = next_serial(s);
            assert_ne!(s, 0, "a serial of 0 would match a fresh buffer's flags");
            assert!(seen.insert(s) || returned_flags_need_clearing(s));
            if returned_flags_need_clearing(s) {
                cleared.push(k);
            }
        }
        // MAX-1, MAX, then 1 (cleared), 2, 3, 4
        assert_eq!(cleared, vec![2]);
        assert!(
            returned_flags_need_clearing(next_serial(0)),
            "an engine's first dispatch"
        );
    }

    use super::*;

    /// The WGSL block declares one u32 per word of the Rust struct, in the same order.
    #[test]
    fn wgsl_params_match_the_rust_struct() {
        let fields: Vec<&str> = PARAMS_WGSL
            .lines()
            .filter_map(|l| l.trim().strip_suffix(": u32,"))
            .collect();
        assert_eq!(
            fields,
            [
                "n",
                "groups",
                "variant",
                "checks_shutdown",
                "serial",
                "starvation_passes",
                "looping",
                "race_probes"
            ]
        );
        assert_eq!(fields.len() * 4, std::mem::size_of::<Params>());
        let p = Params {
            n: 1,
            groups: 2,
            variant: 3,
            checks_shutdown: 4,
            serial: 5,
            starvation_passes: 6,
            looping: 7,
            race_probes: 8,
        };
        assert_eq!(
            bytemuck::cast::<Params, [u32; 8]>(p),
            [1, 2, 3, 4, 5, 6, 7, 8]
        );
    }

    #[test]
    fn a_params_block_serves_the_next_serials_then_asks_for_a_new_one() {
        let p = |serial, n| Params {
            n,
            groups: 2,
            serial,
            ..Params::default()
        };
        assert_eq!(params_copy(None, p(1, 8)), None, "nothing written yet");
        let (bytes, block) = params_block(p(u32::MAX - 1, 8));
        assert_eq!(bytes.len() as u64, u64::from(PARAMS_COPIES) * PARAMS_STRIDE);
        // copies 0, 1, 2 hold serials MAX-1, MAX, then 1 (next_serial skips 0)
        for (i, serial) in [(0u32, u32::MAX - 1), (1, u32::MAX), (2, 1), (3, 2)] {
            assert_eq!(params_copy(Some(block), p(serial, 8)), Some(i));
            let at = (u64::from(i) * PARAMS_STRIDE) as usize;
            let copy: Params =
                bytemuck::pod_read_unaligned(&bytes[at..at + std::mem::size_of::<Params>()]);
            assert_eq!(copy, p(serial, 8), "copy {i}");
        }
        assert_eq!(
            params_copy(Some(block), p(PARAMS_COPIES - 2, 8)),
            Some(PARAMS_COPIES - 1)
        );
        assert_eq!(
            params_copy(Some(block), p(PARAMS_COPIES - 1, 8)),
            None,
            "past the block"
        );
        assert_eq!(
            params_copy(Some(block), p(0, 8)),
            None,
            "a serial never used"
        );
        assert_eq!(params_copy(Some(block), p(1, 9)), None, "other parameters");
    }

    #[test]
    fn groups_per_workgroup_keeps_the_device_full() {
        // a million slots in 4,096 workgroups of 256: eight each still leaves 2^17 lanes
        assert_eq!(groups_per_workgroup(4096, 256), 8);
        assert_eq!(groups_per_workgroup(2048, 256), 4);
        assert_eq!(groups_per_workgroup(1 << 20, 256), MAX_GROUPS_PER_WORKGROUP);
        // 65,536 and 4,096 slots: too few lanes to share workgroups
        assert_eq!(groups_per_workgroup(256, 256), 1);
        assert_eq!(groups_per_workgroup(16, 256), 1);
        assert_eq!(groups_per_workgroup(0, 256), 1);
        // an odd count: the last device workgroup runs fewer
        assert_eq!(groups_per_workgroup(2049, 256), 4);
        for (groups, wg) in [(4096, 256), (3000, 128), (70_000, 64), (5, 1)] {
            let per = groups_per_workgroup(groups, wg);
            assert!(per == 1 || u64::from(groups.div_ceil(per)) * u64::from(wg) >= LANES_IN_FLIGHT);
        }
    }

    #[test]
    fn a_plan_sharing_workgroups_covers_every_group() {
        let once = DispatchOptions::default();
        for (n, wg, per, max) in [
            (1 << 20, 256, 4, 65535),
            (4097 * 4, 4, 3, 100),
            (64, 4, 8, 65535),
        ] {
            let plan =
                RunPlan::new(n, wg, &once, 1, max, false).with_groups_per_workgroup(per, max);
            let (x, y) = plan.pass_grid;
            let groups = plan.params.groups;
            assert!(x <= max && y <= max);
            assert!(u64::from(x) * u64::from(y) * u64::from(per) >= u64::from(groups));
            assert!(u64::from(x) * u64::from(y - 1) * u64::from(per) < u64::from(groups));
            assert_eq!(plan.initial_indirect()[IND_PASS..IND_PASS + 2], [x, y]);
        }
    }

    #[test]
    fn grid_covers_every_group_within_the_limit() {
        assert_eq!(grid(0, 65535), (0, 0));
        assert_eq!(grid(1, 65535), (1, 1));
        assert_eq!(grid(4096, 65535), (4096, 1));
        let (x, y) = grid(1 << 20, 65535);
        assert!(x <= 65535 && y <= 65535 && x as u64 * y as u64 >= 1 << 20);
        assert_eq!(grid(10, 3), (3, 4));
    }

    #[test]
    fn chunks_respect_budget_request_and_grow_to_the_cap() {
        assert_eq!(next_chunk(1, 0, u32::MAX, 0), 1);
        assert_eq!(next_chunk(64, 0, u32::MAX, 0), FIRST_CHUNK_PASSES);
        assert_eq!(next_chunk(64, 8, u32::MAX, 1), 16);
        assert_eq!(next_chunk(1 << 20, 56, u32::MAX, 3), CHUNK_PASSES);
        assert_eq!(
            next_chunk(1 << 20, 1000, u32::MAX, 40),
            CHUNK_PASSES,
            "no shift overflow"
        );
        assert_eq!(next_chunk(64, 10, 3, 0), 3);
        assert_eq!(next_chunk(64, 64, 3, 0), 0);
        assert_eq!(next_chunk(5, 7, 3, 0), 0, "never negative");
    }

    #[test]
    fn plan_for_an_empty_ring_has_ended_before_its_first_pass() {
        let o = DispatchOptions::with_variant(Variant::Persistent);
        let p = RunPlan::new(0, 256, &o, 1, 65535, false);
        assert_eq!(p.params.groups, 0);
        assert_eq!(p.initial_header()[RS_END], END_SETTLED);
        assert_eq!(p.initial_indirect(), [0; INDIRECT_WORDS]);
        let once = RunPlan::new(0, 256, &DispatchOptions::default(), 1, 65535, false);
        assert_eq!(once.initial_header()[RS_END], END_ONE_PASS);
    }

    #[test]
    fn plan_sets_shutdown_checks_per_variant() {
        let mut o = DispatchOptions::default();
        let p = RunPlan::new(512, 256, &o, 3, 65535, false);
        assert_eq!(
            (p.params.groups, p.params.checks_shutdown, p.allowed),
            (2, 0, 1)
        );
        assert_eq!(&p.initial_indirect()[..3], &[2, 1, 1]);
        o.once_checks_shutdown = true;
        assert_eq!(
            RunPlan::new(512, 256, &o, 3, 65535, false)
                .params
                .checks_shutdown,
            1
        );
        let pr = RunPlan::new(
            512,
            64,
            &DispatchOptions::with_variant(Variant::Priority),
            3,
            65535,
            true,
        );
        assert_eq!(pr.params.race_probes, 1, "analysis is on by default");
        assert_eq!(
            (pr.params.groups, pr.params.looping, pr.allowed),
            (8, 1, 64)
        );
        let h = pr.initial_header();
        assert_eq!(h[RS_DIAG + DK_STUCK_TENANT * DIAG_WORDS + D_SLOT], NO_SLOT);
        assert_eq!((h[RS_HIST_X], h[RS_HIST_Y]), (2, 1));
    }

    #[test]
    fn every_constant_a_shader_uses_is_generated() {
        let consts = wgsl_constants();
        for body in [
            include_str!("../../../shaders/engine/megakernel.wgsl"),
            include_str!("../../../shaders/engine/pass_gate.wgsl"),
            include_str!("../../../shaders/engine/status_histogram.wgsl"),
        ] {
            let code: String = body
                .lines()
                .map(|l| l.split("//").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            // pipeline-overridable constants are set when the pipeline is built
            let overrides: Vec<&str> = code
                .lines()
                .filter_map(|l| l.trim().strip_prefix("override "))
                .filter_map(|l| l.split(':').next())
                .map(str::trim)
                .collect();
            for word in code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                let looks_const = word.len() > 2
                    && word
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                    && word.contains('_');
                // or defined by every variant of a snippet the host prepends (kernels.rs)
                let in_snippets = super::super::kernels::PREPENDED
                    .iter()
                    .all(|snippet| snippet.contains(&format!("const {word}: ")));
                if looks_const && !overrides.contains(&word) && !in_snippets {
                    assert!(
                        consts.contains(&format!("const {word}: u32")),
                        "{word} is used by a shader but not generated"
                    );
                }
            }
        }
    }

    /// The host's gate for a fused `once` pass gives the words the gate and the histogram
    /// kernels would: 8 slots in 2 workgroups of 4, 5 claimed (all DONE), 2 left PUBLISHED
    /// behind a zero mask, 1 DONE from before; one workgroup returned.
    #[test]
    fn fused_once_end_is_the_gate_and_histogram_on_the_host() {
        let o = DispatchOptions::default();
        let plan = RunPlan::new(8, 4, &o, 1, 65535, false);
        assert!(plan.fused_once);
        let mut h = plan.initial_header();
        h[RS_RETURNED] = 1;
        h[RS_HIST_SHARDS + status::PUBLISHED as usize * SHARDS] = 2;
        h[RS_HIST_SHARDS + status::DONE as usize * SHARDS + 1] = 1;
        end_fused_once(&mut h, 8);
        assert_eq!(decode_end(h[RS_END]), Some(DispatchEnd::OnePass));
        assert_eq!((h[RS_PASSES], h[RS_CLAIMED]), (1, 5));
        assert_eq!((0..SHARDS).map(|i| h[RS_EXECUTED + i]).sum::<u32>(), 5);
        assert_eq!(h[RS_LIVE_GROUP_PASSES], 1);
        assert_eq!(h[RS_HIST + status::DONE as usize], 6);
        assert_eq!(h[RS_HIST + status::PUBLISHED as usize], 2);
        assert!(needs_end_scan(&h));
        let again = h.clone();
        end_fused_once(&mut h, 8);
        assert_eq!(h, again, "an ended header is left alone");
    }

    #[test]
    fn only_once_over_whole_workgroups_is_fused() {
        let once = DispatchOptions::default();
        assert!(!RunPlan::new(10, 4, &once, 1, 65535, false).fused_once);
        assert!(!RunPlan::new(0, 4, &once, 1, 65535, false).fused_once);
        let persistent = DispatchOptions::with_variant(Variant::Persistent);
        assert!(!RunPlan::new(8, 4, &persistent, 1, 65535, false).fused_once);
        let mut h = RunPlan::new(8, 4, &once, 1, 65535, false).initial_header();
        end_fused_once(&mut h, 8);
        assert_eq!(h[RS_HIST + status::DONE as usize], 8);
        assert!(!needs_end_scan(&h), "every slot DONE: no scan");
    }

    /// What a fused `once` pass does to a header, as the megakernel does it: counters added
    /// (a record count carried into its high word), a record taken with its details, a
    /// SHUTDOWN-at-start copy.
    fn fused_pass(h: &mut [u32], shutdown_at_start: u32) {
        h[RS_HIST_SHARDS + status::PUBLISHED as usize * SHARDS + 3] += 2;
        h[RS_DEBUG_RECORDS] = h[RS_DEBUG_RECORDS].wrapping_add(5);
        h[RS_RETURNED] += 1;
        h[RS_SHUTDOWN_AT_START] = shutdown_at_start;
        let b = RS_DIAG + DK_UNKNOWN * DIAG_WORDS;
        let old = h[b + D_COUNT_LO];
        h[b + D_COUNT_LO] = old.wrapping_add(7);
        if old > u32::MAX - 7 {
            h[b + D_COUNT_HI] += 1;
        }
        if h[b + D_TAKEN] == 0 {
            h[b + D_TAKEN] = 1;
            h[b + D_SLOT] = 42;
            h[b + D_WORD] = 3;
            h[b + D_EXTRA] = 0xBAD;
            h[b + D_PASS] = h[RS_PASSES];
        }
    }

    #[test]
    fn a_pass_on_an_earlier_header_rebases_to_the_pass_on_a_fresh_one() {
        let o = DispatchOptions::default();
        let template = RunPlan::new(8, 4, &o, 2, 65535, false).initial_header();
        let mut fresh = template.clone();
        fused_pass(&mut fresh, 0);
        // what an earlier fused `once` dispatch and its end scan left: counters, a record
        // count about to wrap its low word, end-scan records with their lowest slots, the
        // constants of another plan
        let mut base = RunPlan::new(16, 4, &o, 1, 65535, false).initial_header();
        base[RS_HIST_SHARDS + 5] = 9;
        base[RS_DEBUG_RECORDS] = u32::MAX - 1;
        base[RS_DIAG + DK_UNKNOWN * DIAG_WORDS + D_COUNT_LO] = u32::MAX - 2;
        base[RS_DIAG + DK_STUCK_TENANT * DIAG_WORDS + D_COUNT_LO] = 4;
        base[RS_DIAG + DK_STUCK_TENANT * DIAG_WORDS + D_SLOT] = 1;
        base[RS_END] = END_ONE_PASS;
        base[RS_HIST_MODE] = HIST_DIAGNOSTICS_ONLY;
        assert!(can_rebase(&base, &template));
        let mut read = base.clone();
        fused_pass(&mut read, 0);
        assert_eq!(rebase_header(&read, &base, &template), fresh);
        // a pass that takes no record leaves the template's details
        let mut quiet = template.clone();
        quiet[RS_RETURNED] = 1;
        let mut read = base.clone();
        read[RS_RETURNED] += 1;
        assert_eq!(rebase_header(&read, &base, &template), quiet);
    }

    #[test]
    fn headers_with_a_taken_record_or_shutdown_words_are_not_rebased() {
        let o = DispatchOptions::default();
        let template = RunPlan::new(8, 4, &o, 2, 65535, false).initial_header();
        for i in [
            RS_PASSES,
            RS_SHUTDOWN_RAN,
            RS_SHUTDOWN_AT_START,
            RS_DIAG + DK_ALIASED * DIAG_WORDS + D_TAKEN,
        ] {
            let mut base = template.clone();
            base[i] = 1;
            assert!(!can_rebase(&base, &template), "word {i}");
        }
        assert!(!can_rebase(&template[..8], &template), "a short readback");
        // SHUTDOWN as found comes back as copied
        let mut fresh = template.clone();
        fused_pass(&mut fresh, 1);
        let mut read = template.clone();
        fused_pass(&mut read, 1);
        assert_eq!(rebase_header(&read, &template, &template), fresh);
    }

    #[test]
    fn end_codes_round_trip() {
        assert_eq!(decode_end(END_RUNNING), None);
        assert_eq!(decode_end(END_SHUTDOWN), Some(DispatchEnd::Shutdown));
        assert_eq!(decode_end(END_PASS_BUDGET), Some(DispatchEnd::PassBudget));
    }
}
