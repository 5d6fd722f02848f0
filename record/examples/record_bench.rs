//! Measures the recorder and reader against the performance targets; prints JSON.
//!
//! `cargo run --release -p megascope-record --example record_bench [-- DIR]`
//!
//! Part 1: 1,048,576 slots (64 MiB ring), 1 % of slots (random, a few words each) change per
//! step, recorded with `record_changed`. Part 2: 65,536 slots, 10,000 steps: open and seek times.

use std::path::Path;
use std::time::{Duration, Instant};

use megascope_record::{
    Changed, Fingerprint, Meta, Recorder, Recording, SLOT_WORDS, State, StepCursor, StepInfo,
};
use serde_json::json;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const EMPTY: u32 = 0;
const DONE: u32 = 3;

/// A typical ring: mostly EMPTY slots, some DONE with small args.
fn typical_state(rng: &mut Rng, slots: usize) -> State {
    let mut ring = vec![0u32; slots * SLOT_WORDS];
    for slot in ring.chunks_exact_mut(SLOT_WORDS) {
        if rng.below(5) == 0 {
            slot[0] = DONE;
            slot[1] = rng.below(16) as u32;
            slot[2] = rng.below(1000) as u32;
            slot[3] = rng.below(1000) as u32;
        } else {
            slot[0] = EMPTY;
        }
    }
    State {
        control: (0..224).map(|_| rng.below(1 << 20) as u32).collect(),
        ring,
        debug_log: vec![0; 257],
        io_queue: vec![0; 512],
    }
}

/// Changes 1 % of the slots (random; status and two args) and a few control words.
fn step_changes(rng: &mut Rng, state: &mut State, step: u32) -> Changed {
    let slots = state.ring.len() / SLOT_WORDS;
    let mut changed = Changed::default();
    for _ in 0..slots / 100 {
        let s = rng.below(slots as u64) as usize * SLOT_WORDS;
        state.ring[s] = if rng.below(2) == 0 {
            DONE
        } else {
            1 + step % 3
        };
        state.ring[s + 1] = rng.below(16) as u32;
        state.ring[s + 2] = rng.below(100_000) as u32;
        changed.ring.push(s..s + 3);
    }
    for w in 0..4 {
        state.control[w] = state.control[w].wrapping_add(1);
    }
    changed.control.push(0..4);
    changed
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn stats(v: &[f64]) -> serde_json::Value {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let mean = s.iter().sum::<f64>() / s.len().max(1) as f64;
    json!({"mean": mean, "median": s.get(s.len() / 2), "max": s.last()})
}

fn fingerprint(state: &State) -> Fingerprint {
    Fingerprint::from_lengths(
        state.control.len(),
        state.ring.len(),
        state.debug_log.len(),
        state.io_queue.len(),
        1,
    )
}

fn big(dir: &Path) -> serde_json::Value {
    let slots = 1 << 20;
    let path = dir.join("big.msrec");
    let mut rng = Rng(1);
    let mut state = typical_state(&mut rng, slots);
    let mut rec = Recorder::create(&path, Meta::new(fingerprint(&state), "bench")).unwrap();

    let t = Instant::now();
    rec.record(StepInfo::host("init"), state.as_buffers())
        .unwrap();
    let record_full_ms = ms(t.elapsed());

    // Paced steps (the program's own work takes longer than the writer): caller cost only.
    let mut caller = Vec::new();
    for step in 1..=20u32 {
        let c = step_changes(&mut rng, &mut state, step);
        let t = Instant::now();
        rec.record_changed(StepInfo::host("s"), state.as_buffers(), &c)
            .unwrap();
        caller.push(ms(t.elapsed()));
        std::thread::sleep(Duration::from_millis(250));
    }
    // Burst: as fast as the writer takes them (crosses the keyframe at step 64).
    let burst = 60u32;
    let t = Instant::now();
    for step in 21..21 + burst {
        let c = step_changes(&mut rng, &mut state, step);
        rec.record_changed(StepInfo::host("s"), state.as_buffers(), &c)
            .unwrap();
    }
    let summary = rec.finish().unwrap();
    let burst_s = t.elapsed().as_secs_f64();

    let r = Recording::open(&path).unwrap();
    let deltas: Vec<f64> = (1..r.len())
        .filter(|&i| !r.is_keyframe(i))
        .map(|i| r.step_bytes(i).unwrap() as f64 / (1 << 20) as f64)
        .collect();
    let t = Instant::now();
    let s = r.state(70).unwrap();
    let seek_ms = ms(t.elapsed());
    assert_eq!(s.ring.len(), slots * SLOT_WORDS);
    json!({
        "slots": slots,
        "steps": summary.steps,
        "file_mib": summary.bytes as f64 / (1 << 20) as f64,
        "record_full_caller_ms": record_full_ms,
        "record_changed_caller_ms": stats(&caller),
        "writer_steps_per_s_burst": burst as f64 / burst_s,
        "delta_step_mib": stats(&deltas),
        "keyframe_step0_mib": r.step_bytes(0).unwrap() as f64 / (1 << 20) as f64,
        "keyframe_step64_mib": r.step_bytes(64).unwrap() as f64 / (1 << 20) as f64,
        "seek_step70_ms": seek_ms,
    })
}

fn long(dir: &Path) -> serde_json::Value {
    let slots = 1 << 16;
    let steps = 10_000u32;
    let path = dir.join("long.msrec");
    let mut rng = Rng(2);
    let mut state = typical_state(&mut rng, slots);
    let mut rec = Recorder::create(&path, Meta::new(fingerprint(&state), "bench")).unwrap();
    let t = Instant::now();
    rec.record(StepInfo::host("init"), state.as_buffers())
        .unwrap();
    for step in 1..steps {
        let c = step_changes(&mut rng, &mut state, step);
        let info = StepInfo::dispatch("persistent", 256, format!("step {step}"));
        rec.record_changed(info, state.as_buffers(), &c).unwrap();
    }
    let summary = rec.finish().unwrap();
    let write_s = t.elapsed().as_secs_f64();
    let last = state;

    let t = Instant::now();
    let r = Recording::open(&path).unwrap();
    let open_ms = ms(t.elapsed());
    assert_eq!(r.len(), steps as usize);
    assert!(r.warnings().is_empty());

    let mut seeks = Vec::new();
    for k in 0..40 {
        // Worst cases (63 deltas after a keyframe) and random steps.
        let step = if k % 2 == 0 {
            (rng.below(steps as u64 / 64 - 1) * 64 + 63) as usize
        } else {
            rng.below(steps as u64) as usize
        };
        let t = Instant::now();
        let _ = r.state(step).unwrap();
        seeks.push(ms(t.elapsed()));
    }
    let t = Instant::now();
    assert_eq!(r.state(steps as usize - 1).unwrap(), last);
    let last_ms = ms(t.elapsed());

    let t = Instant::now();
    let mut cursor = StepCursor::new(&r);
    while let Some(s) = cursor.next_step() {
        s.unwrap();
    }
    let walk_s = t.elapsed().as_secs_f64();

    // Without the footer: scan.
    let bytes = std::fs::read(&path).unwrap();
    let footer = u64::from_le_bytes(bytes[bytes.len() - 16..bytes.len() - 8].try_into().unwrap());
    let cut = dir.join("long-nofooter.msrec");
    std::fs::write(&cut, &bytes[..footer as usize]).unwrap();
    drop(bytes);
    let t = Instant::now();
    let r2 = Recording::open(&cut).unwrap();
    let open_scan_ms = ms(t.elapsed());
    assert_eq!(r2.len(), steps as usize);
    let _ = std::fs::remove_file(&cut);

    json!({
        "slots": slots,
        "steps": steps,
        "file_mib": summary.bytes as f64 / (1 << 20) as f64,
        "write_steps_per_s": steps as f64 / write_s,
        "open_ms": open_ms,
        "open_without_footer_ms": open_scan_ms,
        "seek_ms": stats(&seeks),
        "seek_last_ms": last_ms,
        "sequential_walk_steps_per_s": steps as f64 / walk_s,
    })
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("msrec-bench"));
    std::fs::create_dir_all(&dir).unwrap();
    let big = big(&dir);
    let long = long(&dir);
    let _ = std::fs::remove_file(dir.join("big.msrec"));
    let _ = std::fs::remove_file(dir.join("long.msrec"));
    let out = json!({"big_1m_slots": big, "long_64k_slots": long});
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
