//! Engines execute the megakernel on the four buffers. [`cpu`] is the oracle (plain,
//! deterministic, the lockstep order of DESIGN.md §2); [`gpu`] runs `shaders/engine/megakernel.wgsl`
//! through wgpu with the buffers resident on the device.
//!
//! Looping variants run in passes so a debugger never hangs: one pass is one iteration of
//! every workgroup that has not returned, workgroups in order, each in lockstep. A dispatch
//! ends when SHUTDOWN is seen, when a pass claims nothing (a fixed point: every later pass
//! would be identical), or when the pass budget is spent.

pub mod cpu;
pub mod diagnostics;
pub mod gpu;

pub mod race;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::abi::error::AbiError;
use crate::abi::layout::{check_workgroup_size, default_workgroup_size};
use crate::abi::status::StatusCounts;
use crate::resident::ResidentBuffers;
pub use diagnostics::{Diagnostic, DiagnosticKind, RUN_DIAGNOSTICS_PER_KIND, RunDiagnostics};

/// The kernel variants of ABI.md §5.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// One pass, lane i owns slot i (vyre 0.7.2's `build_program_sharded_once_slots`).
    #[default]
    Once,
    /// The direct scheme looping until a SHUTDOWN slot runs.
    Persistent,
    /// The partition scan of ABI.md §5.4, looping until SHUTDOWN.
    Priority,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::Once, Variant::Persistent, Variant::Priority];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Once => "once",
            Variant::Persistent => "persistent",
            Variant::Priority => "priority",
        }
    }

    /// The variant named `name` (`once`, `persistent`, `priority`), as recordings and
    /// step directories write it.
    pub fn from_name(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name)
    }

    pub fn is_looping(self) -> bool {
        !matches!(self, Variant::Once)
    }
}

/// Which engine runs a dispatch.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Cpu,
    Gpu,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Gpu => "gpu",
        }
    }
}

/// The default pass budget of a looping dispatch.
pub const DEFAULT_PASS_BUDGET: u32 = 64;
/// Passes a schedulable slot may wait inside one dispatch before `starvation` fires.
pub const DEFAULT_STARVATION_PASSES: u32 = 16;

/// How one dispatch runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DispatchOptions {
    pub variant: Variant,
    /// `None`: the largest power of two ≤ 256 dividing the slot count.
    pub workgroup_size: Option<u32>,
    /// Most passes a looping dispatch runs (at least 1).
    pub pass_budget: u32,
    /// HEAD's `once` checks SHUTDOWN before the pass; 0.7.2's does not.
    pub once_checks_shutdown: bool,
    /// Look for races (both engines; costs time: the CPU engine tracks every access, the GPU
    /// engine runs a kernel that also keeps per-word access summaries).
    pub race_analysis: bool,
    pub starvation_passes: u32,
    /// The index this dispatch will have in the session, stamped on diagnostics.
    pub dispatch_index: u64,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        DispatchOptions {
            variant: Variant::Once,
            workgroup_size: None,
            pass_budget: DEFAULT_PASS_BUDGET,
            once_checks_shutdown: false,
            race_analysis: true,
            starvation_passes: DEFAULT_STARVATION_PASSES,
            dispatch_index: 0,
        }
    }
}

impl DispatchOptions {
    pub fn with_variant(variant: Variant) -> Self {
        DispatchOptions {
            variant,
            ..Default::default()
        }
    }

    /// The workgroup size to use for `slot_count` slots, checked.
    pub fn resolve_workgroup_size(&self, slot_count: u32) -> Result<u32, AbiError> {
        let wg = self
            .workgroup_size
            .unwrap_or_else(|| default_workgroup_size(slot_count));
        check_workgroup_size(slot_count, wg)?;
        Ok(wg)
    }

    /// Passes this dispatch may run.
    pub fn passes_allowed(&self) -> u32 {
        if self.variant.is_looping() {
            self.pass_budget.max(1)
        } else {
            1
        }
    }
}

/// Why a dispatch stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DispatchEnd {
    /// `once`: its single pass ran.
    OnePass,
    /// SHUTDOWN (control word 0) was non-zero after a pass, or before the first.
    Shutdown,
    /// A pass claimed nothing, so every further pass would change nothing.
    Settled,
    /// The pass budget ran out with work possibly left.
    PassBudget,
}

impl DispatchEnd {
    pub fn describe(self) -> &'static str {
        match self {
            DispatchEnd::OnePass => "one pass",
            DispatchEnd::Shutdown => "shutdown",
            DispatchEnd::Settled => "settled",
            DispatchEnd::PassBudget => "pass budget spent",
        }
    }
}

/// How much race analysis a dispatch had. Every report says it, so that "no race" is never
/// read from an analysis that did not run (or ran only in part).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RaceCoverage {
    /// Race analysis was switched off for this dispatch: no race can be reported.
    #[default]
    Off,
    /// Every rule of README "Races" was decided.
    Full,
    /// Some of it was decided; the text says what was not, and why.
    Partial(String),
}

impl RaceCoverage {
    /// One line for the UI and the text output.
    pub fn describe(&self, backend: Backend) -> String {
        match self {
            RaceCoverage::Off => format!(
                "race analysis: off on the {} backend — races are not looked for, so none are reported",
                backend.name()
            ),
            RaceCoverage::Full => format!("race analysis: on ({} backend)", backend.name()),
            RaceCoverage::Partial(why) => format!(
                "race analysis: partial on the {} backend — {why}",
                backend.name()
            ),
        }
    }

    /// The less complete of two (a run's coverage is its least covered dispatch's).
    pub fn weaker(self, other: RaceCoverage) -> RaceCoverage {
        let rank = |c: &RaceCoverage| match c {
            RaceCoverage::Full => 0,
            RaceCoverage::Partial(_) => 1,
            RaceCoverage::Off => 2,
        };
        if rank(&other) > rank(&self) {
            other
        } else {
            self
        }
    }
}

/// What one dispatch did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DispatchReport {
    pub dispatch_index: u64,
    pub backend: Backend,
    pub variant: Variant,
    pub workgroup_size: u32,
    pub passes: u32,
    pub end: DispatchEnd,
    /// Slots claimed (CAS to CLAIMED) in this dispatch.
    pub claimed: u64,
    /// Top-level slots executed (DONE_COUNT increments).
    pub executed: u64,
    /// Claims per priority level (priority variant).
    pub claims_per_level: [u64; 5],
    /// Debug records reserved in this dispatch, and how many of them were dropped.
    pub debug_records: u64,
    pub debug_dropped: u64,
    pub status_counts: StatusCounts,
    /// Whether the diagnostics include the race analysis.
    pub race_analysis: RaceCoverage,
    pub diagnostics: Vec<Diagnostic>,
    /// Diagnostics not listed because the list hit its cap.
    pub diagnostics_omitted: u64,
    #[serde(serialize_with = "serialize_ms")]
    pub elapsed: Duration,
}

fn serialize_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

/// What went wrong running an engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "the engine was built for {engine} slots but the state has {mirror}; recreate the engine for this state"
    )]
    SlotCountMismatch { engine: u32, mirror: u32 },
    #[error(transparent)]
    Abi(#[from] AbiError),
    #[error("no dispatch is in progress; begin one first")]
    NoDispatch,
    #[error("GPU: {0}")]
    Gpu(String),
}

/// A megakernel executor. A dispatch may be run whole ([`Engine::dispatch`]) or pass by pass
/// (begin, run passes, finish) so the debugger can step through looping variants.
pub trait Engine {
    fn backend(&self) -> Backend;

    /// The slot count this engine instance is bound to, if any.
    fn slot_count(&self) -> Option<u32>;

    /// Starts a dispatch on `state`.
    fn begin_dispatch(
        &mut self,
        state: &mut ResidentBuffers,
        options: &DispatchOptions,
    ) -> Result<(), EngineError>;

    /// Runs up to `max_passes` passes of the dispatch in progress; returns `true` once the
    /// dispatch has ended (then call [`Engine::finish_dispatch`]).
    fn run_passes(
        &mut self,
        state: &mut ResidentBuffers,
        max_passes: u32,
    ) -> Result<bool, EngineError>;

    /// Ends the dispatch in progress (even if it has not reached its end) and reports it.
    fn finish_dispatch(
        &mut self,
        state: &mut ResidentBuffers,
    ) -> Result<DispatchReport, EngineError>;

    /// Whether a dispatch is in progress.
    fn in_dispatch(&self) -> bool;

    /// Runs one whole dispatch.
    fn dispatch(
        &mut self,
        state: &mut ResidentBuffers,
        options: &DispatchOptions,
    ) -> Result<DispatchReport, EngineError> {
        self.begin_dispatch(state, options)?;
        while !self.run_passes(state, u32::MAX)? {}
        self.finish_dispatch(state)
    }
}

/// Dispatching a mirror through an engine, as `mirror.dispatch(&mut engine, &options)`. It
/// lives here, not on [`ResidentBuffers`], so the mirror knows nothing of engines (the
/// layers go abi → resident → engine, never back).
pub trait DispatchMirror {
    /// Refuses a slot-count mismatch, validates the buffers as `from_parts` does, then lets
    /// the engine run and leave its result in the mirror.
    fn dispatch(
        &mut self,
        engine: &mut dyn Engine,
        options: &DispatchOptions,
    ) -> Result<DispatchReport, EngineError>;
}

impl DispatchMirror for ResidentBuffers {
    fn dispatch(
        &mut self,
        engine: &mut dyn Engine,
        options: &DispatchOptions,
    ) -> Result<DispatchReport, EngineError> {
        if let Some(n) = engine.slot_count()
            && n != self.slot_count()
        {
            return Err(EngineError::SlotCountMismatch {
                engine: n,
                mirror: self.slot_count(),
            });
        }
        self.validate()?;
        engine.dispatch(self, options)
    }
}
