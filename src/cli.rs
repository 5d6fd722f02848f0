//! The command line (DESIGN.md §3, a contract): `megascope [FILE]` opens the app;
//! `run`, `inspect` and `bench` work headless.
//!
//! Exit codes: 0 success; 1 a runtime failure (an engine or GPU error); 2 bad input (a file,
//! a dump, a session, a value); 3 a run stopped at a breakpoint.

pub use crate::failure::Failure;
pub use crate::progress::Progress;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod record;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::abi::debug_log::DebugLogView;
use crate::abi::status::StatusCounts;
use crate::debugger::{Debugger, DebuggerError, RunConfig};
use crate::engine::{
    Backend, Diagnostic, RUN_DIAGNOSTICS_PER_KIND, RaceCoverage, RunDiagnostics, Variant,
};
use crate::inspect::{StateReport, status_count_map};

#[derive(Parser, Debug)]
#[command(
    name = "megascope",
    version,
    about = "A debugger for the resident state of a GPU persistent megakernel (vyre's ABI)",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// A session (.ron), a dump directory or a recording (.msrec) to open in the app.
    pub file: Option<PathBuf>,
    /// Render N frames while dispatching every frame, print frame-time statistics as JSON
    /// and quit (a benchmark of the app itself).
    #[arg(long, value_name = "N")]
    pub bench_frames: Option<u32>,
    /// Start from a new state of N slots, every one PUBLISHED (with --bench-frames).
    #[arg(long, value_name = "N")]
    pub slots: Option<u32>,
    /// Start with this engine.
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
    /// Start with this kernel variant.
    #[arg(long, value_enum)]
    pub variant: Option<Variant>,
    /// Tenants `reset` re-encodes when FILE is a dump directory (a dump does not record it;
    /// as `run --dump DIR --tenants N`).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub tenants: u32,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run headless: load, execute the session's script, run N more dispatches.
    Run(RunArgs),
    /// Print the decoded state.
    Inspect(InspectArgs),
    /// Measure the engines (and the UI) and print the numbers.
    Bench(crate::bench::BenchArgs),
    /// Recordings of real programs: import, export, info, verify.
    Record(record::RecordArgs),
}

/// Where the state comes from: a session file or a dump directory.
#[derive(Args, Debug, Clone)]
pub struct Source {
    /// A session file (.ron); a dump directory is accepted here too.
    #[arg(required_unless_present = "dump", conflicts_with = "dump")]
    pub session: Option<PathBuf>,
    /// A dump directory (control.bin, ring.bin, debug_log.bin, io_queue.bin).
    #[arg(long, value_name = "DIR")]
    pub dump: Option<PathBuf>,
    /// Tenants `reset` re-encodes for a dump (a dump does not record it).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub tenants: u32,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub source: Source,
    /// Dispatches to run after the session's script.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub dispatches: u64,
    /// The engine (default: the session's, or cpu for a dump).
    #[arg(long, value_enum)]
    pub backend: Option<Backend>,
    /// The kernel variant (default: the session's, or once for a dump).
    #[arg(long, value_enum)]
    pub variant: Option<Variant>,
    /// Lanes per workgroup: a divisor of the slot count, at most 256.
    #[arg(long, value_name = "N")]
    pub workgroup_size: Option<u32>,
    /// Most passes a looping dispatch runs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub pass_budget: Option<u32>,
    /// Write the final state as a dump directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Ignore the session's breakpoints.
    #[arg(long)]
    pub no_break: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[command(flatten)]
    pub source: Source,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// List every slot (text lists 20 per status).
    #[arg(long)]
    pub all: bool,
}

impl From<DebuggerError> for Failure {
    fn from(e: DebuggerError) -> Failure {
        match e {
            DebuggerError::Engine(_) | DebuggerError::NoGpu(_) => Failure::runtime(e),
            _ => Failure::input(e),
        }
    }
}

/// A loaded state: the debugger plus where it came from.
pub struct Loaded {
    pub debugger: Debugger,
    pub from_session: bool,
    /// The backend the session asks for (cpu for a dump).
    pub backend: Backend,
    pub breakpoints: Vec<crate::debugger::breakpoint::Breakpoint>,
}

/// A dump opened as a state: the CPU engine, no breakpoints.
fn loaded_dump(state: crate::resident::ResidentBuffers, tenants: u32) -> Loaded {
    Loaded {
        debugger: Debugger::from_state(state, tenants, RunConfig::default(), Backend::Cpu),
        from_session: false,
        backend: Backend::Cpu,
        breakpoints: Vec::new(),
    }
}

/// Loads a session or a dump directory, through the same [`crate::files::open`] as the app.
pub fn load_source(src: &Source) -> Result<Loaded, Failure> {
    use crate::files::{OpenOptions, Opened, open};
    let path: &Path = match (&src.session, &src.dump) {
        (_, Some(d)) => {
            // --dump always means a dump directory, whatever is (or is not) there
            let state = crate::files::dump::read_dump(d).map_err(|e| Failure {
                code: e.exit_code(),
                message: e.to_string(),
            })?;
            return Ok(loaded_dump(state, src.tenants));
        }
        (Some(p), None) => p,
        (None, None) => return Err(Failure::input("give a session file or --dump DIR")),
    };
    let options = OpenOptions {
        tenants: src.tenants,
    };
    match open(path, options).map_err(|e| Failure {
        code: e.exit_code(),
        message: e.to_string(),
    })? {
        Opened::Dump { state, tenants } => Ok(loaded_dump(state, tenants)),
        Opened::Session(l) => Ok(Loaded {
            breakpoints: l.file.breakpoints.clone(),
            backend: l.file.backend,
            debugger: l.debugger,
            from_session: true,
        }),
        Opened::Recording(_) => Err(Failure::input(format!(
            "{} is a recording: open it in the app (megascope {}), check it with `megascope record verify`, or take one step out with `megascope record export FILE --step N --out DIR` and run that dump",
            path.display(),
            path.display()
        ))),
    }
}

/// The JSON `megascope run --json` prints (a contract).
#[derive(Serialize, Debug)]
pub struct RunSummary {
    pub dispatches: u64,
    pub backend: Backend,
    pub variant: Variant,
    pub slot_count: u32,
    pub status_counts: std::collections::BTreeMap<&'static str, u64>,
    pub done_count: u32,
    pub epoch: u32,
    pub debug_records: usize,
    pub debug_dropped: u32,
    /// The first [`RUN_DIAGNOSTICS_PER_KIND`] diagnostics of each kind over the run.
    pub diagnostics: Vec<Diagnostic>,
    /// Diagnostics not listed: past the per-kind cap, or past one dispatch's own cap.
    pub diagnostics_omitted: u64,
    /// The diagnostics past the per-kind cap, by kind.
    pub diagnostics_omitted_by_kind: std::collections::BTreeMap<&'static str, u64>,
    /// How much race analysis the run's dispatches had: `"full"`, `"off"`, or
    /// `{"partial": why}` — the least of any dispatch, so "no race" is never silence.
    pub race_analysis: RaceCoverage,
    pub elapsed_ms: f64,
    /// Dispatches the session's script ran before these.
    pub script_dispatches: u64,
    /// Where a breakpoint stopped the run (exit code 3), if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<StoppedAt>,
}

/// Where a breakpoint stopped `megascope run`.
#[derive(Serialize, Debug)]
pub struct StoppedAt {
    pub dispatch: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<u32>,
    /// The breakpoint's condition, as text.
    pub breakpoint: String,
    /// Its index in the session's list.
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub word: Option<u32>,
    pub message: String,
}

/// The timeline budget of a headless run: nothing travels back in time there, so the run
/// keeps far less history than the app (whose budget is 512 MiB) and its memory stays flat
/// for any number of dispatches.
pub const RUN_TIMELINE_BUDGET: usize = 32 << 20;

/// `megascope run`.
pub fn run(args: &RunArgs, out: &mut dyn Write) -> Result<i32, Failure> {
    let Loaded {
        mut debugger,
        from_session,
        backend,
        ..
    } = load_source(&args.source)?;
    debugger.set_timeline_budget(RUN_TIMELINE_BUDGET);
    if args.no_break {
        debugger.breakpoints_mut().clear();
    }
    let script_dispatches = debugger.dispatches();
    let mut config = debugger.config();
    if let Some(v) = args.variant {
        config.variant = v;
    } else if !from_session {
        config.variant = Variant::Once;
    }
    if let Some(wg) = args.workgroup_size {
        config.workgroup_size = Some(wg);
    }
    if let Some(b) = args.pass_budget {
        config.pass_budget = b;
    }
    debugger.set_config(config)?;
    let backend = args.backend.unwrap_or(backend);
    if backend == Backend::Gpu {
        let mut engine = crate::engine::gpu::GpuEngine::new_headless().map_err(Failure::runtime)?;
        // `run` draws nothing: no claim needs to write its changed mark
        engine.set_change_marks(false);
        debugger.attach_gpu(engine);
    }
    debugger.set_backend(backend)?;
    // bounded over any number of dispatches: the first of each kind, the rest counted
    let mut diagnostics = RunDiagnostics::new(RUN_DIAGNOSTICS_PER_KIND);
    for d in debugger.diagnostics() {
        diagnostics.push(d.clone());
    }
    let mut race_analysis = debugger
        .last_report()
        .map_or(RaceCoverage::Full, |r| r.race_analysis.clone());
    if args.dispatches == 0 && debugger.last_report().is_none() && !config.race_analysis {
        race_analysis = RaceCoverage::Off;
    }
    let mut elapsed = Duration::ZERO;
    let mut progress = Progress::new("dispatch", args.dispatches);
    let mut stopped_at = None;
    let mut ran = 0;
    for i in 0..args.dispatches {
        let r = debugger.dispatch()?;
        ran += 1;
        elapsed += r.elapsed;
        race_analysis = race_analysis.weaker(r.race_analysis.clone());
        for d in &r.diagnostics {
            diagnostics.push(d.clone());
        }
        diagnostics.add_unlisted(r.diagnostics_omitted);
        progress.tick(i + 1);
        if let Some(hit) = debugger.take_hit() {
            stopped_at = Some(StoppedAt {
                dispatch: hit.dispatch,
                pass: hit.pass,
                breakpoint: debugger.breakpoints()[hit.breakpoint].condition.describe(),
                index: hit.breakpoint,
                slot: hit.slot,
                word: hit.word,
                message: hit.message,
            });
            break;
        }
    }
    progress.finish();
    debugger.sync()?;
    let state = debugger.state();
    if let Some(dir) = &args.out {
        crate::files::dump::write_dump(dir, state).map_err(|e| Failure {
            code: e.exit_code(),
            message: e.to_string(),
        })?;
    }
    let log = DebugLogView::decode(state.debug_log());
    let view = state.control_view();
    let summary = RunSummary {
        dispatches: ran,
        backend: debugger.backend(),
        variant: debugger.config().variant,
        slot_count: state.slot_count(),
        status_counts: status_count_map(&StatusCounts::of_ring(state.ring())),
        done_count: view.done_count(),
        epoch: view.epoch(),
        debug_records: log.records.len(),
        debug_dropped: log.dropped,
        diagnostics_omitted: diagnostics.omitted(),
        diagnostics_omitted_by_kind: diagnostics.omitted_by_kind(),
        diagnostics: diagnostics.into_kept(),
        race_analysis,
        elapsed_ms: elapsed.as_secs_f64() * 1e3,
        script_dispatches,
        stopped_at,
    };
    let w = |e: std::io::Error| Failure::runtime(format!("cannot write the output: {e}"));
    if args.json {
        serde_json::to_writer(&mut *out, &summary).map_err(Failure::runtime)?;
        writeln!(out).map_err(w)?;
    } else {
        writeln!(
            out,
            "{} dispatches ({} backend, {} variant) on {} slots in {:.2} ms",
            summary.dispatches,
            summary.backend.name(),
            summary.variant.name(),
            summary.slot_count,
            summary.elapsed_ms
        )
        .map_err(w)?;
        let counts: Vec<String> = summary
            .status_counts
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        writeln!(out, "slots: {}", counts.join(", ")).map_err(w)?;
        writeln!(
            out,
            "done count {}, epoch {}, debug records {} ({} dropped)",
            summary.done_count, summary.epoch, summary.debug_records, summary.debug_dropped
        )
        .map_err(w)?;
        for d in &summary.diagnostics {
            writeln!(
                out,
                "{} (dispatch {}): {}",
                d.kind.name(),
                d.dispatch,
                d.message
            )
            .map_err(w)?;
        }
        if summary.race_analysis != RaceCoverage::Full {
            writeln!(out, "{}", summary.race_analysis.describe(summary.backend)).map_err(w)?;
        }
        for (kind, n) in &summary.diagnostics_omitted_by_kind {
            writeln!(
                out,
                "… and {n} more {kind} diagnostics (the first {RUN_DIAGNOSTICS_PER_KIND} of each kind are listed)"
            )
            .map_err(w)?;
        }
        let unlisted =
            summary.diagnostics_omitted - summary.diagnostics_omitted_by_kind.values().sum::<u64>();
        if unlisted > 0 {
            writeln!(
                out,
                "… and {unlisted} more diagnostics past one dispatch's list"
            )
            .map_err(w)?;
        }
        if let Some(dir) = &args.out {
            writeln!(out, "final state written to {}", dir.display()).map_err(w)?;
        }
        if let Some(s) = &summary.stopped_at {
            writeln!(
                out,
                "stopped at dispatch {} by breakpoint {} ({}): {}",
                s.dispatch, s.index, s.breakpoint, s.message
            )
            .map_err(w)?;
        }
    }
    Ok(if summary.stopped_at.is_some() { 3 } else { 0 })
}

/// `megascope inspect`.
pub fn inspect(args: &InspectArgs, out: &mut dyn Write) -> Result<i32, Failure> {
    let loaded = load_source(&args.source)?;
    let report = StateReport::new(loaded.debugger.state());
    let w = |e: std::io::Error| Failure::runtime(format!("cannot write the output: {e}"));
    if args.json {
        serde_json::to_writer(&mut *out, &report).map_err(Failure::runtime)?;
        writeln!(out).map_err(w)?;
    } else {
        write!(out, "{}", report.to_text(if args.all { 0 } else { 20 })).map_err(w)?;
    }
    Ok(0)
}

/// Checks the file given to the app before a window opens: a path that does not exist is
/// refused on stderr (exit 2), not only in a message inside the window.
pub fn check_app_file(path: &Path) -> Result<(), Failure> {
    std::fs::metadata(path).map(|_| ()).map_err(|e| {
        Failure::input(format!(
            "cannot open {}: {e}; give a session (.ron) or a dump directory",
            path.display()
        ))
    })
}

/// Runs a parsed headless command; `None` means "open the app".
pub fn dispatch_command(cli: &Cli, out: &mut dyn Write) -> Option<Result<i32, Failure>> {
    match &cli.command {
        Some(Command::Run(a)) => Some(run(a, out)),
        Some(Command::Inspect(a)) => Some(inspect(a, out)),
        Some(Command::Bench(a)) => Some(crate::bench::bench(a, out)),
        Some(Command::Record(a)) => Some(record::record(a, out)),
        None => None,
    }
}

#[cfg(test)]
mod launch_tests {
    use super::*;

    #[test]
    fn the_app_takes_a_dump_tenant_count_as_run_does() {
        let cli = Cli::try_parse_from(["megascope", "--tenants", "3", "dump_dir"]).unwrap();
        assert_eq!(cli.tenants, 3);
        assert_eq!(cli.file, Some(PathBuf::from("dump_dir")));
        assert_eq!(Cli::try_parse_from(["megascope"]).unwrap().tenants, 1);
        assert!(Cli::try_parse_from(["megascope", "--tenants", "x"]).is_err());
    }
}
