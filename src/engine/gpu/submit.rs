//! One submission to the device: the passes of the dispatch in progress (each the megakernel
//! then the pass gate), the status histogram behind them, and the readbacks asked for, mapped
//! and copied out after one wait.

use std::ops::Range;

use super::buffers::DeviceBuffers;
use super::device::{self, scoped};
use super::kernels::Kernels;
use super::kernels::PassKey;
use super::race_state::{
    LOG_RECORD_WORDS, RW_HEADER, RW_LOG_COUNT, SUM_WORDS, log_capacity, race_words_len,
};
use super::run_state::{
    IND_HIST, PARAMS_COPIES, PARAMS_STRIDE, RS_RETURNED_FLAGS, RS_SHUTDOWN_AT_START, grid,
};
use super::timing::{KernelTiming, Stamps};
use super::{GpuEngine, not_uploaded};
use crate::abi::control::SHUTDOWN;
use crate::abi::layout::SLOT_WORDS;
use crate::engine::EngineError;

const SLOT_BYTES: u64 = SLOT_WORDS as u64 * 4;

/// Passes a submission encodes for the dispatch in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Passes {
    pub passes: u32,
    /// The megakernel build (its race buffers exist when `key.race`: `begin_device` made them).
    pub key: PassKey,
    /// The dispatch's first submission: note SHUTDOWN as found before the first pass, and
    /// clear this many per-workgroup returned flags if given (only when the serial has
    /// wrapped: a flag holds the serial of the dispatch its workgroup returned in).
    pub first: Option<Option<u32>>,
    /// `once` as its one kernel ([`super::run_state::RunPlan::fused_once`]), over this grid:
    /// no gate and no histogram after the pass, and dispatched directly — no gate rewrites
    /// its grid, so the indirect arguments would only cost a buffer write and a buffer for
    /// wgpu to track.
    pub fused_once: Option<(u32, u32)>,
    /// The lanes read SHUTDOWN (looping variants, or `once` with the check): only then does
    /// the report need SHUTDOWN as the dispatch found it.
    pub checks_shutdown: bool,
}

/// How a submission brings the ring back.
pub(super) enum RingReadback<'a> {
    /// Slots `range`, 16 words each, into the vector (replacing its contents).
    Slots(Range<u32>, &'a mut Vec<u32>),
    /// Only every slot's status word, written into a host ring that equals the device's in
    /// every other word: the kernels write nothing else in the ring, so a copy that was equal
    /// before the dispatches needs a sixteenth of the ring back.
    Statuses(&'a mut Vec<u32>),
}

/// Where a submission's readbacks go.
#[derive(Default)]
pub(super) struct Targets<'a> {
    pub header: Option<&'a mut Vec<u32>>,
    pub control: Option<&'a mut Vec<u32>>,
    pub debug_log: Option<&'a mut Vec<u32>>,
    pub ring: Option<RingReadback<'a>>,
}

const ENCODER: wgpu::CommandEncoderDescriptor<'static> = wgpu::CommandEncoderDescriptor {
    label: Some("megascope"),
};

/// Everything a dispatch submission's commands depend on, but for the contents of buffers:
/// two submissions of one shape encode the same commands, so those of the next can be built
/// while the device runs this one ([`Shape::encode_ahead`]). On an H200 building them
/// (`CommandEncoder::finish`) took 0.015–0.025 ms of a 4,096-slot dispatch's 0.05–0.10.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Shape {
    /// [`DeviceBuffers::generation`]: the buffers the commands name.
    generation: u64,
    /// The copies that go first.
    copies: super::buffers::PendingCopies,
    work: Option<Passes>,
    /// The status gather's grid, when the statuses come back.
    gather: Option<(u32, u32)>,
    /// Header, control and debug log come back.
    span: bool,
    statuses: bool,
    params_offset: u32,
    /// What the timestamps measure ([`KernelTiming::Off`] on a device without them).
    timing: KernelTiming,
}

/// Commands built ahead for a submission of `shape`, with what their timestamps stand for.
pub(super) struct Ahead {
    shape: Shape,
    commands: wgpu::CommandBuffer,
    /// The kernels after which a timestamp is written ([`Stamps::labels`]).
    labels: Vec<&'static str>,
    /// The passes were encoded with timestamps.
    timed: bool,
}

impl Shape {
    /// Encodes the submission but for a ring readback: the pending copies, the passes (with
    /// `stamps` if given: returns whether they were encoded), the gather and the copies
    /// into the small staging buffer.
    fn encode(
        &self,
        enc: &mut wgpu::CommandEncoder,
        kernels: &Kernels,
        bufs: &DeviceBuffers,
        pipeline: Option<&wgpu::ComputePipeline>,
        mut stamps: Option<&mut Stamps<'_>>,
    ) -> bool {
        bufs.encode_copies(enc, self.copies);
        let mut timed = false;
        if let Some(w) = self.work {
            timed = encode_passes(
                enc,
                kernels,
                bufs,
                pipeline,
                w,
                stamps.as_deref_mut(),
                self.gather,
            );
            if timed && let Some(s) = &stamps {
                s.resolve(enc);
            }
        }
        if let Some(g) = self.gather.filter(|_| !timed) {
            let mut cp = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("gather statuses"),
                timestamp_writes: None,
            });
            encode_gather(&mut cp, kernels, bufs, g);
        }
        let small = bufs.small_readback_layout();
        if self.span {
            enc.copy_buffer_to_buffer(&bufs.state, 0, &bufs.stage_small, 0, small.span);
        }
        if self.statuses {
            let (at, bytes) = (
                small.statuses.start,
                small.statuses.end - small.statuses.start,
            );
            enc.copy_buffer_to_buffer(&bufs.statuses, 0, &bufs.stage_small, at, bytes);
        }
        timed
    }

    /// The shape the next submission most likely has. After a dispatch's first submission,
    /// the next dispatch's first: the same but for the parameters, which are the next copy
    /// of the block ([`super::run_state::params_copy`]; the first again after the last).
    /// After any other, this one again (the next chunk of a stepped dispatch).
    fn likely_next(&self) -> Shape {
        if self.work.is_none_or(|w| w.first.is_none()) {
            return *self;
        }
        let copy = u64::from(self.params_offset) / PARAMS_STRIDE + 1;
        let copy = if copy < u64::from(PARAMS_COPIES) {
            copy
        } else {
            0
        };
        Shape {
            params_offset: (copy * PARAMS_STRIDE) as u32,
            ..*self
        }
    }

    /// The commands of a submission of this shape, built now for later; `None` if wgpu
    /// refused them (the submission then encodes its own, and reports what is wrong).
    fn encode_ahead(
        &self,
        device: &wgpu::Device,
        kernels: &Kernels,
        bufs: &DeviceBuffers,
        pipeline: Option<&wgpu::ComputePipeline>,
        timer: Option<&super::timing::KernelTimer>,
    ) -> Option<Ahead> {
        scoped(device, "building the next dispatch's commands", || {
            let mut enc = device.create_command_encoder(&ENCODER);
            let mut stamps = timer
                .filter(|_| self.timing != KernelTiming::Off)
                .map(|t| t.stamps(self.timing));
            let timed = self.encode(&mut enc, kernels, bufs, pipeline, stamps.as_mut());
            Ok(Ahead {
                shape: *self,
                commands: enc.finish(),
                labels: stamps.map(|s| s.labels().to_vec()).unwrap_or_default(),
                timed,
            })
        })
        .ok()
    }
}

/// Encodes with `f`, submits, and turns wgpu validation errors into [`EngineError::Gpu`].
pub(super) fn scoped_submit(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    f: impl FnOnce(&mut wgpu::CommandEncoder),
) -> Result<(), EngineError> {
    scoped(device, "running a dispatch", || {
        let mut enc = device.create_command_encoder(&ENCODER);
        f(&mut enc);
        queue.submit([enc.finish()]);
        Ok(())
    })
}

/// Gathers every slot's status word into the statuses buffer, `grid` workgroups of 256.
fn encode_gather(
    cp: &mut wgpu::ComputePass<'_>,
    kernels: &Kernels,
    bufs: &DeviceBuffers,
    grid: (u32, u32),
) {
    cp.set_pipeline(&kernels.gather);
    cp.set_bind_group(0, &bufs.hist_bg, &[bufs.params_offset]);
    cp.dispatch_workgroups(grid.0, grid.1, 1);
}

/// Encodes `passes` passes, each the megakernel then the gate, then the histogram through
/// its indirect arguments (it runs only once the gate has ended the dispatch) and the
/// finalize step; a fused `once` pass alone. The status gather, if given its grid, ends the
/// same compute pass: a pass of its own cost 0.012–0.015 ms more per 4,096-slot round trip on
/// an H200. Returns whether a compute pass was encoded (and so whether `stamps` has
/// timestamps to resolve and the gather ran).
fn encode_passes(
    enc: &mut wgpu::CommandEncoder,
    kernels: &Kernels,
    bufs: &DeviceBuffers,
    pipeline: Option<&wgpu::ComputePipeline>,
    work: Passes,
    mut stamps: Option<&mut Stamps<'_>>,
    gather: Option<(u32, u32)>,
) -> bool {
    let race = if work.key.race {
        bufs.race.as_ref()
    } else {
        None
    };
    if let Some(clear) = work.first {
        if let Some(groups) = clear {
            enc.clear_buffer(
                &bufs.state,
                bufs.run.at(RS_RETURNED_FLAGS as u64 * 4),
                Some(groups as u64 * 4),
            );
        }
        // SHUTDOWN as the dispatch finds it (uploads queued before this submission
        // included): copies, where a one-thread kernel would cost a dispatch and a barrier;
        // none when no lane reads SHUTDOWN (the report then never looks at it). Control and
        // run state share a buffer, and a copy may not stay within one, so the word goes
        // through the statuses buffer (the gather, last in the submission, rewrites it).
        if work.checks_shutdown && bufs.control_words > SHUTDOWN {
            let from = bufs.control.at(SHUTDOWN as u64 * 4);
            enc.copy_buffer_to_buffer(&bufs.state, from, &bufs.statuses, 0, 4);
            let to = bufs.run.at(RS_SHUTDOWN_AT_START as u64 * 4);
            enc.copy_buffer_to_buffer(&bufs.statuses, 0, &bufs.state, to, 4);
        }
        if let Some(r) = race {
            // every summary starts at "none"; the control buffer as the dispatch finds it
            // (uploads queued before this submission included) is what a store changes
            enc.clear_buffer(&r.words, 0, None);
            enc.copy_buffer_to_buffer(
                &bufs.state,
                bufs.control.offset,
                &r.words,
                RW_HEADER as u64 * 4,
                bufs.control.size,
            );
        }
    }
    let Some(pipeline) = pipeline else {
        return false;
    };
    let mut cp = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some("megakernel passes"),
        timestamp_writes: stamps.as_ref().map(|s| s.writes()),
    });
    let mut stamp = |cp: &mut wgpu::ComputePass<'_>, label| {
        if let Some(s) = stamps.as_deref_mut() {
            s.after(cp, label);
        }
    };
    let pass_bg = race.map_or(&bufs.pass_bg, |r| &r.bind_group);
    let params = [bufs.params_offset];
    if let Some((x, y)) = work.fused_once {
        cp.set_pipeline(pipeline);
        cp.set_bind_group(0, pass_bg, &params);
        cp.dispatch_workgroups(x, y, 1);
        stamp(&mut cp, "megakernel");
    } else {
        for _ in 0..work.passes {
            cp.set_pipeline(pipeline);
            cp.set_bind_group(0, pass_bg, &params);
            cp.dispatch_workgroups_indirect(&bufs.indirect, 0);
            stamp(&mut cp, "megakernel");
            cp.set_pipeline(&kernels.gate);
            cp.set_bind_group(0, &bufs.gate_bg, &[]);
            cp.dispatch_workgroups(1, 1, 1);
            stamp(&mut cp, "pass gate");
        }
        cp.set_pipeline(&kernels.histogram);
        cp.set_bind_group(0, &bufs.hist_bg, &params);
        cp.dispatch_workgroups_indirect(&bufs.indirect, IND_HIST as u64 * 4);
        stamp(&mut cp, "status histogram");
        cp.set_pipeline(&kernels.finalize);
        cp.set_bind_group(0, &bufs.hist_bg, &params);
        cp.dispatch_workgroups(1, 1, 1);
        stamp(&mut cp, "finalize");
    }
    if let Some(g) = gather {
        encode_gather(&mut cp, kernels, bufs, g);
        stamp(&mut cp, "gather statuses");
    }
    true
}

impl GpuEngine {
    /// One submission: `work` (if any), then the readbacks of `targets`, one wait for all.
    pub(super) fn submit(
        &mut self,
        work: Option<Passes>,
        targets: Targets<'_>,
    ) -> Result<(), EngineError> {
        let t0 = std::time::Instant::now();
        let pipeline = match work {
            Some(w) if w.passes > 0 => {
                Some(self.kernels.pass_pipeline(&self.device, w.key)?.clone())
            }
            _ => None,
        };
        let max_per_dim = self.max_workgroups_per_dim;
        let timing = self.timing;
        let wait = self.wait;
        let GpuEngine {
            device,
            queue,
            kernels,
            bufs,
            timer,
            kernel_times,
            phases,
            helpers,
            spec,
            last_reused_commands: reused,
            ..
        } = self;
        let bufs = bufs.as_mut().ok_or_else(not_uploaded)?;
        let n = bufs.slot_count;
        let (slot_range, statuses) = match &targets.ring {
            Some(RingReadback::Slots(r, _)) => (Some(r.clone()), false),
            Some(RingReadback::Statuses(_)) => (None, n > 0),
            None => (None, false),
        };
        let ring_bytes = slot_range
            .as_ref()
            .map_or(0, |r| (r.end - r.start) as u64 * SLOT_BYTES);
        let stage_ring = (ring_bytes > 0).then(|| bufs.ring_staging(device, ring_bytes).clone());
        let small = bufs.small_readback_layout();
        // control, debug log and header come back in one copy if any of them is asked for
        let span =
            targets.header.is_some() || targets.control.is_some() || targets.debug_log.is_some();
        let mut stamps = timer
            .as_ref()
            .filter(|_| timing != KernelTiming::Off)
            .map(|t| t.stamps(timing));
        let shape = Shape {
            generation: bufs.generation,
            copies: bufs.pending_copies(),
            work,
            gather: statuses.then(|| grid(n.div_ceil(256), max_per_dim)),
            span,
            statuses,
            params_offset: bufs.params_offset,
            timing: if stamps.is_some() {
                timing
            } else {
                KernelTiming::Off
            },
        };
        // commands built while the last submission ran, for one shaped like this: used
        // only where nothing outside the shape is encoded (a ring readback)
        let repeatable = slot_range.is_none();
        let ready = spec.take().filter(|a| repeatable && a.shape == shape);
        *reused = ready.is_some();
        let mut timed = false;
        let mut restage = false;
        let submitted = scoped(device, "running a dispatch", || {
            let cb = match ready {
                Some(ahead) => {
                    // the timestamps they write stand for the kernels they were built with
                    timed = ahead.timed;
                    stamps = stamps.take().map(|s| s.with_labels(ahead.labels));
                    ahead.commands
                }
                None => {
                    let mut enc = device.create_command_encoder(&ENCODER);
                    let p = pipeline.as_ref();
                    timed = shape.encode(&mut enc, kernels, bufs, p, stamps.as_mut());
                    if let (Some(r), Some(stage)) = (&slot_range, &stage_ring) {
                        let offset = r.start as u64 * SLOT_BYTES;
                        enc.copy_buffer_to_buffer(&bufs.ring, offset, stage, 0, ring_bytes);
                    }
                    enc.finish()
                }
            };
            // a staged upload, and the header of a dispatch that began since the last
            // submission, went first
            restage = bufs.commit_pending();
            queue.submit([cb]);
            Ok(())
        });
        bufs.settle_pending(submitted, restage)?;
        let mut helpers = helpers
            .as_mut()
            .filter(|h| statuses && h.takes(n as usize * SLOT_BYTES as usize));
        if let Some(h) = &helpers {
            // awake by the time the statuses come back
            h.wake();
        }
        if repeatable {
            // the device is busy with this submission: build the next one's commands now,
            // shaped as it most likely will be, so that it only has to submit them
            let next = shape.likely_next();
            *spec = next.encode_ahead(device, kernels, bufs, pipeline.as_ref(), timer.as_ref());
        }
        let t1 = std::time::Instant::now();
        phases.submit += t1 - t0;
        let Targets {
            mut header,
            mut control,
            mut debug_log,
            mut ring,
        } = targets;
        let stage_ring = stage_ring.as_ref().unwrap_or(&bufs.stage_small);
        // the small readbacks share one mapping, up to the end of the last one asked for
        let small_end = if statuses {
            small.statuses.end
        } else if span {
            small.span
        } else {
            0
        };
        let staging = [
            (&bufs.stage_small, small_end),
            (stage_ring, ring_bytes),
            (
                timer.as_ref().map_or(&bufs.stage_small, |t| &t.stage),
                match &stamps {
                    Some(s) if timed => s.bytes(),
                    _ => 0,
                },
            ),
        ];
        let mut stamps = stamps.filter(|_| timed);
        let waited = device::read_mapped(device, &staging, wait, |i, bytes| {
            if bytes.is_empty() {
                return;
            }
            match i {
                0 => {
                    let outs = [
                        header.as_deref_mut(),
                        control.as_deref_mut(),
                        debug_log.as_deref_mut(),
                    ];
                    let ranges = [&small.header, &small.control, &small.debug_log];
                    for (out, r) in outs.into_iter().zip(ranges) {
                        if let (Some(out), Some(b)) =
                            (out, bytes.get(r.start as usize..r.end as usize))
                        {
                            device::words_into(b, out);
                        }
                    }
                    let r = &small.statuses;
                    let gathered = bytes.get(r.start as usize..r.end as usize);
                    if let (Some(RingReadback::Statuses(host)), Some(b), true) =
                        (ring.as_mut(), gathered, statuses)
                    {
                        // straight from the mapping: no copy of the statuses in between
                        super::par::patch_statuses(host, &device::words(b), helpers.as_deref_mut());
                    }
                }
                1 => {
                    if let Some(RingReadback::Slots(_, v)) = ring.as_mut() {
                        device::words_into(bytes, v);
                    }
                }
                _ => {
                    if let Some(s) = stamps.take() {
                        *kernel_times = s.times(bytes);
                    }
                }
            }
        });
        // the device's header as read back; unknown if passes ran and it was not; else as
        // the submission left it (`encode_pending` notes a template copy)
        match header {
            Some(h) if waited.is_ok() => bufs.header_holds = Some(h.clone()),
            _ if waited.is_err() || work.is_some() => bufs.header_holds = None,
            _ => {}
        }
        let waited = waited?;
        phases.wait += waited;
        phases.read += t1.elapsed().saturating_sub(waited);
        Ok(())
    }
}

impl GpuEngine {
    /// Reads the race analysis back: the header, initial control and summaries (and the
    /// probe words when `probes`, everything up to the per-slot out-of-range words when
    /// `oob`), then the store records, if any — a second wait only then.
    pub(super) fn read_race(
        &mut self,
        probes: bool,
        oob: bool,
    ) -> Result<(Vec<u32>, Vec<u32>), EngineError> {
        self.flush_pending()?;
        let wait = self.wait;
        let GpuEngine {
            device,
            queue,
            bufs,
            ..
        } = self;
        let bufs = bufs.as_ref().ok_or_else(not_uploaded)?;
        let race = bufs
            .race
            .as_ref()
            .ok_or_else(|| EngineError::Gpu("race analysis ran without its buffers".into()))?;
        let len = bufs.control_words;
        let mut words_len = (RW_HEADER + len * (1 + SUM_WORDS)) as u64;
        if oob {
            words_len = race_words_len(len, bufs.slot_count);
        } else if probes {
            words_len += 2 * bufs.slot_count as u64;
        }
        let words_bytes = (words_len * 4).min(race.words.size());
        scoped_submit(device, queue, |enc| {
            enc.copy_buffer_to_buffer(&race.words, 0, &race.stage_words, 0, words_bytes);
        })?;
        let mut words = Vec::new();
        device::read_mapped(device, &[(&race.stage_words, words_bytes)], wait, |_, b| {
            device::words_into(b, &mut words)
        })
        .map(drop)?;
        let cap = log_capacity(len, bufs.slot_count);
        let records = (words.get(RW_LOG_COUNT).copied().unwrap_or(0) as u64).min(cap);
        let mut log = Vec::new();
        if records > 0 {
            let bytes = records * LOG_RECORD_WORDS as u64 * 4;
            scoped_submit(device, queue, |enc| {
                enc.copy_buffer_to_buffer(&race.log, 0, &race.stage_log, 0, bytes);
            })?;
            device::read_mapped(device, &[(&race.stage_log, bytes)], wait, |_, b| {
                device::words_into(b, &mut log)
            })
            .map(drop)?;
        }
        Ok((words, log))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_bytes_match_the_abi() {
        assert_eq!(SLOT_BYTES, crate::abi::layout::SLOT_BYTES as u64);
    }

    fn shape(first: Option<Option<u32>>, params_offset: u32) -> Shape {
        let key = PassKey {
            workgroup_size: 256,
            priority: false,
            race: false,
            marks_changed: false,
            handlers: 1,
            aggregate: false,
            groups_per_workgroup: 1,
        };
        Shape {
            generation: 3,
            copies: super::super::buffers::PendingCopies {
                upload: None,
                header: false,
            },
            work: Some(Passes {
                passes: 1,
                key,
                first,
                fused_once: Some((16, 1)),
                checks_shutdown: false,
            }),
            gather: None,
            span: true,
            statuses: false,
            params_offset,
            timing: KernelTiming::Off,
        }
    }

    /// After a dispatch's first submission comes the next dispatch's, whose parameters are
    /// the next copy of the block, and the first after the last; after a later chunk of a
    /// dispatch, another like it.
    #[test]
    fn the_likely_next_submission_takes_the_next_parameters_copy() {
        let stride = PARAMS_STRIDE as u32;
        let first = Some(None);
        assert_eq!(shape(first, 0).likely_next(), shape(first, stride));
        assert_eq!(
            shape(first, 5 * stride).likely_next(),
            shape(first, 6 * stride)
        );
        let last = (PARAMS_COPIES - 1) * stride;
        assert_eq!(shape(first, last).likely_next(), shape(first, 0));
        let chunk = shape(None, 5 * stride);
        assert_eq!(chunk.likely_next(), chunk);
        let copies_only = Shape {
            work: None,
            ..chunk
        };
        assert_eq!(copies_only.likely_next(), copies_only);
    }
}
