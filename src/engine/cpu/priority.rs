//! One pass of the priority variant for one workgroup (ABI.md §5.4), in lockstep: per level,
//! the partition offsets, then each probe round (status, tenant, mask, CAS), then the winners'
//! starvation, tenant-fairness and priority-fairness updates; after the five levels the
//! claimed lanes re-read their mask and execute.

use std::collections::HashMap;

use super::exec::{ExecScratch, Mem};
use crate::abi::control::{
    PRIORITY_FAIRNESS, PRIORITY_OFFSETS, STARVATION, STARVATION_THRESHOLD, TENANT_FAIRNESS,
};
use crate::abi::layout::{SLOT_WORDS, W_STATUS, W_TENANT};
use crate::abi::status::{self, SlotStatus};
use crate::engine::diagnostics::DiagnosticKind;
use crate::engine::race::{AccessTracker, SCHEDULER};

/// Per-lane state of one workgroup's scan.
#[derive(Debug, Default)]
pub(crate) struct LaneScratch {
    claimed: Vec<bool>,
    slot: Vec<u32>,
    tenant: Vec<u32>,
    hits: Vec<(u32, u32, u32)>,         // (round k, lane index, slot)
    probe: Vec<(usize, u32, u32, u32)>, // (lane index, slot, status, tenant)
    per_lane: Vec<(u32, u32)>,
}

/// Slots lane `lm` probes in a partition `[start, start+len)` with `probes` rounds and stride
/// `s`, as `(round, slot)` in ascending round order, keeping only slots below `n`.
///
/// Normal partitions take one round. Garbage offsets can make `probes` as large as 2³²/s;
/// rather than walk every round, the rounds that land below `n` are computed: for every round
/// but the last, `lm + k·s < len`, so the probed slot is `start + lm + k·s (mod 2³²)`, which
/// climbs by `s = n` and falls below `n` exactly once per wrap of 2³².
pub(crate) fn probe_hits(
    start: u32,
    len: u32,
    probes: u32,
    lm: u32,
    s: u32,
    n: u32,
    out: &mut Vec<(u32, u32)>,
) {
    let slot_of = |k: u32| -> u32 {
        let x = (lm as u64 + k as u64 * s as u64) as u32;
        start.wrapping_add(x % len)
    };
    if probes <= 64 {
        for k in 0..probes {
            let i = slot_of(k);
            if i < n {
                out.push((k, i));
            }
        }
        return;
    }
    let last = (probes - 1) as u64;
    let two32 = 1u64 << 32;
    let s64 = s as u64;
    let mut k = 0u64;
    let mut v = start.wrapping_add(lm) as u64;
    while k < last {
        if v < n as u64 {
            out.push((k as u32, v as u32));
        }
        let steps = (two32 - v).div_ceil(s64);
        k += steps;
        v = v + steps * s64 - two32;
    }
    let i = slot_of(last as u32);
    if i < n {
        out.push((last as u32, i));
    }
}

/// The probe races of a dispatch: every slot two lanes probed, ascending, naming its lowest
/// and highest prober (the GPU engine keeps the same two with atomic min/max).
pub(crate) fn note_probe_races(
    probed_by: &HashMap<u32, (u32, u32)>,
    sink: &mut crate::engine::diagnostics::DiagnosticSink,
) {
    let mut slots: Vec<(u32, (u32, u32))> = probed_by
        .iter()
        .filter(|(_, (lo, hi))| lo != hi)
        .map(|(&s, &l)| (s, l))
        .collect();
    slots.sort_unstable();
    for (slot, (lo, hi)) in slots {
        note_probe_race(sink, slot, lo, hi);
    }
}

/// One slot probed by lanes `lo` and `hi`.
pub(crate) fn note_probe_race(
    sink: &mut crate::engine::diagnostics::DiagnosticSink,
    slot: u32,
    lo: u32,
    hi: u32,
) {
    sink.note(DiagnosticKind::Race, u64::MAX - slot as u64, 1, || {
        (None, Some(slot), None, format!(
            "lanes {lo} and {hi} both probe slot {slot}: the priority partitions overlap, so which lane (and level) claims it depends on lane order"
        ))
    });
}

/// Whether partitions can overlap (offsets not ascending), so two lanes may probe one slot.
pub(crate) fn offsets_overlap(o: &[u32; 6]) -> bool {
    o.windows(2).any(|w| w[0] > w[1])
}

impl<T: AccessTracker> Mem<'_, T> {
    /// One priority-scan iteration of the lanes `lanes` (global lane ids), then execution.
    /// `probed_by` keeps the lowest and highest lane that probed each slot when partitions
    /// may overlap ([`note_probe_races`] reports them at the end of the dispatch).
    pub fn priority_pass(
        &mut self,
        lanes: std::ops::Range<u32>,
        n: u32,
        shutdown_seen: Option<u32>,
        ls: &mut LaneScratch,
        ex: &mut ExecScratch,
        probed_by: &mut Option<HashMap<u32, (u32, u32)>>,
    ) {
        let wg = (lanes.end - lanes.start) as usize;
        let stride = n;
        ls.claimed.clear();
        ls.claimed.resize(wg, false);
        ls.slot.clear();
        ls.slot.resize(wg, 0);
        ls.tenant.clear();
        ls.tenant.resize(wg, 0);
        // step 1: every lane reads the starvation counter at the same step
        let sv = self.control[STARVATION];
        self.trk.threshold_read(STARVATION as u32, sv);
        let starving = sv >= STARVATION_THRESHOLD;
        for p in 0..5u32 {
            if starving && p <= 1 {
                continue;
            }
            if ls.claimed.iter().all(|&c| c) {
                break;
            }
            let start = self.load(SCHEDULER, PRIORITY_OFFSETS as u32 + p);
            let end = self.load(SCHEDULER, PRIORITY_OFFSETS as u32 + p + 1);
            let len = end.wrapping_sub(start);
            if len == 0 {
                continue;
            }
            let probes = len.wrapping_add(stride - 1) / stride;
            if probes == 0 {
                continue;
            }
            // rounds: collect (k, lane, slot) for lanes with lm < len
            ls.hits.clear();
            let hi = lanes.end.min(len.max(lanes.start));
            for lane in lanes.start..hi {
                let li = (lane - lanes.start) as usize;
                if ls.claimed[li] {
                    continue;
                }
                let lm = lane % stride;
                if lm >= len {
                    continue;
                }
                ls.per_lane.clear();
                probe_hits(start, len, probes, lm, stride, n, &mut ls.per_lane);
                ls.hits
                    .extend(ls.per_lane.iter().map(|&(k, s)| (k, li as u32, s)));
            }
            if ls.hits.is_empty() {
                continue;
            }
            ls.hits.sort_unstable();
            let hits = std::mem::take(&mut ls.hits);
            for round in hits.chunk_by(|a, b| a.0 == b.0) {
                self.probe_round(p, round, lanes.start, ls, probed_by);
            }
            ls.hits = hits;
        }
        // after the scan: re-read the mask for each claimed lane, then execute
        ex.calls.clear();
        for li in 0..wg {
            if !ls.claimed[li] {
                continue;
            }
            let slot = ls.slot[li];
            if let Some(v) = shutdown_seen {
                self.trk.read(crate::abi::control::SHUTDOWN as u32, slot, v);
            }
            let mask = self.tenant_mask(slot, ls.tenant[li]);
            if mask == 0 {
                let (pass, tenant) = (self.pass, ls.tenant[li]);
                self.sink.note(DiagnosticKind::StuckClaimed, slot as u64, 1, || {
                    (Some(pass), Some(slot), None, format!(
                        "slot {slot} was claimed but tenant {tenant}'s mask read 0 at the re-check, so it stays CLAIMED forever; the mask changed during the scan"
                    ))
                });
                continue;
            }
            ex.calls.push(Mem::<T>::call_for(self.ring, slot));
        }
        self.execute(ex);
    }

    /// One probe round of level `p`: status, tenant and mask for every probing lane, the CAS,
    /// then the winners' counter updates.
    fn probe_round(
        &mut self,
        p: u32,
        round: &[(u32, u32, u32)],
        lane0: u32,
        ls: &mut LaneScratch,
        probed_by: &mut Option<HashMap<u32, (u32, u32)>>,
    ) {
        ls.probe.clear();
        for &(_, li, slot) in round {
            let li = li as usize;
            if ls.claimed[li] {
                continue;
            }
            if let Some(map) = probed_by.as_mut() {
                let lane = lane0 + li as u32;
                let e = map.entry(slot).or_insert((lane, lane));
                e.0 = e.0.min(lane);
                e.1 = e.1.max(lane);
            }
            let st = self.ring[slot as usize * SLOT_WORDS + W_STATUS];
            ls.probe.push((li, slot, st, 0));
        }
        for e in ls.probe.iter_mut() {
            e.3 = self.ring[e.1 as usize * SLOT_WORDS + W_TENANT];
        }
        // mask reads, then the CAS, each for all lanes before the next step
        let mut sched: Vec<(usize, u32, u32, u32)> = Vec::with_capacity(ls.probe.len());
        for &(li, slot, st, tenant) in ls.probe.iter() {
            let mask = self.tenant_mask(slot, tenant);
            if SlotStatus::from_word(st).is_priority_schedulable() && mask != 0 {
                sched.push((li, slot, st, tenant));
            }
        }
        let mut won = Vec::with_capacity(sched.len());
        for &(li, slot, st, tenant) in &sched {
            let w = &mut self.ring[slot as usize * SLOT_WORDS + W_STATUS];
            if *w == st {
                *w = status::CLAIMED;
                self.claims.push((slot, st));
                ls.claimed[li] = true;
                ls.slot[li] = slot;
                ls.tenant[li] = tenant;
                won.push((slot, tenant));
                self.note_if_aliased(slot, tenant);
            }
        }
        for &(slot, _) in &won {
            if p <= 1 {
                self.add(slot, STARVATION as u32, 1);
            } else {
                self.store(slot, STARVATION as u32, 0);
            }
        }
        for &(slot, tenant) in &won {
            self.add(slot, TENANT_FAIRNESS as u32 + tenant % 32, 1);
        }
        for &(slot, _) in &won {
            self.add(slot, PRIORITY_FAIRNESS as u32 + p, 1);
        }
        self.counters.claimed += won.len() as u64;
        self.counters.claims_per_level[p as usize] += won.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(start: u32, len: u32, probes: u32, lm: u32, s: u32, n: u32) -> Vec<(u32, u32)> {
        (0..probes)
            .filter_map(|k| {
                let x = (lm as u64 + k as u64 * s as u64) as u32;
                let i = start.wrapping_add(x % len);
                (i < n).then_some((k, i))
            })
            .collect()
    }

    #[test]
    fn analytic_probe_rounds_match_brute_force() {
        let s = 1u32 << 20;
        let mut seed = 0x1234_5678u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200 {
            let start = next() as u32;
            let len = (next() as u32) | (1 << 27); // large: many probes
            let probes = len.wrapping_add(s - 1) / s;
            let lm = (next() as u32) % s;
            if lm >= len {
                continue;
            }
            let mut got = Vec::new();
            probe_hits(start, len, probes, lm, s, s, &mut got);
            assert_eq!(
                got,
                brute(start, len, probes, lm, s, s),
                "start {start} len {len} lm {lm}"
            );
        }
    }

    #[test]
    fn default_partitions_probe_one_slot_per_lane() {
        let mut got = Vec::new();
        probe_hits(51, 51, 1, 7, 256, 256, &mut got);
        assert_eq!(got, vec![(0, 58)]);
    }

    #[test]
    fn overlap_detection() {
        assert!(!offsets_overlap(&[0, 51, 102, 154, 205, 256]));
        assert!(offsets_overlap(&[0, 0, 10, 5, 16, 16]));
    }
}
