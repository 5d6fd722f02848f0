//! `megascope record import STEP_DIR --out FILE.msrec`: a *step directory* (DESIGN.md §3, a
//! contract; `vyre-peer run --record DIR` writes one) into a recording.
//!
//! `STEP_DIR/NNNNNN/` sub-directories in numeric order, each a dump directory plus a
//! `step.json` `{"index", "kind": "host"|"dispatch", "label", "variant", "workgroup_size",
//! "wall_ms"}`. `index` must match the order; `wall_ms` may be null; other fields are kept as
//! the step's metadata. A first step of kind `dispatch` is the initial state: nothing before
//! it says what it was dispatched from, so it is recorded as a host step (its kind kept in
//! the metadata as `"recorded_kind"`).

use std::fs;
use std::path::{Path, PathBuf};

use megascope_record::{Fingerprint, Meta, Recorder, State, StepInfo, StepKind};
use serde_json::{Map, Value};

use super::RecordingError;
use crate::abi::control::TENANT_QUOTA;
use crate::resident::ResidentBuffers;

/// The largest `step.json` read (it is a few hundred bytes).
pub const STEP_JSON_MAX_BYTES: u64 = 1 << 20;

/// How to import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Tenants the program encoded; `None` reads it from the first step's quota table.
    pub tenants: Option<u32>,
    /// A keyframe every this many steps (`None`: the format's default).
    pub keyframe_interval: Option<u32>,
}

/// What an import wrote.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ImportSummary {
    pub steps: u64,
    pub dispatch_steps: u64,
    pub slot_count: u32,
    pub bytes: u64,
}

fn input(msg: impl Into<String>) -> RecordingError {
    RecordingError::Input(msg.into())
}

/// The numbered step directories of `dir`, in numeric order.
pub fn step_dirs(dir: &Path) -> Result<Vec<(u64, PathBuf)>, RecordingError> {
    let meta = fs::metadata(dir).map_err(|e| {
        input(format!(
            "cannot read the step directory {}: {e}; give the directory `vyre-peer run --record DIR` wrote",
            dir.display()
        ))
    })?;
    if !meta.is_dir() {
        return Err(input(format!(
            "{} is not a directory; give a step directory (000000/, 000001/, … each a dump plus step.json)",
            dir.display()
        )));
    }
    let mut steps = Vec::new();
    let entries =
        fs::read_dir(dir).map_err(|e| input(format!("cannot list {}: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(|e| input(format!("cannot list {}: {e}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) || !entry.path().is_dir() {
            continue;
        }
        let n: u64 = name.parse().map_err(|_| {
            input(format!(
                "{}: the step number {name} is too large",
                entry.path().display()
            ))
        })?;
        steps.push((n, entry.path()));
    }
    steps.sort();
    if let Some(w) = steps.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(input(format!(
            "{} and {} are the same step number; rename one so every step has its own number",
            w[0].1.display(),
            w[1].1.display()
        )));
    }
    if steps.is_empty() {
        return Err(input(format!(
            "{} holds no step directories (000000/, 000001/, …); give the directory `vyre-peer run --record DIR` wrote",
            dir.display()
        )));
    }
    Ok(steps)
}

/// Reads and checks one `step.json`; `position` is the step's place in the order.
pub fn read_step_json(step_dir: &Path, position: usize) -> Result<StepInfo, RecordingError> {
    let path = step_dir.join("step.json");
    let bad = |what: String| input(format!("{}: {what}", path.display()));
    use crate::files::dump::{ReadFileError, read_regular_file};
    let bytes = match read_regular_file(&path, STEP_JSON_MAX_BYTES) {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(len)) => {
            return Err(bad(format!(
                "is {len} bytes, more than the {STEP_JSON_MAX_BYTES} a step.json may have"
            )));
        }
        Err(ReadFileError::NotRegular(what)) => {
            return Err(bad(format!(
                "is {what}, not a regular file; it should be the step's JSON"
            )));
        }
        Err(ReadFileError::Io(e)) => {
            return Err(bad(format!(
                "cannot read it ({e}); every step directory needs a step.json"
            )));
        }
        Err(ReadFileError::Changed { .. }) => {
            return Err(bad("changed while it was read; import again".into()));
        }
    };
    let text = String::from_utf8(bytes).map_err(|_| bad("is not UTF-8 text".into()))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        bad(format!(
            "is not valid JSON ({e}); it should be {{\"index\", \"kind\", \"label\", \"variant\", \"workgroup_size\", \"wall_ms\"}}"
        ))
    })?;
    let Value::Object(mut obj) = value else {
        return Err(bad("is not a JSON object".into()));
    };
    let index = obj
        .remove("index")
        .ok_or_else(|| bad("has no \"index\"".into()))?;
    let index = index
        .as_u64()
        .ok_or_else(|| bad(format!("\"index\" is {index}, not a whole number")))?;
    if index != position as u64 {
        return Err(bad(format!(
            "\"index\" is {index} but the directory is step {position} in order; the step directories must be numbered in the order of their indices with none missing"
        )));
    }
    let kind = match obj.remove("kind") {
        Some(Value::String(k)) if k == "host" || k == "dispatch" => k,
        Some(other) => {
            return Err(bad(format!(
                "\"kind\" is {other}; it must be \"host\" or \"dispatch\""
            )));
        }
        None => return Err(bad("has no \"kind\" (\"host\" or \"dispatch\")".into())),
    };
    let label = match obj.remove("label") {
        Some(Value::String(l)) => l,
        None | Some(Value::Null) => String::new(),
        Some(other) => return Err(bad(format!("\"label\" is {other}, not a string"))),
    };
    let wall_ms = match obj.remove("wall_ms") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_f64().is_some_and(|v| v.is_finite() && v >= 0.0) => {
            n.as_f64()
        }
        Some(other) => {
            return Err(bad(format!(
                "\"wall_ms\" is {other}; it must be a non-negative number of milliseconds or null"
            )));
        }
    };
    let device_ms = match obj.remove("device_ms") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_f64().is_some_and(|v| v.is_finite() && v >= 0.0) => {
            n.as_f64()
        }
        Some(other) => {
            return Err(bad(format!(
                "\"device_ms\" is {other}; it must be a non-negative number of milliseconds or null"
            )));
        }
    };
    let variant = obj.remove("variant");
    let workgroup_size = obj.remove("workgroup_size");
    let kind = if kind == "dispatch" {
        let variant = match variant {
            Some(Value::String(v)) if crate::engine::Variant::from_name(&v).is_some() => v,
            Some(other) => {
                return Err(bad(format!(
                    "\"variant\" is {other}; a dispatch step's variant is \"once\", \"persistent\" or \"priority\""
                )));
            }
            None => return Err(bad("is a dispatch step with no \"variant\"".into())),
        };
        let wg = workgroup_size
            .as_ref()
            .and_then(Value::as_u64)
            .filter(|&w| (1..=256).contains(&w))
            .ok_or_else(|| {
                bad(format!(
                    "\"workgroup_size\" is {}; a dispatch step needs the lanes per workgroup it ran with (1 to 256)",
                    workgroup_size.map_or("missing".to_string(), |v| v.to_string())
                ))
            })?;
        StepKind::Dispatch {
            variant,
            workgroup_size: wg as u32,
        }
    } else {
        // A host step's variant and workgroup size say nothing about it; keep them as metadata.
        if let Some(v) = variant {
            obj.insert("variant".into(), v);
        }
        if let Some(w) = workgroup_size {
            obj.insert("workgroup_size".into(), w);
        }
        StepKind::Host
    };
    Ok(StepInfo {
        kind,
        label,
        wall_ms,
        device_ms,
        extra: obj,
    })
}

/// The tenant count the program encoded, read from the quota table (`reset` writes 1,000,000
/// into the first `min(tenants, 32)` quota words).
pub fn infer_tenants(control: &[u32]) -> u32 {
    control
        .iter()
        .skip(TENANT_QUOTA)
        .take(32)
        .take_while(|&&q| q != 0)
        .count() as u32
}

fn to_state(m: &ResidentBuffers) -> State {
    State {
        control: m.control().to_vec(),
        ring: m.ring().to_vec(),
        debug_log: m.debug_log().to_vec(),
        io_queue: m.io_queue().to_vec(),
    }
}

fn check_geometry(
    first: &Fingerprint,
    got: &Fingerprint,
    step_dir: &Path,
    position: usize,
) -> Result<(), RecordingError> {
    for (what, a, b) in [
        ("control words", first.control_words, got.control_words),
        ("ring slots", first.slot_count, got.slot_count),
        (
            "debug-log words",
            first.debug_log_words,
            got.debug_log_words,
        ),
        ("IO-queue words", first.io_queue_words, got.io_queue_words),
    ] {
        if a != b {
            return Err(input(format!(
                "step {position} ({}) has {b} {what} but step 0 has {a}; every step of one run has the same buffers — this directory mixes runs, or a step was cut short",
                step_dir.display()
            )));
        }
    }
    Ok(())
}

/// Imports `dir` into the recording `out`, written whole or not at all (a temporary sibling
/// renamed into place at the end). `progress(done, total)` is called after each step.
pub fn import_step_dir(
    dir: &Path,
    out: &Path,
    options: &ImportOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ImportSummary, RecordingError> {
    let steps = step_dirs(dir)?;
    if out.file_name().is_none() {
        return Err(input(format!("--out {} names no file", out.display())));
    }
    // Built beside the target and renamed over it at the end: a killed import leaves the old
    // file (or none) and a temporary sibling the next import removes.
    let tmp = crate::files::dump::temp_sibling(out);
    let result = (|| {
        let mut recorder: Option<Recorder> = None;
        let mut first: Option<Fingerprint> = None;
        let mut dispatch_steps = 0;
        for (position, (_, step_dir)) in steps.iter().enumerate() {
            let mut info = read_step_json(step_dir, position)?;
            let state = crate::files::dump::read_dump(step_dir)
                .map_err(|e| input(format!("step {position} ({}): {e}", step_dir.display())))?;
            let tenants = match (options.tenants, &first) {
                (Some(t), _) => t,
                (None, Some(f)) => f.tenant_count,
                (None, None) => infer_tenants(state.control()),
            };
            let fp = Fingerprint::from_lengths(
                state.control().len(),
                state.ring().len(),
                state.debug_log().len(),
                state.io_queue().len(),
                tenants,
            );
            match &first {
                Some(f) => check_geometry(f, &fp, step_dir, position)?,
                None => {
                    if matches!(info.kind, StepKind::Dispatch { .. }) {
                        info.extra
                            .insert("recorded_kind".into(), Value::from("dispatch"));
                        info.kind = StepKind::Host;
                    }
                    let mut meta =
                        Meta::new(fp.clone(), format!("imported from {}", dir.display()));
                    if let Some(k) = options.keyframe_interval {
                        meta.keyframe_interval = k.max(1);
                    }
                    let mut extra = Map::new();
                    extra.insert("source".into(), Value::from("step directory"));
                    meta.extra = extra;
                    recorder = Some(Recorder::create(&tmp, meta).map_err(|e| {
                        RecordingError::Runtime(format!("cannot create {}: {e}", out.display()))
                    })?);
                    first = Some(fp);
                }
            }
            if matches!(info.kind, StepKind::Dispatch { .. }) {
                dispatch_steps += 1;
            }
            let r = recorder.as_mut().expect("created with the first step");
            r.record_owned(info, to_state(&state))
                .map_err(|e| RecordingError::Runtime(format!("writing {}: {e}", out.display())))?;
            progress(position + 1, steps.len());
        }
        let r = recorder.expect("there is at least one step");
        let summary = r
            .finish()
            .map_err(|e| RecordingError::Runtime(format!("writing {}: {e}", out.display())))?;
        crate::files::dump::commit_sibling(&tmp, out).map_err(|e| {
            RecordingError::Runtime(format!(
                "cannot move the recording into {}: {}",
                out.display(),
                crate::files::dump::write_cause(&e)
            ))
        })?;
        Ok(ImportSummary {
            steps: summary.steps,
            dispatch_steps,
            slot_count: first.map_or(0, |f| f.slot_count),
            bytes: summary.bytes,
        })
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
