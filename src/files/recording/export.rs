//! `megascope record export FILE.msrec --step N --out DIR`: one recorded step as a dump
//! directory, byte for byte what was recorded.

use std::path::Path;

use megascope_record::Recording;

use super::{RecordingError, state_at, to_resident};

/// Writes step `step` of `rec` as a dump directory at `out`.
pub fn export_step(rec: &Recording, step: usize, out: &Path) -> Result<(), RecordingError> {
    let state = state_at(rec, step)?;
    let mirror = to_resident(rec.meta().fingerprint.slot_count, state).map_err(|e| {
        RecordingError::Input(format!(
            "step {step} of {} is not a valid state: {e}",
            rec.path().display()
        ))
    })?;
    crate::files::dump::write_dump(out, &mirror).map_err(|e| RecordingError::Runtime(e.to_string()))
}
