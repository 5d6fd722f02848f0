//! The device copies of the resident buffers, the engine's own small buffers (run state,
//! indirect arguments, uniform parameters, the per-slot "changed" serials), their bind
//! groups and the staging buffers readbacks go through. Recreated when the geometry (slot
//! count or control length) changes.

use super::device::scoped;
use super::kernels::{Kernels, RING_WORDS_BINDING};
use super::race_state::{LOG_RECORD_WORDS, log_capacity, race_words_len};
use super::run_state::{
    HEADER_WORDS, INDIRECT_WORDS, PARAMS_COPIES, PARAMS_STRIDE, Params, ParamsBlock,
};
use super::upload::{UploadStage, stage_bytes};
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
pub struct DeviceBuffers {
    pub slot_count: u32,
    pub control_words: usize,
    pub control: wgpu::Buffer,
    pub ring: wgpu::Buffer,
    pub debug_log: wgpu::Buffer,
    /// Run state: header, then one returned flag per workgroup.
    pub run: wgpu::Buffer,
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
    pub indirect: wgpu::Buffer,
    /// What `indirect` holds, when the host wrote it last and no pass gate has run since
    /// (a fused `once` dispatch leaves it as written): a dispatch with the same arguments
    /// then writes nothing.
    pub indirect_holds: Option<[u32; INDIRECT_WORDS]>,
    /// u32 per slot: the status words, gathered for a status-only readback.
    pub statuses: wgpu::Buffer,
    pub pass_bg: wgpu::BindGroup,
    pub gate_bg: wgpu::BindGroup,
    pub hist_bg: wgpu::BindGroup,
    /// The run-state header, the control buffer, the debug log and the gathered status
    /// words come back through this one buffer, at [`DeviceBuffers::small_readback_offsets`]:
    /// one mapping per submission instead of four.
    pub stage_small: wgpu::Buffer,
    /// Grown on demand for ring readbacks.
    pub stage_ring: Option<wgpu::Buffer>,
    /// The race analysis' buffers, made the first time a dispatch asks for analysis.
    pub race: Option<RaceBuffers>,
    /// Uploads go through this buffer, kept mapped from one upload to the next.
    pub upload: UploadStage,
}

/// Binding i for buffer i; the uniform one (the parameters) as one copy of its block, which
/// the dynamic offset picks.
fn entries<'a>(bufs: &[&'a wgpu::Buffer]) -> Vec<wgpu::BindGroupEntry<'a>> {
    bufs.iter()
        .enumerate()
        .map(|(i, &b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: if b.usage().contains(wgpu::BufferUsages::UNIFORM) {
                wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: b,
                    offset: 0,
                    size: wgpu::BufferSize::new(std::mem::size_of::<Params>() as u64),
                })
            } else {
                b.as_entire_binding()
            },
        })
        .collect()
}

/// [`entries`] plus the ring's non-atomic view, for the megakernel's bind groups.
fn pass_entries<'a>(
    bufs: &[&'a wgpu::Buffer],
    ring: &'a wgpu::Buffer,
) -> Vec<wgpu::BindGroupEntry<'a>> {
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

/// Header, control, debug log and one status word per slot back to back (each a whole
/// number of words, so every copy offset is 4-byte aligned), then the total.
fn small_readback_layout(control_words: usize, slot_count: u32) -> [u64; 5] {
    let header = bytes_of(HEADER_WORDS as u64);
    let control = header + bytes_of(control_words as u64);
    let debug = control + bytes_of(DEBUG_LOG_WORDS as u64);
    [
        0,
        header,
        control,
        debug,
        debug + bytes_of(slot_count as u64),
    ]
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
        for (what, bytes) in [("ring", ring_bytes), ("control buffer", control_bytes)] {
            if bytes > max {
                return Err(EngineError::Gpu(format!(
                    "the {what} needs {:.1} MiB but this device binds at most {:.1} MiB per storage buffer; use fewer slots (or observable words), a GPU with larger limits, or the CPU backend",
                    bytes as f64 / MIB as f64,
                    max as f64 / MIB as f64
                )));
            }
        }
        scoped(device, "allocating the device buffers", || {
            let storage =
                |label: &str, size: u64, extra| storage_buffer(device, label, size, extra);
            let none = wgpu::BufferUsages::empty();
            let control = storage("control", control_bytes, none);
            let ring = storage("ring", ring_bytes, none);
            let debug_log = storage("debug log", bytes_of(DEBUG_LOG_WORDS as u64), none);
            let run_words = HEADER_WORDS as u64 + (slot_count as u64).max(1);
            let run = storage("run state", bytes_of(run_words), none);
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
                    &[&control, &ring, &debug_log, &run, &changed, &params],
                    &ring,
                ),
            });
            let gate_bg = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("pass gate"),
                layout: &kernels.gate_bgl,
                entries: &entries(&[&control, &run, &indirect]),
            });
            let hist_bg = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("status histogram"),
                layout: &kernels.hist_bgl,
                entries: &entries(&[&control, &ring, &run, &params, &statuses]),
            });
            Ok(DeviceBuffers {
                slot_count,
                control_words,
                stage_small: staging(
                    "header, control, debug log and status readback",
                    small_readback_layout(control_words, slot_count)[4],
                ),
                stage_ring: None,
                upload: UploadStage::new(device, stage_bytes(slot_count, control_words)),
                race: None,
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
                indirect,
                indirect_holds: None,
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
        let staged = self
            .upload
            .encode_pending(enc, &self.ring, &self.control, &self.debug_log);
        if std::mem::take(&mut self.header_pending) {
            self.encode_header_copy(enc);
        }
        staged
    }

    /// Whether [`DeviceBuffers::encode_pending`] has anything to encode.
    pub fn has_pending(&self) -> bool {
        self.header_pending || self.upload.is_pending()
    }

    /// The copy of the dispatch's initial header into the run state (`header_pending`).
    fn encode_header_copy(&self, enc: &mut wgpu::CommandEncoder) {
        enc.copy_buffer_to_buffer(
            &self.header_template,
            0,
            &self.run,
            0,
            bytes_of(HEADER_WORDS as u64),
        );
    }

    /// Where the header, the control buffer, the debug log and the statuses lie in
    /// [`DeviceBuffers::stage_small`], and its length.
    pub fn small_readback_offsets(&self) -> [u64; 5] {
        small_readback_layout(self.control_words, self.slot_count)
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
                            &self.control,
                            &self.ring,
                            &self.debug_log,
                            &self.run,
                            &self.changed,
                            &self.params,
                            &words_buf,
                            &log,
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
