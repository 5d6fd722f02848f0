//! GPU benchmark (DESIGN.md §5): per slot count, the engine's first dispatch (pipeline build
//! included), a resident dispatch with its control readback (the ring restored on the device
//! before each round, so every round executes every slot), and a full round trip like
//! vyre's (upload four buffers, dispatch, read four back). With `--race` each case runs
//! again with race analysis on, so its cost is measured on the same device.

use std::time::{Duration, Instant};

use super::{BenchArgs, BenchReport, Stats, bench_state};
use crate::abi::opcode::Opcode;
use crate::engine::gpu::GpuEngine;
use crate::engine::{DispatchOptions, Engine};

/// vyre 0.7.2's own wgpu round trip measured with vyre-peer on an NVIDIA H200 (DESIGN.md §5),
/// in ms, by slot count.
pub const VYRE_H200_ROUND_TRIP_MS: [(u32, f64); 3] =
    [(4096, 0.19), (65_536, 1.05), (1 << 20, 51.0)];

pub fn section(args: &BenchArgs, report: &mut BenchReport) -> Result<(), String> {
    for op_name in &args.opcodes {
        let op = Opcode::parse(op_name)?;
        for &slots in &args.slots {
            for race_analysis in [false, true] {
                if race_analysis && !args.race {
                    continue;
                }
                case(args, report, op, slots, race_analysis)?;
            }
        }
    }
    Ok(())
}

/// One measured case: `slots` slots of `op`, with race analysis on or off.
fn case(
    args: &BenchArgs,
    report: &mut BenchReport,
    op: Opcode,
    slots: u32,
    race_analysis: bool,
) -> Result<(), String> {
    let pristine = bench_state(slots, op, 16)?;
    let t = Instant::now();
    let mut engine = GpuEngine::new_headless().map_err(|e| e.to_string())?;
    let init = t.elapsed();
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
    let copy = engine
        .copy_ring_on_device()
        .ok_or("no ring on the device")?;
    let mut resident = Vec::new();
    let mut kernel = Vec::new();
    for round in 0..args.rounds + 2 {
        engine.restore_ring_on_device(&copy);
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
        if round >= 2 {
            resident.push(d);
            kernel.extend(engine.last_kernel_time());
        }
    }
    // round trip: upload everything, dispatch, read everything back
    let mut m = pristine.clone();
    let mut trip = Vec::new();
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
    let vyre = VYRE_H200_ROUND_TRIP_MS
        .iter()
        .find(|(n, _)| *n == slots)
        .map(|(_, ms)| *ms);
    report.gpu.push(serde_json::json!({
        "slots": slots,
        "opcode": op.label(),
        "race_analysis": race_analysis,
        "adapter": adapter,
        "engine_init_ms": ms(init),
        "first_dispatch_ms": ms(first_ms),
        "resident_dispatch_with_control_readback": res,
        // the GPU's own time for the passes (timestamps; null without them)
        "kernel": (!kernel.is_empty()).then(|| Stats::of(&mut kernel)),
        "round_trip": rt,
        "round_trip_parts_median_ms": { "upload": up, "dispatch": disp, "download": down },
        "vyre_h200_round_trip_ms": vyre,
        "speedup_resident_vs_vyre_h200": vyre.map(|v| v / res.median_ms),
        "speedup_round_trip_vs_vyre_h200": vyre.map(|v| v / rt.median_ms),
        "ring_mib": slots as f64 * 64.0 / (1 << 20) as f64,
    }));
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
