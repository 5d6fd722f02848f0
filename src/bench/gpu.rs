//! GPU benchmark (DESIGN.md §5): per slot count, the engine's first dispatch (pipeline build
//! included), a resident dispatch with its control readback (the ring restored on the device
//! before each round, so every round executes every slot), the GPU's own time for it per
//! kernel (timestamps, in rounds of their own so that resolving them is not in the resident
//! time), and a full round trip like vyre's (upload four buffers, dispatch, read four back).
//! Nothing here draws, so the changed marks are off. With `--race` each case runs again with
//! race analysis on, so its cost is measured on the same device.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{BenchArgs, BenchReport, Stats, bench_state};
use crate::abi::opcode::Opcode;
use crate::engine::gpu::{GpuEngine, HostPhases, KernelTiming};
use crate::engine::{DispatchOptions, Engine};

/// vyre 0.7.2's own wgpu round trip (ms, by slot count): the median of six vyre-peer runs on
/// an NVIDIA H200 (driver 580.159.04), each side by side with megascope in the same device
/// call, ABAB, 2026-12-01 (ranges 0.15–0.25, 1.09–1.19 and 48–57 ms; README "Benchmarks",
/// DESIGN.md §5). Only for the ratios in the JSON: `../shared/tools/vs-vyre.sh` measures both
/// on whatever machine the comparison matters.
pub const VYRE_H200_ROUND_TRIP_MS: [(u32, f64); 3] =
    [(4096, 0.19), (65_536, 1.13), (1 << 20, 53.0)];

/// The H200's device-memory bandwidth (HBM3e, 4.8 TB/s), for the memory bound.
const H200_BYTES_PER_S: f64 = 4.8e12;

/// Bytes per slot a dispatch that claims every slot must move: each claim reads the slot's
/// status, opcode, tenant and arguments (words 0–6, one 32-byte sector) and writes its status
/// (a second sector). The changed marks, when on, add 4.
const MUST_MOVE_BYTES_PER_SLOT: f64 = 64.0;

/// Bytes per slot to read and write the whole 64-byte slot: the looser bound DESIGN.md §5's
/// "within 2×" was first stated against (0.028 ms at 1M slots on an H200).
const WHOLE_SLOT_BYTES_PER_SLOT: f64 = 128.0;

pub fn section(args: &BenchArgs, report: &mut BenchReport) -> Result<(), String> {
    for op_name in &args.opcodes {
        let op = Opcode::parse(op_name)?;
        for &slots in &args.slots {
            for race_analysis in [false, true] {
                if race_analysis && !args.race {
                    continue;
                }
                case(args, report, op, slots, race_analysis, true)?;
                if args.compare_tallies {
                    case(args, report, op, slots, race_analysis, false)?;
                }
            }
        }
    }
    Ok(())
}

/// One measured case: `slots` slots of `op`, with race analysis on or off, and with the
/// workgroup tallies as the adapter has them (`adapter_tallies`) or off.
fn case(
    args: &BenchArgs,
    report: &mut BenchReport,
    op: Opcode,
    slots: u32,
    race_analysis: bool,
    adapter_tallies: bool,
) -> Result<(), String> {
    let pristine = bench_state(slots, op, 16)?;
    let t = Instant::now();
    let mut engine = GpuEngine::new_headless().map_err(|e| e.to_string())?;
    let init = t.elapsed();
    engine.set_change_marks(false);
    if !adapter_tallies {
        engine.set_workgroup_tallies(false);
    }
    let adapter = engine.adapter_name().to_string();
    let opts = DispatchOptions {
        race_analysis,
        ..Default::default()
    };
    // first dispatch: upload, pass pipeline for this workgroup size, dispatch, readback
    let t = Instant::now();
    engine.upload(&pristine).map_err(|e| e.to_string())?;
    let (first, _, _) = engine.dispatch_resident(&opts).map_err(|e| e.to_string())?;
    let first_ms = t.elapsed();
    if first.executed != slots as u64 {
        return Err(format!(
            "the first dispatch executed {} of {slots} slots",
            first.executed
        ));
    }
    // resident: restore the ring on the device (untimed), then dispatch + control readback
    engine.upload(&pristine).map_err(|e| e.to_string())?;
    let copy = engine.copy_ring_on_device().map_err(|e| e.to_string())?;
    let mut resident = Vec::new();
    let mut phases = PhaseSamples::default();
    let mut kernel = Vec::new();
    let mut kernels: BTreeMap<&'static str, Vec<Duration>> = BTreeMap::new();
    // latency first, without timestamps; then the same rounds timed per kernel
    for timing in [KernelTiming::Off, KernelTiming::PerKernel] {
        engine.set_kernel_timing(timing);
        for round in 0..args.rounds + 2 {
            engine
                .restore_ring_on_device(&copy)
                .map_err(|e| e.to_string())?;
            engine.wait_idle();
            let t = Instant::now();
            let (r, control, _) = engine.dispatch_resident(&opts).map_err(|e| e.to_string())?;
            let d = t.elapsed();
            if r.executed != slots as u64 || control.len() < 160 {
                return Err(format!(
                    "a resident round executed {} of {slots} slots",
                    r.executed
                ));
            }
            if round < 2 {
                continue;
            }
            if timing == KernelTiming::Off {
                resident.push(d);
                phases.push(engine.last_host_phases());
                continue;
            }
            kernel.extend(engine.last_kernel_time());
            for &(label, t) in engine.last_kernel_breakdown() {
                kernels.entry(label).or_default().push(t);
            }
        }
    }
    engine.set_kernel_timing(KernelTiming::Off);
    // round trip: upload everything, dispatch, read everything back
    let mut m = pristine.clone();
    let mut trip = Vec::new();
    let mut trip_phases = PhaseSamples::default();
    for round in 0..args.rounds.min(10) + 1 {
        let mut rb = pristine.snapshot_readback();
        m.apply_readback(&mut rb);
        let t = Instant::now();
        let r = engine.dispatch(&mut m, &opts).map_err(|e| e.to_string())?;
        let d = t.elapsed();
        if r.executed != slots as u64 {
            return Err(format!(
                "a round trip executed {} of {slots} slots",
                r.executed
            ));
        }
        if round > 0 {
            trip.push(d);
            trip_phases.push(engine.last_host_phases());
        }
    }
    // the round trip's parts, each waited for: upload, dispatch + control, status download
    let mut parts: [Vec<Duration>; 3] = Default::default();
    for round in 0..args.rounds.min(10) + 1 {
        let mut rb = pristine.snapshot_readback();
        m.apply_readback(&mut rb);
        let t = Instant::now();
        engine.upload(&m).map_err(|e| e.to_string())?;
        engine.wait_idle();
        let up = t.elapsed();
        engine.dispatch_resident(&opts).map_err(|e| e.to_string())?;
        let disp = t.elapsed() - up;
        engine.download_into(&mut m).map_err(|e| e.to_string())?;
        if round > 0 {
            parts[0].push(up);
            parts[1].push(disp);
            parts[2].push(t.elapsed() - up - disp);
        }
    }
    let [up, disp, down] = parts.map(|mut p| Stats::of(&mut p).median_ms);
    let (res, rt) = (Stats::of(&mut resident), Stats::of(&mut trip));
    let kernel = (!kernel.is_empty()).then(|| Stats::of(&mut kernel));
    let kernels: BTreeMap<&str, Stats> = kernels
        .into_iter()
        .map(|(label, mut t)| (label, Stats::of(&mut t)))
        .collect();
    let bound_ms = |bytes_per_slot: f64| slots as f64 * bytes_per_slot / H200_BYTES_PER_S * 1e3;
    let bound = bound_ms(MUST_MOVE_BYTES_PER_SLOT);
    let vyre = VYRE_H200_ROUND_TRIP_MS
        .iter()
        .find(|(n, _)| *n == slots)
        .map(|(_, ms)| *ms);
    report.gpu.push(serde_json::json!({
        "slots": slots,
        "opcode": op.label(),
        "race_analysis": race_analysis,
        "workgroup_tallies": engine.last_tallies().is_some_and(|t| t.0),
        "groups_per_workgroup": engine.last_tallies().map(|t| t.1),
        "adapter": adapter,
        // threads splitting the upload and status patch of rings of 1 MiB or more
        "host_helpers": engine.host_helpers(),
        "engine_init_ms": ms(init),
        "first_dispatch_ms": ms(first_ms),
        "resident_dispatch_with_control_readback": res,
        // the host's side of those rounds (medians): parameters written, encoding and
        // submission, waiting for the device, copying the readbacks out
        "resident_host_phases_median_ms": phases.medians(),
        // the GPU's own time for the passes (timestamps; null without them), and per kernel
        // (empty where the device cannot write timestamps inside a pass)
        "kernel": kernel,
        "kernels": kernels,
        "memory_bound_h200": {
            "bytes_per_slot": MUST_MOVE_BYTES_PER_SLOT,
            "bandwidth_tb_s": H200_BYTES_PER_S / 1e12,
            "ms": bound,
            "whole_slot_read_and_write_ms": bound_ms(WHOLE_SLOT_BYTES_PER_SLOT),
            "kernel_over_bound": kernel.map(|k| k.median_ms / bound),
        },
        "round_trip": rt,
        // the same for the round trips, with the upload into staging memory first
        "round_trip_host_phases_median_ms": trip_phases.medians(),
        "round_trip_parts_median_ms": { "upload": up, "dispatch": disp, "download": down },
        "vyre_h200_round_trip_ms": vyre,
        "speedup_resident_vs_vyre_h200": vyre.map(|v| v / res.median_ms),
        "speedup_round_trip_vs_vyre_h200": vyre.map(|v| v / rt.median_ms),
        "ring_mib": slots as f64 * 64.0 / (1 << 20) as f64,
    }));
    Ok(())
}

/// Each host phase of a series of dispatches.
#[derive(Default)]
struct PhaseSamples([Vec<Duration>; 5]);

impl PhaseSamples {
    const NAMES: [&'static str; 5] = ["upload", "begin", "submit", "wait", "read"];

    fn push(&mut self, p: HostPhases) {
        let all = [p.upload, p.begin, p.submit, p.wait, p.read];
        for (v, t) in self.0.iter_mut().zip(all) {
            v.push(t);
        }
    }

    /// `{phase: median ms}`.
    fn medians(self) -> serde_json::Value {
        let m = Self::NAMES
            .iter()
            .zip(self.0)
            .map(|(name, mut v)| (name.to_string(), Stats::of(&mut v).median_ms.into()));
        serde_json::Value::Object(m.collect())
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
