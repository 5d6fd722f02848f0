//! `megascope bench`: measures the targets of DESIGN.md §5 and prints the numbers (JSON with
//! `--json`). Each section sets up its state outside the timed region and reports medians.

mod gpu;
mod recording;
mod session;
mod timeline;
pub mod ui;

use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use crate::abi::opcode::Opcode;
use crate::engine::cpu::CpuEngine;
use crate::engine::{DispatchOptions, Engine};
use crate::failure::Failure;
use crate::resident::ResidentBuffers;

/// What to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// CPU engine: slot executions per second.
    Cpu,
    /// GPU engine: resident dispatch, dispatch + control readback, full round trip, first dispatch.
    Gpu,
    /// Timeline: memory of 10,000 dispatches and the time of a step back.
    Timeline,
    /// Saving and opening a session with a snapshot.
    Session,
    /// The app's frames rendered offscreen while dispatching every frame.
    Ui,
    /// Recordings: recording at 1M slots, opening and seeking a long one, verify's rate.
    Record,
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Sections to run (default: cpu, gpu, timeline, session; ui on request).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Section>,
    /// Slot counts to measure.
    #[arg(long, value_delimiter = ',', default_values_t = vec![4096u32, 65_536, 1_048_576])]
    pub slots: Vec<u32>,
    /// Timed rounds per measurement.
    #[arg(long, default_value_t = 20)]
    pub rounds: u32,
    /// Opcodes for the CPU and GPU sections.
    #[arg(long, value_delimiter = ',', default_values_t = vec!["ATOMIC_ADD".to_string()])]
    pub opcodes: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// GPU section: measure each case with race analysis on as well as off (the cost of the
    /// analysis: kernel time and resident dispatch, both in the JSON).
    #[arg(long)]
    pub race: bool,
    /// GPU section: measure each case also with the direct passes' workgroup tallies of
    /// control adds off (their gain on this device; a software adapter has them off anyway).
    #[arg(long)]
    pub compare_tallies: bool,
}

/// Median, p95, min and max of a set of durations in milliseconds.
#[derive(Serialize, Debug, Clone, Copy)]
pub struct Stats {
    pub median_ms: f64,
    pub p95_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
}

impl Stats {
    pub fn of(samples: &mut [Duration]) -> Stats {
        samples.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let n = samples.len().max(1);
        let at = |q: f64| ms(samples[((n - 1) as f64 * q).round() as usize]);
        if samples.is_empty() {
            return Stats {
                median_ms: 0.0,
                p95_ms: 0.0,
                min_ms: 0.0,
                max_ms: 0.0,
            };
        }
        Stats {
            median_ms: at(0.5),
            p95_ms: at(0.95),
            min_ms: ms(samples[0]),
            max_ms: ms(samples[n - 1]),
        }
    }
}

#[derive(Serialize, Debug)]
pub struct CpuResult {
    pub slots: u32,
    pub opcode: String,
    pub race_analysis: bool,
    pub rounds: u32,
    pub dispatch: Stats,
    /// Slots executed per second at the median.
    pub slot_executions_per_s: f64,
}

/// The whole report.
#[derive(Serialize, Debug, Default)]
pub struct BenchReport {
    pub machine: Machine,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpu: Vec<CpuResult>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gpu: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ui: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

#[derive(Serialize, Debug, Default)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
}

impl Machine {
    fn detect() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            cpu,
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        }
    }
}

/// The arguments each bench opcode publishes with (vyre-peer's bench uses the same).
pub fn bench_args(op: Opcode, slot: u32, observable: u32) -> Vec<u32> {
    let obs = observable.max(1);
    match op {
        Opcode::STORE_U32 => vec![slot, 160 + slot % obs],
        Opcode::ATOMIC_ADD => vec![1, 160 + slot % obs],
        Opcode::LOAD_U32 => vec![1, slot % obs],
        Opcode::PRINTF => vec![7, slot, slot ^ 0xffff],
        _ => vec![],
    }
}

/// A state with every slot PUBLISHED with `op`.
pub fn bench_state(slots: u32, op: Opcode, observable: u32) -> Result<ResidentBuffers, String> {
    let mut m = ResidentBuffers::new(slots, 1, observable).map_err(|e| e.to_string())?;
    for s in 0..slots {
        m.publish_slot(s as u64, 0, op, &bench_args(op, s, observable))
            .map_err(|e| e.to_string())?;
    }
    Ok(m)
}

fn cpu_section(args: &BenchArgs, report: &mut BenchReport) -> Result<(), String> {
    for op_name in &args.opcodes {
        let op = Opcode::parse(op_name)?;
        for &slots in &args.slots {
            for race_analysis in [false, true] {
                let pristine = bench_state(slots, op, 16)?;
                let mut m = pristine.clone();
                let mut engine = CpuEngine::new();
                let opts = DispatchOptions {
                    race_analysis,
                    ..Default::default()
                };
                let mut samples = Vec::new();
                for round in 0..args.rounds + 1 {
                    let mut rb = pristine.snapshot_readback();
                    rb.control = m.control().to_vec();
                    m.apply_readback(&mut rb);
                    let t = Instant::now();
                    engine.dispatch(&mut m, &opts).map_err(|e| e.to_string())?;
                    if round > 0 {
                        samples.push(t.elapsed());
                    }
                }
                let stats = Stats::of(&mut samples);
                report.cpu.push(CpuResult {
                    slots,
                    opcode: op.label(),
                    race_analysis,
                    rounds: args.rounds,
                    dispatch: stats,
                    slot_executions_per_s: slots as f64 / (stats.median_ms / 1e3),
                });
            }
        }
    }
    Ok(())
}

/// `megascope bench`.
pub fn bench(args: &BenchArgs, out: &mut dyn Write) -> Result<i32, Failure> {
    let sections = if args.only.is_empty() {
        vec![
            Section::Cpu,
            Section::Gpu,
            Section::Timeline,
            Section::Session,
        ]
    } else {
        args.only.clone()
    };
    if args.rounds == 0 {
        return Err(Failure::input("--rounds must be at least 1"));
    }
    for &n in &args.slots {
        crate::abi::validate::check_slot_count(n as u64).map_err(Failure::input)?;
    }
    for name in &args.opcodes {
        let op = Opcode::parse(name).map_err(|e| Failure::input(format!("--opcodes: {e}")))?;
        if let Some(reason) = op.unpublishable_reason() {
            return Err(Failure::input(format!(
                "--opcodes: {op} cannot be benchmarked (every slot is published with it): {reason}"
            )));
        }
    }
    let mut report = BenchReport {
        machine: Machine::detect(),
        ..Default::default()
    };
    for s in sections {
        let r = match s {
            Section::Cpu => cpu_section(args, &mut report),
            Section::Gpu => gpu::section(args, &mut report),
            Section::Timeline => timeline::section(args, &mut report),
            Section::Session => session::section(args, &mut report),
            Section::Ui => ui::section(args, &mut report),
            Section::Record => recording::section(args, &mut report),
        };
        if let Err(e) = r {
            report.errors.push(format!("{s:?}: {e}"));
        }
    }
    let w = |e: std::io::Error| Failure::runtime(format!("cannot write the output: {e}"));
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report).map_err(Failure::runtime)?;
        writeln!(out).map_err(w)?;
    } else {
        writeln!(
            out,
            "machine: {} ({} cores)",
            report.machine.cpu, report.machine.cores
        )
        .map_err(w)?;
        for c in &report.cpu {
            writeln!(
                out,
                "cpu  {:>8} slots {:<11} race analysis {:<5}: {:>9.3} ms/dispatch, {:>6.1} M slot executions/s",
                c.slots,
                c.opcode,
                c.race_analysis,
                c.dispatch.median_ms,
                c.slot_executions_per_s / 1e6
            )
            .map_err(w)?;
        }
        for g in &report.gpu {
            writeln!(out, "gpu  {g}").map_err(w)?;
        }
        if let Some(t) = &report.timeline {
            writeln!(out, "timeline {t}").map_err(w)?;
        }
        if let Some(t) = &report.session {
            writeln!(out, "session {t}").map_err(w)?;
        }
        for u in &report.ui {
            writeln!(out, "ui   {u}").map_err(w)?;
        }
        if let Some(r) = &report.recording {
            writeln!(out, "recording {r}").map_err(w)?;
        }
        for e in &report.errors {
            writeln!(out, "error: {e}").map_err(w)?;
        }
    }
    // the exit code says something failed: say what on stderr too, whatever the format
    for e in &report.errors {
        eprintln!("megascope: bench {e}");
    }
    Ok(if report.errors.is_empty() { 0 } else { 1 })
}
