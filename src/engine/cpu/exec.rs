//! Executing claimed slots in lockstep (ABI.md §4.2–§4.3, DESIGN.md §2): every step of the
//! handler chain runs for all participating lanes in ascending lane order before the next
//! step starts. Out-of-range control loads read 0 and stores are dropped, each flagged.

use crate::abi::control::{DONE_COUNT, EPOCH, METRICS, OBSERVABLE, SHUTDOWN};
use crate::abi::layout::{ARG_WORDS, DEBUG_LOG_WORDS, SLOT_WORDS, W_ARGS, W_OPCODE, W_STATUS};
use crate::abi::opcode::Opcode;
use crate::abi::slot::PACKED_MAX_OPS;
use crate::abi::status;
use crate::engine::diagnostics::{DiagnosticKind, DiagnosticSink};
use crate::engine::race::AccessTracker;

/// One op to run in one lane: a top-level slot's op or a packed inner op.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call {
    pub slot: u32,
    pub op: u32,
    pub a0: u32,
    pub a1: u32,
    pub a2: u32,
}

/// Many lanes adding 1 to one word in the same step: the total and the lowest and highest
/// slot, which is all the race analysis keeps of adders. Adding in bulk gives the same word
/// and the same analysis as adding lane by lane, without a tracker call per lane.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SlotTally {
    n: u32,
    /// Lowest and highest slot (`u32::MAX` until counted).
    first: u32,
    second: u32,
}

impl SlotTally {
    pub const EMPTY: SlotTally = SlotTally {
        n: 0,
        first: u32::MAX,
        second: u32::MAX,
    };

    #[inline]
    pub fn count(&mut self, slot: u32) {
        self.n += 1;
        if self.first == u32::MAX {
            self.first = slot;
            self.second = slot;
        } else {
            self.first = self.first.min(slot);
            self.second = self.second.max(slot);
        }
    }
}

/// Counters one dispatch accumulates.
#[derive(Clone, Debug, Default)]
pub(crate) struct Counters {
    pub claimed: u64,
    pub executed: u64,
    pub claims_per_level: [u64; 5],
    pub debug_records: u64,
    pub debug_dropped: u64,
    pub shutdown_ran: bool,
}

/// The buffers and bookkeeping a pass works on.
pub(crate) struct Mem<'a, T: AccessTracker> {
    pub control: &'a mut [u32],
    pub ring: &'a mut [u32],
    pub debug: &'a mut [u32],
    pub trk: &'a mut T,
    pub sink: &'a mut DiagnosticSink,
    pub counters: &'a mut Counters,
    pub pass: u32,
    /// Each claim: the slot and the status word it held before (see `CpuEngine::claims`).
    pub claims: &'a mut Vec<(u32, u32)>,
}

/// Scratch vectors reused across workgroups and dispatches.
#[derive(Debug, Default)]
pub(crate) struct ExecScratch {
    pub calls: Vec<Call>,
    inner: Vec<Call>,
    olds: Vec<u32>,
    packed: Vec<([u8; 48], usize, usize)>,
    memcpy: Vec<Call>,
}

impl<T: AccessTracker> Mem<'_, T> {
    #[cold]
    fn out_of_range(&mut self, slot: u32, word: u32, store: bool, count: u64) {
        let len = self.control.len();
        let pass = self.pass;
        self.sink.note(
            DiagnosticKind::OutOfRange,
            (slot as u64) << 1 | store as u64,
            count,
            || {
                let what = if store {
                    "stores to"
                } else {
                    "reads"
                };
                let effect = if store { "the store is dropped" } else { "it reads 0" };
                (
                    Some(pass),
                    Some(slot),
                    Some(word as u64),
                    format!(
                        "slot {slot} {what} control[{word}], past the {len}-word control buffer; {effect}"
                    ),
                )
            },
        );
    }

    #[inline]
    pub fn load(&mut self, slot: u32, i: u32) -> u32 {
        match self.control.get(i as usize) {
            Some(&v) => {
                self.trk.read(i, slot, v);
                v
            }
            None => {
                self.out_of_range(slot, i, false, 1);
                0
            }
        }
    }

    /// A plain store (the kernel's atomic exchange); returns the old value.
    #[inline]
    pub fn store(&mut self, slot: u32, i: u32, v: u32) -> u32 {
        match self.control.get_mut(i as usize) {
            Some(w) => {
                let old = *w;
                *w = v;
                self.trk.store(i, slot, old, v);
                old
            }
            None => {
                self.out_of_range(slot, i, true, 1);
                0
            }
        }
    }

    /// Wrapping atomic add; returns the old value.
    #[inline]
    pub fn add(&mut self, slot: u32, i: u32, v: u32) -> u32 {
        match self.control.get_mut(i as usize) {
            Some(w) => {
                let old = *w;
                *w = old.wrapping_add(v);
                self.trk.add(i, slot, old, v);
                old
            }
            None => {
                self.out_of_range(slot, i, true, 1);
                0
            }
        }
    }

    /// Adds a tally's count to word `i` (always in range: METRICS and DONE_COUNT), telling
    /// the tracker about its lowest and highest slot with the whole amount.
    #[inline]
    pub fn add_tally(&mut self, i: u32, t: &SlotTally) {
        if t.n == 0 {
            return;
        }
        let w = &mut self.control[i as usize];
        let old = *w;
        *w = old.wrapping_add(t.n);
        if T::ENABLED {
            if t.second == t.first {
                self.trk.add(i, t.first, old, t.n);
            } else {
                self.trk.add(i, t.first, old, 1);
                self.trk.add(i, t.second, old.wrapping_add(1), t.n - 1);
            }
        }
    }

    /// Compare-and-swap; success is `old == expected`.
    #[inline]
    pub fn cas(&mut self, slot: u32, i: u32, expected: u32, new: u32) -> u32 {
        let old = self.load(slot, i);
        if old == expected && (i as usize) < self.control.len() {
            self.store(slot, i, new);
        }
        old
    }

    /// The tenant lookup: `control[control[2] + tenant]`, both reads attributed to `slot`.
    #[inline]
    pub fn tenant_mask(&mut self, slot: u32, tenant: u32) -> u32 {
        let base = self.load(slot, crate::abi::control::TENANT_BASE as u32);
        self.load(slot, base.wrapping_add(tenant))
    }

    /// A claimed slot whose tenant id reads its mask outside the 29-word mask table.
    #[inline]
    pub fn note_if_aliased(&mut self, slot: u32, tenant: u32) {
        if tenant < crate::abi::layout::MAX_ENCODED_TENANT_MASKS {
            return;
        }
        let pass = self.pass;
        let base = self.control[crate::abi::control::TENANT_BASE];
        self.sink.note(DiagnosticKind::AliasedTenant, tenant as u64, 1, || {
            let index = base.wrapping_add(tenant);
            (Some(pass), Some(slot), Some(index as u64), format!(
                "slot {slot} ran as tenant {tenant}, whose mask lookup control[{index}] ({}) lies outside the 29-word mask table; it was authorized by whatever that word holds",
                crate::abi::control::word_name(index as usize)
            ))
        });
    }

    fn note_unknown(&mut self, c: &Call, inner: bool) {
        let op = Opcode(c.op);
        let pass = self.pass;
        let (kind, why) = crate::engine::diagnostics::unhandled_op(op);
        let where_ = if inner {
            "a packed inner op of slot"
        } else {
            "slot"
        };
        self.sink.note(kind, c.op as u64, 1, || {
            (
                Some(pass),
                Some(c.slot),
                None,
                format!("{where_} {}: {why}", c.slot),
            )
        });
    }

    /// §4.2 steps 2 and 3 for `calls` (ascending lane order).
    pub fn run_ops(
        &mut self,
        calls: &[Call],
        olds: &mut Vec<u32>,
        memcpy: &mut Vec<Call>,
        inner: bool,
    ) {
        let mut present = 0u32;
        let mut metrics = [SlotTally::EMPTY; 32];
        for c in calls {
            if c.op < 32 {
                metrics[c.op as usize].count(c.slot);
            }
            present |= match Opcode(c.op) {
                Opcode::STORE_U32 => 1 << 1,
                Opcode::ATOMIC_ADD => 1 << 2,
                Opcode::LOAD_U32 => 1 << 3,
                Opcode::COMPARE_SWAP => 1 << 4,
                Opcode::MEMCPY => 1 << 5,
                Opcode::BATCH_FENCE => 1 << 7,
                Opcode::PRINTF => 1 << 8,
                Opcode::SHUTDOWN => 1 << 9,
                Opcode::NOP | Opcode::PACKED_SLOT => 0,
                _ => {
                    self.note_unknown(c, inner);
                    0
                }
            };
        }
        for (op, t) in metrics.iter().enumerate() {
            self.add_tally(METRICS as u32 + op as u32, t);
        }
        if present & (1 << 1) != 0 {
            for c in calls.iter().filter(|c| c.op == Opcode::STORE_U32.0) {
                self.store(c.slot, c.a1, c.a0);
            }
        }
        if present & (1 << 2) != 0 {
            for c in calls.iter().filter(|c| c.op == Opcode::ATOMIC_ADD.0) {
                self.add(c.slot, c.a1, c.a0);
            }
        }
        if present & (1 << 3) != 0 {
            for c in calls.iter().filter(|c| c.op == Opcode::LOAD_U32.0) {
                let v = self.load(c.slot, c.a0);
                self.store(c.slot, (OBSERVABLE as u32).wrapping_add(c.a1), v);
            }
        }
        if present & (1 << 4) != 0 {
            olds.clear();
            for c in calls.iter().filter(|c| c.op == Opcode::COMPARE_SWAP.0) {
                olds.push(self.cas(c.slot, c.a0, c.a1, c.a2));
            }
            for (c, &old) in calls
                .iter()
                .filter(|c| c.op == Opcode::COMPARE_SWAP.0)
                .zip(olds.iter())
            {
                self.store(c.slot, (OBSERVABLE as u32).wrapping_add(c.a0), old);
            }
        }
        if present & (1 << 5) != 0 {
            memcpy.clear();
            memcpy.extend(calls.iter().filter(|c| c.op == Opcode::MEMCPY.0));
            self.memcpy_lockstep(memcpy);
        }
        if present & (1 << 7) != 0 {
            for c in calls.iter().filter(|c| c.op == Opcode::BATCH_FENCE.0) {
                self.add(c.slot, EPOCH as u32, 1);
            }
            for c in calls.iter().filter(|c| c.op == Opcode::BATCH_FENCE.0) {
                self.store(c.slot, OBSERVABLE as u32, c.a1);
            }
        }
        if present & (1 << 8) != 0 {
            self.printf(calls, olds);
        }
        if present & (1 << 9) != 0 {
            for c in calls.iter().filter(|c| c.op == Opcode::SHUTDOWN.0) {
                self.store(c.slot, SHUTDOWN as u32, 1);
                self.counters.shutdown_ran = true;
            }
        }
    }

    /// PRINTF: every lane reserves (cursor += 4) in lane order, then the records that fit
    /// below the compile-time bound of 257 words are written.
    fn printf(&mut self, calls: &[Call], bases: &mut Vec<u32>) {
        bases.clear();
        for _ in calls.iter().filter(|c| c.op == Opcode::PRINTF.0) {
            let old = self.debug[0];
            self.debug[0] = old.wrapping_add(4);
            bases.push(old.wrapping_add(1));
        }
        for (c, &base) in calls
            .iter()
            .filter(|c| c.op == Opcode::PRINTF.0)
            .zip(bases.iter())
        {
            self.counters.debug_records += 1;
            if base as u64 + 4 <= DEBUG_LOG_WORDS as u64 {
                let b = base as usize;
                self.debug[b..b + 4].copy_from_slice(&[
                    c.a0,
                    c.a1,
                    c.a2,
                    c.slot.wrapping_mul(SLOT_WORDS as u32),
                ]);
            } else {
                self.counters.debug_dropped += 1;
            }
        }
    }

    /// MEMCPY in lockstep: word i of every lane before word i + 1. Only steps whose store
    /// lands in range have an effect; the others are counted as out-of-range in bulk.
    fn memcpy_lockstep(&mut self, lanes: &[Call]) {
        let len = self.control.len() as u64;
        // (lane index, step range) pieces with an in-range store
        let mut pieces: Vec<(usize, u64, u64)> = Vec::new();
        for (li, c) in lanes.iter().enumerate() {
            let count = c.a2 as u64;
            let eff = effective_steps(c.a1, count, len);
            let eff_total: u64 = eff.iter().map(|r| r.1 - r.0).sum();
            if count > eff_total {
                self.out_of_range(
                    c.slot,
                    first_out_of_range(c.a1, len),
                    true,
                    count - eff_total,
                );
            }
            let src_in = effective_steps(c.a0, count, len)
                .iter()
                .map(|r| r.1 - r.0)
                .sum::<u64>();
            if count > src_in {
                self.out_of_range(c.slot, first_out_of_range(c.a0, len), false, count - src_in);
            }
            for r in eff {
                if r.1 > r.0 {
                    pieces.push((li, r.0, r.1));
                }
            }
        }
        if pieces.is_empty() {
            return;
        }
        if lanes.len() == 1 || pieces.len() == 1 {
            for (li, a, b) in pieces {
                let c = lanes[li];
                for i in a..b {
                    self.copy_word(&c, i);
                }
            }
            return;
        }
        // Sweep the step axis: inside each segment the set of lanes is fixed.
        let mut bounds: Vec<u64> = pieces.iter().flat_map(|p| [p.1, p.2]).collect();
        bounds.sort_unstable();
        bounds.dedup();
        let mut active: Vec<usize> = Vec::new();
        for w in bounds.windows(2) {
            let (a, b) = (w[0], w[1]);
            active.clear();
            active.extend(pieces.iter().filter(|p| p.1 <= a && a < p.2).map(|p| p.0));
            active.sort_unstable();
            for i in a..b {
                for &li in &active {
                    let c = lanes[li];
                    self.copy_word(&c, i);
                }
            }
        }
    }

    #[inline]
    fn copy_word(&mut self, c: &Call, i: u64) {
        let src = (c.a0 as u64 + i) as u32;
        let dst = (c.a1 as u64 + i) as u32;
        let v = match self.control.get(src as usize) {
            Some(&v) => {
                self.trk.read(src, c.slot, v);
                v
            }
            None => 0, // counted in bulk by memcpy_lockstep
        };
        let w = &mut self.control[dst as usize];
        let old = *w;
        *w = v;
        self.trk.store(dst, c.slot, old, v);
    }

    /// §4.2 for every claimed lane in `claimed` (ascending lane order): load the op and
    /// arguments, run the handler chain, the packed inner ops, DONE_COUNT, then status DONE.
    pub fn execute(&mut self, scratch: &mut ExecScratch) {
        let ExecScratch {
            calls,
            inner,
            olds,
            packed,
            memcpy,
        } = scratch;
        if calls.is_empty() {
            return;
        }
        self.counters.executed += calls.len() as u64;
        self.run_ops(calls, olds, memcpy, false);
        // step 4: PACKED_SLOT inner ops, op i of every packed lane before op i + 1
        packed.clear();
        for (li, c) in calls.iter().enumerate() {
            if c.op == Opcode::PACKED_SLOT.0 {
                let base = c.slot as usize * SLOT_WORDS + W_ARGS;
                let mut bytes = [0u8; 48];
                for j in 0..ARG_WORDS {
                    bytes[4 * j..4 * j + 4].copy_from_slice(&self.ring[base + j].to_le_bytes());
                }
                let n = (bytes[0] as usize).min(PACKED_MAX_OPS);
                let meta = (2 + 2 * n).div_ceil(4);
                packed.push((bytes, li, meta));
            }
        }
        if !packed.is_empty() {
            for i in 0..PACKED_MAX_OPS {
                inner.clear();
                for (bytes, li, meta) in packed.iter() {
                    let slot = calls[*li].slot;
                    let n = (bytes[0] as usize).min(PACKED_MAX_OPS);
                    if i >= n {
                        continue;
                    }
                    let base = meta + bytes[3 + 2 * i] as usize;
                    if base + 3 > ARG_WORDS {
                        let pass = self.pass;
                        self.sink.note(DiagnosticKind::PackedClamped, slot as u64, 1, || {
                            (Some(pass), Some(slot), None, format!(
                                "slot {slot}: packed op {i} reads arguments from word {base}, past the 12 argument words; the kernel skips it"
                            ))
                        });
                        continue;
                    }
                    let w = slot as usize * SLOT_WORDS + W_ARGS + base;
                    inner.push(Call {
                        slot,
                        op: bytes[2 + 2 * i] as u32,
                        a0: self.ring[w],
                        a1: self.ring[w + 1],
                        a2: self.ring[w + 2],
                    });
                }
                if !inner.is_empty() {
                    self.run_ops(inner, olds, memcpy, true);
                }
            }
            for (bytes, li, _) in packed.iter() {
                if bytes[0] as usize > PACKED_MAX_OPS {
                    let slot = calls[*li].slot;
                    let raw = bytes[0];
                    let pass = self.pass;
                    self.sink.note(DiagnosticKind::PackedClamped, slot as u64, 1, || {
                        (Some(pass), Some(slot), None, format!(
                            "slot {slot}: packed count byte is {raw}; the kernel runs only the first {PACKED_MAX_OPS} inner ops"
                        ))
                    });
                }
            }
        }
        // step 5 and 6
        let mut done = SlotTally::EMPTY;
        for c in calls.iter() {
            done.count(c.slot);
        }
        self.add_tally(DONE_COUNT as u32, &done);
        for c in calls.iter() {
            self.ring[c.slot as usize * SLOT_WORDS + W_STATUS] = status::DONE;
        }
    }

    /// Pushes the call for slot `slot` (its op and a0..a2 from the ring).
    #[inline]
    pub fn call_for(ring: &[u32], slot: u32) -> Call {
        let b = slot as usize * SLOT_WORDS;
        Call {
            slot,
            op: ring[b + W_OPCODE],
            a0: ring[b + W_ARGS],
            a1: ring[b + W_ARGS + 1],
            a2: ring[b + W_ARGS + 2],
        }
    }
}

/// The first out-of-range index a copy starting at `start` touches: `start` itself, or the
/// buffer's end when it runs off it.
fn first_out_of_range(start: u32, len: u64) -> u32 {
    if start as u64 >= len {
        start
    } else {
        len as u32
    }
}

/// The loop steps `i < count` whose index `(dst + i) mod 2^32` lies below `len`, as at most
/// two half-open ranges. Other steps touch nothing (their store is dropped).
pub(crate) fn effective_steps(dst: u32, count: u64, len: u64) -> [(u64, u64); 2] {
    let dst = dst as u64;
    let first = if dst < len {
        (0, count.min(len - dst))
    } else {
        (0, 0)
    };
    let wrap = (1u64 << 32) - dst; // the step at which dst + i wraps to 0
    let second = if dst != 0 && wrap < count {
        (wrap, count.min(wrap + len))
    } else {
        (0, 0)
    };
    [first, second]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(dst: u32, count: u64, len: u64) -> u64 {
        (0..count)
            .filter(|i| ((dst as u64 + i) & 0xFFFF_FFFF) < len)
            .count() as u64
    }

    #[test]
    fn effective_steps_match_brute_force() {
        let len = 170u64;
        for dst in [
            0u32,
            5,
            169,
            170,
            1000,
            u32::MAX - 3,
            u32::MAX,
            u32::MAX - 200,
        ] {
            for count in [0u64, 1, 4, 10, 300, 500] {
                let e = effective_steps(dst, count, len);
                let total: u64 = e.iter().map(|r| r.1.saturating_sub(r.0)).sum();
                assert_eq!(total, brute(dst, count, len), "dst {dst} count {count}");
                for r in e {
                    for i in r.0..r.1 {
                        assert!(((dst as u64 + i) & 0xFFFF_FFFF) < len);
                    }
                }
            }
        }
    }
}
