//! vyre-recorder: runs a scenario through vyre 0.7.2 itself (its host mirror, its program
//! builders, and either its CPU reference interpreter or its wgpu driver) and records every
//! step with megascope's recorder library (`megascope-record`).
//!
//! The steps are exactly those `vyre-peer run --record DIR` writes as a step directory:
//! - step 0: the initial state (host, label `initial state`), after `initial_control_writes`;
//! - before each dispatch that publishes items, a host step (the state right after the host's
//!   `publish_slot` calls, label `published N item(s) before dispatch K`);
//! - after each dispatch, a dispatch step (`StepInfo::dispatch(program, workgroup_size,
//!   "dispatch K")`, `wall_ms` the host wall time of the dispatch call, `extra.path` the path).
//!
//! Everything that touches the megakernel ABI goes through vyre's own API:
//! `ResidentQueueBuffers::{new, publish_slot, apply_readback}`, the
//! `build_program_*_slots` builders, `vyre_reference::reference_eval_with_grid` (cpu-ref) and
//! `VyreBackend::dispatch` on `vyre_driver_wgpu::WgpuBackend` (gpu, cargo feature `gpu`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use megascope_record::{Meta, RecordSummary, Recorder, State, StepInfo};
use serde::Deserialize;
use serde_json::{json, Value as Json};
use vyre_foundation::ir::Program;
use vyre_runtime::resident_work_queue as mk;
use vyre_runtime::resident_work_queue::{ResidentQueueBuffers, ResidentQueueReadback};

/// What went wrong, and which exit code it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The scenario or the command line is wrong (exit 2).
    BadInput(String),
    /// vyre, the recorder or the file system failed (exit 1).
    Runtime(String),
}

impl Error {
    /// 2 for bad input, 1 for a runtime failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::BadInput(_) => 2,
            Error::Runtime(_) => 1,
        }
    }

    fn bad(msg: impl Into<String>) -> Error {
        Error::BadInput(msg.into())
    }

    fn runtime(msg: impl Into<String>) -> Error {
        Error::Runtime(msg.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::BadInput(m) | Error::Runtime(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

// ----------------------------------------------------------------- scenario

/// vyre-peer's scenario schema (see README.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub slot_count: u32,
    #[serde(default = "one")]
    pub tenant_count: u32,
    #[serde(default)]
    pub observable_slots: u32,
    #[serde(default)]
    pub items: Vec<Item>,
    #[serde(default = "one")]
    pub dispatches: u32,
    #[serde(default)]
    pub initial_control_writes: Vec<ControlWrite>,
    /// Lanes per workgroup. Default: the largest power of two <= 256 dividing slot_count.
    #[serde(default)]
    pub workgroup_size: Option<u32>,
    /// `once` (default), `persistent` or `priority`.
    #[serde(default)]
    pub program: Option<String>,
    /// Keep vyre's stock control BufferDecl count (160 words) even with observable slots.
    #[serde(default)]
    pub stock_control_decl: bool,
    /// Free text, ignored (scenario files may describe themselves).
    #[serde(default)]
    pub description: Option<String>,
}

fn one() -> u32 {
    1
}

/// One work item: published with `publish_slot` just before dispatch `dispatch`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub slot: u32,
    #[serde(default)]
    pub tenant: u32,
    /// A number, a name (STORE_U32, ATOMIC_ADD, ...) or a hex string.
    pub opcode: Json,
    /// Written into ring word 3 after publishing (0.7.2 has no per-slot priority setter).
    #[serde(default)]
    pub priority: Option<u32>,
    #[serde(default)]
    pub args: Vec<u32>,
    /// Publish before this dispatch (0-based). Default 0.
    #[serde(default)]
    pub dispatch: u32,
}

/// A raw control-word poke before the first publish.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlWrite {
    pub index: u32,
    pub value: u32,
}

/// The megakernel program a scenario runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramKind {
    Once,
    Persistent,
    Priority,
}

impl ProgramKind {
    /// The variant name megascope uses (`once`, `persistent`, `priority`).
    pub fn name(self) -> &'static str {
        match self {
            ProgramKind::Once => "once",
            ProgramKind::Persistent => "persistent",
            ProgramKind::Priority => "priority",
        }
    }

    fn builder(self) -> &'static str {
        match self {
            ProgramKind::Once => "build_program_sharded_once_slots",
            ProgramKind::Persistent => "build_program_sharded_slots",
            ProgramKind::Priority => "build_program_priority_slots",
        }
    }

    fn parse(s: &str) -> Result<ProgramKind, Error> {
        match s {
            "once" => Ok(ProgramKind::Once),
            "persistent" => Ok(ProgramKind::Persistent),
            "priority" => Ok(ProgramKind::Priority),
            other => Err(Error::bad(format!(
                "unknown program {other:?} (expected once, persistent or priority)"
            ))),
        }
    }
}

/// The opcode number of a scenario item's `opcode` field.
pub fn opcode_from_json(v: &Json) -> Result<u32, Error> {
    use mk::opcode::*;
    if let Some(n) = v.as_u64() {
        return u32::try_from(n).map_err(|_| Error::bad(format!("opcode {n} does not fit in u32")));
    }
    let s = v
        .as_str()
        .ok_or_else(|| Error::bad(format!("opcode {v} must be a number or a name")))?;
    let name = s.trim().to_ascii_uppercase();
    Ok(match name.as_str() {
        "NOP" => NOP,
        "STORE_U32" => STORE_U32,
        "ATOMIC_ADD" => ATOMIC_ADD,
        "LOAD_U32" => LOAD_U32,
        "COMPARE_SWAP" | "CAS" => COMPARE_SWAP,
        "MEMCPY" => MEMCPY,
        "DFA_STEP" => DFA_STEP,
        "BATCH_FENCE" => BATCH_FENCE,
        "LOAD_MISS" => LOAD_MISS,
        "PACKED_SLOT" => PACKED_SLOT,
        "PRINTF" => PRINTF,
        "SHUTDOWN" => SHUTDOWN,
        other => {
            let parsed = match other.strip_prefix("0X") {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => other.parse::<u32>().ok(),
            };
            parsed.ok_or_else(|| Error::bad(format!("unknown opcode name {s:?}")))?
        }
    })
}

fn default_workgroup(slot_count: u32) -> u32 {
    let mut wg = 256u32;
    while wg > 1 && !slot_count.is_multiple_of(wg) {
        wg /= 2;
    }
    wg
}

/// A scenario checked for what would make vyre fail or hang, with its derived settings.
#[derive(Debug, Clone)]
pub struct Plan {
    pub scenario: Scenario,
    pub program: ProgramKind,
    pub workgroup_size: u32,
    pub grid: [u32; 3],
    /// Each item's opcode number, in item order.
    pub opcodes: Vec<u32>,
}

impl Scenario {
    /// Reads and parses a scenario file (bad input on any failure).
    pub fn load(path: &Path) -> Result<Scenario, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::bad(format!("cannot read scenario {}: {e}", path.display())))?;
        Scenario::parse(&text).map_err(|e| Error::bad(format!("scenario {}: {e}", path.display())))
    }

    /// Parses a scenario from JSON text.
    pub fn parse(text: &str) -> Result<Scenario, Error> {
        serde_json::from_str(text).map_err(|e| Error::bad(format!("invalid scenario JSON: {e}")))
    }

    /// Checks the scenario and derives the program, workgroup size and grid.
    pub fn plan(&self) -> Result<Plan, Error> {
        let slots = self.slot_count;
        if slots == 0 {
            return Err(Error::bad("slot_count must be > 0"));
        }
        let wg = self
            .workgroup_size
            .unwrap_or_else(|| default_workgroup(slots));
        if wg == 0 || !slots.is_multiple_of(wg) {
            return Err(Error::bad(format!(
                "slot_count {slots} must be a multiple of workgroup_size {wg}"
            )));
        }
        let program = ProgramKind::parse(self.program.as_deref().unwrap_or("once"))?;
        let mut opcodes = Vec::with_capacity(self.items.len());
        for (i, it) in self.items.iter().enumerate() {
            let op =
                opcode_from_json(&it.opcode).map_err(|e| Error::bad(format!("item {i}: {e}")))?;
            if it.slot >= slots {
                return Err(Error::bad(format!(
                    "item {i}: slot {} is outside the ring (slot_count {slots})",
                    it.slot
                )));
            }
            if it.dispatch >= self.dispatches {
                return Err(Error::bad(format!(
                    "item {i}: dispatch {} but the scenario runs only {} dispatch(es)",
                    it.dispatch, self.dispatches
                )));
            }
            if it.args.len() > mk::ARGS_PER_SLOT as usize {
                return Err(Error::bad(format!(
                    "item {i}: {} args, a slot holds at most {}",
                    it.args.len(),
                    mk::ARGS_PER_SLOT
                )));
            }
            if op == mk::opcode::LOAD_MISS {
                return Err(Error::bad(format!(
                    "item {i}: LOAD_MISS polls the io_queue for a host completion that never comes (it would not finish)"
                )));
            }
            opcodes.push(op);
        }
        if program == ProgramKind::Persistent {
            // The forever loop ends only once a SHUTDOWN item has run (it sets control[0]).
            let shutdown_before_first = self
                .items
                .iter()
                .zip(&opcodes)
                .any(|(it, &op)| it.dispatch == 0 && op == mk::opcode::SHUTDOWN);
            if self.dispatches > 0 && !shutdown_before_first {
                return Err(Error::bad(
                    "program \"persistent\" runs vyre's forever loop, which ends only when a SHUTDOWN item runs; publish one before dispatch 0 (otherwise it never finishes)",
                ));
            }
        }
        for w in &self.initial_control_writes {
            let words = mk::control::OBSERVABLE_BASE as u64 + self.observable_slots as u64;
            if w.index as u64 >= words {
                return Err(Error::bad(format!(
                    "initial_control_writes: index {} is outside control ({words} words)",
                    w.index
                )));
            }
        }
        Ok(Plan {
            scenario: self.clone(),
            program,
            workgroup_size: wg,
            grid: [slots / wg, 1, 1],
            opcodes,
        })
    }
}

// -------------------------------------------------------------------- paths

/// Which vyre executes the dispatches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathSel {
    /// vyre-reference 0.7.2's CPU interpreter.
    CpuRef,
    /// vyre-driver-wgpu 0.7.2 (needs the cargo feature `gpu` and a real GPU).
    Gpu,
}

impl PathSel {
    /// Parses `cpu-ref` or `gpu`.
    pub fn parse(s: &str) -> Result<PathSel, Error> {
        match s {
            "cpu-ref" => Ok(PathSel::CpuRef),
            "gpu" => Ok(PathSel::Gpu),
            other => Err(Error::bad(format!("bad --path {other:?} (cpu-ref|gpu)"))),
        }
    }
}

enum Exec {
    CpuRef,
    #[cfg(feature = "gpu")]
    Gpu(Box<vyre_driver_wgpu::WgpuBackend>),
}

impl Exec {
    fn acquire(sel: PathSel) -> Result<Exec, Error> {
        match sel {
            PathSel::CpuRef => Ok(Exec::CpuRef),
            #[cfg(feature = "gpu")]
            PathSel::Gpu => match vyre_driver_wgpu::WgpuBackend::acquire() {
                Ok(b) => Ok(Exec::Gpu(Box::new(b))),
                Err(e) => Err(Error::runtime(format!(
                    "vyre-driver-wgpu 0.7.2 found no GPU it accepts: {e}\n\
                     vyre refuses CPU adapters such as lavapipe/llvmpipe; on a machine without a real GPU use --path cpu-ref"
                ))),
            },
            #[cfg(not(feature = "gpu"))]
            PathSel::Gpu => Err(Error::bad(
                "this vyre-recorder was built without the `gpu` feature: rebuild with `cargo build --features gpu` on a machine with a real GPU, or use --path cpu-ref",
            )),
        }
    }

    /// The name recorded in each dispatch step's `extra.path`.
    fn name(&self) -> &'static str {
        match self {
            Exec::CpuRef => "cpu-ref",
            #[cfg(feature = "gpu")]
            Exec::Gpu(_) => "gpu-wgpu",
        }
    }

    fn describe(&self) -> String {
        match self {
            Exec::CpuRef => "vyre-reference 0.7.2 CPU interpreter".to_string(),
            #[cfg(feature = "gpu")]
            Exec::Gpu(b) => {
                let i = b.adapter_info();
                format!(
                    "vyre-driver-wgpu 0.7.2 on {} ({:?}, {:?})",
                    i.name, i.device_type, i.backend
                )
            }
        }
    }

    /// One dispatch of `program` over the four resident buffers; the four buffers read back.
    fn dispatch(
        &self,
        program: &Program,
        inputs: &[Vec<u8>],
        grid: [u32; 3],
    ) -> Result<Vec<Vec<u8>>, Error> {
        match self {
            Exec::CpuRef => {
                let values: Vec<vyre_reference::value::Value> = inputs
                    .iter()
                    .map(|b| vyre_reference::value::Value::from(b.clone()))
                    .collect();
                let out = vyre_reference::reference_eval_with_grid(program, &values, grid)
                    .map_err(|e| Error::runtime(format!("vyre-reference: {e}")))?;
                Ok(out.iter().map(|v| v.to_bytes()).collect())
            }
            #[cfg(feature = "gpu")]
            Exec::Gpu(backend) => {
                use vyre_driver::VyreBackend;
                let mut config = vyre_driver::DispatchConfig::default();
                config.grid_override = Some(grid);
                config.label = Some("vyre-recorder megakernel".to_string());
                backend
                    .dispatch(program, inputs, &config)
                    .map_err(|e| Error::runtime(format!("vyre-driver-wgpu dispatch: {e}")))
            }
        }
    }
}

// ------------------------------------------------------------------ helpers

fn set_word(bytes: &mut [u8], idx: usize, v: u32) -> Result<(), Error> {
    let nwords = bytes.len() / 4;
    let dst = bytes
        .get_mut(idx * 4..idx * 4 + 4)
        .ok_or_else(|| Error::bad(format!("word index {idx} out of range ({nwords} words)")))?;
    dst.copy_from_slice(&v.to_le_bytes());
    Ok(())
}

fn build_program(kind: ProgramKind, wg: u32, slots: u32) -> Program {
    match kind {
        ProgramKind::Once => mk::build_program_sharded_once_slots(wg, slots, &[]),
        ProgramKind::Persistent => mk::build_program_sharded_slots(wg, slots, &[]),
        ProgramKind::Priority => mk::build_program_priority_slots(wg, slots, &[]),
    }
}

/// vyre 0.7.2's builders declare `control` with 160 words while `ResidentQueueBuffers::new(..,
/// observable)` makes 160 + observable words, which the wgpu driver rejects. Re-declare only the
/// control buffer's count with vyre's own `Program::with_rewritten_buffers` (as vyre-peer does);
/// the kernel body is untouched.
fn fit_control_decl(program: Program, control_words: u32, notes: &mut Vec<String>) -> Program {
    let declared = program.buffers()[0].count();
    if program.buffers()[0].name() != "control" || declared >= control_words {
        return program;
    }
    let buffers: Vec<_> = program
        .buffers()
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if i == 0 {
                b.clone().with_count(control_words)
            } else {
                b.clone()
            }
        })
        .collect();
    notes.push(format!(
        "control BufferDecl count rewritten {declared} -> {control_words} words via Program::with_rewritten_buffers; kernel body unchanged"
    ));
    program.with_rewritten_buffers(buffers)
}

fn inputs_of(state: &ResidentQueueBuffers) -> Vec<Vec<u8>> {
    vec![
        state.control_bytes().to_vec(),
        state.ring_bytes().to_vec(),
        state.debug_log_bytes().to_vec(),
        state.io_queue_bytes().to_vec(),
    ]
}

const BUFFER_NAMES: [&str; 4] = ["control", "ring", "debug_log", "io_queue"];

/// Maps the dispatch outputs onto a readback. A backend that returns a buffer of another length
/// than was uploaded is kept as vyre-peer does (tail from the upload / truncated), and said in
/// the returned note, which goes into the step's `extra`.
fn readback_from(
    outputs: Vec<Vec<u8>>,
    inputs: &[Vec<u8>],
) -> Result<(ResidentQueueReadback, Option<String>), Error> {
    if outputs.len() != 4 {
        return Err(Error::runtime(format!(
            "vyre returned {} output buffers, expected 4",
            outputs.len()
        )));
    }
    let mut notes = Vec::new();
    let mut fixed = Vec::with_capacity(4);
    for (i, mut out) in outputs.into_iter().enumerate() {
        let want = inputs[i].len();
        if out.len() != want {
            notes.push(format!(
                "{} read back {} bytes, {} uploaded: {}",
                BUFFER_NAMES[i],
                out.len(),
                want,
                if out.len() < want {
                    "tail kept from the upload (not observed)"
                } else {
                    "truncated to the upload"
                }
            ));
            if out.len() < want {
                out.extend_from_slice(&inputs[i][out.len()..]);
            } else {
                out.truncate(want);
            }
        }
        fixed.push(out);
    }
    let mut it = fixed.into_iter();
    let mut next = || it.next().unwrap_or_default();
    let readback = ResidentQueueReadback {
        control_bytes: next(),
        ring_bytes: next(),
        debug_log_bytes: next(),
        io_queue_bytes: next(),
    };
    let note = (!notes.is_empty()).then(|| notes.join("; "));
    Ok((readback, note))
}

// ---------------------------------------------------------------------- run

/// Called with (step index, step info, the state about to be recorded) before each step is
/// recorded; may change the recorded copy (tests use it to forge a divergence). vyre's own
/// state is not affected.
pub type StepHook<'a> = &'a mut dyn FnMut(u64, &StepInfo, &mut State);

/// How to run.
pub struct Options<'a> {
    pub path: PathSel,
    /// Keyframe interval of the recording (None: megascope-record's default).
    pub keyframe_interval: Option<u32>,
    pub hook: Option<StepHook<'a>>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            path: PathSel::CpuRef,
            keyframe_interval: None,
            hook: None,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub out: PathBuf,
    /// `cpu-ref` or `gpu-wgpu`.
    pub path: &'static str,
    pub executor: String,
    pub program: ProgramKind,
    pub workgroup_size: u32,
    pub grid: [u32; 3],
    /// Kind and label of every recorded step, in order.
    pub steps: Vec<(String, String)>,
    pub dispatch_wall_ms: Vec<f64>,
    pub published_per_dispatch: Vec<u32>,
    pub done_count: u32,
    pub epoch: u32,
    /// vyre's final state (the last readback applied to the host mirror), little-endian
    /// bytes of control, ring, debug_log, io_queue.
    pub final_bytes: [Vec<u8>; 4],
    pub notes: Vec<String>,
    pub summary: RecordSummary,
}

impl RunReport {
    /// The one-line JSON summary the binary prints.
    pub fn summary_json(&self) -> Json {
        let dispatch_steps = self.steps.iter().filter(|(k, _)| k == "dispatch").count();
        json!({
            "out": self.out.display().to_string(),
            "vyre": "0.7.2",
            "path": self.path,
            "executor": self.executor,
            "program": self.program.name(),
            "workgroup_size": self.workgroup_size,
            "grid": self.grid,
            "steps": self.summary.steps,
            "dispatch_steps": dispatch_steps,
            "host_steps": self.steps.len() - dispatch_steps,
            "keyframes": self.summary.keyframes,
            "bytes": self.summary.bytes,
            "published_per_dispatch": self.published_per_dispatch,
            "dispatch_wall_ms": self.dispatch_wall_ms,
            "done_count": self.done_count,
            "epoch": self.epoch,
            "notes": self.notes,
        })
    }
}

/// The one call a vyre 0.7.2 program adds after each step: megascope-record's `vyre` feature.
pub use megascope_record::vyre::record_mirror;

struct StepWriter<'a, 'h> {
    rec: Recorder,
    hook: Option<&'a mut StepHook<'h>>,
    steps: Vec<(String, String)>,
}

impl StepWriter<'_, '_> {
    fn step(&mut self, info: StepInfo, state: &ResidentQueueBuffers) -> Result<(), Error> {
        let index = self.rec.steps();
        let kind = match info.kind {
            megascope_record::StepKind::Host => "host",
            megascope_record::StepKind::Dispatch { .. } => "dispatch",
        };
        self.steps.push((kind.to_string(), info.label.clone()));
        let recorded = match self.hook.as_mut() {
            None => record_mirror(&mut self.rec, info, state),
            Some(hook) => {
                let mut copy = State::from_le_bytes(
                    state.control_bytes(),
                    state.ring_bytes(),
                    state.debug_log_bytes(),
                    state.io_queue_bytes(),
                )
                .map_err(|e| Error::runtime(format!("step {index}: {e}")))?;
                hook(index, &info, &mut copy);
                self.rec.record_owned(info, copy)
            }
        };
        recorded.map_err(|e| Error::runtime(format!("recording step {index}: {e}")))
    }
}

/// Runs `scenario` through vyre 0.7.2 on `opts.path` and records every step into `out`.
pub fn run_and_record(
    scenario: &Scenario,
    out: &Path,
    opts: Options<'_>,
) -> Result<RunReport, Error> {
    let Options {
        path,
        keyframe_interval,
        mut hook,
    } = opts;
    let plan = scenario.plan()?;
    let scen = &plan.scenario;
    let slots = scen.slot_count;
    let wg = plan.workgroup_size;
    let mut notes = Vec::new();

    let program = build_program(plan.program, wg, slots);
    let program = if scen.stock_control_decl {
        notes.push("stock_control_decl: control BufferDecl left at vyre's default count".into());
        program
    } else {
        fit_control_decl(
            program,
            mk::control::OBSERVABLE_BASE + scen.observable_slots,
            &mut notes,
        )
    };

    // vyre's host mirror of the four resident buffers.
    let mut state = ResidentQueueBuffers::new(slots, scen.tenant_count, scen.observable_slots)
        .map_err(|e| Error::bad(format!("ResidentQueueBuffers::new: {e}")))?;
    if !scen.initial_control_writes.is_empty() {
        let mut rb = state.snapshot_readback();
        for w in &scen.initial_control_writes {
            set_word(&mut rb.control_bytes, w.index as usize, w.value)?;
        }
        state.apply_readback(rb);
    }

    let exec = Exec::acquire(path)?;
    let executor = exec.describe();

    let mut meta = Meta::new(
        megascope_record::vyre::fingerprint(&state, scen.tenant_count),
        format!(
            "vyre 0.7.2 megakernel `{}` ({}, workgroup {wg}, {slots} slots) on {} ({executor}), recorded by vyre-recorder",
            plan.program.name(),
            plan.program.builder(),
            exec.name(),
        ),
    );
    if let Some(k) = keyframe_interval {
        meta.keyframe_interval = k;
    }
    meta.extra.insert("path".into(), json!(exec.name()));
    meta.extra.insert("vyre_version".into(), json!("0.7.2"));
    meta.extra.insert("producer".into(), json!("vyre-recorder"));
    let rec = Recorder::create(out, meta)
        .map_err(|e| Error::runtime(format!("cannot create {}: {e}", out.display())))?;
    let mut writer = StepWriter {
        rec,
        hook: hook.as_mut(),
        steps: Vec::new(),
    };

    let mut dispatch_wall_ms = Vec::new();
    let mut published_per_dispatch = Vec::new();
    let mut steps_of_run = || -> Result<(), Error> {
        writer.step(StepInfo::host("initial state"), &state)?;
        for round in 0..scen.dispatches {
            let mut n = 0u32;
            for (it, &op) in scen.items.iter().zip(&plan.opcodes) {
                if it.dispatch != round {
                    continue;
                }
                state
                    .publish_slot(it.slot, it.tenant, op, &it.args)
                    .map_err(|e| {
                        Error::bad(format!(
                        "publish_slot(slot={}, tenant={}, op={op:#x}) before dispatch {round}: {e}",
                        it.slot, it.tenant
                    ))
                    })?;
                if let Some(p) = it.priority {
                    // publish_slot always writes PRIORITY=NORMAL; 0.7.2 has no per-slot setter.
                    let idx = (it.slot * mk::SLOT_WORDS + mk::PRIORITY_WORD) as usize;
                    set_word(state.ring_bytes_mut(), idx, p)?;
                }
                n += 1;
            }
            published_per_dispatch.push(n);
            if n > 0 {
                writer.step(
                    StepInfo::host(format!("published {n} item(s) before dispatch {round}")),
                    &state,
                )?;
            }

            let inputs = inputs_of(&state);
            let t = Instant::now();
            let outputs = exec
                .dispatch(&program, &inputs, plan.grid)
                .map_err(|e| Error::runtime(format!("dispatch {round}: {e}")))?;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            dispatch_wall_ms.push(ms);
            let (rb, note) = readback_from(outputs, &inputs)?;
            state.apply_readback(rb);

            let mut info = StepInfo::dispatch(plan.program.name(), wg, format!("dispatch {round}"));
            info.wall_ms = Some(ms);
            info.extra.insert("path".into(), json!(exec.name()));
            if let Some(note) = note {
                if !notes.contains(&note) {
                    notes.push(note.clone());
                }
                info.extra.insert("readback_note".into(), json!(note));
            }
            writer.step(info, &state)?;
        }
        Ok(())
    };
    if let Err(e) = steps_of_run() {
        // Dropping the recorder writes the queued steps and leaves the file without footer.
        let written = writer.rec.steps();
        drop(writer);
        let where_ = format!(
            " [the {written} step(s) before the failure are in {} (no footer)]",
            out.display()
        );
        return Err(match e {
            Error::BadInput(m) => Error::BadInput(m + &where_),
            Error::Runtime(m) => Error::Runtime(m + &where_),
        });
    }

    let StepWriter { rec, steps, .. } = writer;
    let summary = rec
        .finish()
        .map_err(|e| Error::runtime(format!("finishing {}: {e}", out.display())))?;
    Ok(RunReport {
        out: out.to_path_buf(),
        path: exec.name(),
        executor,
        program: plan.program,
        workgroup_size: wg,
        grid: plan.grid,
        steps,
        dispatch_wall_ms,
        published_per_dispatch,
        done_count: mk::read_done_count(state.control_bytes()),
        epoch: mk::read_epoch(state.control_bytes()),
        final_bytes: [
            state.control_bytes().to_vec(),
            state.ring_bytes().to_vec(),
            state.debug_log_bytes().to_vec(),
            state.io_queue_bytes().to_vec(),
        ],
        notes,
        summary,
    })
}
