//! Keeping the device copy and a host mirror in step without moving the ring.

use super::GpuEngine;
use crate::resident::ResidentBuffers;

impl GpuEngine {
    /// Declares the mirror's current version equal to the device copy, without an upload.
    /// The caller has just copied into it what the device holds — the control words and
    /// debug log a resident dispatch returned, or slots read with `read_ring_slots` — and
    /// keeps track itself of whether the rest of the mirror's ring lags.
    pub fn adopt_version(&mut self, state: &ResidentBuffers) {
        self.synced = Some(state.version());
    }
}
