//! The device copies of the resident buffers, the engine's own small buffers (run state,
//! indirect arguments, uniform parameters, the per-slot "changed" serials), their bind
//! groups and the staging buffers readbacks go through. Recreated when the geometry (slot
//! count or control length) changes.

use super::device::scoped;
use super::kernels::{Kernels, RING_WORDS_BINDING};
use super::race_state::{LOG_RECORD_WORDS, log_capacity, race_words_len};
use super::run_state::{
    HEADER_WORDS, INDIRECT_WORDS, PARAMS_BYTES, PARAMS_COPIES, PARAMS_STRIDE, ParamsBlock,
};
use super::upload::{Staged, UploadStage};
use crate::abi::layout::{DEBUG_LOG_WORDS, SLOT_WORDS};
use crate::engine::EngineError;

const MIB: u64 = 1 << 20;

/// The race analysis' device buffers (layout: [`super::race_state`]).
pub struct RaceBuffers {
    /// Header, initial control, per-word summaries, per-slot probes.
    pub words: wgpu::Buffer,
    /// Store records.
    pub log: wgpu::Buffer,
    /// The pass bind group with both.
    pub bind_group: wgpu::BindGroup,
    pub stage_words: wgpu::Buffer,
    pub stage_log: wgpu::Buffer,
}

/// Device buffers for one geometry.
/// The copies a submission must start with ([`DeviceBuffers::pending_copies`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingCopies {
    /// A staged upload's.
    pub upload: Option<Staged>,
    /// The dispatch's initial header, from the template.
    pub header: bool,
}

pub struct DeviceBuffers {
    /// Distinct for every set of buffers an engine makes: commands encoded for one set are
    /// never submitted with another ([`super::submit::Shape`]).
    pub generation: u64,
    pub slot_count: u32,
    pub control_words: usize,
    /// The control buffer, the debug log and the run state, in one buffer ([`state_layout`]):
    /// a submission copies them back, and an upload copies control and debug log, in one
    /// copy each instead of two or three.
    pub state: wgpu::Buffer,
    pub control: Region,
    pub ring: wgpu::Buffer,
    pub debug_log: Region,
    /// Run state: header, then one returned flag per workgroup.
    pub run: Region,
    /// u32 per slot: the serial of the last dispatch that claimed it.
    pub changed: wgpu::Buffer,
    /// [`PARAMS_COPIES`] copies of the parameters, [`PARAMS_STRIDE`] apart.
    pub params: wgpu::Buffer,
    /// What `params` holds (written by `begin_device` only).
    pub params_block: Option<ParamsBlock>,
    /// The dynamic offset of this dispatch's copy: every bind group that includes `params`
    /// is set with it.
    pub params_offset: u32,
    /// The header a dispatch starts from, copied into `run` on the device by the dispatch's
    /// first submission: it changes only with the plan, so most dispatches write nothing.
    pub header_template: wgpu::Buffer,
    /// What `header_template` holds.
    pub template_holds: Option<Vec<u32>>,
    /// A dispatch began and its header has not been copied into `run` yet.
    pub header_pending: bool,
    /// The run-state header as the device holds it, when the host knows it exactly: as last
    /// read back, or the template just copied in. A fused `once` dispatch may then run on it
    /// instead of a fresh copy ([`super::run_state::can_rebase`]).
    pub header_holds: Option<Vec<u32>>,
    pub indirect: wgpu::Buffer,
    /// u32 per slot: the status words, gathered for a status-only readback.
    pub statuses: wgpu::Buffer,
    pub pass_bg: wgpu::BindGroup,
    pub gate_bg: wgpu::BindGroup,
    pub hist_bg: wgpu::BindGroup,
    /// The run-state header, the control buffer, the debug log and the gathered status
    /// words come back through this one buffer, at [`DeviceBuffers::small_readback_layout`]:
    /// one mapping per submission instead of four.
    pub stage_small: wgpu::Buffer,
    /// Grown on demand for ring readbacks.
    pub stage_ring: Option<wgpu::Buffer>,
    /// The race analysis' buffers, made the first time a dispatch asks for analysis.
    pub race: Option<RaceBuffers>,
    /// Uploads go through this buffer, kept mapped from one upload to the next.
    pub upload: UploadStage,
}

/// A part of the shared state buffer ([`DeviceBuffers::state`]): its first byte and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub offset: u64,
    pub size: u64,
}

impl Region {
    /// The buffer offset of byte `byte` of the region.
    pub fn at(&self, byte: u64) -> u64 {
        self.offset + byte
    }

    pub fn end(&self) -> u64 {
        self.offset + self.size
    }
}

/// Where the control buffer, the debug log and the run state lie in the one buffer they
/// share, and its length: each starts where a storage binding may (`align`), control first
/// and the run state last, so that one copy brings back control, debug log and the run
/// state's header, and one copy uploads control and debug log.
pub fn state_layout(control_bytes: u64, run_bytes: u64, align: u64) -> [Region; 3] {
    let up = |b: u64| b.div_ceil(align) * align;
    let control = Region {
        offset: 0,
        size: control_bytes,
    };
    let debug_log = Region {
        offset: up(control.end()),
        size: bytes_of(DEBUG_LOG_WORDS as u64),
    };
    let run = Region {
        offset: up(debug_log.end()),
        size: run_bytes,
    };
    [control, debug_log, run]
}

#[cfg(test)]
mod layout_tests {
    use super::*;

    #[test]
    fn state_regions_start_where_bindings_may_and_never_overlap() {
        for (control_words, run_words, align) in [(160, 70, 256), (161, 4_200, 256), (1000, 1, 64)]
        {
            let [c, d, r] = state_layout(bytes_of(control_words), bytes_of(run_words), align);
            assert_eq!((c.offset, c.size), (0, bytes_of(control_words)));
            assert_eq!(d.size, bytes_of(DEBUG_LOG_WORDS as u64));
            assert_eq!(r.size, bytes_of(run_words));
            for region in [c, d, r] {
                assert_eq!(region.offset % align, 0, "{region:?}");
            }
            assert!(
                c.end() <= d.offset && d.end() <= r.offset,
                "{c:?} {d:?} {r:?}"
            );
            assert!(d.offset - c.end() < align && r.offset - d.end() < align);
            // one readback copy covers control, debug log and the header, then the statuses
            let small = small_readback_layout(&[c, d, r], 10);
            assert_eq!(small.control, 0..c.end());
            assert_eq!(small.debug_log, d.offset..d.end());
            assert_eq!(small.header, r.offset..r.at(bytes_of(HEADER_WORDS as u64)));
            assert_eq!(small.span, small.header.end);
            assert_eq!(small.statuses, small.span..small.span + 40);
        }
    }
}

/// One binding of a bind group: a whole buffer, or a region of the state buffer.
#[derive(Clone, Copy)]
enum Bind<'a> {
    Whole(&'a wgpu::Buffer),
    Part(&'a wgpu::Buffer, Region),
}

/// Binding i for buffer i; the uniform one (the parameters) as one copy of its block, which
/// the dynamic offset picks.
fn entries<'a>(bufs: &[Bind<'a>]) -> Vec<wgpu::BindGroupEntry<'a>> {
    bufs.iter()
        .enumerate()
        .map(|(i, &b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: match b {
                Bind::Whole(b) if b.usage().contains(wgpu::BufferUsages::UNIFORM) => {
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: b,
                        offset: 0,
                        size: wgpu::BufferSize::new(PARAMS_BYTES),
                    })
                }
                Bind::Whole(b) => b.as_entire_binding(),
                Bind::Part(b, r) => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: b,
                    offset: r.offset,
                    size: wgpu::BufferSize::new(r.size),
                }),
            },
        })
        .collect()
}

/// [`entries`] plus the ring's non-atomic view, for the megakernel's bind groups.
fn pass_entries<'a>(bufs: &[Bind<'a>], ring: &'a wgpu::Buffer) -> Vec<wgpu::BindGroupEntry<'a>> {
    let mut e = entries(bufs);
    e.push(wgpu::BindGroupEntry {
        binding: RING_WORDS_BINDING,
        resource: ring.as_entire_binding(),
    });
    e
}

fn bytes_of(words: u64) -> u64 {
    words * 4
}

/// Where each readback lies in [`DeviceBuffers::stage_small`]: the state buffer from its
/// start to the end of the run state's header (control, debug log, header; one copy), then
/// one status word per slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmallLayout {
    pub header: std::ops::Range<u64>,
    pub control: std::ops::Range<u64>,
    pub debug_log: std::ops::Range<u64>,
    /// The bytes of the state buffer the one copy brings back.
    pub span: u64,
    pub statuses: std::ops::Range<u64>,
}

fn small_readback_layout(state: &[Region; 3], slot_count: u32) -> SmallLayout {
    let [control, debug_log, run] = *state;
    let header = run.offset..run.offset + bytes_of(HEADER_WORDS as u64);
    let span = header.end;
    SmallLayout {
        control: control.offset..control.end(),
        debug_log: debug_log.offset..debug_log.end(),
        header,
        span,
        statuses: span..span + bytes_of(slot_count as u64),
    }
}

/// A storage buffer the kernels bind and the host copies into and out of (`extra` usages on
/// top: the indirect arguments are one).
fn storage_buffer(
    device: &wgpu::Device,
    label: &str,
    size: u64,
    extra: wgpu::BufferUsages,
) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC
            | extra,
        mapped_at_creation: false,
    })
}

/// A buffer the host maps to read what a submission copied into it.
fn readback_buffer(device: &wgpu::Device, label: &str, size: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

impl DeviceBuffers {
    pub fn new(
        device: &wgpu::Device,
        kernels: &Kernels,
        slot_count: u32,
        control_words: usize,
    ) -> Result<DeviceBuffers, EngineError> {
        let limits = device.limits();
        let max = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        let ring_bytes = bytes_of(slot_count as u64 * SLOT_WORDS as u64).max(64);
        let control_bytes = bytes_of(control_words as u64);
        let run_words = HEADER_WORDS as u64 + (slot_count as u64).max(1);
        let layout = state_layout(
            control_bytes,
            bytes_of(run_words),
            limits.min_storage_buffer_offset_alignment.into(),
        );
        let state_bytes = layout[2].end();
        for (what, bytes, max) in [
            ("ring", ring_bytes, max),
            ("control buffer", control_bytes, max),
            (
                "control buffer, debug log and run state",
                state_bytes,
                limits.max_buffer_size,
            ),
        ] {
            if bytes > max {
                return Err(EngineError::Gpu(format!(
                    "the {what} needs {:.1} MiB but this device allows at most {:.1} MiB for it; use fewer slots (or observable words), a GPU with larger limits, or the CPU backend",
                    bytes as f64 / MIB as f64,
                    max as f64 / MIB as f64
                )));
            }
        }
        scoped(device, "allocating the device buffers", || {
            let storage =
                |label: &str, size: u64, extra| storage_buffer(device, label, size, extra);
            let none = wgpu::BufferUsages::empty();
            let state = storage("control, debug log and run state", state_bytes, none);
            let [control, debug_log, run] = layout;
            let ring = storage("ring", ring_bytes, none);
            let slot_words = bytes_of((slot_count as u64).max(1));
            let changed = storage("changed serials", slot_words, none);
            let statuses = storage("gathered statuses", slot_words, none);
            let indirect = storage(
                "indirect arguments",
                bytes_of(INDIRECT_WORDS as u64),
                wgpu::BufferUsages::INDIRECT,
            );
            let params = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("params"),
                size: u64::from(PARAMS_COPIES) * PARAMS_STRIDE,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let header_template = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("initial run-state header"),
                size: bytes_of(HEADER_WORDS as u64),
                usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let staging = |label: &str, size: u64| readback_buffer(device, label, size);
            let pass_bg = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("megakernel pass"),
                layout: &kernels.pass_bgl,
                entries: &pass_entries(
                    &[
                        Bind::Part(&state, control),
                        Bind::Whole(&ring),
                        Bind::Part(&state, debug_log),
                        Bind::Part(&state, run),
                        Bind::Whole(&changed),
                        Bind::Whole(&params),
                    ],
                    &ring,
                ),
            });
            let gate_bg = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("pass gate"),
                layout: &kernels.gate_bgl,
                entries: &entries(&[
                    Bind::Part(&state, control),
                    Bind::Part(&state, run),
                    Bind::Whole(&indirect),
                ]),
            });
            let hist_bg = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("status histogram"),
                layout: &kernels.hist_bgl,
                entries: &entries(&[
                    Bind::Part(&state, control),
                    Bind::Whole(&ring),
                    Bind::Part(&state, run),
                    Bind::Whole(&params),
                    Bind::Whole(&statuses),
                ]),
            });
            static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            Ok(DeviceBuffers {
                generation: GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                slot_count,
                control_words,
                stage_small: staging(
                    "header, control, debug log and status readback",
                    small_readback_layout(&layout, slot_count).statuses.end,
                ),
                stage_ring: None,
                upload: UploadStage::new(device, ring_bytes + debug_log.end()),
                race: None,
                state,
                control,
                ring,
                debug_log,
                run,
                changed,
                params,
                params_block: None,
                params_offset: 0,
                header_template,
                template_holds: None,
                header_pending: false,
                header_holds: None,
                indirect,
                statuses,
                pass_bg,
                gate_bg,
                hist_bg,
            })
        })
    }

    /// Encodes what must reach the device before any later command: a staged upload's
    /// copies, then a dispatch's initial header. Returns whether the upload stage is to be
    /// rearmed once the encoder is submitted ([`UploadStage::rearm`]).
    pub fn encode_pending(&mut self, enc: &mut wgpu::CommandEncoder) -> bool {
        self.encode_copies(enc, self.pending_copies());
        self.commit_pending()
    }

    /// What [`DeviceBuffers::encode_pending`] would encode now.
    pub fn pending_copies(&self) -> PendingCopies {
        PendingCopies {
            upload: self.upload.pending(),
            header: self.header_pending,
        }
    }

    /// Encodes `copies` (from [`DeviceBuffers::pending_copies`]), leaving them pending.
    pub fn encode_copies(&self, enc: &mut wgpu::CommandEncoder, copies: PendingCopies) {
        if let Some(staged) = copies.upload {
            self.upload
                .encode_copies(enc, staged, &self.ring, &self.state);
        }
        if copies.header {
            self.encode_header_copy(enc);
        }
    }

    /// Marks the pending copies as encoded into a submission about to go (the header then
    /// holds the template); returns whether the upload stage is to be rearmed after it.
    pub fn commit_pending(&mut self) -> bool {
        if std::mem::take(&mut self.header_pending) {
            self.header_holds.clone_from(&self.template_holds);
        }
        self.upload.take_pending()
    }

    /// Settles the bookkeeping of a submission that carried the pending copies, after
    /// [`DeviceBuffers::commit_pending`]: if it failed, the header the device holds is no
    /// longer known; if it went, the upload stage (`restage`) asks for its mapping again.
    pub fn settle_pending(
        &mut self,
        submitted: Result<(), EngineError>,
        restage: bool,
    ) -> Result<(), EngineError> {
        if submitted.is_err() {
            self.header_holds = None;
        }
        submitted?;
        if restage {
            self.upload.rearm();
        }
        Ok(())
    }

    /// Whether [`DeviceBuffers::encode_pending`] has anything to encode.
    pub fn has_pending(&self) -> bool {
        self.header_pending || self.upload.pending().is_some()
    }

    /// The copy of the dispatch's initial header into the run state (`header_pending`).
    fn encode_header_copy(&self, enc: &mut wgpu::CommandEncoder) {
        enc.copy_buffer_to_buffer(
            &self.header_template,
            0,
            &self.state,
            self.run.offset,
            bytes_of(HEADER_WORDS as u64),
        );
    }

    /// Where the header, the control buffer, the debug log and the statuses lie in
    /// [`DeviceBuffers::stage_small`].
    pub fn small_readback_layout(&self) -> SmallLayout {
        small_readback_layout(&[self.control, self.debug_log, self.run], self.slot_count)
    }

    /// The race analysis' buffers and the pass bind group that includes them, made on first
    /// use (a dispatch without analysis never allocates them).
    pub fn race_buffers(
        &mut self,
        device: &wgpu::Device,
        kernels: &Kernels,
    ) -> Result<&RaceBuffers, EngineError> {
        if self.race.is_none() {
            let words = race_words_len(self.control_words, self.slot_count);
            let log_words =
                log_capacity(self.control_words, self.slot_count) * LOG_RECORD_WORDS as u64;
            let limits = device.limits();
            let max = limits
                .max_storage_buffer_binding_size
                .min(limits.max_buffer_size);
            for (what, w) in [("race summaries", words), ("race store log", log_words)] {
                if w * 4 > max {
                    return Err(EngineError::Gpu(format!(
                        "the {what} need {:.1} MiB but this device binds at most {:.1} MiB per storage buffer; switch race analysis off for this state (or use the CPU backend)",
                        (w * 4) as f64 / MIB as f64,
                        max as f64 / MIB as f64
                    )));
                }
            }
            let race = scoped(device, "allocating the race analysis buffers", || {
                let storage = |label: &str, size: u64| {
                    storage_buffer(device, label, size, wgpu::BufferUsages::empty())
                };
                let staging = |label: &str, size: u64| readback_buffer(device, label, size);
                let words_buf = storage("race words", bytes_of(words));
                let log = storage("race store log", bytes_of(log_words));
                let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("megakernel pass with race analysis"),
                    layout: &kernels.race_bgl,
                    entries: &pass_entries(
                        &[
                            Bind::Part(&self.state, self.control),
                            Bind::Whole(&self.ring),
                            Bind::Part(&self.state, self.debug_log),
                            Bind::Part(&self.state, self.run),
                            Bind::Whole(&self.changed),
                            Bind::Whole(&self.params),
                            Bind::Whole(&words_buf),
                            Bind::Whole(&log),
                        ],
                        &self.ring,
                    ),
                });
                Ok(RaceBuffers {
                    stage_words: staging("race words readback", bytes_of(words)),
                    stage_log: staging("race store log readback", bytes_of(log_words)),
                    words: words_buf,
                    log,
                    bind_group,
                })
            })?;
            self.race = Some(race);
        }
        self.race
            .as_ref()
            .ok_or_else(|| EngineError::Gpu("the race buffers were not made".into()))
    }

    /// A staging buffer able to hold `bytes` of ring.
    pub fn ring_staging(&mut self, device: &wgpu::Device, bytes: u64) -> &wgpu::Buffer {
        if self.stage_ring.as_ref().is_some_and(|b| b.size() < bytes) {
            self.stage_ring = None;
        }
        self.stage_ring
            .get_or_insert_with(|| readback_buffer(device, "ring readback", bytes.max(64)))
    }
}
