//! The GPU engine: vyre's megakernel variants in WGSL (`shaders/megakernel.wgsl`) run through
//! wgpu on device-resident copies of the four buffers. On race-free workloads it gives the
//! CPU oracle's bytes (debug records as a multiset).
//!
//! # Passes without a host round trip per pass
//!
//! The debugger's execution model (DESIGN.md §2) runs a looping variant as *passes* — one
//! iteration of every workgroup that has not returned — until SHUTDOWN, a pass that claims
//! nothing, or the pass budget. Deciding after every pass on the host would cost a
//! submit-and-map round trip per pass, which dwarfs the pass itself. Instead one submission
//! encodes up to [`run_state::CHUNK_PASSES`] passes back to back, each as
//!
//! 1. the megakernel, dispatched **indirectly** from a small arguments buffer, then
//! 2. a one-thread *pass gate* (`shaders/pass_gate.wgsl`) that counts the pass and applies
//!    the CPU engine's end rule; once the dispatch has ended it writes 0 workgroups into the
//!    megakernel's indirect arguments, so the passes encoded ahead become empty dispatches,
//!    and arms the status-histogram's indirect arguments.
//!
//! After the last pass of the submission the histogram (`shaders/status_histogram.wgsl`) runs
//! through those arguments — i.e. exactly once, when the dispatch ends — and the small
//! run-state header (end reason, counters, histogram, diagnostic records), the control buffer
//! and the debug log are copied back: one round trip for a whole dispatch whenever its budget
//! fits in one chunk (the default budget of 64 does). Longer budgets loop over chunks,
//! reading the end flag each time. Per-workgroup "returned" flags live in the run-state
//! buffer, so a workgroup that saw SHUTDOWN stays returned for the rest of the dispatch, as in
//! the CPU engine. The layout of that buffer is defined once, in [`run_state`], and
//! prepended to every shader as WGSL constants.
//!
//! # Resident state
//!
//! [`GpuEngine::upload`] makes the device copy equal to a [`ResidentBuffers`] mirror;
//! [`GpuEngine::dispatch_resident`] then dispatches with no upload and reads back only the
//! control words, the debug log and the run-state header — never the ring, whose size is
//! what grows with the slot count. The ring is read on demand ([`GpuEngine::read_ring_slots`],
//! [`GpuEngine::download_into`]) or drawn straight from [`GpuEngine::ring_buffer`].
//! Through the [`Engine`] trait a dispatch works like vyre's round trip: upload if the mirror
//! changed, run, read everything back into the mirror.
//!
//! # Guarded memory
//!
//! Every control, debug-log and ring index the kernels compute is checked before use:
//! out-of-range loads read 0 and stores are dropped, as in vyre's reference (ABI.md §9),
//! never left to the driver's robust-access behaviour. Such accesses, opcodes without a
//! handler, clamped packed slots and debug-log overflow are counted in the run-state header
//! and reported as [`Diagnostic`](crate::engine::Diagnostic)s (one per kind, with the first
//! slot the GPU saw). Race analysis is CPU-only.

mod buffers;
mod device;
mod kernels;
mod report;
mod run_state;
mod sync;

use std::ops::Range;
use std::time::{Duration, Instant};

use buffers::DeviceBuffers;
use kernels::Kernels;
use report::{DiagContext, Header};
use run_state::{
    END_PASS_BUDGET, HEADER_WORDS, IND_HIST, RS_END, RS_RETURNED_FLAGS, RunPlan, next_chunk,
};

use super::{Backend, DispatchEnd, DispatchOptions, DispatchReport, Engine, EngineError};
use crate::abi::layout::{DEBUG_LOG_WORDS, SLOT_WORDS};
use crate::resident::ResidentBuffers;

const SLOT_BYTES: u64 = SLOT_WORDS as u64 * 4;

/// A dispatch in progress on the device.
struct GpuRun {
    options: DispatchOptions,
    workgroup_size: u32,
    plan: RunPlan,
    /// The run-state header, control buffer and debug log as last read back.
    header: Vec<u32>,
    control: Vec<u32>,
    debug_log: Vec<u32>,
    /// The readbacks reflect every command submitted since the dispatch began.
    fresh: bool,
    /// The per-workgroup returned flags still need clearing (done by the first submission).
    clear_flags: bool,
    /// Submissions that ran passes so far (chunks grow with it).
    chunks: u32,
    elapsed: Duration,
}

impl GpuRun {
    fn header(&self) -> Header<'_> {
        Header(&self.header)
    }
}

/// The wgpu engine. Holds its device, the kernels, and the device copy of one state.
pub struct GpuEngine {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter_name: String,
    kernels: Kernels,
    bufs: Option<DeviceBuffers>,
    /// The IO queue of the last upload; no kernel writes it, so it needs no device copy.
    io_queue: Vec<u32>,
    /// The mirror version the device copy equals, if any.
    synced: Option<(u64, u64)>,
    serial: u32,
    run: Option<GpuRun>,
}

impl std::fmt::Debug for GpuEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuEngine")
            .field("adapter", &self.adapter_name)
            .field("slot_count", &self.bufs.as_ref().map(|b| b.slot_count))
            .field("serial", &self.serial)
            .field("in_dispatch", &self.run.is_some())
            .finish()
    }
}

fn not_uploaded() -> EngineError {
    EngineError::Gpu(
        "no state is on the device yet; call upload (or dispatch through the Engine trait) first"
            .into(),
    )
}

/// Passes a submission encodes for the dispatch in progress.
#[derive(Clone, Copy, Debug)]
struct Passes {
    passes: u32,
    workgroup_size: u32,
    /// Clear this many per-workgroup returned flags first (the dispatch's first submission).
    clear_groups: Option<u32>,
}

/// Where a submission's readbacks go.
struct Targets<'a> {
    header: Option<&'a mut Vec<u32>>,
    control: Option<&'a mut Vec<u32>>,
    debug_log: Option<&'a mut Vec<u32>>,
    ring: Option<(Range<u32>, &'a mut Vec<u32>)>,
}

impl GpuEngine {
    /// Creates its own headless device: a real GPU if there is one, else any adapter
    /// (lavapipe). Fails with a clear message when there is none.
    pub fn new_headless() -> Result<GpuEngine, EngineError> {
        let (device, queue, name) = device::headless()?;
        GpuEngine::try_from_device(device, queue, name)
    }

    /// Uses a device handed over (eframe's), so the kernel, the ring grid and the UI share
    /// one device.
    ///
    /// # Panics
    /// If the kernels do not build on this device (a megascope bug, or a device below
    /// WebGPU's limits); [`GpuEngine::try_from_device`] returns that as an error instead.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue, adapter_name: String) -> GpuEngine {
        match GpuEngine::try_from_device(device, queue, adapter_name) {
            Ok(e) => e,
            Err(e) => panic!("megascope's kernels do not build on this device: {e}"),
        }
    }

    /// [`GpuEngine::from_device`] that reports a kernel build failure as an error.
    pub fn try_from_device(
        device: wgpu::Device,
        queue: wgpu::Queue,
        adapter_name: String,
    ) -> Result<GpuEngine, EngineError> {
        let kernels = Kernels::new(&device)?;
        Ok(GpuEngine {
            device,
            queue,
            adapter_name,
            kernels,
            bufs: None,
            io_queue: Vec::new(),
            synced: None,
            serial: 0,
            run: None,
        })
    }

    pub fn adapter_name(&self) -> &str {
        &self.adapter_name
    }
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// The slot count of the state on the device, if one was uploaded.
    pub fn resident_slot_count(&self) -> Option<u32> {
        self.bufs.as_ref().map(|b| b.slot_count)
    }

    /// Makes the device copy equal to the mirror, recreating the buffers when the slot count
    /// or the control length changed.
    pub fn upload(&mut self, state: &ResidentBuffers) -> Result<(), EngineError> {
        state.validate()?;
        let n = state.slot_count();
        let words = state.control().len();
        let same = self
            .bufs
            .as_ref()
            .is_some_and(|b| b.slot_count == n && b.control_words == words);
        if !same {
            if self.run.is_some() {
                return Err(EngineError::Gpu(
                    "the state's geometry (slot count or observable words) changed in the middle of a dispatch; finish the dispatch first".into(),
                ));
            }
            self.bufs = None;
            self.synced = None;
            self.bufs = Some(DeviceBuffers::new(&self.device, &self.kernels, n, words)?);
        }
        let bufs = self.bufs.as_ref().ok_or_else(not_uploaded)?;
        self.queue
            .write_buffer(&bufs.control, 0, bytemuck::cast_slice(state.control()));
        if n > 0 {
            self.queue
                .write_buffer(&bufs.ring, 0, bytemuck::cast_slice(state.ring()));
        }
        self.queue
            .write_buffer(&bufs.debug_log, 0, bytemuck::cast_slice(state.debug_log()));
        self.io_queue.clear();
        self.io_queue.extend_from_slice(state.io_queue());
        self.synced = Some(state.version());
        Ok(())
    }

    /// Whether the device copy equals this mirror (same mirror, unchanged since the last
    /// upload or download).
    pub fn is_synced_with(&self, state: &ResidentBuffers) -> bool {
        self.synced == Some(state.version())
    }

    /// The resident fast path: dispatches on the device copy with no upload and reads back
    /// only the control buffer, the debug log and the small run state (never the ring).
    /// Returns the report, the control words and the debug log.
    pub fn dispatch_resident(
        &mut self,
        options: &DispatchOptions,
    ) -> Result<(DispatchReport, Vec<u32>, Vec<u32>), EngineError> {
        if self.run.is_some() {
            return Err(EngineError::Gpu(
                "a stepped dispatch is in progress; finish it before a resident dispatch".into(),
            ));
        }
        self.begin_device(options)?;
        let out = self
            .run_chunks(u32::MAX, None)
            .and_then(|_| self.finish_device());
        self.run = None;
        let (report, control, debug_log) = out?;
        if report.passes > 0 {
            self.synced = None;
        }
        Ok((report, control, debug_log))
    }

    /// Reads back ring slots `slots` (16 words each).
    pub fn read_ring_slots(&mut self, slots: Range<u32>) -> Result<Vec<u32>, EngineError> {
        let n = self.resident_slot_count().ok_or_else(not_uploaded)?;
        if slots.start > slots.end || slots.end > n {
            return Err(EngineError::Gpu(format!(
                "slots {}..{} are not within the ring of {n} slots",
                slots.start, slots.end
            )));
        }
        let mut out = Vec::new();
        if slots.is_empty() {
            return Ok(out);
        }
        self.submit(
            None,
            Targets {
                header: None,
                control: None,
                debug_log: None,
                ring: Some((slots, &mut out)),
            },
        )?;
        Ok(out)
    }

    /// Reads the whole device copy back into `state` and marks the two in sync.
    pub fn download_into(&mut self, state: &mut ResidentBuffers) -> Result<(), EngineError> {
        let bufs = self.bufs.as_ref().ok_or_else(not_uploaded)?;
        if state.slot_count() != bufs.slot_count {
            return Err(EngineError::SlotCountMismatch {
                engine: bufs.slot_count,
                mirror: state.slot_count(),
            });
        }
        let n = bufs.slot_count;
        let io = self.io_queue.clone();
        {
            let b = state.buffers_mut();
            self.submit(
                None,
                Targets {
                    header: None,
                    control: Some(b.control),
                    debug_log: Some(b.debug_log),
                    ring: (n > 0).then_some((0..n, b.ring)),
                },
            )?;
            if io.len() == b.io_queue.len() {
                b.io_queue.copy_from_slice(&io);
            }
        }
        self.synced = Some(state.mark_synced());
        Ok(())
    }

    /// The device ring, for drawing (the grid reads it straight from here).
    pub fn ring_buffer(&self) -> Option<&wgpu::Buffer> {
        self.bufs.as_ref().map(|b| &b.ring)
    }

    /// u32 per slot: the serial ([`GpuEngine::dispatch_serial`]-numbered, from 1) of the last
    /// dispatch that claimed the slot.
    pub fn changed_buffer(&self) -> Option<&wgpu::Buffer> {
        self.bufs.as_ref().map(|b| &b.changed)
    }

    /// The serial of the latest dispatch (0 before the first).
    pub fn dispatch_serial(&self) -> u32 {
        self.serial
    }

    // ---- dispatch internals ----------------------------------------------------------------

    fn begin_device(&mut self, options: &DispatchOptions) -> Result<(), EngineError> {
        self.run = None;
        let n = self.resident_slot_count().ok_or_else(not_uploaded)?;
        let wg = options.resolve_workgroup_size(n)?;
        self.kernels.pass_pipeline(&self.device, wg)?;
        let bufs = self.bufs.as_ref().ok_or_else(not_uploaded)?;
        self.serial = self.serial.wrapping_add(1).max(1);
        let max_per_dim = self.device.limits().max_compute_workgroups_per_dimension;
        let plan = RunPlan::new(n, wg, options, self.serial, max_per_dim);
        let header = plan.initial_header();
        self.queue
            .write_buffer(&bufs.params, 0, bytemuck::bytes_of(&plan.params));
        self.queue
            .write_buffer(&bufs.run, 0, bytemuck::cast_slice(&header));
        self.queue
            .write_buffer(&bufs.indirect, 0, bytemuck::cast_slice(&plan.initial_indirect()));
        self.run = Some(GpuRun {
            options: *options,
            workgroup_size: wg,
            clear_flags: plan.params.groups > 0,
            plan,
            header,
            control: Vec::new(),
            debug_log: Vec::new(),
            fresh: false,
            chunks: 0,
            elapsed: Duration::ZERO,
        });
        Ok(())
    }

    /// Runs up to `max_passes` passes in chunks; the last submission also reads the ring into
    /// `ring_out` when given. Returns whether the dispatch has ended.
    fn run_chunks(
        &mut self,
        max_passes: u32,
        mut ring_out: Option<&mut Vec<u32>>,
    ) -> Result<bool, EngineError> {
        let n = self.resident_slot_count().ok_or_else(not_uploaded)?;
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
            // any chunk may be the last, so each reads the ring when it is wanted
            let ring = ring_out.as_deref_mut().filter(|_| n > 0).map(|r| (0..n, r));
            self.submit_run(k, ring)?;
            left -= k;
        }
        let run = self.run.as_ref().ok_or(EngineError::NoDispatch)?;
        if !run.fresh {
            let ring = ring_out.filter(|_| n > 0).map(|r| (0..n, r));
            self.submit_run(0, ring)?;
        }
        let run = self.run.as_ref().ok_or(EngineError::NoDispatch)?;
        Ok(run.header().end().is_some())
    }

    /// Submits `passes` passes of the dispatch in progress and reads back its header, control
    /// and debug log (and the ring, when asked).
    fn submit_run(
        &mut self,
        passes: u32,
        ring: Option<(Range<u32>, &mut Vec<u32>)>,
    ) -> Result<(), EngineError> {
        let t0 = Instant::now();
        let mut run = self.run.take().ok_or(EngineError::NoDispatch)?;
        let work = Passes {
            passes,
            workgroup_size: run.workgroup_size,
            clear_groups: run.clear_flags.then_some(run.plan.params.groups),
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
        if out.is_ok() {
            run.fresh = true;
            run.clear_flags = false;
            run.chunks += (passes > 0) as u32;
        }
        run.elapsed += t0.elapsed();
        self.run = Some(run);
        out
    }

    /// One submission: `passes` passes (each the megakernel then the gate) if a dispatch is in
    /// progress, the histogram's indirect dispatch after them, then the asked readbacks.
    fn submit(&mut self, work: Option<Passes>, targets: Targets<'_>) -> Result<(), EngineError> {
        let passes = work.map_or(0, |w| w.passes);
        let clear_groups = work.and_then(|w| w.clear_groups);
        let pass_pipeline = match work {
            Some(w) if w.passes > 0 => {
                Some(self.kernels.pass_pipeline(&self.device, w.workgroup_size)?.clone())
            }
            _ => None,
        };
        let GpuEngine {
            device,
            queue,
            kernels,
            bufs,
            ..
        } = self;
        let bufs = bufs.as_mut().ok_or_else(not_uploaded)?;
        let ring_range = targets.ring.as_ref().map(|(r, _)| r.clone());
        let ring_bytes = ring_range
            .as_ref()
            .map_or(0, |r| (r.end - r.start) as u64 * SLOT_BYTES);
        let stage_ring = (ring_bytes > 0).then(|| bufs.ring_staging(device, ring_bytes).clone());
        let control_bytes = bufs.control_words as u64 * 4;
        let debug_bytes = DEBUG_LOG_WORDS as u64 * 4;
        let header_bytes = HEADER_WORDS as u64 * 4;
        scoped_submit(device, queue, |enc| {
            if let Some(groups) = clear_groups {
                enc.clear_buffer(
                    &bufs.run,
                    RS_RETURNED_FLAGS as u64 * 4,
                    Some(groups as u64 * 4),
                );
            }
            if let Some(pipeline) = &pass_pipeline {
                let mut cp = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("megakernel passes"),
                    timestamp_writes: None,
                });
                for _ in 0..passes {
                    cp.set_pipeline(pipeline);
                    cp.set_bind_group(0, &bufs.pass_bg, &[]);
                    cp.dispatch_workgroups_indirect(&bufs.indirect, 0);
                    cp.set_pipeline(&kernels.gate);
                    cp.set_bind_group(0, &bufs.gate_bg, &[]);
                    cp.dispatch_workgroups(1, 1, 1);
                }
                cp.set_pipeline(&kernels.histogram);
                cp.set_bind_group(0, &bufs.hist_bg, &[]);
                cp.dispatch_workgroups_indirect(&bufs.indirect, IND_HIST as u64 * 4);
                cp.set_pipeline(&kernels.finalize);
                cp.dispatch_workgroups(1, 1, 1);
            }
            if targets.header.is_some() {
                enc.copy_buffer_to_buffer(&bufs.run, 0, &bufs.stage_header, 0, header_bytes);
            }
            if targets.control.is_some() {
                enc.copy_buffer_to_buffer(&bufs.control, 0, &bufs.stage_control, 0, control_bytes);
            }
            if targets.debug_log.is_some() {
                enc.copy_buffer_to_buffer(&bufs.debug_log, 0, &bufs.stage_debug, 0, debug_bytes);
            }
            if let (Some(r), Some(stage)) = (&ring_range, &stage_ring) {
                enc.copy_buffer_to_buffer(&bufs.ring, r.start as u64 * SLOT_BYTES, stage, 0, ring_bytes);
            }
        })?;
        let Targets {
            mut header,
            mut control,
            mut debug_log,
            mut ring,
        } = targets;
        let empty = &bufs.stage_header;
        let staging = [
            (&bufs.stage_header, if header.is_some() { header_bytes } else { 0 }),
            (&bufs.stage_control, if control.is_some() { control_bytes } else { 0 }),
            (&bufs.stage_debug, if debug_log.is_some() { debug_bytes } else { 0 }),
            (stage_ring.as_ref().unwrap_or(empty), ring_bytes),
        ];
        device::read_mapped(device, &staging, |i, bytes| {
            let out = match i {
                0 => header.as_deref_mut(),
                1 => control.as_deref_mut(),
                2 => debug_log.as_deref_mut(),
                _ => ring.as_mut().map(|(_, v)| &mut **v),
            };
            if let Some(out) = out {
                device::words_into(bytes, out);
            }
        })
    }

    /// Ends the dispatch in progress: if the gate has not ended it, marks it PassBudget (as the
    /// CPU engine does) and runs the histogram; then builds the report.
    fn finish_device(&mut self) -> Result<(DispatchReport, Vec<u32>, Vec<u32>), EngineError> {
        let run = self.run.as_ref().ok_or(EngineError::NoDispatch)?;
        if run.header().end().is_none() {
            self.force_end()?;
        } else if !run.fresh {
            self.submit_run(0, None)?;
        }
        let run = self.run.take().ok_or(EngineError::NoDispatch)?;
        let h = run.header();
        let end = h.end().unwrap_or(DispatchEnd::PassBudget);
        let (diagnostics, diagnostics_omitted) = report::diagnostics(
            &h,
            &DiagContext {
                dispatch_index: run.options.dispatch_index,
                variant: run.options.variant,
                passes: h.passes(),
                control: &run.control,
                debug_log: &run.debug_log,
                io_queue: &self.io_queue,
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
            diagnostics,
            diagnostics_omitted,
            elapsed: run.elapsed,
        };
        Ok((report, run.control, run.debug_log))
    }

    /// Marks the dispatch in progress ended by its pass budget and runs the histogram.
    fn force_end(&mut self) -> Result<(), EngineError> {
        let t0 = Instant::now();
        let mut run = self.run.take().ok_or(EngineError::NoDispatch)?;
        let out = (|| {
            let bufs = self.bufs.as_ref().ok_or_else(not_uploaded)?;
            self.queue.write_buffer(
                &bufs.run,
                RS_END as u64 * 4,
                bytemuck::bytes_of(&END_PASS_BUDGET),
            );
            let (hx, hy) = run.plan.hist_grid;
            let kernels = &self.kernels;
            scoped_submit(&self.device, &self.queue, |enc| {
                let mut cp = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("status histogram"),
                    timestamp_writes: None,
                });
                cp.set_pipeline(&kernels.histogram);
                cp.set_bind_group(0, &bufs.hist_bg, &[]);
                if hx > 0 {
                    cp.dispatch_workgroups(hx, hy, 1);
                }
                cp.set_pipeline(&kernels.finalize);
                cp.dispatch_workgroups(1, 1, 1);
            })
        })();
        run.fresh = false;
        run.elapsed += t0.elapsed();
        self.run = Some(run);
        out?;
        self.submit_run(0, None)
    }
}

/// Encodes with `f`, submits, and turns wgpu validation errors into [`EngineError::Gpu`].
fn scoped_submit(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    f: impl FnOnce(&mut wgpu::CommandEncoder),
) -> Result<(), EngineError> {
    device::scoped(device, "running a dispatch", || {
        let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("megascope"),
        });
        f(&mut enc);
        queue.submit([enc.finish()]);
        Ok(())
    })
}

impl Engine for GpuEngine {
    fn backend(&self) -> Backend {
        Backend::Gpu
    }

    /// `None`: [`GpuEngine::upload`] follows whatever geometry the state has.
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
        self.run = None;
        if !self.is_synced_with(state) {
            self.upload(state)?;
        }
        self.begin_device(options)
    }

    /// Runs up to `max_passes` passes on the device, then reads the buffers back into `state`
    /// (uploading first if `state` was edited since).
    fn run_passes(
        &mut self,
        state: &mut ResidentBuffers,
        max_passes: u32,
    ) -> Result<bool, EngineError> {
        if self.run.is_none() {
            return Err(EngineError::NoDispatch);
        }
        if !self.is_synced_with(state) {
            self.upload(state)?;
        }
        let ended = {
            let b = state.buffers_mut();
            let ended = self.run_chunks(max_passes, Some(b.ring))?;
            let run = self.run.as_ref().ok_or(EngineError::NoDispatch)?;
            b.control.clone_from(&run.control);
            b.debug_log.clone_from(&run.debug_log);
            ended
        };
        self.synced = Some(state.mark_synced());
        Ok(ended)
    }

    fn finish_dispatch(
        &mut self,
        _state: &mut ResidentBuffers,
    ) -> Result<DispatchReport, EngineError> {
        let out = self.finish_device();
        self.run = None;
        out.map(|(report, _, _)| report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_bytes_match_the_abi() {
        assert_eq!(SLOT_BYTES, crate::abi::layout::SLOT_BYTES as u64);
    }
}
