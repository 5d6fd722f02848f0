//! Turning the run-state header a dispatch left on the device into the report's counters and
//! [`Diagnostic`]s. Pure: it reads words, so it is tested without a device.

use super::race_state::{
    KEYED_ENTRIES, KeyedEntry, KeyedTable, RaceReadback, STEP_OP, STEP_PACKED_COUNT,
};
use super::run_state::*;
use crate::abi::control::{ControlView, PRIORITY_OFFSETS, SHUTDOWN, word_name};
use crate::abi::io_queue::{IO_PUBLISHED, IO_W_STATUS};
use crate::abi::layout::{DEBUG_LOG_WORDS, IO_SLOT_WORDS, IO_SLOTS};
use crate::abi::opcode::Opcode;
use crate::abi::slot::PACKED_MAX_OPS;
use crate::abi::status::StatusCounts;
use crate::engine::diagnostics::{Diagnostic, DiagnosticKind, DiagnosticSink};
use crate::engine::{RaceCoverage, Variant};

/// One diagnostic record of the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub count: u64,
    pub slot: Option<u32>,
    pub word: u32,
    pub extra: u32,
    pub pass: u32,
}

/// Read access to a run-state header.
#[derive(Clone, Copy, Debug)]
pub struct Header<'a>(pub &'a [u32]);

impl Header<'_> {
    fn w(&self, i: usize) -> u32 {
        self.0.get(i).copied().unwrap_or(0)
    }
    pub fn end(&self) -> Option<crate::engine::DispatchEnd> {
        decode_end(self.w(RS_END))
    }
    pub fn passes(&self) -> u32 {
        self.w(RS_PASSES)
    }
    pub fn claimed(&self) -> u64 {
        self.w(RS_CLAIMED) as u64
    }
    pub fn executed(&self) -> u64 {
        (0..SHARDS).map(|i| self.w(RS_EXECUTED + i) as u64).sum()
    }
    pub fn claims_per_level(&self) -> [u64; 5] {
        std::array::from_fn(|p| self.w(RS_LEVELS + p) as u64)
    }
    /// Workgroup-passes that ran: how many times the priority kernel's IO loop ran.
    pub fn live_group_passes(&self) -> u64 {
        self.w(RS_LIVE_GROUP_PASSES) as u64
    }
    pub fn debug_records(&self) -> u64 {
        self.w(RS_DEBUG_RECORDS) as u64
    }
    pub fn debug_dropped(&self) -> u64 {
        self.w(RS_DEBUG_DROPPED) as u64
    }
    /// SHUTDOWN was set before the first pass of a dispatch that checks it: every lane
    /// returned at once.
    pub fn shutdown_was_set(&self, checks_shutdown: bool) -> bool {
        checks_shutdown && self.w(RS_GROUPS) > 0 && self.w(RS_SHUTDOWN_AT_START) != 0
    }
    pub fn status_counts(&self) -> StatusCounts {
        StatusCounts(std::array::from_fn(|i| self.w(RS_HIST + i) as u64))
    }
    pub fn record(&self, kind: usize) -> Option<Record> {
        let b = RS_DIAG + kind * DIAG_WORDS;
        let count = self.w(b + D_COUNT_LO) as u64 | (self.w(b + D_COUNT_HI) as u64) << 32;
        (count > 0).then(|| {
            let slot = self.w(b + D_SLOT);
            Record {
                count,
                slot: (slot != NO_SLOT).then_some(slot),
                word: self.w(b + D_WORD),
                extra: self.w(b + D_EXTRA),
                pass: self.w(b + D_PASS),
            }
        })
    }
}

/// What the diagnostics need besides the header.
pub struct DiagContext<'a> {
    pub dispatch_index: u64,
    pub variant: Variant,
    /// Lanes per workgroup (the keyed diagnostics' order names a workgroup and a lane).
    pub workgroup_size: u32,
    /// The lanes read SHUTDOWN (looping variants, or `once` with the check).
    pub checks_shutdown: bool,
    pub passes: u32,
    /// The control buffer after the dispatch.
    pub control: &'a [u32],
    /// The debug log after the dispatch.
    pub debug_log: &'a [u32],
    /// The IO queue (the kernels never write it).
    pub io_queue: &'a [u32],
    /// The race analysis' readback, when it was on.
    pub races: Option<&'a RaceReadback<'a>>,
}

/// The slot the first note of `e` came from. Direct variants: lane i runs slot i. The
/// priority scan: lane l claiming at level p took slot `offsets[p] + l` whenever that
/// partition takes one probe round (it is no longer than the ring, as partitions are unless
/// their offsets are garbage); otherwise the lowest slot noted in the first pass stands in.
fn keyed_slot(e: &KeyedEntry, cx: &DiagContext, races: &RaceReadback) -> u32 {
    let lane = e.lane(cx.workgroup_size);
    if cx.variant != Variant::Priority {
        return lane;
    }
    let p = e.level() as usize;
    let start = races.initial_control(PRIORITY_OFFSETS + p);
    let len = races
        .initial_control(PRIORITY_OFFSETS + p + 1)
        .wrapping_sub(start);
    if p < 5 && len != 0 && len <= races.n && lane < len {
        start + lane
    } else {
        e.lowest_slot
    }
}

/// The keyed entries of the race analysis (`race_state::KeyedEntry`) as the CPU engine words
/// them: the slot of the first note ([`keyed_slot`]), its pass, and the count per key.
fn report_keyed(
    sink: &mut DiagnosticSink,
    entries: &[KeyedEntry],
    cx: &DiagContext,
    races: &RaceReadback,
) {
    let wg = cx.workgroup_size.max(1);
    for e in entries {
        let slot = keyed_slot(e, cx, races);
        let step = e.step(wg);
        let pass = Some(e.pass);
        match e.table {
            KeyedTable::Unknown | KeyedTable::DfaStep => {
                let (kind, why) = crate::engine::diagnostics::unhandled_op(Opcode(e.key));
                let where_ = if step > STEP_OP {
                    "a packed inner op of slot"
                } else {
                    "slot"
                };
                sink.note(kind, e.key as u64, e.count, || {
                    (pass, Some(slot), None, format!("{where_} {slot}: {why}"))
                });
            }
            KeyedTable::Aliased => {
                let (tenant, index) = (e.key, e.word);
                sink.note(DiagnosticKind::AliasedTenant, tenant as u64, e.count, || {
                    (pass, Some(slot), Some(index as u64), format!(
                        "slot {slot} ran as tenant {tenant}, whose mask lookup control[{index}] ({}) lies outside the 29-word mask table; it was authorized by whatever that word holds",
                        word_name(index as usize)
                    ))
                });
            }
            KeyedTable::Packed => {
                let slot = e.key;
                let what = if step >= STEP_PACKED_COUNT {
                    format!(
                        "packed count byte is {}; the kernel runs only the first {PACKED_MAX_OPS} inner ops",
                        e.extra
                    )
                } else {
                    format!(
                        "packed op {} reads arguments from word {}, past the 12 argument words; the kernel skips it",
                        e.extra, e.word
                    )
                };
                sink.note(DiagnosticKind::PackedClamped, slot as u64, e.count, || {
                    (pass, Some(slot), None, format!("slot {slot}: {what}"))
                });
            }
        }
    }
}

/// The diagnostics of one GPU dispatch: the cheap kinds the device counts (one entry per
/// kind, with the first or lowest slot), those the host can tell from the header, and the
/// races decided from the device's access summaries — with how complete that analysis was.
pub fn diagnostics(h: &Header, cx: &DiagContext) -> (Vec<Diagnostic>, u64, RaceCoverage) {
    let mut sink = DiagnosticSink::new(cx.dispatch_index);
    let len = cx.control.len();
    let view = ControlView(cx.control);
    if h.shutdown_was_set(cx.checks_shutdown) {
        let v = h.0.get(RS_SHUTDOWN_AT_START).copied().unwrap_or(0);
        sink.note(DiagnosticKind::ShutdownSet, 0, 1, || {
            (Some(0), None, Some(SHUTDOWN as u64), format!(
                "SHUTDOWN (control[0]) is already {v}, so every lane returns at once and nothing runs; write 0 to control[0] to run again"
            ))
        });
    }
    // with race analysis on, out-of-range accesses come back per slot, as the CPU lists them
    let per_slot_oob = cx.races.is_some_and(|r| r.has_oob());
    if let Some(races) = cx.races.filter(|_| per_slot_oob) {
        races.report_out_of_range(&mut sink);
    }
    for (kind, store) in [(DK_OOB_LOAD, false), (DK_OOB_STORE, true)] {
        if per_slot_oob {
            break;
        }
        if let Some(r) = h.record(kind) {
            let (what, effect) = if store {
                ("stores to", "the store is dropped")
            } else {
                ("reads", "it reads 0")
            };
            sink.note(DiagnosticKind::OutOfRange, store as u64, r.count, || {
                let slot = slot_text(r.slot);
                (Some(r.pass), r.slot.filter(|&s| s < crate::engine::race::SCHEDULER), Some(r.word as u64), format!(
                    "{slot} {what} control[{}], past the {len}-word control buffer; {effect} ({} such accesses in this dispatch; the slot shown is the first the GPU saw)",
                    r.word, r.count
                ))
            });
        }
    }
    // with race analysis on, these come back per opcode, tenant and slot, as the CPU lists them
    match cx.races.and_then(|r| Some((r, r.keyed()?))) {
        Some((races, entries)) => report_keyed(&mut sink, &entries, cx, races),
        None => {
            // with the analysis on, its tables had no room for every key: say so
            let once = if cx.races.is_some() {
                format!(
                    "; more distinct opcodes, tenants or packed slots than the race analysis lists one by one ({KEYED_ENTRIES} a kind), so this one entry stands for all of them"
                )
            } else {
                String::new()
            };
            if let Some(r) = h.record(DK_UNKNOWN) {
                sink.note(
                    DiagnosticKind::UnknownOpcode,
                    r.extra as u64,
                    r.count,
                    || {
                        let (_, why) = crate::engine::diagnostics::unhandled_op(Opcode(r.extra));
                        (
                            Some(r.pass),
                            r.slot,
                            None,
                            format!(
                                "{}: {why} ({} ops without a handler ran in this dispatch{once})",
                                slot_text(r.slot),
                                r.count
                            ),
                        )
                    },
                );
            }
            if let Some(r) = h.record(DK_DFA_STEP) {
                sink.note(DiagnosticKind::DfaStep, Opcode::DFA_STEP.0 as u64, r.count, || {
                    (Some(r.pass), r.slot, None, format!(
                        "{}: DFA_STEP has no handler: it only counts in METRICS and ends DONE ({} in this dispatch{once})",
                        slot_text(r.slot), r.count
                    ))
                });
            }
            if let Some(r) = h.record(DK_PACKED_SKIPPED) {
                sink.note(DiagnosticKind::PackedClamped, 0, r.count, || {
                    (Some(r.pass), r.slot, None, format!(
                        "{}: packed op {} reads arguments from word {}, past the 12 argument words; the kernel skips it ({} skipped in this dispatch{once})",
                        slot_text(r.slot), r.extra, r.word, r.count
                    ))
                });
            }
            if let Some(r) = h.record(DK_PACKED_COUNT) {
                sink.note(DiagnosticKind::PackedClamped, 1, r.count, || {
                    (Some(r.pass), r.slot, None, format!(
                        "{}: packed count byte is {}; the kernel runs only the first {PACKED_MAX_OPS} inner ops{once}",
                        slot_text(r.slot), r.extra
                    ))
                });
            }
            if let Some(r) = h.record(DK_ALIASED) {
                sink.note(DiagnosticKind::AliasedTenant, r.extra as u64, r.count, || {
                    (Some(r.pass), r.slot, Some(r.word as u64), format!(
                        "{} ran as tenant {}, whose mask lookup control[{}] ({}) lies outside the 29-word mask table; it was authorized by whatever that word holds{once}",
                        slot_text(r.slot), r.extra, r.word, word_name(r.word as usize)
                    ))
                });
            }
        }
    }
    if let Some(r) = h.record(DK_STUCK_CLAIMED) {
        sink.note(DiagnosticKind::StuckClaimed, 0, r.count, || {
            (Some(r.pass), r.slot, None, format!(
                "{} was claimed but tenant {}'s mask read 0 at the re-check, so it stays CLAIMED forever; the mask changed during the scan",
                slot_text(r.slot), r.extra
            ))
        });
    } else if let Some(r) = h.record(DK_CLAIMED_AT_END) {
        sink.note(DiagnosticKind::StuckClaimed, 0, r.count, || {
            (
                None,
                r.slot,
                None,
                format!(
                    "{} is CLAIMED after the dispatch ({} slots); no lane will finish it",
                    slot_text(r.slot),
                    r.count
                ),
            )
        });
    }
    // races after the pass diagnostics and before the end scan's, as the CPU engine lists them
    let coverage = match cx.races {
        Some(races) => races.report(&mut sink),
        None => RaceCoverage::Off,
    };
    if let Some(r) = h.record(DK_STUCK_TENANT) {
        let tenant = r.extra;
        sink.note(DiagnosticKind::StuckTenant, tenant as u64, r.count, || {
            let aliased = view.tenant_is_aliased(tenant);
            (None, r.slot, Some(r.word as u64), format!(
                "{} slots stay PUBLISHED because their tenant mask reads 0; the lowest, {}, is tenant {tenant}, whose mask control[{}] ({}) reads 0{}; write a non-zero mask there to let them run",
                r.count, slot_text(r.slot), r.word, word_name(r.word as usize),
                if aliased { " — tenant ids of 29 and above read outside the 29-word mask table" } else { "" }
            ))
        });
    }
    if let Some(r) = h.record(DK_UNSCHEDULED) {
        let offsets = view.priority_offsets();
        sink.note(DiagnosticKind::Unscheduled, 0, r.count, || {
            (None, r.slot, None, format!(
                "{} (and {} waiting slots in all) lies in no priority partition (offsets {offsets:?}), so the scan never probes it; adjust control[129..135]",
                slot_text(r.slot), r.count
            ))
        });
    }
    if let Some(r) = h.record(DK_SHUTDOWN_WITH_WORK) {
        sink.note(DiagnosticKind::ShutdownWithWork, 0, r.count, || {
            (None, r.slot, None, format!(
                "SHUTDOWN stopped the kernel while {} (and {} waiting slots in all) was still waiting; it will run only after control[0] is cleared",
                slot_text(r.slot), r.count
            ))
        });
    }
    if let Some(r) = h.record(DK_STARVATION) {
        let passes = cx.passes;
        sink.note(DiagnosticKind::Starvation, 0, r.count, || {
            (None, r.slot, None, format!(
                "{} (and {} slots in all) waited through all {passes} passes of this dispatch without being claimed",
                slot_text(r.slot), r.count
            ))
        });
    }
    if cx.variant == Variant::Priority && h.live_group_passes() > 0 {
        for q in 0..IO_SLOTS.min(cx.io_queue.len() / IO_SLOT_WORDS) {
            if cx.io_queue[q * IO_SLOT_WORDS + IO_W_STATUS] == IO_PUBLISHED {
                let runs = h.live_group_passes();
                sink.note(DiagnosticKind::IoUnserviced, q as u64, runs, || {
                    (Some(0), None, None, format!(
                        "IO slot {q} is PUBLISHED: the priority kernel's IO loop copies between capability tables that are not among the four buffers, so megascope leaves it PUBLISHED (vyre's reference fails here)"
                    ))
                });
            }
        }
    }
    let dropped = h.debug_dropped();
    if dropped > 0 {
        let reserved = h.debug_records();
        let cursor = cx.debug_log.first().copied().unwrap_or(0);
        sink.note(DiagnosticKind::DebugOverflow, 0, dropped, || {
            (None, None, None, format!(
                "{dropped} of the {reserved} PRINTF records of this dispatch were dropped: the log holds {} records and its cursor is at {cursor}; reset the state to clear it",
                (DEBUG_LOG_WORDS - 1) / 4
            ))
        });
    }
    let (d, omitted) = sink.finish();
    (d, omitted, coverage)
}

fn slot_text(slot: Option<u32>) -> String {
    match slot {
        Some(s) if s == crate::engine::race::SCHEDULER => "the priority scan".to_string(),
        Some(s) => format!("slot {s}"),
        None => "a slot".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Vec<u32> {
        let plan = RunPlan::new(
            64,
            64,
            &crate::engine::DispatchOptions::default(),
            1,
            65535,
            false,
        );
        plan.initial_header()
    }

    fn record(h: &mut [u32], kind: usize, count: u64, slot: u32, word: u32, extra: u32) {
        let b = RS_DIAG + kind * DIAG_WORDS;
        h[b + D_COUNT_LO] = count as u32;
        h[b + D_COUNT_HI] = (count >> 32) as u32;
        h[b + D_TAKEN] = 1;
        h[b + D_SLOT] = slot;
        h[b + D_WORD] = word;
        h[b + D_EXTRA] = extra;
    }

    fn cx<'a>(control: &'a [u32], debug: &'a [u32], io: &'a [u32]) -> DiagContext<'a> {
        DiagContext {
            dispatch_index: 4,
            variant: Variant::Once,
            workgroup_size: 64,
            checks_shutdown: false,
            passes: 1,
            control,
            debug_log: debug,
            io_queue: io,
            races: None,
        }
    }

    #[test]
    fn empty_header_gives_no_diagnostics_and_zero_counters() {
        let h = header();
        let control = vec![0u32; 160];
        let (d, omitted, cov) = diagnostics(&Header(&h), &cx(&control, &[0; 257], &[0; 512]));
        assert_eq!(cov, RaceCoverage::Off, "no readback: the analysis was off");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(omitted, 0);
        assert_eq!(Header(&h).status_counts(), StatusCounts::default());
        assert_eq!(Header(&h).end(), None);
    }

    #[test]
    fn records_become_diagnostics_with_slot_word_and_count() {
        let mut h = header();
        record(&mut h, DK_OOB_STORE, (1 << 32) + 5, 7, 9999, 0);
        record(&mut h, DK_UNKNOWN, 2, 3, 0, 0x1234);
        record(&mut h, DK_STUCK_TENANT, 10, 12, 4, 1);
        h[RS_DEBUG_RECORDS] = 70;
        h[RS_DEBUG_DROPPED] = 6;
        let control = vec![0u32; 160];
        let mut debug = vec![0u32; 257];
        debug[0] = 280;
        let (d, _, _) = diagnostics(&Header(&h), &cx(&control, &debug, &[0; 512]));
        let oob = d
            .iter()
            .find(|d| d.kind == DiagnosticKind::OutOfRange)
            .unwrap();
        assert_eq!(
            (oob.slot, oob.word, oob.count),
            (Some(7), Some(9999), (1 << 32) + 5)
        );
        assert!(
            oob.message.contains("stores to control[9999]"),
            "{}",
            oob.message
        );
        let unk = d
            .iter()
            .find(|d| d.kind == DiagnosticKind::UnknownOpcode)
            .unwrap();
        assert_eq!((unk.slot, unk.count, unk.dispatch), (Some(3), 2, 4));
        let stuck = d
            .iter()
            .find(|d| d.kind == DiagnosticKind::StuckTenant)
            .unwrap();
        assert_eq!(
            (stuck.slot, stuck.word, stuck.count),
            (Some(12), Some(4), 10)
        );
        let over = d
            .iter()
            .find(|d| d.kind == DiagnosticKind::DebugOverflow)
            .unwrap();
        assert_eq!(over.count, 6);
        assert!(over.message.contains("cursor is at 280"));
    }

    #[test]
    fn shutdown_set_needs_a_variant_that_checks_it() {
        let mut h = header();
        h[RS_GROUPS] = 2;
        assert!(!Header(&h).shutdown_was_set(true));
        h[RS_SHUTDOWN_AT_START] = 1;
        assert!(Header(&h).shutdown_was_set(true));
        assert!(
            !Header(&h).shutdown_was_set(false),
            "0.7.2's once ignores it"
        );
        let control = vec![1u32; 160];
        let mut c = cx(&control, &[0; 257], &[0; 512]);
        assert!(diagnostics(&Header(&h), &c).0.is_empty());
        c.checks_shutdown = true;
        let (d, _, _) = diagnostics(&Header(&h), &c);
        assert!(d.iter().any(|d| d.kind == DiagnosticKind::ShutdownSet));
    }

    #[test]
    fn published_io_slots_are_reported_for_the_priority_variant_only() {
        let mut h = header();
        // three workgroup-passes ran the IO loop
        h[RS_LIVE_GROUP_PASSES] = 3;
        let control = vec![0u32; 160];
        let mut io = vec![0u32; 512];
        io[8 + IO_W_STATUS] = IO_PUBLISHED;
        let mut c = cx(&control, &[0; 257], &io);
        assert!(diagnostics(&Header(&h), &c).0.is_empty());
        c.variant = Variant::Priority;
        let (d, _, _) = diagnostics(&Header(&h), &c);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].kind, d[0].count), (DiagnosticKind::IoUnserviced, 3));
    }
}
