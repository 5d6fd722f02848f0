//! Timeline benchmark: 10,000 dispatches of history at 65,536 slots, the memory the deltas
//! hold, and the time of a step back (DESIGN.md §5: ≤ 512 MiB, ≤ 16 ms).

use std::time::{Duration, Instant};

use super::{BenchArgs, BenchReport, Stats};
use crate::abi::opcode::Opcode;
use crate::debugger::action::{Action, Pattern};
use crate::debugger::expr::ArgExpr;
use crate::debugger::{Debugger, Geometry, RunConfig};
use crate::engine::Backend;

/// Slots, dispatches and publish window of the workload.
const SLOTS: u32 = 65_536;
const DISPATCHES: u32 = 10_000;
const WINDOW: u32 = 8_192;

pub fn section(_args: &BenchArgs, report: &mut BenchReport) -> Result<(), String> {
    let mut d = Debugger::new(
        Geometry {
            slot_count: SLOTS,
            tenant_count: 2,
            observable_slots: 16,
        },
        RunConfig {
            race_analysis: false,
            ..Default::default()
        },
        Backend::Cpu,
    )
    .map_err(|e| e.to_string())?;
    let mut progress = crate::progress::Progress::new("timeline bench dispatch", DISPATCHES as u64);
    let t0 = Instant::now();
    for k in 0..DISPATCHES {
        // a moving window of mixed work, republished over DONE slots each time round
        let start = (k * WINDOW) % SLOTS;
        let pattern = Pattern {
            start,
            end: start + WINDOW,
            step: 1,
            tenants: vec![0, 1],
            opcodes: vec![
                Opcode::ATOMIC_ADD,
                Opcode::STORE_U32,
                Opcode::NOP,
                Opcode::PRINTF,
            ],
            priorities: vec![],
            args: vec![
                ArgExpr::parse("slot * 7 + 1")?,
                ArgExpr::parse("160 + slot % 16")?,
            ],
        };
        d.apply(Action::PublishPattern(pattern))
            .map_err(|e| e.to_string())?;
        d.apply(Action::Dispatch { count: 1 })
            .map_err(|e| e.to_string())?;
        progress.tick(k as u64 + 1);
    }
    progress.finish();
    let record_s = t0.elapsed().as_secs_f64();
    let bytes = d.timeline().bytes();
    let points = d.timeline().len();
    let mut back = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        d.step_back();
        back.push(t.elapsed());
    }
    // a long jump: from the end back to the start and forward again
    let t = Instant::now();
    d.seek(0);
    let to_start = t.elapsed();
    let t = Instant::now();
    d.seek(usize::MAX);
    let to_end = t.elapsed();
    let stats = Stats::of(&mut back);
    report.timeline = Some(serde_json::json!({
        "slots": SLOTS,
        "dispatches": DISPATCHES,
        "points": points,
        "delta_bytes": bytes,
        "delta_mib": bytes as f64 / (1 << 20) as f64,
        "target_mib": 512,
        "step_back": stats,
        "target_step_back_ms": 16,
        "seek_to_start_ms": ms(to_start),
        "seek_to_end_ms": ms(to_end),
        "record_s": record_s,
    }));
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
