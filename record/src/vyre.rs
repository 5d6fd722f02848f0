//! The `vyre` feature: recording straight from vyre 0.7.2's own host mirror
//! (`ResidentQueueBuffers`), so a vyre program adds one call after each step.

use vyre_runtime::resident_work_queue::ResidentQueueBuffers;

use crate::{Fingerprint, RecordError, Recorder, StepInfo};

/// The fingerprint of a vyre mirror: its buffers' lengths, and the tenant count the program
/// passed to `ResidentQueueBuffers::new` (the mirror does not keep it).
pub fn fingerprint(mirror: &ResidentQueueBuffers, tenant_count: u32) -> Fingerprint {
    Fingerprint::from_lengths(
        mirror.control_bytes().len() / 4,
        mirror.ring_bytes().len() / 4,
        mirror.debug_log_bytes().len() / 4,
        mirror.io_queue_bytes().len() / 4,
        tenant_count,
    )
}

/// Records the state the mirror holds — after `publish_slot` calls, or after a dispatch's
/// `apply_readback` — byte for byte.
pub fn record_mirror(
    rec: &mut Recorder,
    info: StepInfo,
    mirror: &ResidentQueueBuffers,
) -> Result<(), RecordError> {
    rec.record_le_bytes(
        info,
        mirror.control_bytes(),
        mirror.ring_bytes(),
        mirror.debug_log_bytes(),
        mirror.io_queue_bytes(),
    )
}
