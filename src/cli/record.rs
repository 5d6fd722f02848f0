//! `megascope record …`: recordings of real programs (DESIGN.md §3, a contract).
//!
//! Exit codes: 0 success; 1 a runtime failure; 2 bad input (including a damaged recording,
//! after printing what is intact); `verify` exits 4 when a divergence is unexplained or the
//! file is damaged further on.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use megascope_record::Recording;

use super::{Failure, Progress};
use crate::files::recording::import::{ImportOptions, import_step_dir};
use crate::files::recording::info::RecordingInfo;
use crate::files::recording::verify::verify;
use crate::files::recording::{RecordingError, export, perfetto};

#[derive(Args, Debug)]
pub struct RecordArgs {
    #[command(subcommand)]
    pub command: RecordCommand,
}

#[derive(Subcommand, Debug)]
pub enum RecordCommand {
    /// Turn a step directory (what `vyre-peer run --record DIR` writes) into a recording.
    Import(ImportArgs),
    /// Write one step as a dump directory, or the whole recording as a Perfetto trace.
    Export(ExportArgs),
    /// Say what a recording holds.
    Info(InfoArgs),
    /// Re-run every recorded dispatch on the CPU engine and name every word that differs.
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The step directory: 000000/, 000001/, … each a dump directory plus step.json.
    pub step_dir: PathBuf,
    /// The recording to write (.msrec).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Tenants the program encoded (default: read from the first step's quota table).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=32))]
    pub tenants: Option<u32>,
    /// A full keyframe every N steps.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub keyframe_interval: Option<u32>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["step", "perfetto"])))]
pub struct ExportArgs {
    /// The recording.
    pub file: PathBuf,
    /// The step to write (counting from 0); needs --out.
    #[arg(long, value_name = "N", requires = "out", conflicts_with = "perfetto")]
    pub step: Option<usize>,
    /// The dump directory to write the step to.
    #[arg(long, value_name = "DIR", requires = "step")]
    pub out: Option<PathBuf>,
    /// Write a Chrome JSON trace (Perfetto opens it) of every step to this file.
    #[arg(long, value_name = "OUT")]
    pub perfetto: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// The recording.
    pub file: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The recording.
    pub file: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn failure(e: RecordingError) -> Failure {
    Failure {
        code: e.exit_code(),
        message: e.to_string(),
    }
}

fn open(path: &std::path::Path) -> Result<Recording, Failure> {
    let rec = Recording::open(path).map_err(|e| Failure::input(e.to_string()))?;
    for w in rec.warnings() {
        eprintln!("megascope: warning: {}: {w}", path.display());
    }
    Ok(rec)
}

/// Fails with exit 2 when the file is damaged, after the command has done what it could.
fn damage_failure(rec: &Recording) -> Result<i32, Failure> {
    match rec.damage() {
        None => Ok(0),
        Some(d) => Err(Failure::input(format!(
            "{} is damaged: {d}; steps 0 to {} are intact — re-record or re-import the run to get the rest",
            rec.path().display(),
            rec.len() as i64 - 1
        ))),
    }
}

fn write_err(e: std::io::Error) -> Failure {
    Failure::runtime(format!("cannot write the output: {e}"))
}

/// Runs `megascope record …`.
pub fn record(args: &RecordArgs, out: &mut dyn Write) -> Result<i32, Failure> {
    match &args.command {
        RecordCommand::Import(a) => {
            let mut progress = Progress::new("import: step", 0);
            let summary = import_step_dir(
                &a.step_dir,
                &a.out,
                &ImportOptions {
                    tenants: a.tenants,
                    keyframe_interval: a.keyframe_interval,
                },
                &mut |done, total| {
                    progress.set_total(total as u64);
                    progress.tick(done as u64)
                },
            )
            .map_err(failure)?;
            progress.finish();
            if a.json {
                serde_json::to_writer(&mut *out, &summary).map_err(Failure::runtime)?;
                writeln!(out).map_err(write_err)?;
            } else {
                writeln!(
                    out,
                    "imported {} steps ({} dispatch) of {} slots into {} ({} bytes)",
                    summary.steps,
                    summary.dispatch_steps,
                    summary.slot_count,
                    a.out.display(),
                    summary.bytes
                )
                .map_err(write_err)?;
            }
            Ok(0)
        }
        RecordCommand::Export(a) => {
            let rec = open(&a.file)?;
            if let Some(trace) = &a.perfetto {
                perfetto::export_perfetto(&rec, trace).map_err(failure)?;
                writeln!(
                    out,
                    "trace of {} steps written to {}",
                    rec.len(),
                    trace.display()
                )
                .map_err(write_err)?;
            } else if let (Some(step), Some(dir)) = (a.step, &a.out) {
                export::export_step(&rec, step, dir).map_err(failure)?;
                writeln!(out, "step {step} written to {}", dir.display()).map_err(write_err)?;
                // An intact step exported from a damaged file is a success: say so, exit 0.
                if let Some(d) = rec.damage() {
                    eprintln!(
                        "megascope: warning: the file is damaged after step {}: {d}",
                        rec.len() as i64 - 1
                    );
                }
                return Ok(0);
            }
            damage_failure(&rec)
        }
        RecordCommand::Info(a) => {
            let rec = open(&a.file)?;
            let info = RecordingInfo::of(&rec);
            if a.json {
                serde_json::to_writer(&mut *out, &info).map_err(Failure::runtime)?;
                writeln!(out).map_err(write_err)?;
            } else {
                write!(out, "{}", info.to_text()).map_err(write_err)?;
            }
            damage_failure(&rec)
        }
        RecordCommand::Verify(a) => {
            let rec = open(&a.file)?;
            let mut progress = Progress::new("verify: step", rec.len() as u64);
            let report =
                verify(&rec, &mut |done, _| progress.tick(done as u64)).map_err(failure)?;
            progress.finish();
            if a.json {
                serde_json::to_writer(&mut *out, &report).map_err(Failure::runtime)?;
                writeln!(out).map_err(write_err)?;
            } else {
                writeln!(
                    out,
                    "{} steps, {} dispatches re-run on the CPU engine in {:.1} ms: {} diverging, {} divergences ({} unexplained{})",
                    report.steps,
                    report.dispatch_steps,
                    report.elapsed_ms,
                    report.diverging_steps.len(),
                    report.divergences.len() as u64 + report.omitted,
                    report.unexplained,
                    if report.omitted > 0 {
                        format!(", {} not listed", report.omitted)
                    } else {
                        String::new()
                    }
                )
                .map_err(write_err)?;
                for d in report.divergences.iter().take(50) {
                    let slot = d.slot.map(|s| format!(" (slot {s})")).unwrap_or_default();
                    let val = |v: Option<u32>| v.map_or("none".to_string(), |v| format!("{v:#x}"));
                    let why = match &d.explained_by {
                        None => "UNEXPLAINED".to_string(),
                        Some(e) => format!(
                            "explained by {}",
                            serde_json::to_string(e).unwrap_or_default()
                        ),
                    };
                    writeln!(
                        out,
                        "step {}: {}[{}]{slot}: expected {}, recorded {} — {why}",
                        d.step,
                        d.buffer,
                        d.word,
                        val(d.expected),
                        val(d.recorded)
                    )
                    .map_err(write_err)?;
                }
                if report.divergences.len() > 50 {
                    writeln!(
                        out,
                        "… {} more (use --json for all)",
                        report.divergences.len() - 50
                    )
                    .map_err(write_err)?;
                }
                for e in &report.step_errors {
                    writeln!(out, "step {}: {}", e.step, e.message).map_err(write_err)?;
                }
                if let Some(d) = &report.damage {
                    writeln!(out, "damaged: {d}").map_err(write_err)?;
                }
            }
            Ok(report.exit_code())
        }
    }
}
