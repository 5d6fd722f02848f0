//! A dispatch in progress on the device: beginning it (the run-state header, indirect
//! arguments and parameters), running its passes in chunks until the gate ends it, and
//! finishing it into a [`DispatchReport`].

use std::time::{Duration, Instant};

use super::kernels::PassKey;
use super::race_state::RaceReadback;
use super::report::{self, DiagContext, Header};
use super::run_state::{
    DK_OOB_LOAD, DK_OOB_STORE, END_PASS_BUDGET, HIST_COUNTS, HIST_DIAGNOSTICS_ONLY, PARAMS_STRIDE,
    RS_END, RS_HIST_MODE, RunPlan, can_rebase, end_fused_once, groups_per_workgroup,
    needs_end_scan, next_chunk, next_serial, params_block, params_copy, rebase_header,
    returned_flags_need_clearing,
};
use super::submit::{Passes, RingReadback, Targets, scoped_submit};
use super::{GpuEngine, not_uploaded};
use crate::abi::control::{ControlView, PRIORITY_OFFSETS};
use crate::engine::cpu::partitions_overlap as offsets_overlap;
use crate::engine::{Backend, DispatchEnd, DispatchOptions, DispatchReport, EngineError, Variant};

/// A dispatch in progress.
pub(super) struct GpuRun {
    pub options: DispatchOptions,
    pub workgroup_size: u32,
    /// The megakernel build the passes run.
    pub key: PassKey,
    pub plan: RunPlan,
    /// A submission with passes has run.
    pub pass_ran: bool,
    /// The end scan of a fused `once` pass has run.
    pub scanned: bool,
    /// The run-state header, control buffer and debug log as last read back.
    pub header: Vec<u32>,
    pub control: Vec<u32>,
    pub debug_log: Vec<u32>,
    /// The readbacks reflect every command submitted since the dispatch began.
    pub fresh: bool,
    /// No submission has run yet (it clears the returned flags and notes SHUTDOWN).
    pub first: bool,
    /// Submissions that ran passes so far (chunks grow with it).
    pub chunks: u32,
    pub elapsed: Duration,
    /// The header the device held when the dispatch began, when the fused `once` pass runs
    /// on it rather than on a fresh copy of the plan's initial header: each readback is
    /// rebased against it ([`rebase_header`]).
    pub rebase_from: Option<Vec<u32>>,
}

impl GpuRun {
    pub fn header(&self) -> Header<'_> {
        Header(&self.header)
    }
}

impl GpuEngine {
    /// Starts a dispatch on the device copy: parameters, run-state header and indirect
    /// arguments are written (they reach the device with the next submission).
    pub(super) fn begin_device(&mut self, options: &DispatchOptions) -> Result<(), EngineError> {
        let t0 = Instant::now();
        self.run = None;
        let n = self.resident_slot_count().ok_or_else(not_uploaded)?;
        let wg = options.resolve_workgroup_size(n)?;
        let priority = options.variant == Variant::Priority;
        let race = options.race_analysis;
        self.serial = next_serial(self.serial);
        let probes_overlap = priority && offsets_overlap(&self.offsets);
        let max_per_dim = self.max_workgroups_per_dim;
        let plan = RunPlan::new(n, wg, options, self.serial, max_per_dim, probes_overlap);
        let groups = plan.params.groups;
        let aggregate = self.aggregate && !priority && groups >= self.tally_min_groups;
        let per = match (aggregate, self.groups_per_workgroup) {
            (false, _) => 1,
            (true, Some(per)) => per,
            (true, None) => groups_per_workgroup(groups, wg),
        };
        let plan = plan.with_groups_per_workgroup(per, max_per_dim);
        let key = PassKey {
            workgroup_size: wg,
            priority,
            race,
            marks_changed: self.marks_changed,
            handlers: self.ring_handlers,
            aggregate,
            groups_per_workgroup: per,
        };
        self.kernels.pass_pipeline(&self.device, key)?;
        self.last_key = Some(key);
        if race {
            let bufs = self.bufs.as_mut().ok_or_else(not_uploaded)?;
            bufs.race_buffers(&self.device, &self.kernels)?;
        }
        let bufs = self.bufs.as_mut().ok_or_else(not_uploaded)?;
        let header = plan.initial_header();
        let queue = &self.queue;
        // the parameters' copy for this serial, and the header as the template holds it:
        // written only when the plan changes (or every PARAMS_COPIES dispatches)
        let copy = match params_copy(bufs.params_block, plan.params) {
            Some(i) => i,
            None => {
                let (bytes, block) = params_block(plan.params);
                queue.write_buffer(&bufs.params, 0, &bytes);
                bufs.params_block = Some(block);
                0
            }
        };
        bufs.params_offset = (u64::from(copy) * PARAMS_STRIDE) as u32;
        // a fused `once` pass only adds to the header but for a few words: when the header
        // the device holds has those as the template does, the pass runs on it, with no
        // copy before it, and its readbacks are rebased
        let rebase_from = bufs
            .header_holds
            .as_ref()
            .filter(|base| plan.fused_once && can_rebase(base, &header))
            .cloned();
        self.last_reused_header = rebase_from.is_some();
        bufs.header_pending = rebase_from.is_none();
        if bufs.header_pending && bufs.template_holds.as_ref() != Some(&header) {
            queue.write_buffer(&bufs.header_template, 0, bytemuck::cast_slice(&header));
            bufs.template_holds = Some(header.clone());
        }
        // a fused `once` pass is dispatched directly; the others' gate rewrites the arguments
        if !plan.fused_once {
            let indirect = plan.initial_indirect();
            queue.write_buffer(&bufs.indirect, 0, bytemuck::cast_slice(&indirect));
        }
        self.run = Some(GpuRun {
            options: *options,
            workgroup_size: wg,
            key,
            first: plan.params.groups > 0,
            plan,
            pass_ran: false,
            scanned: false,
            header,
            control: Vec::new(),
            debug_log: Vec::new(),
            fresh: false,
            chunks: 0,
            elapsed: Duration::ZERO,
            rebase_from,
        });
        self.phases = super::HostPhases {
            begin: t0.elapsed(),
            ..Default::default()
        };
        Ok(())
    }

    /// Runs up to `max_passes` passes in chunks, reading back the header, control and debug
    /// log after each — and the ring's status words into `ring_out`, a host ring equal to the
    /// device's before the dispatch, when given. Returns whether the dispatch has ended.
    pub(super) fn run_chunks(
        &mut self,
        max_passes: u32,
        mut ring_out: Option<&mut Vec<u32>>,
    ) -> Result<bool, EngineError> {
        let mut left = max_passes;
        loop {
            let run = self.run.as_ref().ok_or(EngineError::NoDispatch)?;
            let h = run.header();
            if h.end().is_some() {
                break;
            }
            let k = next_chunk(run.plan.allowed, h.passes(), left, run.chunks);
            if k == 0 {
                break;
            }
            // any chunk may end the dispatch, so each brings the statuses back
            let ring = ring_out.as_deref_mut().map(RingReadback::Statuses);
            self.submit_run(k, ring)?;
            left -= k;
        }
        let run = self.run.as_ref().ok_or(EngineError::NoDispatch)?;
        if !run.fresh {
            self.submit_run(0, ring_out.map(RingReadback::Statuses))?;
        }
        let run = self.run.as_ref().ok_or(EngineError::NoDispatch)?;
        Ok(run.header().end().is_some())
    }

    /// Submits `passes` passes of the dispatch in progress and reads back its header, control
    /// and debug log (and the ring, as asked).
    pub(super) fn submit_run(
        &mut self,
        passes: u32,
        ring: Option<RingReadback<'_>>,
    ) -> Result<(), EngineError> {
        let t0 = Instant::now();
        let mut run = self.run.take().ok_or(EngineError::NoDispatch)?;
        let work = Passes {
            passes,
            key: run.key,
            first: run.first.then_some(
                returned_flags_need_clearing(run.plan.params.serial)
                    .then_some(run.plan.params.groups),
            ),
            fused_once: run.plan.fused_once.then_some(run.plan.pass_grid),
            checks_shutdown: run.plan.params.checks_shutdown != 0,
        };
        let out = self.submit(
            Some(work),
            Targets {
                header: Some(&mut run.header),
                control: Some(&mut run.control),
                debug_log: Some(&mut run.debug_log),
                ring,
            },
        );
        let mut scan = false;
        if out.is_ok() {
            if run.control.len() > PRIORITY_OFFSETS + 5 {
                self.offsets = ControlView(&run.control).priority_offsets();
            }
            run.fresh = true;
            run.first = false;
            run.chunks += (passes > 0) as u32;
            run.pass_ran |= passes > 0;
            if let Some(base) = &run.rebase_from {
                run.header = rebase_header(&run.header, base, &run.plan.initial_header());
            }
            if run.plan.fused_once && run.pass_ran {
                end_fused_once(&mut run.header, run.plan.params.n);
                scan = !run.scanned && needs_end_scan(&run.header);
            }
        }
        run.elapsed += t0.elapsed();
        self.run = Some(run);
        out?;
        if scan {
            // slots left waiting or CLAIMED: the end scan names them (rare: a second round trip)
            self.end_scan(None, HIST_DIAGNOSTICS_ONLY)?;
        }
        Ok(())
    }

    /// Ends the dispatch in progress — if the gate has not, as PassBudget (as the CPU engine
    /// does), after running the histogram — and reports it with the control words and debug
    /// log it left.
    pub(super) fn finish_device(
        &mut self,
    ) -> Result<(DispatchReport, Vec<u32>, Vec<u32>), EngineError> {
        let run = self.run.as_ref().ok_or(EngineError::NoDispatch)?;
        if run.header().end().is_none() {
            // the gate has not ended it: the pass budget has, as on the CPU
            self.end_scan(Some(END_PASS_BUDGET), HIST_COUNTS)?;
        } else if !run.fresh {
            self.submit_run(0, None)?;
        }
        let race = match self.run.as_ref() {
            // nothing ran: nothing to read (the buffers may hold an earlier dispatch's)
            Some(r) if r.options.race_analysis && r.plan.params.groups == 0 => {
                Some(((Vec::new(), Vec::new()), false))
            }
            Some(r) if r.options.race_analysis => {
                let t0 = Instant::now();
                let probes = r.plan.params.race_probes != 0;
                let h = r.header();
                let oob = h.record(DK_OOB_LOAD).is_some() || h.record(DK_OOB_STORE).is_some();
                let out = self.read_race(probes, oob);
                if let Some(r) = self.run.as_mut() {
                    r.elapsed += t0.elapsed();
                }
                Some((out?, probes))
            }
            _ => None,
        };
        let run = self.run.take().ok_or(EngineError::NoDispatch)?;
        let h = run.header();
        let end = h.end().unwrap_or(DispatchEnd::PassBudget);
        let n = self.resident_slot_count().unwrap_or(0);
        let races = race.as_ref().map(|((words, log), probes)| RaceReadback {
            words,
            log,
            control_words: run.control.len(),
            n,
            probes_kept: *probes,
        });
        let (diagnostics, diagnostics_omitted, race_analysis) = report::diagnostics(
            &h,
            &DiagContext {
                dispatch_index: run.options.dispatch_index,
                variant: run.options.variant,
                workgroup_size: run.workgroup_size,
                checks_shutdown: run.plan.params.checks_shutdown != 0,
                passes: h.passes(),
                control: &run.control,
                debug_log: &run.debug_log,
                io_queue: &self.io_queue,
                races: races.as_ref(),
            },
        );
        let report = DispatchReport {
            dispatch_index: run.options.dispatch_index,
            backend: Backend::Gpu,
            variant: run.options.variant,
            workgroup_size: run.workgroup_size,
            passes: h.passes(),
            end,
            claimed: h.claimed(),
            executed: h.executed(),
            claims_per_level: h.claims_per_level(),
            debug_records: h.debug_records(),
            debug_dropped: h.debug_dropped(),
            status_counts: h.status_counts(),
            race_analysis,
            diagnostics,
            diagnostics_omitted,
            elapsed: run.elapsed,
        };
        Ok((report, run.control, run.debug_log))
    }

    /// Runs the status histogram (in `mode`) and its finalize step directly, after marking
    /// the dispatch in progress ended with `end` if given, and reads the header back: the
    /// end of a dispatch the gate did not end, or the waiting-slot scan after a fused
    /// `once` pass.
    fn end_scan(&mut self, end: Option<u32>, mode: u32) -> Result<(), EngineError> {
        let t0 = Instant::now();
        let mut run = self.run.take().ok_or(EngineError::NoDispatch)?;
        run.scanned = true;
        let out = (|| {
            // the header copy first: the queued writes below run before the next
            // submission's commands, and must land on the dispatch's header
            self.flush_pending()?;
            let bufs = self.bufs.as_mut().ok_or_else(not_uploaded)?;
            // the scan reads the header and keeps lowest slots in it: a pass run on an
            // earlier dispatch's header gets the header it would have left on a fresh one
            if let Some(base) = run.rebase_from.take() {
                let read = bufs.header_holds.as_deref().ok_or_else(|| {
                    EngineError::Gpu("the run-state header was not read back before the end scan; this is a megascope bug, please report it".into())
                })?;
                let fresh = rebase_header(read, &base, &run.plan.initial_header());
                self.queue
                    .write_buffer(&bufs.state, bufs.run.offset, bytemuck::cast_slice(&fresh));
            }
            bufs.header_holds = None;
            let bufs = &*bufs;
            if let Some(end) = end {
                let offset = bufs.run.at(RS_END as u64 * 4);
                self.queue
                    .write_buffer(&bufs.state, offset, bytemuck::bytes_of(&end));
            }
            let offset = bufs.run.at(RS_HIST_MODE as u64 * 4);
            self.queue
                .write_buffer(&bufs.state, offset, bytemuck::bytes_of(&mode));
            let (hx, hy) = run.plan.hist_grid;
            let kernels = &self.kernels;
            scoped_submit(&self.device, &self.queue, |enc| {
                let mut cp = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("status histogram"),
                    timestamp_writes: None,
                });
                cp.set_pipeline(&kernels.histogram);
                cp.set_bind_group(0, &bufs.hist_bg, &[bufs.params_offset]);
                if hx > 0 {
                    cp.dispatch_workgroups(hx, hy, 1);
                }
                cp.set_pipeline(&kernels.finalize);
                cp.set_bind_group(0, &bufs.hist_bg, &[bufs.params_offset]);
                cp.dispatch_workgroups(1, 1, 1);
            })
        })();
        run.fresh = false;
        run.elapsed += t0.elapsed();
        self.run = Some(run);
        out?;
        self.submit_run(0, None)
    }

    /// Submits the pending copies — a staged upload's, the dispatch's initial header into
    /// the run state — if any (a dispatch's own submissions encode them first themselves).
    pub(super) fn flush_pending(&mut self) -> Result<(), EngineError> {
        let Some(bufs) = self.bufs.as_mut() else {
            return Ok(());
        };
        if !bufs.has_pending() {
            return Ok(());
        }
        let mut restage = false;
        let submitted = scoped_submit(&self.device, &self.queue, |enc| {
            restage = bufs.encode_pending(enc);
        });
        bufs.settle_pending(submitted, restage)
    }
}
