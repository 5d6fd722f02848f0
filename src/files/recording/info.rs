//! `megascope record info FILE.msrec [--json]`: what a recording holds.

use megascope_record::{Fingerprint, Recording, StepKind};
use serde::Serialize;

/// The summary `record info --json` prints (a contract: `steps`, `slot_count`, `bytes` and
/// `fingerprint` are always there).
#[derive(Clone, Debug, Serialize)]
pub struct RecordingInfo {
    /// Intact steps.
    pub steps: usize,
    pub dispatch_steps: usize,
    pub host_steps: usize,
    pub slot_count: u32,
    /// The file's size.
    pub bytes: u64,
    pub fingerprint: Fingerprint,
    pub program: String,
    pub keyframe_interval: u32,
    /// Sum of the recorded host wall times (steps that have one); null when none has.
    pub wall_ms: Option<f64>,
    /// Sum of the recorded device times (steps that have one); null when none has.
    pub device_ms: Option<f64>,
    /// What opening found and worked around (a torn last frame, a rebuilt index).
    pub warnings: Vec<String>,
    /// Damage that stops the recording before its end.
    pub damage: Option<String>,
}

/// The sum of some times, or `None` when there are none (not a misleading 0).
fn total(times: impl Iterator<Item = f64>) -> Option<f64> {
    times.fold(None, |acc, t| Some(acc.unwrap_or(0.0) + t))
}

impl RecordingInfo {
    pub fn of(rec: &Recording) -> RecordingInfo {
        let infos: Vec<_> = (0..rec.len()).filter_map(|i| rec.info(i)).collect();
        let dispatch_steps = infos
            .iter()
            .filter(|i| matches!(i.kind, StepKind::Dispatch { .. }))
            .count();
        RecordingInfo {
            steps: rec.len(),
            dispatch_steps,
            host_steps: rec.len() - dispatch_steps,
            slot_count: rec.meta().fingerprint.slot_count,
            bytes: rec.file_bytes(),
            fingerprint: rec.meta().fingerprint.clone(),
            program: rec.meta().program.clone(),
            keyframe_interval: rec.meta().keyframe_interval,
            wall_ms: total(infos.iter().filter_map(|i| i.wall_ms)),
            device_ms: total(infos.iter().filter_map(|i| i.device_ms)),
            warnings: rec.warnings().to_vec(),
            damage: rec.damage().map(|d| d.to_string()),
        }
    }

    pub fn to_text(&self) -> String {
        let ms = |t: Option<f64>| t.map_or("not recorded".to_string(), |t| format!("{t:.3} ms"));
        let f = &self.fingerprint;
        let mut s = format!(
            "{} steps ({} dispatch, {} host), {} slots, {} bytes\n\
             buffers: control {} words ({} observable), ring {} words, debug log {} words, IO queue {} words; {} tenants; vyre {}\n\
             program: {}\n\
             keyframe every {} steps; recorded wall time {}, device time {}\n",
            self.steps,
            self.dispatch_steps,
            self.host_steps,
            self.slot_count,
            self.bytes,
            f.control_words,
            f.observable_words,
            f.ring_words,
            f.debug_log_words,
            f.io_queue_words,
            f.tenant_count,
            f.vyre_version,
            self.program,
            self.keyframe_interval,
            ms(self.wall_ms),
            ms(self.device_ms)
        );
        for w in &self.warnings {
            s.push_str(&format!("warning: {w}\n"));
        }
        if let Some(d) = &self.damage {
            s.push_str(&format!("damaged: {d}\n"));
        }
        s
    }
}
