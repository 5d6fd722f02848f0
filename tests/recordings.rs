//! Recordings end to end through the real binary: a step directory imported, exported byte
//! for byte, summarised, traced and verified against the CPU engine — with vyre 0.7.2's own
//! states (the conformance vectors) as the recorded program, a word changed after the fact
//! caught at its step, lane-order divergences explained, and every bad input refused with
//! exit 2.

use megascope::engine::DispatchMirror;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use megascope::abi::opcode::Opcode;
use megascope::engine::cpu::CpuEngine;
use megascope::engine::{DispatchOptions, Variant};
use megascope::resident::{Readback, ResidentBuffers};
use megascope::scenario::Vector;
use serde_json::{Value, json};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_megascope"))
        .args(args)
        .env("XDG_RUNTIME_DIR", "/tmp")
        .env("RUST_LIB_BACKTRACE", "0")
        .output()
        .expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            stderr(o)
        )
    })
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Writes one step of a step directory: the dump plus step.json.
fn write_step(dir: &Path, index: usize, state: &ResidentBuffers, step: Value) {
    let d = dir.join(format!("{index:06}"));
    megascope::files::dump::write_dump(&d, state).unwrap();
    let mut step = step;
    step["index"] = json!(index);
    std::fs::write(d.join("step.json"), step.to_string()).unwrap();
}

fn host(label: &str) -> Value {
    json!({"kind": "host", "label": label, "variant": "once", "workgroup_size": 64, "wall_ms": null})
}

fn dispatch(variant: &str, wg: u32) -> Value {
    json!({"kind": "dispatch", "label": "dispatch", "variant": variant, "workgroup_size": wg,
           "wall_ms": 0.25, "path": "cpu-ref"})
}

fn import(steps: &Path, out: &Path) -> Output {
    run(&["record", "import", p(steps), "--out", p(out)])
}

fn verify(rec: &Path) -> (Output, Value) {
    let o = run(&["record", "verify", p(rec), "--json"]);
    let v = json_of(&o);
    (o, v)
}

fn from_words(slot_count: u32, w: &megascope::scenario::Words) -> ResidentBuffers {
    let mut debug_log = w.debug_log.clone();
    debug_log.resize(257, 0);
    let mut io_queue = w.io_queue.clone();
    io_queue.resize(512, 0);
    ResidentBuffers::from_words(
        slot_count,
        Readback {
            control: w.control.clone(),
            ring: w.ring.clone(),
            debug_log,
            io_queue,
        },
    )
    .unwrap()
}

/// vyre 0.7.2's own runs (the single-dispatch conformance vectors, racy and priority ones
/// included), recorded as vyre-peer records them — the initial state, the publishes, the
/// dispatch — verify clean.
#[test]
fn vyre_runs_verify_clean() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance");
    let vectors = Vector::load_dir(&dir).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (name, v) in vectors {
        let s = &v.scenario;
        if s.dispatches != 1 || v.initial.control.is_empty() {
            continue;
        }
        let steps = tmp.path().join(&name);
        // the vector's initial state is before the publishes (as vyre-peer's first steps)
        let initial = from_words(s.slot_count, &v.initial);
        let mut published = initial.clone();
        s.publish_for(&mut published, 0).unwrap();
        let after = from_words(s.slot_count, &v.final_);
        let wg = s
            .workgroup_size
            .unwrap_or_else(|| megascope::abi::layout::default_workgroup_size(s.slot_count));
        write_step(&steps, 0, &initial, host("initial state"));
        write_step(&steps, 1, &published, host("publish"));
        write_step(&steps, 2, &after, dispatch(s.variant().name(), wg));
        let rec = tmp.path().join(format!("{name}.msrec"));
        let o = import(&steps, &rec);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let (o, v) = verify(&rec);
        assert_eq!(v["dispatch_steps"], 1, "{name}");
        assert_eq!(v["unexplained"], 0, "{name}: {v}");
        assert_eq!(v["divergences"], json!([]), "{name}: {v}");
        assert_eq!(o.status.code(), Some(0), "{name}");
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} single-dispatch vectors");
}

/// A run megascope's own engine makes: host publishes and dispatches, race-free.
fn clean_run(steps: &Path) -> Vec<ResidentBuffers> {
    let mut m = ResidentBuffers::new(128, 2, 8).unwrap();
    let mut states = Vec::new();
    let mut cpu = CpuEngine::new();
    write_step(steps, 0, &m, host("initial state"));
    states.push(m.clone());
    for round in 0..3u32 {
        for s in 0..32u32 {
            let slot = round * 32 + s;
            let (op, args): (Opcode, Vec<u32>) = match s % 4 {
                0 => (Opcode::ATOMIC_ADD, vec![s + 1, 160 + s % 4]),
                // one store a round, so no two slots store to one word
                1 if s == 1 => (Opcode::STORE_U32, vec![slot * 3, 164 + round]),
                2 => (Opcode::PRINTF, vec![7, slot, round]),
                _ => (Opcode::NOP, vec![]),
            };
            m.publish_slot(slot as u64, s % 2, op, &args).unwrap();
        }
        write_step(steps, states.len(), &m, host("publish"));
        states.push(m.clone());
        let opts = DispatchOptions {
            variant: Variant::Once,
            workgroup_size: Some(32),
            ..Default::default()
        };
        m.dispatch(&mut cpu, &opts).unwrap();
        write_step(steps, states.len(), &m, dispatch("once", 32));
        states.push(m.clone());
    }
    states
}

#[test]
fn a_clean_run_imports_exports_byte_for_byte_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let steps = tmp.path().join("steps");
    let states = clean_run(&steps);
    let rec = tmp.path().join("run.msrec");
    let o = import(&steps, &rec);
    assert!(o.status.success(), "{}", stderr(&o));

    let o = run(&["record", "info", p(&rec), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info = json_of(&o);
    assert_eq!(info["steps"], states.len());
    assert_eq!(info["slot_count"], 128);
    assert_eq!(info["dispatch_steps"], 3);
    assert_eq!(info["bytes"], std::fs::metadata(&rec).unwrap().len());
    assert_eq!(
        info["fingerprint"]["tenant_count"], 2,
        "read from the quota table"
    );
    assert_eq!(info["fingerprint"]["observable_words"], 8);
    assert_eq!(info["wall_ms"], 0.75, "three dispatch steps of 0.25 ms");
    assert_eq!(info["device_ms"], Value::Null, "none recorded, not 0");

    for step in [0, 3, states.len() - 1] {
        let out = tmp.path().join(format!("export-{step}"));
        let o = run(&[
            "record",
            "export",
            p(&rec),
            "--step",
            &step.to_string(),
            "--out",
            p(&out),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        for f in ["control.bin", "ring.bin", "debug_log.bin", "io_queue.bin"] {
            assert_eq!(
                std::fs::read(out.join(f)).unwrap(),
                std::fs::read(steps.join(format!("{step:06}")).join(f)).unwrap(),
                "step {step} {f}"
            );
        }
    }

    let (o, v) = verify(&rec);
    assert_eq!(o.status.code(), Some(0), "{v}");
    assert_eq!(v["steps"], states.len());
    assert_eq!(v["dispatch_steps"], 3);
    assert_eq!(v["unexplained"], 0);
    assert_eq!(v["omitted"], 0);
    assert!(v["slot_executions"].as_u64().unwrap() > 0);
}

fn patch_word(file: &Path, word: usize, value: u32) {
    let mut b = std::fs::read(file).unwrap();
    b[word * 4..word * 4 + 4].copy_from_slice(&value.to_le_bytes());
    std::fs::write(file, b).unwrap();
}

#[test]
fn a_word_changed_after_the_fact_is_caught_at_its_step_and_word() {
    let tmp = tempfile::tempdir().unwrap();
    let steps = tmp.path().join("steps");
    let states = clean_run(&steps);
    let last = states.len() - 1;
    // an observable word nothing in the last dispatch writes
    patch_word(&steps.join(format!("{last:06}/control.bin")), 167, 0xBAD);
    let rec = tmp.path().join("run.msrec");
    assert!(import(&steps, &rec).status.success());
    let (o, v) = verify(&rec);
    assert_eq!(o.status.code(), Some(4), "{v}");
    assert_eq!(v["unexplained"], 1, "{v}");
    let d = &v["divergences"][0];
    assert_eq!(d["step"], last);
    assert_eq!(d["buffer"], "control");
    assert_eq!(d["word"], 167);
    assert_eq!(d["slot"], Value::Null);
    assert_eq!(d["expected"], 0);
    assert_eq!(d["recorded"], 0xBAD);
    assert_eq!(d["explained_by"], Value::Null);

    // a ring word names its slot
    let steps2 = tmp.path().join("steps2");
    clean_run(&steps2);
    patch_word(&steps2.join(format!("{last:06}/ring.bin")), 5 * 16 + 6, 42);
    let rec2 = tmp.path().join("run2.msrec");
    assert!(import(&steps2, &rec2).status.success());
    let (_, v) = verify(&rec2);
    assert_eq!(v["divergences"][0]["buffer"], "ring", "{v}");
    assert_eq!(v["divergences"][0]["slot"], 5);
    assert_eq!(v["divergences"][0]["word"], 5 * 16 + 6);
}

/// Two slots store different values to one word and a third loads it: on a GPU the other
/// store may win, and the load sees it. Both words are explained by the race; a word nothing
/// raced is not.
#[test]
fn lane_order_divergences_are_explained_by_the_race_they_come_from() {
    let tmp = tempfile::tempdir().unwrap();
    let steps = tmp.path().join("steps");
    let mut m = ResidentBuffers::new(64, 1, 8).unwrap();
    m.publish_slot(0, 0, Opcode::STORE_U32, &[10, 160]).unwrap();
    m.publish_slot(1, 0, Opcode::STORE_U32, &[20, 160]).unwrap();
    m.publish_slot(2, 0, Opcode::LOAD_U32, &[160, 1]).unwrap();
    m.publish_slot(3, 0, Opcode::STORE_U32, &[5, 165]).unwrap();
    write_step(&steps, 0, &m, host("publish"));
    let mut oracle = m.clone();
    oracle
        .dispatch(&mut CpuEngine::new(), &DispatchOptions::default())
        .unwrap();
    assert_eq!(
        oracle.control()[160],
        20,
        "lockstep: the last lane's store wins"
    );
    assert_eq!(oracle.control()[161], 20);
    // the "GPU" let slot 0's store win
    let mut gpu = oracle.clone();
    gpu.write_control(160, 10).unwrap();
    gpu.write_control(161, 10).unwrap();
    write_step(&steps, 1, &gpu, dispatch("once", 64));
    let rec = tmp.path().join("racy.msrec");
    assert!(import(&steps, &rec).status.success());
    let (o, v) = verify(&rec);
    assert_eq!(o.status.code(), Some(0), "{v}");
    let divs = v["divergences"].as_array().unwrap();
    assert_eq!(divs.len(), 2, "{v}");
    for (d, word) in divs.iter().zip([160, 161]) {
        assert_eq!(d["word"], word);
        assert_eq!(
            d["explained_by"],
            json!({"race_word": 160, "slots": [0, 1]}),
            "{d}"
        );
    }

    // the same, plus a word no race touches
    let steps = tmp.path().join("steps-bad");
    write_step(&steps, 0, &m, host("publish"));
    gpu.write_control(165, 6).unwrap();
    write_step(&steps, 1, &gpu, dispatch("once", 64));
    let rec = tmp.path().join("bad.msrec");
    assert!(import(&steps, &rec).status.success());
    let (o, v) = verify(&rec);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(v["unexplained"], 1);
    let bad: Vec<&Value> = v["divergences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["explained_by"].is_null())
        .collect();
    assert_eq!(bad[0]["word"], 165);
}

#[test]
fn the_perfetto_trace_has_a_slice_per_step_counters_and_debug_records() {
    let tmp = tempfile::tempdir().unwrap();
    let steps = tmp.path().join("steps");
    let states = clean_run(&steps);
    let rec = tmp.path().join("run.msrec");
    assert!(import(&steps, &rec).status.success());
    let trace = tmp.path().join("trace.json");
    let o = run(&["record", "export", p(&rec), "--perfetto", p(&trace)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t: Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    let ev = t["traceEvents"].as_array().unwrap();
    let of = |ph: &'static str| ev.iter().filter(move |e| e["ph"] == ph);
    assert_eq!(of("X").count(), states.len(), "one slice per step");
    let dispatches: Vec<&Value> = of("X").filter(|e| e["tid"] == 1).collect();
    assert_eq!(dispatches.len(), 3);
    assert_eq!(dispatches[0]["dur"], 250.0, "0.25 ms of wall time, in µs");
    let mut last_ts = -1.0;
    for e in of("X") {
        let ts = e["ts"].as_f64().unwrap();
        assert!(ts > last_ts, "steps follow one another");
        last_ts = ts;
    }
    let done: Vec<u64> = of("C")
        .filter(|e| e["name"] == "done count")
        .map(|e| e["args"]["done_count"].as_u64().unwrap())
        .collect();
    assert_eq!(done.len(), states.len());
    assert_eq!(
        *done.last().unwrap(),
        states.last().unwrap().read_done_count() as u64
    );
    assert!(of("C").any(|e| e["name"] == "slot statuses" && e["args"]["done"].is_u64()));
    // 8 PRINTF slots per round, 3 rounds
    let printf: Vec<&Value> = of("i").filter(|e| e["cat"] == "debug_log").collect();
    assert_eq!(printf.len(), 24);
    assert_eq!(printf[0]["args"]["fmt_id"], 7);
    assert!(of("M").any(|e| e["args"]["name"] == "dispatches"));
}

#[test]
fn step_metadata_is_kept_and_a_first_dispatch_step_is_the_initial_state() {
    let tmp = tempfile::tempdir().unwrap();
    let steps = tmp.path().join("steps");
    let m = ResidentBuffers::new(64, 1, 0).unwrap();
    write_step(&steps, 0, &m, dispatch("once", 64));
    write_step(&steps, 1, &m, dispatch("once", 64));
    let rec = tmp.path().join("r.msrec");
    let o = import(&steps, &rec);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = megascope_record::Recording::open(&rec).unwrap();
    assert_eq!(r.info(0).unwrap().kind, megascope_record::StepKind::Host);
    assert_eq!(r.info(0).unwrap().extra["recorded_kind"], "dispatch");
    assert_eq!(
        r.info(1).unwrap().extra["path"],
        "cpu-ref",
        "unknown fields are kept"
    );
    assert_eq!(r.info(1).unwrap().wall_ms, Some(0.25));
    let (o, v) = verify(&rec);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(v["dispatch_steps"], 1);
}

fn import_err(steps: &Path) -> String {
    let o = import(steps, &steps.with_extension("msrec"));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        !steps.with_extension("msrec").exists(),
        "a failed import leaves no file"
    );
    stderr(&o)
}

#[test]
fn bad_step_directories_are_refused_naming_the_step() {
    let tmp = tempfile::tempdir().unwrap();
    let m = ResidentBuffers::new(64, 1, 0).unwrap();
    let fresh = |name: &str| {
        let d = tmp.path().join(name);
        write_step(&d, 0, &m, host("a"));
        write_step(&d, 1, &m, dispatch("once", 64));
        d
    };

    let d = fresh("index");
    std::fs::write(
        d.join("000001/step.json"),
        r#"{"index": 5, "kind": "host"}"#,
    )
    .unwrap();
    let e = import_err(&d);
    assert!(e.contains("000001") && e.contains("\"index\" is 5"), "{e}");

    let d = fresh("kind");
    std::fs::write(d.join("000001/step.json"), r#"{"index": 1, "kind": "gpu"}"#).unwrap();
    assert!(import_err(&d).contains("\"host\" or \"dispatch\""));

    let d = fresh("wg");
    std::fs::write(
        d.join("000001/step.json"),
        r#"{"index": 1, "kind": "dispatch", "variant": "once"}"#,
    )
    .unwrap();
    assert!(import_err(&d).contains("workgroup_size"));

    let d = fresh("json");
    std::fs::write(d.join("000001/step.json"), "{not json").unwrap();
    assert!(import_err(&d).contains("not valid JSON"));

    let d = fresh("missing");
    std::fs::remove_file(d.join("000001/ring.bin")).unwrap();
    let e = import_err(&d);
    assert!(e.contains("step 1") && e.contains("ring.bin"), "{e}");

    let d = fresh("geometry");
    std::fs::write(d.join("000001/ring.bin"), vec![0u8; 128 * 64]).unwrap();
    let e = import_err(&d);
    assert!(e.contains("step 1") && e.contains("128 ring slots"), "{e}");

    let d = tmp.path().join("empty");
    std::fs::create_dir(&d).unwrap();
    assert!(import_err(&d).contains("no step directories"));

    let f = tmp.path().join("file");
    std::fs::write(&f, "x").unwrap();
    assert!(import_err(&f).contains("not a directory"));
}

#[test]
fn bad_recordings_are_refused_and_damage_keeps_what_is_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let steps = tmp.path().join("steps");
    let states = clean_run(&steps);
    let rec = tmp.path().join("run.msrec");
    assert!(import(&steps, &rec).status.success());

    let o = run(&[
        "record",
        "export",
        p(&rec),
        "--step",
        "99",
        "--out",
        p(&tmp.path().join("x")),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("step 99 does not exist"),
        "{}",
        stderr(&o)
    );

    for cmd in ["run", "inspect"] {
        let o = run(&[cmd, p(&rec)]);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        assert!(stderr(&o).contains("is a recording"), "{}", stderr(&o));
    }

    let junk = tmp.path().join("junk.msrec");
    std::fs::write(&junk, b"this is not a recording at all").unwrap();
    for cmd in ["info", "verify"] {
        let o = run(&["record", cmd, p(&junk)]);
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        assert!(stderr(&o).contains("junk.msrec"), "{}", stderr(&o));
    }

    // a flipped byte in the middle of the file: the steps before it still open
    let r = megascope_record::Recording::open(&rec).unwrap();
    assert_eq!(r.len(), states.len());
    drop(r);
    let mut bytes = std::fs::read(&rec).unwrap();
    let mid = bytes.len() * 2 / 3;
    bytes[mid] ^= 0xFF;
    let damaged = tmp.path().join("damaged.msrec");
    std::fs::write(&damaged, &bytes).unwrap();
    let o = run(&["record", "info", p(&damaged), "--json"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let info = json_of(&o);
    let intact = info["steps"].as_u64().unwrap() as usize;
    assert!(intact < states.len(), "{info}");
    assert!(stderr(&o).contains("damaged"), "{}", stderr(&o));
    if intact > 0 {
        let out = tmp.path().join("intact");
        let o = run(&[
            "record",
            "export",
            p(&damaged),
            "--step",
            &(intact - 1).to_string(),
            "--out",
            p(&out),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(
            std::fs::read(out.join("ring.bin")).unwrap(),
            std::fs::read(steps.join(format!("{:06}/ring.bin", intact - 1))).unwrap()
        );
    }
    let (o, v) = verify(&damaged);
    assert_eq!(
        o.status.code(),
        Some(4),
        "damage further on fails verify: {v}"
    );
    assert!(v["damage"].is_string());
}

/// An import killed at any moment leaves the previous recording whole (or none), never a
/// half-written one; the temporary file it leaves is removed by the next import.
#[test]
fn a_killed_import_leaves_the_old_recording_or_none_and_its_leftover_is_cleaned() {
    let tmp = tempfile::tempdir().unwrap();
    let steps = tmp.path().join("steps");
    let mut m = ResidentBuffers::new(4096, 1, 8).unwrap();
    let mut cpu = CpuEngine::new();
    write_step(&steps, 0, &m, host("initial state"));
    for k in 0..24u32 {
        for s in (k * 100)..(k * 100 + 100) {
            m.publish_slot(s as u64, 0, Opcode::ATOMIC_ADD, &[1, 160 + s % 8])
                .unwrap();
        }
        m.dispatch(&mut cpu, &DispatchOptions::default()).unwrap();
        write_step(&steps, k as usize + 1, &m, dispatch("once", 256));
    }
    let out = tmp.path().join("run.msrec");
    let full = |p: &Path| {
        megascope_record::Recording::open(p)
            .map(|r| r.len() == 25 && r.damage().is_none() && r.warnings().is_empty())
            .unwrap_or(false)
    };
    // time a whole import, then kill others part-way through
    let t = std::time::Instant::now();
    assert!(import(&steps, &out).status.success());
    let whole = t.elapsed();
    assert!(full(&out));
    let before = std::fs::read(&out).unwrap();
    let mut rng = 0x9e37_79b9u64;
    for _ in 0..8 {
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let wait = whole.mul_f64((rng >> 33) as f64 / (1u64 << 31) as f64);
        let mut child = Command::new(env!("CARGO_BIN_EXE_megascope"))
            .args(["record", "import", p(&steps), "--out", p(&out)])
            .env("XDG_RUNTIME_DIR", "/tmp")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(wait);
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            full(&out),
            "after a kill at {wait:?} the recording is whole"
        );
        assert_eq!(
            std::fs::read(&out).unwrap(),
            before,
            "and it is the same file"
        );
    }
    assert!(import(&steps, &out).status.success());
    let leftovers: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".run.msrec.tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The example recordings in `sessions/` are vyre 0.7.2's own kernel on an NVIDIA H200: racy
/// work whose GPU lane order differs from the oracle's, every divergence explained by a race.
#[test]
fn the_example_recordings_of_real_gpu_runs_verify_with_every_divergence_explained() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sessions");
    let recs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "msrec"))
        .collect();
    assert!(!recs.is_empty(), "sessions/ ships an example recording");
    for r in recs {
        let (o, v) = verify(&r);
        assert_eq!(o.status.code(), Some(0), "{}: {v}", r.display());
        assert!(
            !v["diverging_steps"].as_array().unwrap().is_empty(),
            "{}: the GPU's lane order shows",
            r.display()
        );
        assert!(
            v["divergences"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["explained_by"]["race_word"].is_u64())
        );
    }
}
