//! Recording benchmark (DESIGN.md §5): at 1,048,576 slots with 1 % of slots changing per
//! step, what `record_changed` costs the caller's thread (≤ 5 ms), how fast the writer
//! thread keeps up (≥ 10 steps/s) and what a step stores (≤ 1 MiB), plus a full keyframe of
//! a typical ring (< 10 MiB); opening a 10,000-step 65,536-slot recording (≤ 1 s) and seeking
//! in it (≤ 50 ms); and `verify`'s slot-execution rate against the CPU engine's (≥ half).

use std::time::{Duration, Instant};

use megascope_record::{Buffers, Changed, Fingerprint, Meta, Recorder, Recording, StepInfo};
use serde_json::json;

use super::{BenchArgs, BenchReport, Stats};
use crate::abi::layout::SLOT_WORDS;
use crate::abi::opcode::Opcode;
use crate::engine::cpu::CpuEngine;
use crate::engine::{DispatchOptions, Engine};
use crate::resident::ResidentBuffers;

/// A small deterministic generator (the bench must not depend on a seed crate).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }
}

fn meta(m: &ResidentBuffers) -> Meta {
    Meta::new(
        Fingerprint::from_lengths(
            m.control().len(),
            m.ring().len(),
            m.debug_log().len(),
            m.io_queue().len(),
            1,
        ),
        "megascope bench",
    )
}

fn buffers(m: &ResidentBuffers) -> Buffers<'_> {
    Buffers {
        control: m.control(),
        ring: m.ring(),
        debug_log: m.debug_log(),
        io_queue: m.io_queue(),
    }
}

/// Changes `count` random slots (status, a counter-like arg) and DONE_COUNT; returns the
/// ranges touched.
fn churn(m: &mut ResidentBuffers, rng: &mut Lcg, count: u32) -> Changed {
    let n = m.slot_count();
    let mut changed = Changed::default();
    let b = m.buffers_mut();
    for _ in 0..count {
        let s = (rng.next() % n) as usize;
        let base = s * SLOT_WORDS;
        b.ring[base] = if b.ring[base] == 3 { 1 } else { 3 };
        b.ring[base + 4] = b.ring[base + 4].wrapping_add(1);
        changed.ring.push(base..base + 5);
    }
    b.control[1] = b.control[1].wrapping_add(count);
    changed.control.push(1..2);
    changed
}

pub fn section(args: &BenchArgs, report: &mut BenchReport) -> Result<(), String> {
    let dir = tempfile::Builder::new()
        .prefix("megascope-bench-rec")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let e = |e: megascope_record::RecordError| e.to_string();

    // 1. 1M slots, 1 % changed per step.
    let slots = 1u32 << 20;
    let mut m = super::bench_state(slots, Opcode::ATOMIC_ADD, 16)?;
    let path = dir.path().join("big.msrec");
    let mut rec = Recorder::create(&path, meta(&m)).map_err(e)?;
    let t = Instant::now();
    rec.record(StepInfo::host("initial"), buffers(&m))
        .map_err(e)?;
    let keyframe_call = t.elapsed();
    let mut rng = Lcg(7);
    let steps = args.rounds.max(10);
    // Paced at the writer's target rate (10 steps/s), so the caller's cost is its own copy of
    // the changed words and not the back-pressure of a full queue.
    let mut caller = Vec::new();
    let pace = Duration::from_millis(100);
    for _ in 0..steps {
        let changed = churn(&mut m, &mut rng, slots / 100);
        let t = Instant::now();
        rec.record_changed(
            StepInfo::dispatch("once", 256, "churn"),
            buffers(&m),
            &changed,
        )
        .map_err(e)?;
        let took = t.elapsed();
        caller.push(took);
        std::thread::sleep(pace.saturating_sub(took));
    }
    // Then a burst as fast as the caller can go: how many steps a second the writer keeps.
    let t_all = Instant::now();
    for _ in 0..steps {
        let changed = churn(&mut m, &mut rng, slots / 100);
        rec.record_changed(
            StepInfo::dispatch("once", 256, "burst"),
            buffers(&m),
            &changed,
        )
        .map_err(e)?;
    }
    let summary = rec.finish().map_err(e)?;
    let wall = t_all.elapsed();
    let opened = Recording::open(&path).map_err(e)?;
    let keyframe_bytes = opened.step_bytes(0).unwrap_or(0);
    let delta_bytes: Vec<u64> = (1..opened.len())
        .filter_map(|i| opened.step_bytes(i))
        .collect();
    let max_delta = delta_bytes.iter().copied().max().unwrap_or(0);
    let last = opened.state(opened.len() - 1).map_err(e)?;
    if last.ring != m.ring() {
        return Err("the recording's last step differs from what was recorded".into());
    }
    let caller_stats = Stats::of(&mut caller);
    let big = json!({
        "slots": slots,
        "steps": 2 * steps + 1,
        "changed_slots_per_step": slots / 100,
        "record_changed_caller": caller_stats,
        "caller_target_ms": 5.0,
        "writer_steps_per_s": steps as f64 / wall.as_secs_f64(),
        "writer_target_steps_per_s": 10.0,
        "first_full_record_call_ms": keyframe_call.as_secs_f64() * 1e3,
        "keyframe_bytes": keyframe_bytes,
        "keyframe_target_bytes": 10u64 << 20,
        "max_delta_step_bytes": max_delta,
        "delta_target_bytes": 1u64 << 20,
        "file_bytes": summary.bytes,
    });
    drop(opened);

    // 2. 10,000 steps of 65,536 slots: open and seek.
    let slots = 65_536u32;
    let steps = 10_000u32;
    let mut m = super::bench_state(slots, Opcode::ATOMIC_ADD, 16)?;
    let path = dir.path().join("long.msrec");
    let mut rec = Recorder::create(&path, meta(&m)).map_err(e)?;
    rec.record(StepInfo::host("initial"), buffers(&m))
        .map_err(e)?;
    for _ in 1..steps {
        let changed = churn(&mut m, &mut rng, slots / 100);
        rec.record_changed(
            StepInfo::dispatch("once", 256, "churn"),
            buffers(&m),
            &changed,
        )
        .map_err(e)?;
    }
    rec.finish().map_err(e)?;
    let t = Instant::now();
    let opened = Recording::open(&path).map_err(e)?;
    let open_s = t.elapsed().as_secs_f64();
    let mut seeks = Vec::new();
    for _ in 0..args.rounds.max(20) {
        let step = (rng.next() % steps) as usize;
        let t = Instant::now();
        opened.state(step).map_err(e)?;
        seeks.push(t.elapsed());
    }
    let long = json!({
        "slots": slots,
        "steps": opened.len(),
        "file_bytes": opened.file_bytes(),
        "open_s": open_s,
        "open_target_s": 1.0,
        "seek": Stats::of(&mut seeks),
        "seek_target_ms": 50.0,
    });
    drop(opened);

    // 3. verify against the engine: 65,536 slots, every slot re-published each step.
    // a rate is a steady state: at least one keyframe interval of dispatches
    let verify = verify_rate(dir.path(), args.rounds.max(64))?;
    report.recording = Some(json!({"record_1m": big, "open_seek_65k": long, "verify": verify}));
    Ok(())
}

/// Called with each state of the run and whether a dispatch made it.
type EachStep<'a> = dyn FnMut(&ResidentBuffers, bool) -> Result<(), String> + 'a;

/// A run of `steps` dispatches of a fully published 65,536-slot ring, recorded, verified, and
/// the same dispatches timed on the bare engine — alone, with no recorder thread beside it, so
/// the two rates compare one thread's work.
fn verify_rate(dir: &std::path::Path, steps: u32) -> Result<serde_json::Value, String> {
    let e = |e: megascope_record::RecordError| e.to_string();
    let slots = 65_536u32;
    let pristine = super::bench_state(slots, Opcode::ATOMIC_ADD, 16)?;
    let opts = DispatchOptions {
        race_analysis: false,
        ..Default::default()
    };
    // The run: re-publish the ring (control carried on), dispatch, each step recorded.
    let run = |mut each: Box<EachStep<'_>>| {
        let mut m = pristine.clone();
        let mut engine = CpuEngine::new();
        let mut engine_time = Duration::ZERO;
        let mut executed = 0u64;
        for _ in 0..steps {
            let mut rb = pristine.snapshot_readback();
            rb.control = m.control().to_vec();
            m.apply_readback(&mut rb);
            each(&m, false)?;
            let t = Instant::now();
            let r = engine.dispatch(&mut m, &opts).map_err(|e| e.to_string())?;
            engine_time += t.elapsed();
            executed += r.executed;
            each(&m, true)?;
        }
        Ok::<_, String>((engine_time, executed))
    };
    let (engine_time, executed) = run(Box::new(|_, _| Ok(())))?;
    let path = dir.join("verify.msrec");
    let mut rec = Recorder::create(&path, meta(&pristine)).map_err(e)?;
    run(Box::new(|m, dispatched| {
        let info = if dispatched {
            StepInfo::dispatch("once", 256, "dispatch")
        } else {
            StepInfo::host("publish")
        };
        rec.record(info, buffers(m)).map_err(e)
    }))?;
    rec.finish().map_err(e)?;
    let opened = Recording::open(&path).map_err(e)?;
    let t = Instant::now();
    let report = crate::files::recording::verify::verify(&opened, &mut |_, _| {})
        .map_err(|e| e.to_string())?;
    let verify_time = t.elapsed();
    if report.unexplained != 0 || report.slot_executions != executed {
        return Err(format!(
            "verify of the engine's own run found {} unexplained divergences ({} of {} executions)",
            report.unexplained, report.slot_executions, executed
        ));
    }
    let engine_rate = executed as f64 / engine_time.as_secs_f64();
    let verify_rate = executed as f64 / verify_time.as_secs_f64();
    Ok(json!({
        "slots": slots,
        "dispatch_steps": steps,
        "engine_slot_executions_per_s": engine_rate,
        "verify_slot_executions_per_s": verify_rate,
        "ratio": verify_rate / engine_rate,
        "target_ratio": 0.5,
    }))
}
