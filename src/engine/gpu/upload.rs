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

use super::device::{device_lost, wait_all};
use super::helpers::Helpers;
use crate::engine::EngineError;

/// The bytes of one staged upload: the ring, then the state buffer's control buffer and
/// debug log as they lie there (with the gap between them), copied in one piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Staged {
    pub ring: u64,
    /// From the control buffer's start to the debug log's end in the state buffer.
    pub span: u64,
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

    /// Copies the ring, the control words and the debug log (at `debug_at` bytes after the
    /// control words, as in the state buffer) into the buffer — waiting for its mapping only
    /// if the device has not released it yet, and splitting the ring's copy with `helpers`
    /// where it is big enough — and unmaps it; the copies to the device buffers are then
    /// pending. Staging again before those are encoded is refused: it would overwrite bytes
    /// no copy has read yet.
    pub fn write(
        &mut self,
        device: &wgpu::Device,
        ring: &[u8],
        control: &[u8],
        debug_log: &[u8],
        debug_at: usize,
        helpers: Option<&mut Helpers>,
    ) -> Result<(), EngineError> {
        if self.pending.is_some() {
            return Err(EngineError::Gpu(
                "an upload was staged twice without a submission in between; this is a megascope bug, please report it".into(),
            ));
        }
        let span = (debug_at + debug_log.len()) as u64;
        let staged = Staged {
            ring: ring.len() as u64,
            span,
        };
        let end = staged.ring + span;
        if debug_at < control.len() {
            return Err(EngineError::Gpu(format!(
                "an upload put the debug log at byte {debug_at}, inside the {} control bytes; this is a megascope bug, please report it",
                control.len()
            )));
        }
        if end > self.buffer.size() || !end.is_multiple_of(4) || !staged.ring.is_multiple_of(4) {
            return Err(EngineError::Gpu(format!(
                "an upload of {end} bytes does not fit the staging buffer of {} bytes; this is a megascope bug, please report it",
                self.buffer.size()
            )));
        }
        if let Some(h) = helpers.as_deref().filter(|h| h.takes(ring.len())) {
            // they wake while the mapping is checked and join the copy as they arrive
            h.wake();
        }
        self.wait_mapped(device)?;
        {
            let mut view = self.buffer.slice(..).get_mapped_range_mut().map_err(|e| {
                device_lost(&format!(
                    "the upload staging buffer could not be written: {e:?}"
                ))
            })?;
            let whole = view.slice(..);
            let (ring_part, rest) = whole.split_at(ring.len());
            super::par::copy_into(ring_part, ring, helpers);
            let (control_part, rest) = rest.split_at(debug_at);
            let (mut debug_part, _) = rest.split_at(debug_log.len());
            // the gap after the control words goes too: zeros, never read
            let (mut words, mut gap) = control_part.split_at(control.len());
            words.copy_from_slice(control);
            gap.fill(0);
            debug_part.copy_from_slice(debug_log);
        }
        self.buffer.unmap();
        self.mapped.store(false, Ordering::Release);
        self.pending = Some(staged);
        Ok(())
    }

    /// Waits until the buffer is mapped: asks for the mapping if nobody has, looks once
    /// without blocking, and blocks only if the device still holds it.
    fn wait_mapped(&mut self, device: &wgpu::Device) -> Result<(), EngineError> {
        if !self.mapped.load(Ordering::Acquire) {
            if !self.requested {
                self.request_map();
            }
            device
                .poll(wgpu::PollType::Poll)
                .map_err(|e| EngineError::Gpu(format!("polling the GPU failed: {e}")))?;
            if !self.mapped.load(Ordering::Acquire) {
                wait_all(device)?;
            }
        }
        // the request, if any, has been served (or failed: the next upload asks again)
        self.requested = false;
        if !self.mapped.load(Ordering::Acquire) {
            return Err(device_lost("mapping the upload staging buffer failed"));
        }
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

    /// The copies waiting for a submission, if any.
    pub fn pending(&self) -> Option<Staged> {
        self.pending
    }

    /// Marks the pending copies as encoded; returns whether there were any, in which case
    /// [`UploadStage::rearm`] is due once they are submitted.
    pub fn take_pending(&mut self) -> bool {
        self.pending.take().is_some()
    }

    /// Encodes the copies of `staged` (as [`UploadStage::pending`] gave them): the ring
    /// into `ring`, the control words and debug log into the start of `state`.
    pub fn encode_copies(
        &self,
        enc: &mut wgpu::CommandEncoder,
        staged: Staged,
        ring: &wgpu::Buffer,
        state: &wgpu::Buffer,
    ) {
        if staged.ring > 0 {
            enc.copy_buffer_to_buffer(&self.buffer, 0, ring, 0, staged.ring);
        }
        if staged.span > 0 {
            enc.copy_buffer_to_buffer(&self.buffer, staged.ring, state, 0, staged.span);
        }
    }

    /// Asks for the mapping again after the submission holding the copies: it completes
    /// when the device is done with them, usually within the same readback wait.
    pub fn rearm(&mut self) {
        if !self.requested && !self.mapped.load(Ordering::Acquire) {
            self.request_map();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_upload_is_refused_twice_and_past_the_buffer() {
        let Ok((device, _queue, _, _)) = super::super::device::headless() else {
            panic!(
                "the upload test needs a wgpu adapter (lavapipe: apt-get install mesa-vulkan-drivers)"
            );
        };
        let mut stage = UploadStage::new(&device, 64 + 16);
        let too_long = [0u8; 64];
        let err = stage.write(&device, &too_long, &[1; 8], &[2; 16], 8, None);
        assert!(err.is_err(), "80 bytes fit, 88 do not");
        stage
            .write(&device, &[0; 64], &[1; 4], &[2; 8], 8, None)
            .expect("fits");
        assert!(stage.pending().is_some());
        let again = stage.write(&device, &[0; 64], &[1; 4], &[2; 8], 8, None);
        assert!(again.is_err(), "staged twice without a submission");
        let err = stage.write(&device, &[], &[1; 8], &[2; 4], 4, None);
        assert!(
            err.is_err(),
            "the debug log may not start inside the control words"
        );
    }
}
