//! The CPU reference engine: the oracle. Plain loops over plain arrays in megascope's defined
//! lockstep order (DESIGN.md §2), deterministic, never panicking whatever the buffers hold.
//!
//! A pass visits the workgroups in order; each runs one iteration of its lanes in lockstep.
//! For `once` that is the whole dispatch; looping variants repeat passes (see [`super`]).
//! `../shared/conformance/lockstep_model.py` is the same order as a small Python program.

mod exec;
mod priority;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use exec::{Counters, ExecScratch, Mem};
use priority::{LaneScratch, offsets_overlap};
pub(crate) use priority::{note_probe_race, offsets_overlap as partitions_overlap};

use super::diagnostics::{DiagnosticKind, DiagnosticSink};
use super::race::{AccessTracker, NoTracking, RaceTracker};
use super::{Backend, DispatchEnd, DispatchOptions, DispatchReport, Engine, EngineError, Variant};
use crate::abi::control::{ControlView, SHUTDOWN, TENANT_BASE};
use crate::abi::io_queue::{IO_PUBLISHED, IO_W_STATUS};
use crate::abi::layout::{IO_SLOT_WORDS, IO_SLOTS, SLOT_WORDS, W_STATUS, W_TENANT};
use crate::abi::status::{self, SlotStatus, StatusCounts};
use crate::resident::ResidentBuffers;

/// A dispatch in progress.
#[derive(Debug)]
struct Run {
    options: DispatchOptions,
    workgroup_size: u32,
    /// Workgroups whose lanes saw SHUTDOWN and returned.
    returned: Vec<bool>,
    passes: u32,
    end: Option<DispatchEnd>,
    counters: Counters,
    sink: DiagnosticSink,
    elapsed: Duration,
    /// The lowest and highest lane that probed each slot, kept only when priority
    /// partitions overlap and race analysis is on.
    probed_by: Option<HashMap<u32, (u32, u32)>>,
    /// The status counts before the dispatch, when the last dispatch left them and nothing
    /// but this dispatch's passes changed the mirror since.
    counts_before: Option<StatusCounts>,
    /// The mirror's version when this dispatch last left it: a pass-stepped dispatch may
    /// see host changes between its passes, and then its claims no longer tell the counts.
    left_at: (u64, u64),
}

/// The CPU reference engine. Reuses its scratch across dispatches.
#[derive(Debug, Default)]
pub struct CpuEngine {
    tracker: RaceTracker,
    exec: ExecScratch,
    lanes: LaneScratch,
    run: Option<Run>,
    claims: Vec<(u32, u32)>,
    /// The status counts of the last dispatch and the mirror version they describe.
    last_counts: Option<((u64, u64), StatusCounts)>,
    /// Dispatches that took their status counts from their claims (tests check the path).
    pub(crate) scans_skipped: u64,
}

impl CpuEngine {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keep every control access of the next dispatches (for `record verify`'s explanations);
    /// only dispatches with race analysis on record them.
    pub fn keep_access_log(&mut self, keep: bool) {
        self.tracker.keep_access_log(keep);
    }

    /// The last race-analysed dispatch's accesses, when kept.
    pub fn access_log(&self) -> Option<&super::race::AccessLog> {
        self.tracker.access_log()
    }

    /// Every race of the last race-analysed dispatch, uncapped: `(word, a, b)`.
    pub fn last_races(&self) -> Vec<(u32, u32, u32)> {
        self.tracker.raced_words()
    }

    /// Every claim of the dispatch in progress (or of the last one), in the order made: the
    /// slot and the status word it held before. A dispatch writes no ring word but the status
    /// of a slot it claims (CLAIMED, then DONE), so these are all the ring words it changed:
    /// the debugger builds a step's timeline delta from them instead of copying and diffing
    /// the whole ring, which at 1M slots is 64 MiB per dispatch.
    pub fn claims(&self) -> &[(u32, u32)] {
        &self.claims
    }

    /// Forgets the counts before the dispatch in progress when something else changed the
    /// mirror since this dispatch last left it.
    fn note_outside_changes(&mut self, state: &ResidentBuffers) -> Result<(), EngineError> {
        let run = self.run.as_mut().ok_or(EngineError::NoDispatch)?;
        if run.left_at != state.version() {
            run.counts_before = None;
        }
        Ok(())
    }

    /// Passes run so far in the dispatch in progress.
    pub fn passes_run(&self) -> Option<u32> {
        self.run.as_ref().map(|r| r.passes)
    }

    fn pass(&mut self, state: &mut ResidentBuffers) {
        let n = state.slot_count();
        let run = self.run.as_mut().expect("pass without a dispatch");
        let bufs = state.buffers_mut();
        let io: &[u32] = bufs.io_queue;
        let (control, ring, debug) = (
            &mut bufs.control[..],
            &mut bufs.ring[..],
            &mut bufs.debug_log[..],
        );
        let claimed_before = run.counters.claimed;
        if run.options.race_analysis {
            let mut mem = Mem {
                control,
                ring,
                debug,
                trk: &mut self.tracker,
                sink: &mut run.sink,
                counters: &mut run.counters,
                pass: run.passes,
                claims: &mut self.claims,
            };
            pass_workgroups(
                &mut mem,
                io,
                n,
                run.workgroup_size,
                &run.options,
                &mut run.returned,
                &mut self.lanes,
                &mut self.exec,
                &mut run.probed_by,
            );
        } else {
            let mut mem = Mem {
                control,
                ring,
                debug,
                trk: &mut NoTracking,
                sink: &mut run.sink,
                counters: &mut run.counters,
                pass: run.passes,
                claims: &mut self.claims,
            };
            pass_workgroups(
                &mut mem,
                io,
                n,
                run.workgroup_size,
                &run.options,
                &mut run.returned,
                &mut self.lanes,
                &mut self.exec,
                &mut run.probed_by,
            );
        }
        run.passes += 1;
        let claims = run.counters.claimed - claimed_before;
        let shutdown = ControlView(state.control()).shutdown() != 0;
        run.end = if !run.options.variant.is_looping() {
            Some(DispatchEnd::OnePass)
        } else if shutdown || run.returned.iter().all(|&r| r) {
            Some(DispatchEnd::Shutdown)
        } else if claims == 0 {
            Some(DispatchEnd::Settled)
        } else if run.passes >= run.options.passes_allowed() {
            Some(DispatchEnd::PassBudget)
        } else {
            None
        };
    }
}

/// One pass over every workgroup that has not returned.
#[allow(clippy::too_many_arguments)]
fn pass_workgroups<T: AccessTracker>(
    mem: &mut Mem<'_, T>,
    io: &[u32],
    n: u32,
    wg: u32,
    options: &DispatchOptions,
    returned: &mut [bool],
    lanes: &mut LaneScratch,
    ex: &mut ExecScratch,
    probed_by: &mut Option<HashMap<u32, (u32, u32)>>,
) {
    let checks_shutdown = options.variant.is_looping() || options.once_checks_shutdown;
    for (g, gone) in returned.iter_mut().enumerate() {
        if *gone {
            continue;
        }
        let range = g as u32 * wg..(g as u32 + 1) * wg;
        let shutdown_seen = if checks_shutdown {
            let v = mem.control[SHUTDOWN];
            if v != 0 {
                *gone = true;
                continue;
            }
            Some(v)
        } else {
            None
        };
        match options.variant {
            Variant::Once | Variant::Persistent => mem.direct_pass(range, shutdown_seen, ex),
            Variant::Priority => {
                mem.priority_pass(range, n, shutdown_seen, lanes, ex, probed_by);
                io_loop(mem, io);
            }
        }
    }
}

/// The priority variant's IO-servicing loop needs capability tables outside the four
/// buffers; vyre's reference fails on a PUBLISHED IO slot. megascope leaves it untouched and
/// says so.
fn io_loop<T: AccessTracker>(mem: &mut Mem<'_, T>, io: &[u32]) {
    for q in 0..IO_SLOTS.min(io.len() / IO_SLOT_WORDS) {
        if io[q * IO_SLOT_WORDS + IO_W_STATUS] == IO_PUBLISHED {
            let pass = mem.pass;
            mem.sink.note(DiagnosticKind::IoUnserviced, q as u64, 1, || {
                (Some(pass), None, None, format!(
                    "IO slot {q} is PUBLISHED: the priority kernel's IO loop copies between capability tables that are not among the four buffers, so megascope leaves it PUBLISHED (vyre's reference fails here)"
                ))
            });
        }
    }
}

impl<T: AccessTracker> Mem<'_, T> {
    /// One pass of the direct variants (ABI.md §5.2): lane i owns slot i. Only the lane's own
    /// slot is read or written in the ring and no control word is written before the
    /// handlers run, so the status, tenant, mask and claim steps can share one loop.
    fn direct_pass(
        &mut self,
        lanes: std::ops::Range<u32>,
        shutdown_seen: Option<u32>,
        ex: &mut ExecScratch,
    ) {
        ex.calls.clear();
        for s in lanes {
            let b = s as usize * SLOT_WORDS;
            if self.ring[b + W_STATUS] != status::PUBLISHED {
                continue;
            }
            let tenant = self.ring[b + W_TENANT];
            let base = self.load(s, TENANT_BASE as u32);
            let mask = self.load(s, base.wrapping_add(tenant));
            if mask == 0 {
                continue;
            }
            self.ring[b + W_STATUS] = status::CLAIMED;
            self.claims.push((s, status::PUBLISHED));
            self.note_if_aliased(s, tenant);
            if let Some(v) = shutdown_seen {
                self.trk.read(SHUTDOWN as u32, s, v);
            }
            ex.calls.push(Mem::<T>::call_for(self.ring, s));
        }
        self.counters.claimed += ex.calls.len() as u64;
        self.execute(ex);
    }
}

impl Engine for CpuEngine {
    fn backend(&self) -> Backend {
        Backend::Cpu
    }

    fn slot_count(&self) -> Option<u32> {
        None
    }

    fn in_dispatch(&self) -> bool {
        self.run.is_some()
    }

    fn begin_dispatch(
        &mut self,
        state: &mut ResidentBuffers,
        options: &DispatchOptions,
    ) -> Result<(), EngineError> {
        state.validate()?;
        let n = state.slot_count();
        let wg = options.resolve_workgroup_size(n)?;
        let groups = if n == 0 { 0 } else { (n / wg) as usize };
        let mut sink = DiagnosticSink::new(options.dispatch_index);
        let view = state.control_view();
        if (options.variant.is_looping() || options.once_checks_shutdown)
            && view.shutdown() != 0
            && groups > 0
        {
            let v = view.shutdown();
            sink.note(DiagnosticKind::ShutdownSet, 0, 1, || {
                (Some(0), None, Some(SHUTDOWN as u64), format!(
                    "SHUTDOWN (control[0]) is already {v}, so every lane returns at once and nothing runs; write 0 to control[0] to run again"
                ))
            });
        }
        let probed_by = (options.race_analysis
            && options.variant == Variant::Priority
            && offsets_overlap(&view.priority_offsets()))
        .then(HashMap::new);
        if options.race_analysis {
            self.tracker.begin(state.control().len());
        }
        self.claims.clear();
        let counts_before = self
            .last_counts
            .take()
            .filter(|(v, _)| *v == state.version())
            .map(|(_, c)| c);
        self.run = Some(Run {
            options: *options,
            workgroup_size: wg,
            returned: vec![false; groups],
            passes: 0,
            end: if groups == 0 {
                Some(if options.variant.is_looping() {
                    DispatchEnd::Settled
                } else {
                    DispatchEnd::OnePass
                })
            } else {
                None
            },
            counters: Counters::default(),
            sink,
            elapsed: Duration::ZERO,
            probed_by,
            counts_before,
            left_at: state.version(),
        });
        Ok(())
    }

    fn run_passes(
        &mut self,
        state: &mut ResidentBuffers,
        max_passes: u32,
    ) -> Result<bool, EngineError> {
        let t0 = Instant::now();
        let mut ran = 0;
        self.note_outside_changes(state)?;
        loop {
            let run = self.run.as_ref().ok_or(EngineError::NoDispatch)?;
            if run.end.is_some() || ran >= max_passes {
                break;
            }
            self.pass(state);
            ran += 1;
        }
        let run = self.run.as_mut().ok_or(EngineError::NoDispatch)?;
        run.elapsed += t0.elapsed();
        run.left_at = state.version();
        Ok(run.end.is_some())
    }

    fn finish_dispatch(
        &mut self,
        state: &mut ResidentBuffers,
    ) -> Result<DispatchReport, EngineError> {
        let t0 = Instant::now();
        self.note_outside_changes(state)?;
        let mut run = self.run.take().ok_or(EngineError::NoDispatch)?;
        let end = run.end.unwrap_or(DispatchEnd::PassBudget);
        if run.options.race_analysis {
            self.tracker.report(&mut run.sink);
        }
        if let Some(probed_by) = &run.probed_by {
            priority::note_probe_races(probed_by, &mut run.sink);
        }
        let mut sink = std::mem::take(&mut run.sink);
        let status_counts = match run
            .counts_before
            .map(|c| counts_after(c, &self.claims, state))
        {
            Some(c) if !may_explain_a_slot(&c, run.options.variant) => {
                self.scans_skipped += 1;
                c
            }
            _ => end_of_dispatch_scan(state, &run, end, &mut sink),
        };
        run.sink = sink;
        self.last_counts = Some((state.version(), status_counts));
        let counters = &run.counters;
        if counters.debug_dropped > 0 {
            let (dropped, reserved, cursor) = (
                counters.debug_dropped,
                counters.debug_records,
                state.debug_log()[0],
            );
            run.sink.note(DiagnosticKind::DebugOverflow, 0, dropped, || {
                (None, None, None, format!(
                    "{dropped} of the {reserved} PRINTF records of this dispatch were dropped: the log holds 64 records and its cursor is at {cursor}; reset the state to clear it"
                ))
            });
        }
        let (diagnostics, diagnostics_omitted) = std::mem::take(&mut run.sink).finish();
        Ok(DispatchReport {
            dispatch_index: run.options.dispatch_index,
            backend: Backend::Cpu,
            variant: run.options.variant,
            workgroup_size: run.workgroup_size,
            passes: run.passes,
            end,
            claimed: run.counters.claimed,
            executed: run.counters.executed,
            claims_per_level: run.counters.claims_per_level,
            debug_records: run.counters.debug_records,
            debug_dropped: run.counters.debug_dropped,
            status_counts,
            race_analysis: if run.options.race_analysis {
                super::RaceCoverage::Full
            } else {
                super::RaceCoverage::Off
            },
            diagnostics,
            diagnostics_omitted,
            elapsed: run.elapsed + t0.elapsed(),
        })
    }
}

/// The status counts after a dispatch from those before it: only the slots it claimed
/// changed status. Saves a pass over every slot's 64-byte line (3.6 ms at 1M slots) when
/// [`may_explain_a_slot`] says the end-of-dispatch scan has nothing to explain.
fn counts_after(
    before: StatusCounts,
    claims: &[(u32, u32)],
    state: &ResidentBuffers,
) -> StatusCounts {
    let bucket = |w: u32| SlotStatus::from_word(w).histogram_index();
    let mut c = before.0;
    // A slot is claimed at most once a dispatch: claims take PUBLISHED (YIELD, REQUEUE) slots
    // and leave them CLAIMED or DONE, which no lane claims, and the engine writes no other
    // status.
    for &(slot, old) in claims {
        let now = state.ring()[slot as usize * SLOT_WORDS + W_STATUS];
        c[bucket(old)] -= 1;
        c[bucket(now)] += 1;
    }
    StatusCounts(c)
}

/// Whether the end-of-dispatch scan could note anything: it explains slots left waiting
/// (PUBLISHED; also YIELD and REQUEUE in the priority scan) and slots left CLAIMED.
fn may_explain_a_slot(c: &StatusCounts, variant: Variant) -> bool {
    let waiting = if variant == Variant::Priority {
        [
            SlotStatus::Published,
            SlotStatus::Yield,
            SlotStatus::Requeue,
        ]
        .iter()
        .map(|&s| c.get(s))
        .sum::<u64>()
    } else {
        c.get(SlotStatus::Published)
    };
    waiting > 0 || c.get(SlotStatus::Claimed) > 0
}

/// Counts statuses and explains every slot left waiting: stuck behind a disabled tenant,
/// outside every priority partition, abandoned by SHUTDOWN, starving, or CLAIMED forever.
fn end_of_dispatch_scan(
    state: &ResidentBuffers,
    run: &Run,
    end: DispatchEnd,
    sink: &mut DiagnosticSink,
) -> StatusCounts {
    let view = state.control_view();
    let priority = run.options.variant == Variant::Priority;
    let offsets = view.priority_offsets();
    let mut counts = [0u64; 9];
    let stuck_claimed_noted = sink.has(DiagnosticKind::StuckClaimed);
    for (s, slot) in state.ring().chunks_exact(SLOT_WORDS).enumerate() {
        let st = slot[W_STATUS];
        counts[if st < 8 { st as usize } else { 8 }] += 1;
        let s = s as u32;
        let waiting = st == status::PUBLISHED
            || (priority && SlotStatus::from_word(st).is_priority_schedulable());
        if waiting {
            let tenant = slot[W_TENANT];
            let index = view.tenant_mask_index(tenant);
            if view.tenant_mask(tenant) == 0 {
                let aliased = view.tenant_is_aliased(tenant);
                sink.note(DiagnosticKind::StuckTenant, tenant as u64, 1, || {
                    (None, Some(s), Some(index as u64), format!(
                        "slots of tenant {tenant} stay PUBLISHED: its mask control[{index}] ({}) reads 0{}; write a non-zero mask there to let them run",
                        crate::abi::control::word_name(index as usize),
                        if aliased { " — tenant ids of 29 and above read outside the 29-word mask table" } else { "" }
                    ))
                });
            } else if priority && !(0..5).any(|p| offsets[p] <= s && s < offsets[p + 1]) {
                sink.note(DiagnosticKind::Unscheduled, 0, 1, || {
                    (None, Some(s), None, format!(
                        "slot {s} lies in no priority partition (offsets {offsets:?}), so the scan never probes it; adjust control[129..135]"
                    ))
                });
            } else if run.counters.shutdown_ran || end == DispatchEnd::Shutdown {
                sink.note(DiagnosticKind::ShutdownWithWork, 0, 1, || {
                    (None, Some(s), None, format!(
                        "SHUTDOWN stopped the kernel while slot {s} (and maybe others) was still waiting; it will run only after control[0] is cleared"
                    ))
                });
            } else if run.options.variant.is_looping()
                && (end == DispatchEnd::PassBudget || run.passes >= run.options.starvation_passes)
            {
                let passes = run.passes;
                sink.note(DiagnosticKind::Starvation, 0, 1, || {
                    (None, Some(s), None, format!(
                        "slot {s} waited through all {passes} passes of this dispatch without being claimed"
                    ))
                });
            }
        } else if st == status::CLAIMED && !stuck_claimed_noted {
            sink.note(DiagnosticKind::StuckClaimed, 0, 1, || {
                (
                    None,
                    Some(s),
                    None,
                    format!("slot {s} is CLAIMED after the dispatch; no lane will finish it"),
                )
            });
        }
    }
    StatusCounts(counts)
}

#[cfg(test)]
pub(crate) mod tests;
