//! `megascope record export FILE.msrec --perfetto OUT`: the recorded steps as a trace in the
//! Chrome JSON trace format, which Perfetto's UI and trace processor open.
//!
//! One process, four tracks: dispatches (one slice per dispatch step, as long as its device
//! time, or its host wall time where no device time was recorded), host steps, counters of
//! slot statuses and of DONE_COUNT after every step, and the debug log (one instant event per
//! PRINTF record, at the step that wrote it). Steps follow one another on one clock: each
//! starts where the previous one ended (recordings keep durations, not start times).

use std::path::Path;

use megascope_record::{Recording, StepCursor, StepKind};
use serde_json::{Value, json};

use super::RecordingError;
use crate::abi::control::DONE_COUNT;
use crate::abi::debug_log::DebugLogView;
use crate::abi::status::StatusCounts;
use crate::inspect::status_count_map;

/// Track ids (Chrome trace `tid`s).
pub const TRACK_DISPATCHES: u32 = 1;
pub const TRACK_HOST: u32 = 2;
pub const TRACK_DEBUG_LOG: u32 = 3;

/// A step with no recorded time still takes this long on the trace, so it can be seen.
const MIN_STEP_US: f64 = 1.0;

fn name_track(events: &mut Vec<Value>, tid: u32, name: &str) {
    events.push(
        json!({"ph": "M", "pid": 1, "tid": tid, "name": "thread_name", "args": {"name": name}}),
    );
    events.push(json!({"ph": "M", "pid": 1, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": tid}}));
}

/// The whole trace as a JSON value.
pub fn trace(rec: &Recording) -> Result<Value, RecordingError> {
    let mut events = Vec::new();
    events.push(json!({"ph": "M", "pid": 1, "name": "process_name",
        "args": {"name": format!("megascope recording {}", rec.path().display())}}));
    name_track(&mut events, TRACK_DISPATCHES, "dispatches");
    name_track(&mut events, TRACK_HOST, "host steps");
    name_track(&mut events, TRACK_DEBUG_LOG, "debug log");
    let mut ts = 0.0f64;
    let mut records_before = 0usize;
    let mut cursor = StepCursor::new(rec);
    while let Some(next) = cursor.next_step() {
        let (i, state) = next?;
        let info = rec.info(i).expect("the cursor walks indexed steps");
        let (tid, dur_ms, args) = match &info.kind {
            StepKind::Dispatch {
                variant,
                workgroup_size,
            } => (
                TRACK_DISPATCHES,
                info.device_ms.or(info.wall_ms),
                json!({"step": i, "variant": variant, "workgroup_size": workgroup_size,
                       "wall_ms": info.wall_ms, "device_ms": info.device_ms}),
            ),
            StepKind::Host => (
                TRACK_HOST,
                info.wall_ms,
                json!({"step": i, "wall_ms": info.wall_ms}),
            ),
        };
        let dur_us = dur_ms.map_or(MIN_STEP_US, |ms| (ms * 1e3).max(MIN_STEP_US));
        let name = if info.label.is_empty() {
            format!("step {i}")
        } else {
            info.label.clone()
        };
        events.push(
            json!({"ph": "X", "pid": 1, "tid": tid, "name": name, "cat": "step",
                           "ts": ts, "dur": dur_us, "args": args}),
        );
        let end = ts + dur_us;
        let counts = StatusCounts::of_ring(&state.ring);
        let statuses: serde_json::Map<String, Value> = status_count_map(&counts)
            .into_iter()
            .map(|(name, n)| (name.to_string(), Value::from(n)))
            .collect();
        events.push(
            json!({"ph": "C", "pid": 1, "name": "slot statuses", "ts": end, "args": statuses}),
        );
        let done = state.control.get(DONE_COUNT).copied().unwrap_or(0);
        events.push(json!({"ph": "C", "pid": 1, "name": "done count", "ts": end, "args": {"done_count": done}}));
        let log = DebugLogView::decode(&state.debug_log);
        // A cursor that went back means the host reset the log: every record held is new.
        let from = if log.records.len() < records_before {
            0
        } else {
            records_before
        };
        for (k, r) in log.records.iter().enumerate().skip(from) {
            events.push(
                json!({"ph": "i", "s": "t", "pid": 1, "tid": TRACK_DEBUG_LOG,
                "name": format!("printf fmt {}", r.fmt_id), "cat": "debug_log", "ts": end,
                "args": {"step": i, "record": k, "fmt_id": r.fmt_id, "a1": r.a1, "a2": r.a2,
                         "slot": r.slot()}}),
            );
        }
        records_before = log.records.len();
        ts = end;
    }
    Ok(json!({"traceEvents": events, "displayTimeUnit": "ms",
              "otherData": {"source": "megascope", "steps": rec.len()}}))
}

/// Writes the trace to `out` (replaced whole).
pub fn export_perfetto(rec: &Recording, out: &Path) -> Result<(), RecordingError> {
    let value = trace(rec)?;
    let bytes = serde_json::to_vec(&value)
        .map_err(|e| RecordingError::Runtime(format!("cannot encode the trace: {e}")))?;
    crate::files::dump::write_atomic(out, &bytes)
        .map_err(|e| RecordingError::Runtime(e.to_string()))
}
