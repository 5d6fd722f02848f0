//! The GPU engine: vyre's megakernel variants in WGSL (`shaders/engine/megakernel.wgsl`) run through
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
//! 2. a one-thread *pass gate* (`shaders/engine/pass_gate.wgsl`) that counts the pass and applies
//!    the CPU engine's end rule; once the dispatch has ended it writes 0 workgroups into the
//!    megakernel's indirect arguments, so the passes encoded ahead become empty dispatches,
//!    and arms the status-histogram's indirect arguments.
//!
//! After the last pass of the submission the histogram (`shaders/engine/status_histogram.wgsl`) runs
//! through those arguments — i.e. exactly once, when the dispatch ends — and the small
//! run-state header (end reason, counters, histogram, diagnostic records), the control buffer
//! and the debug log are copied back. The first chunk holds
//! [`run_state::FIRST_CHUNK_PASSES`] passes, which ends the usual dispatch (`once` after 1
//! pass, a looping variant typically after 2, the priority scan after at most 6) in **one
//! round trip**; while the end flag reads "running", chunks double up to
//! [`run_state::CHUNK_PASSES`].
//!
//! `once` (over whole workgroups) is **one kernel**: its single pass needs no gate, and since
//! lane i is the only writer of slot i's status, the pass counts the statuses of the slots it
//! does not claim (every other slot ends DONE) and the host applies the gate's rule to the
//! header it reads back ([`run_state::end_fused_once`]). The histogram's scan for the
//! end-of-dispatch diagnostics then runs only when a slot was left waiting or CLAIMED — a
//! second round trip in that rare case instead of four kernels in every dispatch (at 4,096
//! slots on an H200 the five kernels took 0.023 ms, the one takes 0.012 ms). SHUTDOWN as the
//! dispatch found it is copied into the header by a buffer copy, not a kernel.
//!
//! Per-workgroup "returned" flags live in the run-state buffer,
//! so a workgroup that saw SHUTDOWN stays returned for the rest of the dispatch, as in the
//! CPU engine. The layout of that buffer is defined once, in [`run_state`], and prepended to
//! every shader as WGSL constants.
//!
//! # Fixed costs
//!
//! At small rings a dispatch costs its submission and its readback, not its kernel, so a
//! dispatch whose plan is unchanged queues no write (its parameters are one of
//! [`run_state::PARAMS_COPIES`] copies picked by a dynamic offset; its initial header is
//! copied on the device from a template — and a fused `once` pass, which only adds to the
//! header, usually needs no copy at all: it runs on the header the dispatch before left and
//! its readbacks are rebased, [`run_state::rebase_header`]), each
//! submission maps one staging buffer for the header, control, debug log and gathered
//! statuses, resolves timestamps only when asked ([`GpuEngine::set_kernel_timing`]), writes
//! the changed marks only when something draws them ([`GpuEngine::set_change_marks`]), and —
//! headless on a GPU — polls for its readback instead of sleeping in the driver
//! (`device::Wait`). While the device runs a submission, the host builds the commands of the
//! next one as it will most likely be shaped, and a submission of that shape only submits
//! them (`submit::Shape`): building them is wgpu's largest cost in a small dispatch. A round
//! trip's upload goes through one staging buffer kept mapped
//! between uploads (`upload.rs`), whose copies ride at the start of the dispatch's own
//! submission. From a MiB of ring up, that upload and the status patch after the readback
//! are split with helper threads that are woken as the dispatch starts and spin briefly, so
//! they are running when the pass comes (`helpers.rs`): the two passes are bound by what
//! one core moves, and threads woken for the pass came too late to help.
//!
//! # Resident state
//!
//! [`GpuEngine::upload`] makes the device copy equal to a [`ResidentBuffers`] mirror;
//! [`GpuEngine::dispatch_resident`] then dispatches with no upload and reads back only the
//! control words, the debug log and the run-state header — never the ring, whose size is
//! what grows with the slot count. The ring is read on demand ([`GpuEngine::read_ring_slots`],
//! [`GpuEngine::download_into`]) or drawn straight from [`GpuEngine::ring_buffer`].
//! Through the [`Engine`] trait a dispatch works like vyre's round trip: upload if the mirror
//! changed, run, read the results back into the mirror. The kernels write nothing in the ring
//! but status words, so when the host ring was equal to the device's before the dispatches
//! only the statuses come back, gathered densely (a sixteenth of the ring).
//!
//! # Lanes and workgroups
//!
//! `once` and `persistent` run `pass_direct`: each lane checks its workgroup's returned flag
//! and SHUTDOWN itself (on race-free work the lanes agree), and owns its slot, so it claims
//! without a compare-and-swap. The
//! priority scan runs `pass_priority`, whose three barriers keep the CPU engine's lockstep
//! order inside a workgroup (all reads of the starvation counter before any write; level-0/1
//! increments before the reset of a level-2..4 claim; execution after the updates), so a
//! single-workgroup dispatch gives the CPU's bytes even where the starvation counter takes
//! both. Across workgroups the GPU runs concurrently where the CPU runs them in order: the
//! two agree whenever the work is race-free (ABI.md §9).
//!
//! On a hardware GPU the direct passes also tally their commutative control adds (METRICS,
//! DONE_COUNT, ATOMIC_ADD targets) per workgroup and send each word one atomic after a
//! barrier (`AGG_ON` in `kernels.rs`): the device serializes atomics to one address, and a
//! million of them onto a few words cost more than the rest of the pass. With many
//! workgroups a device workgroup runs several of the dispatch's (`PER`,
//! [`run_state::groups_per_workgroup`]) and flushes once for all of them; with few (below
//! [`TALLY_MIN_GROUPS`]) the barrier costs more than it saves, and the adds go straight to
//! the device.
//!
//! # On a software driver
//!
//! lavapipe (Mesa 22.3's llvmpipe) never branches on an `if`: it runs every branch, masked,
//! for every lane, so the megakernel costs its whole inlined code there, taken or not. Hence
//! diagnostics are tallied per lane and flushed once (`note` / `flush_notes`), and the
//! megakernel is built with only the handlers the uploaded ring's opcodes need (the `OPS`
//! override; the upload scans the opcodes, which no kernel writes; a PACKED_SLOT needs all).
//!
//! # Guarded memory
//!
//! Every control, debug-log and ring index the kernels compute is checked before use:
//! out-of-range loads read 0 and stores are dropped, as in vyre's reference (ABI.md §9),
//! never left to the driver's robust-access behaviour. Such accesses, opcodes without a
//! handler, clamped packed slots and debug-log overflow are counted in the run-state header
//! and reported as [`Diagnostic`](crate::engine::Diagnostic)s (one per kind, with the first
//! slot the GPU saw; with race analysis on, out-of-range accesses come back per slot, each
//! with its first bad index, exactly as the CPU engine lists them).
//!
//! # Race analysis
//!
//! With [`DispatchOptions::race_analysis`] on, the passes run a second build of the
//! megakernel that also folds every control access into per-word summaries on the device
//! ([`race_state`] says what and why); after the dispatch the host reads them back once and
//! decides README "Races" with the CPU engine's own rule code, so both backends report the
//! same races with the same word and slots. With it off the kernel, its bindings and its
//! buffers are those without analysis, and the report says the analysis was off.

mod buffers;
mod device;
mod helpers;
mod kernels;
mod par;
mod race_state;
mod report;
mod run;
mod run_state;
mod submit;
mod sync;
mod timing;
mod upload;

use std::ops::Range;

use buffers::DeviceBuffers;
use kernels::{Kernels, PassKey};
use run::GpuRun;
use submit::{RingReadback, Targets};
pub use sync::RingCopy;
pub use timing::{HostPhases, KernelTiming};

use super::{Backend, DispatchOptions, DispatchReport, Engine, EngineError};
use crate::resident::ResidentBuffers;

/// The wgpu engine. Holds its device, the kernels, and the device copy of one state.
pub struct GpuEngine {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter_name: String,
    max_workgroups_per_dim: u32,
    kernels: Kernels,
    bufs: Option<DeviceBuffers>,
    /// The IO queue of the last upload; no kernel writes it, so it needs no device copy.
    io_queue: Vec<u32>,
    /// The mirror version the device copy equals, if any.
    synced: Option<(u64, u64)>,
    /// The mirror version whose ring equals the device ring in every word but the status
    /// words (the device may have dispatched since): a status-only download suffices.
    ring_base: Option<(u64, u64)>,
    serial: u32,
    run: Option<GpuRun>,
    /// Timestamps around each submission's passes, where the device has them.
    timer: Option<timing::KernelTimer>,
    /// What the timestamps measure (nothing, the pass, or each kernel).
    timing: KernelTiming,
    /// The GPU time of the last submission that ran passes, whole and per kernel.
    kernel_times: timing::KernelTimes,
    /// The host's side of the last dispatch, phase by phase.
    phases: HostPhases,
    /// Claims write the per-slot changed serials ([`GpuEngine::changed_buffer`]).
    marks_changed: bool,
    /// The handlers the device ring's opcodes need ([`run_state::handlers_for`]): set by
    /// every upload (the kernels never write an opcode), so the megakernel is built with
    /// those alone.
    ring_handlers: u32,
    /// Whether uploads scan the opcodes to build only the handlers they need. Only a
    /// software adapter gains from it (llvmpipe pays for every inlined branch, taken or not);
    /// on a GPU the scan of every slot's opcode is a pass over the host mirror for nothing
    /// (+8 ms an upload at 1M on the H200), and every build has every handler.
    specialize_handlers: bool,
    /// Direct passes tally commutative control adds per workgroup before they reach the
    /// device's atomics (on by default; off on a software adapter, where the barrier it needs
    /// costs more than the atomics it saves).
    aggregate: bool,
    /// The fewest workgroups a direct pass has for its tallies to be on: below, the barrier
    /// and the table cost more than the few atomics they save (4,096 slots, 16 workgroups:
    /// an ATOMIC_ADD kernel of 0.015 ms with them, 0.011 ms without, on an H200).
    tally_min_groups: u32,
    /// Overrides [`run_state::groups_per_workgroup`] (tests reach the shared-workgroup path
    /// with small rings through it).
    groups_per_workgroup: Option<u32>,
    /// The megakernel build of the latest dispatch.
    last_key: Option<PassKey>,
    /// The latest dispatch ran on the header the one before it left (a fused `once` pass,
    /// no header copy before it: `run_state::can_rebase`).
    last_reused_header: bool,
    /// How readbacks wait: polling on a headless GPU; blocking on a CPU adapter and on a
    /// device handed over (the app's, whose frames should not spend a core polling).
    wait: device::Wait,
    /// The priority partition offsets of the device's control buffer as last seen by the
    /// host (uploaded or read back): whether a dispatch must keep each slot's probers.
    offsets: [u32; 6],
    /// Threads that split the big host-side passes of a round trip with this one (the
    /// upload into staging memory and the status patch): on a headless GPU only, where the
    /// readback polls anyway. A software adapter's cores run the kernels, and the app's
    /// frames should not keep cores spinning.
    helpers: Option<helpers::Helpers>,
    /// Commands built for the next submission while the device ran the last one, and the
    /// shape they were built for ([`submit::Shape`]).
    spec: Option<submit::Ahead>,
    /// The latest submission used commands built ahead.
    last_reused_commands: bool,
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

/// The fewest workgroups for which a GPU's direct passes tally by default.
pub const TALLY_MIN_GROUPS: u32 = 64;

/// The most helper threads a headless GPU engine starts with: eight threads in all, where
/// the host's memory bandwidth stops growing with threads (as for the spawned split).
pub const MAX_HELPERS: usize = 7;

fn not_uploaded() -> EngineError {
    EngineError::Gpu(
        "no state is on the device yet; call upload (or dispatch through the Engine trait) first"
            .into(),
    )
}

impl GpuEngine {
    /// Tells the engine it runs on a software adapter (lavapipe, llvmpipe), where the
    /// megakernel is built with only the handlers the uploaded ring's opcodes need.
    pub fn set_software_adapter(&mut self, software: bool) {
        self.specialize_handlers = software;
        self.aggregate = !software;
        self.tally_min_groups = TALLY_MIN_GROUPS;
    }

    /// Turns the direct passes' workgroup tallies of control adds on (for every dispatch,
    /// however few its workgroups) or off. The default follows the adapter
    /// ([`GpuEngine::set_software_adapter`]): on a GPU from [`TALLY_MIN_GROUPS`] workgroups.
    /// Both builds end every race-free dispatch in the same state, which the tests check on
    /// lavapipe.
    pub fn set_workgroup_tallies(&mut self, on: bool) {
        self.aggregate = on;
        self.tally_min_groups = 0;
    }

    /// Whether the latest dispatch's passes tallied their adds per workgroup, and how many
    /// of its workgroups each device workgroup ran (`None` before the first dispatch).
    pub fn last_tallies(&self) -> Option<(bool, u32)> {
        self.last_key.map(|k| (k.aggregate, k.groups_per_workgroup))
    }

    /// Makes each device workgroup of a tallying direct pass run `per` of the dispatch's
    /// workgroups (`None`: as many as the ring's size calls for,
    /// [`run_state::groups_per_workgroup`]). Both end a dispatch in the same state.
    pub fn set_groups_per_workgroup(&mut self, per: Option<u32>) {
        self.groups_per_workgroup = per.map(|p| p.clamp(1, run_state::MAX_GROUPS_PER_WORKGROUP));
    }

    /// Creates its own headless device: a real GPU if there is one, else any adapter
    /// (lavapipe). Fails with a clear message when there is none.
    pub fn new_headless() -> Result<GpuEngine, EngineError> {
        let (device, queue, name, device_type) = device::headless()?;
        let mut engine = GpuEngine::try_from_device(device, queue, name)?;
        engine.wait = device::Wait::for_adapter(device_type);
        engine.set_software_adapter(device_type == wgpu::DeviceType::Cpu);
        if engine.wait == device::Wait::SpinThenBlock {
            engine.helpers = Some(helpers::Helpers::for_this_machine(MAX_HELPERS));
        }
        Ok(engine)
    }

    /// Uses a device handed over (eframe's), so the kernel, the ring grid and the UI share
    /// one device.
    ///
    /// # Panics
    /// If the kernels do not build on this device (a megascope bug, or a device below
    /// WebGPU's limits); [`GpuEngine::try_from_device`] returns that as an error instead.
    pub fn from_device(
        device: wgpu::Device,
        queue: wgpu::Queue,
        adapter_name: String,
    ) -> GpuEngine {
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
        let timer = timing::KernelTimer::new(&device, &queue);
        Ok(GpuEngine {
            timer,
            timing: KernelTiming::default(),
            kernel_times: timing::KernelTimes::default(),
            phases: HostPhases::default(),
            marks_changed: true,
            ring_handlers: run_state::ALL_HANDLERS,
            specialize_handlers: false,
            aggregate: true,
            tally_min_groups: TALLY_MIN_GROUPS,
            groups_per_workgroup: None,
            last_key: None,
            last_reused_header: false,
            wait: device::Wait::Block,
            max_workgroups_per_dim: device.limits().max_compute_workgroups_per_dimension,
            device,
            queue,
            adapter_name,
            kernels,
            bufs: None,
            io_queue: Vec::new(),
            synced: None,
            ring_base: None,
            serial: 0,
            run: None,
            offsets: [0; 6],
            helpers: None,
            spec: None,
            last_reused_commands: false,
        })
    }

    /// Whether the latest submission (of a dispatch, or its readback) ran commands built
    /// while the device ran the one before it, rather than encoding its own.
    pub fn last_submission_reused_commands(&self) -> bool {
        self.last_reused_commands
    }

    /// Sets how many helper threads split the big host-side passes (0: none, every pass on
    /// the calling thread or, from 8 MiB, on threads spawned for it). A headless GPU engine
    /// starts with one per core beyond the first, at most [`MAX_HELPERS`]; any other with
    /// none. Tests use this to reach the helpers on a software adapter.
    pub fn set_host_helpers(&mut self, count: usize) {
        self.helpers = (count > 0).then(|| helpers::Helpers::new(count));
    }

    /// How many helper threads the engine has ([`GpuEngine::set_host_helpers`]).
    pub fn host_helpers(&self) -> usize {
        self.helpers.as_ref().map_or(0, |h| h.count())
    }

    /// The GPU's own time for the passes of the last submission that ran any (the whole
    /// dispatch when it ended in one submission, as the default budget's usual dispatch
    /// does), from timestamps; `None` on a device without `TIMESTAMP_QUERY` or with timing
    /// off.
    pub fn last_kernel_time(&self) -> Option<std::time::Duration> {
        self.kernel_times.total
    }

    /// Whether the latest dispatch ran its fused `once` pass on the run-state header the
    /// dispatch before it left, with no copy of a fresh header first (the usual case for
    /// back-to-back `once` dispatches without diagnostics; a readback of such a pass is
    /// rebased to what a fresh header would have given).
    pub fn last_dispatch_reused_header(&self) -> bool {
        self.last_reused_header
    }

    /// Where the host's time in the last dispatch went (parameters, submission, wait and
    /// readback), for the bench's account of the fixed cost of a dispatch.
    pub fn last_host_phases(&self) -> HostPhases {
        self.phases
    }

    /// [`GpuEngine::last_kernel_time`] per kernel (`"megakernel"`, `"pass gate"`, `"status
    /// histogram"`, `"finalize"`, and `"gather statuses"` in a round trip; each summed over its
    /// dispatches), with
    /// [`KernelTiming::PerKernel`] on a device that writes timestamps inside a pass; empty
    /// otherwise.
    pub fn last_kernel_breakdown(&self) -> &[(&'static str, std::time::Duration)] {
        &self.kernel_times.kernels
    }

    /// What later dispatches time (default [`KernelTiming::Total`]). Timing costs a resolve
    /// and a readback per submission: a caller measuring latency turns it off.
    pub fn set_kernel_timing(&mut self, timing: KernelTiming) {
        self.timing = timing;
        self.kernel_times = timing::KernelTimes::default();
    }

    /// Whether readbacks poll the device (for up to 0.5 ms) before they block, rather than
    /// block at once. Default: on for a headless engine on a GPU, where a blocking wait wakes
    /// up late (~0.035 ms a readback on an H200); off on a CPU adapter, whose kernels need the
    /// core a polling thread would take, and on a device handed over (the app's).
    pub fn poll_readbacks(&mut self, on: bool) {
        self.wait = if on {
            device::Wait::SpinThenBlock
        } else {
            device::Wait::Block
        };
    }

    /// Whether later dispatches write the per-slot changed serials (default on). Only the
    /// app's grid reads them ([`GpuEngine::changed_buffer`]); a caller that never draws
    /// (the bench, `megascope run`) turns them off and saves a store per claimed slot.
    pub fn set_change_marks(&mut self, on: bool) {
        self.marks_changed = on;
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
    /// or the control length changed. The copies are submitted before this returns, so
    /// anything that reads the device buffers next (the app's grid too) sees them.
    pub fn upload(&mut self, state: &ResidentBuffers) -> Result<(), EngineError> {
        self.stage(state)?;
        self.flush_pending()
    }

    /// [`GpuEngine::upload`] with the device copies left for the next submission of this
    /// engine (a dispatch's, which follows at once): the copies then cost no submission of
    /// their own.
    fn stage(&mut self, state: &ResidentBuffers) -> Result<(), EngineError> {
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
            self.spec = None;
            self.synced = None;
            self.ring_base = None;
            self.bufs = Some(DeviceBuffers::new(&self.device, &self.kernels, n, words)?);
        }
        if self
            .bufs
            .as_ref()
            .is_some_and(|b| b.upload.pending().is_some())
        {
            // staged twice with no submission between: the first must reach the device first
            self.flush_pending()?;
        }
        let bufs = self.bufs.as_mut().ok_or_else(not_uploaded)?;
        // the copies run at the start of the next submission: every pass after them sees
        // all three buffers
        let debug_at = (bufs.debug_log.offset - bufs.control.offset) as usize;
        bufs.upload.write(
            &self.device,
            bytemuck::cast_slice(state.ring()),
            bytemuck::cast_slice(state.control()),
            bytemuck::cast_slice(state.debug_log()),
            debug_at,
            self.helpers.as_mut(),
        )?;
        self.offsets = state.control_view().priority_offsets();
        self.ring_handlers = if self.specialize_handlers {
            run_state::handlers_for(state.ring())
        } else {
            run_state::ALL_HANDLERS
        };
        if let Some(run) = self.run.as_mut() {
            // a dispatch in progress keeps the handlers it may need from now on
            run.key.handlers |= self.ring_handlers;
        }
        self.io_queue.clear();
        self.io_queue.extend_from_slice(state.io_queue());
        self.synced = Some(state.version());
        self.ring_base = self.synced;
        if let Some(run) = self.run.as_mut() {
            // an edit in the middle of a stepped dispatch: earlier readbacks are stale
            run.fresh = false;
        }
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
        if !slots.is_empty() {
            let ring = Some(RingReadback::Slots(slots, &mut out));
            self.submit(
                None,
                Targets {
                    ring,
                    ..Targets::default()
                },
            )?;
        }
        Ok(out)
    }

    /// Reads the device copy back into `state` and marks the two in sync. When `state` is
    /// the mirror last uploaded (or downloaded), unchanged since, only the ring's status words
    /// travel; otherwise the whole ring does.
    pub fn download_into(&mut self, state: &mut ResidentBuffers) -> Result<(), EngineError> {
        let n = self.resident_slot_count().ok_or_else(not_uploaded)?;
        if state.slot_count() != n {
            return Err(EngineError::SlotCountMismatch {
                engine: n,
                mirror: state.slot_count(),
            });
        }
        let statuses_only = self.ring_base == Some(state.version());
        {
            let b = state.buffers_mut();
            let ring = match (n, statuses_only) {
                (0, _) => None,
                (_, true) => Some(RingReadback::Statuses(b.ring)),
                (_, false) => Some(RingReadback::Slots(0..n, b.ring)),
            };
            let targets = Targets {
                header: None,
                control: Some(b.control),
                debug_log: Some(b.debug_log),
                ring,
            };
            self.submit(None, targets)?;
            if self.io_queue.len() == b.io_queue.len() {
                b.io_queue.copy_from_slice(&self.io_queue);
            }
        }
        self.synced = Some(state.mark_synced());
        self.ring_base = self.synced;
        Ok(())
    }

    /// The device ring, for drawing (the grid reads it straight from here).
    pub fn ring_buffer(&self) -> Option<&wgpu::Buffer> {
        self.bufs.as_ref().map(|b| &b.ring)
    }

    /// u32 per slot: the serial ([`GpuEngine::dispatch_serial`]-numbered, from 1) of the last
    /// dispatch that claimed the slot (while [`GpuEngine::set_change_marks`] is on).
    pub fn changed_buffer(&self) -> Option<&wgpu::Buffer> {
        self.bufs.as_ref().map(|b| &b.changed)
    }

    /// The serial of the latest dispatch (0 before the first).
    pub fn dispatch_serial(&self) -> u32 {
        self.serial
    }
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

    /// Uploads `state` unless the device copy already equals it, then starts the dispatch.
    /// The upload's device copies ride at the start of the first submission of
    /// [`Engine::run_passes`] (or any other submission of this engine before it).
    fn begin_dispatch(
        &mut self,
        state: &mut ResidentBuffers,
        options: &DispatchOptions,
    ) -> Result<(), EngineError> {
        state.validate()?;
        self.run = None;
        let t0 = std::time::Instant::now();
        if !self.is_synced_with(state) {
            self.stage(state)?;
        }
        let upload = t0.elapsed();
        self.begin_device(options)?;
        self.phases.upload = upload;
        Ok(())
    }

    /// Runs up to `max_passes` passes on the device, then brings control, debug log and the
    /// ring's status words back into `state` (uploading first if `state` was edited since).
    fn run_passes(
        &mut self,
        state: &mut ResidentBuffers,
        max_passes: u32,
    ) -> Result<bool, EngineError> {
        if self.run.is_none() {
            return Err(EngineError::NoDispatch);
        }
        if !self.is_synced_with(state) {
            let t0 = std::time::Instant::now();
            self.stage(state)?;
            self.phases.upload += t0.elapsed();
        }
        let ended = {
            let b = state.buffers_mut();
            let ring = (!b.ring.is_empty()).then_some(b.ring);
            let ended = self.run_chunks(max_passes, ring)?;
            let run = self.run.as_ref().ok_or(EngineError::NoDispatch)?;
            b.control.clone_from(&run.control);
            b.debug_log.clone_from(&run.debug_log);
            ended
        };
        self.synced = Some(state.mark_synced());
        self.ring_base = self.synced;
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
