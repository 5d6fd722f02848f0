//! Uploads of the mirror through one staging buffer that stays mapped between uploads.
//!
//! `Queue::write_buffer` makes a fresh staging buffer for every call and copies on one
//! thread; a ring above its size limit needed a staging buffer of our own, mapped (a wait)
//! and copied in a submission of its own. Here the ring, the control buffer and the debug
//! log go into one kept buffer, whose device copies ride at the start of the next submission
//! that runs anyway (the dispatch's), and which is asked to map again as soon as that
//! submission is on its way: by the next upload the device has finished with it and the
//! readback's wait has already seen the mapping complete.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::engine::EngineError;

/// The bytes of one staged upload: ring, control buffer, debug log, back to back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Staged {
    pub ring: u64,
    pub control: u64,
    pub debug_log: u64,
}

impl Staged {
    /// Where each part lies in the staging buffer, and the end.
    pub fn offsets(&self) -> [u64; 4] {
        let control = self.ring;
        let debug = control + self.control;
        [0, control, debug, debug + self.debug_log]
    }
}

/// The kept staging buffer and where it stands.
pub struct UploadStage {
    buffer: wgpu::Buffer,
    /// Mapped for writing: set by the map callback (or at creation), cleared on unmap.
    mapped: Arc<AtomicBool>,
    /// A map request is outstanding.
    requested: bool,
    /// Written and unmapped, its device copies not encoded yet.
    pending: Option<Staged>,
}

impl UploadStage {
    /// A staging buffer of `bytes` (a multiple of 4), mapped from the start.
    pub fn new(device: &wgpu::Device, bytes: u64) -> UploadStage {
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("upload staging"),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: true,
        });
        UploadStage {
            buffer,
            mapped: Arc::new(AtomicBool::new(true)),
            requested: false,
            pending: None,
        }
    }

    /// Copies the three parts into the buffer (waiting for its mapping only if the device
    /// has not released it yet) and unmaps it; the copies to the device buffers are then
    /// pending. Staging again before those are encoded is refused: it would overwrite bytes
    /// no copy has read yet.
    pub fn write(
        &mut self,
        device: &wgpu::Device,
        ring: &[u8],
        control: &[u8],
        debug_log: &[u8],
    ) -> Result<(), EngineError> {
        if self.pending.is_some() {
            return Err(EngineError::Gpu(
                "an upload was staged twice without a submission in between; this is a megascope bug, please report it".into(),
            ));
        }
        let staged = Staged {
            ring: ring.len() as u64,
            control: control.len() as u64,
            debug_log: debug_log.len() as u64,
        };
        let end = staged.offsets()[3];
        if end > self.buffer.size() || !end.is_multiple_of(4) {
            return Err(EngineError::Gpu(format!(
                "an upload of {end} bytes does not fit the staging buffer of {} bytes; this is a megascope bug, please report it",
                self.buffer.size()
            )));
        }
        self.wait_mapped(device)?;
        {
            let mut view = self.buffer.slice(..).get_mapped_range_mut().map_err(|e| {
                EngineError::Gpu(format!(
                    "the upload staging buffer could not be written: {e:?}; the device may have been lost — restart megascope or switch to the CPU backend"
                ))
            })?;
            let whole = view.slice(..);
            let (ring_part, rest) = whole.split_at(ring.len());
            super::par::copy_into(ring_part, ring);
            let (control_part, rest) = rest.split_at(control.len());
            let (debug_part, _) = rest.split_at(debug_log.len());
            for (mut dst, src) in [(control_part, control), (debug_part, debug_log)] {
                dst.copy_from_slice(src);
            }
        }
        self.buffer.unmap();
        self.mapped.store(false, Ordering::Release);
        self.pending = Some(staged);
        Ok(())
    }

    /// Waits until the buffer is mapped: asks for the mapping if nobody has, looks once
    /// without blocking, and blocks only if the device still holds it.
    fn wait_mapped(&mut self, device: &wgpu::Device) -> Result<(), EngineError> {
        if self.mapped.load(Ordering::Acquire) {
            // the request, if any, has been served
            self.requested = false;
            return Ok(());
        }
        if !self.requested {
            self.request_map();
        }
        let poll = |wait| {
            device
                .poll(wait)
                .map(drop)
                .map_err(|e| EngineError::Gpu(format!("waiting for the GPU failed: {e}")))
        };
        poll(wgpu::PollType::Poll)?;
        if !self.mapped.load(Ordering::Acquire) {
            poll(wgpu::PollType::wait_indefinitely())?;
        }
        if !self.mapped.load(Ordering::Acquire) {
            self.requested = false;
            return Err(EngineError::Gpu(
                "mapping the upload staging buffer failed; the device may have been lost — restart megascope or switch to the CPU backend".into(),
            ));
        }
        self.requested = false;
        Ok(())
    }

    fn request_map(&mut self) {
        let flag = Arc::clone(&self.mapped);
        self.buffer
            .slice(..)
            .map_async(wgpu::MapMode::Write, move |r| {
                if r.is_ok() {
                    flag.store(true, Ordering::Release);
                }
            });
        self.requested = true;
    }

    /// Whether copies are waiting for a submission.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Encodes the pending copies into `ring`, `control` and `debug_log` (in that order in
    /// the buffer); returns whether there were any, in which case [`UploadStage::rearm`] is
    /// due once the encoder is submitted.
    pub fn encode_pending(
        &mut self,
        enc: &mut wgpu::CommandEncoder,
        ring: &wgpu::Buffer,
        control: &wgpu::Buffer,
        debug_log: &wgpu::Buffer,
    ) -> bool {
        let Some(staged) = self.pending.take() else {
            return false;
        };
        let at = staged.offsets();
        let parts = [
            (ring, staged.ring),
            (control, staged.control),
            (debug_log, staged.debug_log),
        ];
        for (k, (dst, bytes)) in parts.into_iter().enumerate() {
            if bytes > 0 {
                enc.copy_buffer_to_buffer(&self.buffer, at[k], dst, 0, bytes);
            }
        }
        true
    }

    /// Asks for the mapping again after the submission holding the copies: it completes
    /// when the device is done with them, usually within the same readback wait.
    pub fn rearm(&mut self) {
        if !self.requested && !self.mapped.load(Ordering::Acquire) {
            self.request_map();
        }
    }
}

/// The staging size for a geometry: the whole ring, the control buffer and the debug log.
pub fn stage_bytes(slot_count: u32, control_words: usize) -> u64 {
    let slot_bytes = crate::abi::layout::SLOT_WORDS as u64 * 4;
    let words = control_words as u64 + crate::abi::layout::DEBUG_LOG_WORDS as u64;
    slot_count as u64 * slot_bytes + words * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_lie_back_to_back_on_word_boundaries() {
        let s = Staged {
            ring: 64 * 3,
            control: 4 * 161,
            debug_log: 4 * 257,
        };
        assert_eq!(s.offsets(), [0, 192, 192 + 644, 192 + 644 + 1028]);
        assert!(s.offsets().iter().all(|o| o % 4 == 0));
        assert_eq!(stage_bytes(3, 161), s.offsets()[3]);
    }
}
