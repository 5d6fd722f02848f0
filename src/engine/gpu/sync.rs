//! Keeping the device copy and a host mirror in step without moving the ring.

use super::submit::scoped_submit;
use super::{GpuEngine, not_uploaded};
use crate::engine::EngineError;
use crate::resident::ResidentBuffers;

impl GpuEngine {
    /// Declares the mirror's current version equal to the device copy, without an upload.
    /// The caller has just copied into it what the device holds — the control words and
    /// debug log a resident dispatch returned, or slots read with `read_ring_slots` — and
    /// keeps track itself of whether the rest of the mirror's ring lags. Its ring keeps its
    /// relation to the device's: if it differed only in status words (nothing but dispatches
    /// since the last upload or download of this mirror), a later `download_into` still
    /// brings back only those.
    pub fn adopt_version(&mut self, state: &ResidentBuffers) {
        let same_mirror = self
            .ring_base
            .is_some_and(|(id, _)| id == state.version().0);
        self.synced = Some(state.version());
        self.ring_base = if same_mirror { self.synced } else { None };
    }
}

/// A device-side copy of the ring, and the handlers its opcodes need.
pub struct RingCopy {
    buffer: wgpu::Buffer,
    handlers: u32,
}

impl GpuEngine {
    /// A device-side copy of the current ring (for benchmarks that need the same work
    /// every round without a host upload).
    pub fn copy_ring_on_device(&mut self) -> Result<RingCopy, EngineError> {
        // an upload still staged reaches the ring first
        self.flush_pending()?;
        let bufs = self.bufs.as_ref().ok_or_else(not_uploaded)?;
        let copy = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("ring copy"),
            size: bufs.ring.size(),
            usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        scoped_submit(&self.device, &self.queue, |enc| {
            enc.copy_buffer_to_buffer(&bufs.ring, 0, &copy, 0, bufs.ring.size());
        })?;
        Ok(RingCopy {
            buffer: copy,
            handlers: self.ring_handlers,
        })
    }

    /// Restores the device ring from a [`GpuEngine::copy_ring_on_device`] copy, on the
    /// device (queued; no host traffic). The host mirror, if any, no longer matches.
    pub fn restore_ring_on_device(&mut self, copy: &RingCopy) -> Result<(), EngineError> {
        // an upload still staged must not land on the restored ring afterwards
        self.flush_pending()?;
        let from = &copy.buffer;
        let bufs = self.bufs.as_ref().ok_or_else(not_uploaded)?;
        if from.size() != bufs.ring.size() {
            return Err(EngineError::Gpu(format!(
                "a ring copy of {} bytes cannot restore the device ring of {} bytes; take the copy after uploading a state with this slot count",
                from.size(),
                bufs.ring.size()
            )));
        }
        scoped_submit(&self.device, &self.queue, |enc| {
            enc.copy_buffer_to_buffer(from, 0, &bufs.ring, 0, from.size());
        })?;
        self.ring_handlers = copy.handlers;
        self.synced = None;
        self.ring_base = None;
        Ok(())
    }

    /// Waits until the device has finished everything submitted.
    pub fn wait_idle(&self) {
        let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
    }
}
