//! `megascope run` / `inspect` end to end, through the real binary: the JSON contract,
//! dumps in and out, breakpoints and exit codes, and every malformed dump (exit code 2 and a
//! one-line message naming the file).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use megascope::abi::opcode::Opcode;
use megascope::resident::ResidentBuffers;

fn bin() -> Command {
    with_env(Command::new(env!("CARGO_BIN_EXE_megascope")))
}

/// winit wants a runtime directory; and wgpu-core's debug build captures a backtrace on
/// every internal lock when library backtraces are on (CI sets RUST_BACKTRACE=1), which
/// makes GPU calls many times slower.
fn with_env(mut c: Command) -> Command {
    c.env(
        "XDG_RUNTIME_DIR",
        std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into()),
    )
    .env("RUST_LIB_BACKTRACE", "0");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            stderr(o)
        )
    })
}

fn write_session(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const SESSION: &str = r#"(
    version: 1,
    geometry: (slot_count: 64, tenant_count: 2, observable_slots: 8),
    run: (variant: persistent),
    script: [
        PublishPattern((start: 0, end: 16, opcodes: ["ATOMIC_ADD"], args: [1, "160 + slot % 4"])),
        Publish(slot: 20, opcode: "PRINTF", args: [7, 8, 9]),
        WriteControl(word: 4, value: 0),
        Publish(slot: 21, tenant: 1, opcode: "NOP"),
        Dispatch(count: 1),
    ],
)"#;

fn dump_with_work(dir: &Path) -> PathBuf {
    let mut m = ResidentBuffers::new(64, 1, 4).unwrap();
    for s in 0..8 {
        m.publish_slot(s, 0, Opcode::ATOMIC_ADD, &[2, 160]).unwrap();
    }
    let d = dir.join("dump");
    megascope::files::dump::write_dump(&d, &m).unwrap();
    d
}

#[test]
fn run_session_json_contract() {
    let t = tempfile::tempdir().unwrap();
    let p = write_session(t.path(), "s.ron", SESSION);
    let o = run(&["run", p.to_str().unwrap(), "--dispatches", "2", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j = json(&o);
    for key in [
        "dispatches",
        "backend",
        "variant",
        "slot_count",
        "status_counts",
        "done_count",
        "epoch",
        "debug_records",
        "debug_dropped",
        "diagnostics",
        "elapsed_ms",
    ] {
        assert!(j.get(key).is_some(), "missing {key} in {j}");
    }
    assert_eq!(j["dispatches"], 2);
    assert_eq!(j["backend"], "cpu");
    assert_eq!(j["variant"], "persistent");
    assert_eq!(j["slot_count"], 64);
    assert_eq!(j["status_counts"]["done"], 17);
    assert_eq!(j["status_counts"]["published"], 1, "tenant 1 is disabled");
    assert_eq!(j["done_count"], 17);
    assert_eq!(j["debug_records"], 1);
    let kinds: Vec<&str> = j["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"stuck_tenant"), "{kinds:?}");
}

#[test]
fn run_dump_writes_a_dump_that_inspect_reads() {
    let t = tempfile::tempdir().unwrap();
    let d = dump_with_work(t.path());
    let out = t.path().join("out");
    let o = run(&[
        "run",
        "--dump",
        d.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["variant"], "once");
    let back = megascope::files::dump::read_dump(&out).unwrap();
    assert_eq!(back.control()[160], 16);
    let o = run(&["inspect", "--dump", out.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["status_counts"]["done"], 8);
    assert_eq!(j["observable"][0], 16);
    assert_eq!(j["slots"].as_array().unwrap().len(), 8);
    let o = run(&["inspect", "--dump", out.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("DONE slots (8)") && text.contains("OBSERVABLE[0] = 16"),
        "{text}"
    );
}

#[test]
fn run_text_output_and_variant_override() {
    let t = tempfile::tempdir().unwrap();
    let d = dump_with_work(t.path());
    let o = run(&[
        "run",
        d.to_str().unwrap(),
        "--variant",
        "priority",
        "--dispatches",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("priority variant") && text.contains("done 8"),
        "{text}"
    );
}

#[test]
fn bad_values_are_input_errors() {
    let t = tempfile::tempdir().unwrap();
    let d = dump_with_work(t.path());
    let o = run(&[
        "run",
        "--dump",
        d.to_str().unwrap(),
        "--workgroup-size",
        "3",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("workgroup size 3"), "{}", stderr(&o));
    let o = run(&[
        "run",
        "--dump",
        d.to_str().unwrap(),
        "--variant",
        "sideways",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["run", "--dump", d.to_str().unwrap(), "--pass-budget", "0"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["run"]);
    assert_eq!(o.status.code(), Some(2));
}

fn malformed(mutate: impl FnOnce(&Path)) -> Output {
    let t = tempfile::tempdir().unwrap();
    let d = dump_with_work(t.path());
    mutate(&d);
    run(&["run", "--dump", d.to_str().unwrap(), "--json"])
}

fn assert_dump_error(o: &Output, file: &str, words: &[&str]) {
    assert_eq!(o.status.code(), Some(2), "{}", stderr(o));
    let e = stderr(o);
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
    assert!(e.contains(file), "names {file}: {e}");
    for w in words {
        assert!(e.contains(w), "mentions {w}: {e}");
    }
    assert!(o.stdout.is_empty());
}

#[test]
fn malformed_dump_missing_file() {
    let o = malformed(|d| std::fs::remove_file(d.join("debug_log.bin")).unwrap());
    assert_dump_error(&o, "debug_log.bin", &["missing"]);
}

#[test]
fn malformed_dump_ring_not_whole_slots() {
    let o = malformed(|d| std::fs::write(d.join("ring.bin"), vec![0u8; 65]).unwrap());
    assert_dump_error(&o, "ring.bin", &["not a multiple of 64"]);
}

#[test]
fn malformed_dump_control_too_short() {
    let o = malformed(|d| std::fs::write(d.join("control.bin"), vec![0u8; 159 * 4]).unwrap());
    assert_dump_error(&o, "control.bin", &["636 bytes", "640"]);
}

#[test]
fn malformed_dump_debug_log_wrong_size() {
    let o = malformed(|d| std::fs::write(d.join("debug_log.bin"), vec![0u8; 1032]).unwrap());
    assert_dump_error(&o, "debug_log.bin", &["1028"]);
}

#[test]
fn malformed_dump_io_queue_wrong_size() {
    let o = malformed(|d| std::fs::write(d.join("io_queue.bin"), vec![0u8; 33]).unwrap());
    assert_dump_error(&o, "io_queue.bin", &["IO slots"]);
}

#[test]
fn malformed_dump_unreadable_file() {
    let o = malformed(|d| {
        let f = d.join("control.bin");
        std::fs::remove_file(&f).unwrap();
        std::os::unix::fs::symlink(&f, &f).unwrap();
    });
    assert_dump_error(&o, "control.bin", &["cannot read"]);
}

#[test]
fn malformed_dump_missing_directory() {
    let o = run(&["inspect", "--dump", "/nonexistent/megascope-dump"]);
    assert_dump_error(&o, "/nonexistent/megascope-dump", &["does not exist"]);
}

#[test]
fn malformed_session_is_an_input_error() {
    let t = tempfile::tempdir().unwrap();
    let p = write_session(
        t.path(),
        "bad.ron",
        "(version: 1, geometry: (slot_count: 64), script: [Publish(slot: 99, opcode: \"NOP\")])",
    );
    let o = run(&["run", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("script action 0") && stderr(&o).contains("out of range"),
        "{}",
        stderr(&o)
    );
}

const BREAK_SESSION: &str = r#"(
    version: 1,
    geometry: (slot_count: 64, observable_slots: 4),
    script: [
        PublishPattern((start: 0, end: 4, opcodes: ["ATOMIC_ADD"], args: [1, 160])),
    ],
    breakpoints: [
        (condition: ControlCompare(word: 160, op: Ge, value: 8)),
    ],
)"#;

#[test]
fn breakpoints_stop_a_run_with_exit_code_3() {
    let t = tempfile::tempdir().unwrap();
    // four ATOMIC_ADDs of 1 into control[160]: the first dispatch makes it 4
    let hits = write_session(
        t.path(),
        "hit.ron",
        &BREAK_SESSION.replace("value: 8", "value: 4"),
    );
    let o = run(&["run", hits.to_str().unwrap(), "--dispatches", "5", "--json"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["dispatches"], 1);
    assert_eq!(j["stopped_at"]["dispatch"], 0);
    assert_eq!(j["stopped_at"]["word"], 160);
    assert!(
        j["stopped_at"]["breakpoint"]
            .as_str()
            .unwrap()
            .contains("control[160] >= 4"),
        "{j}"
    );
    let o = run(&[
        "run",
        hits.to_str().unwrap(),
        "--dispatches",
        "5",
        "--json",
        "--no-break",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(json(&o)["dispatches"], 5);
    assert!(json(&o).get("stopped_at").is_none());
    // >= 8 never becomes true: the run goes to the end
    let never = write_session(t.path(), "never.ron", BREAK_SESSION);
    let o = run(&[
        "run",
        never.to_str().unwrap(),
        "--dispatches",
        "3",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["dispatches"], 3);
}

#[test]
fn long_runs_report_progress_on_stderr() {
    let t = tempfile::tempdir().unwrap();
    let p = write_session(
        t.path(),
        "big.ron",
        "(version: 1, geometry: (slot_count: 1048576), run: (race_analysis: false), script: [PublishPattern((start: 0, end: 1048576, opcodes: [\"NOP\"]))])",
    );
    // progress from the first step, whatever the machine's speed
    let o = bin()
        .args(["run", p.to_str().unwrap(), "--dispatches", "200", "--json"])
        .env("MEGASCOPE_PROGRESS_MS", "0")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("megascope: dispatch"),
        "no progress on stderr: {}",
        stderr(&o)
    );
    assert_eq!(json(&o)["status_counts"]["done"], 1_048_576);
}

#[test]
fn gpu_backend_matches_cpu_on_a_race_free_session() {
    let t = tempfile::tempdir().unwrap();
    let p = write_session(t.path(), "s.ron", SESSION);
    let cpu = t.path().join("cpu");
    let gpu = t.path().join("gpu");
    let o = run(&[
        "run",
        p.to_str().unwrap(),
        "--out",
        cpu.to_str().unwrap(),
        "--json",
        "--dispatches",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(&[
        "run",
        p.to_str().unwrap(),
        "--out",
        gpu.to_str().unwrap(),
        "--json",
        "--dispatches",
        "2",
        "--backend",
        "gpu",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "GPU run failed (is a Vulkan driver installed?): {}",
        stderr(&o)
    );
    assert_eq!(json(&o)["backend"], "gpu");
    let (a, b) = (
        megascope::files::dump::read_dump(&cpu).unwrap(),
        megascope::files::dump::read_dump(&gpu).unwrap(),
    );
    assert_eq!(a.control(), b.control());
    assert_eq!(a.ring(), b.ring());
    assert_eq!(
        megascope::scenario::record_multiset(a.debug_log()),
        megascope::scenario::record_multiset(b.debug_log())
    );
}

/// `bench --json`: the CPU, GPU and offscreen-UI sections measure what they claim — every
/// slot executed, a dispatch per UI frame — and report it in one JSON document.
#[test]
fn bench_reports_cpu_gpu_and_ui_sections_as_json() {
    let o = run(&[
        "bench",
        "--only",
        "cpu,gpu,ui",
        "--slots",
        "256",
        "--rounds",
        "2",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    let cpu = j["cpu"].as_array().expect("cpu section");
    assert_eq!(cpu.len(), 2, "with and without race analysis: {cpu:?}");
    for c in cpu {
        assert_eq!(c["slots"], 256);
        assert!(c["slot_executions_per_s"].as_f64().unwrap() > 0.0, "{c}");
    }
    let gpu = j["gpu"].as_array().expect("gpu section");
    assert_eq!(gpu.len(), 1);
    for key in ["first_dispatch_ms", "engine_init_ms"] {
        assert!(gpu[0][key].as_f64().unwrap() > 0.0, "{key}: {}", gpu[0]);
    }
    assert!(
        gpu[0]["resident_dispatch_with_control_readback"]["median_ms"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let ui = j["ui"].as_array().expect("ui section");
    let cases: Vec<(&str, &str)> = ui
        .iter()
        .map(|u| {
            (
                u["backend"].as_str().unwrap(),
                u["workload"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(cases, [("cpu", "once"), ("gpu", "once"), ("cpu", "stream")]);
    for u in ui {
        let frames = u["frames"].as_u64().unwrap();
        assert_eq!(frames, 30, "{u}");
        // a dispatch every frame, warm-up frames included
        assert!(u["dispatches"].as_u64().unwrap() >= frames, "{u}");
        assert!(u["frame"]["median_ms"].as_f64().unwrap() > 0.0, "{u}");
        assert!(u["app"]["median_ms"].as_f64().unwrap() > 0.0, "{u}");
    }
    // the stream's every frame publishes a sixteenth of the ring and its dispatch runs it
    assert_eq!(ui[2]["published_per_frame"], 16, "{}", ui[2]);
    assert_eq!(ui[2]["last_dispatch_claimed"], 16, "{}", ui[2]);
    assert!(
        j.get("timeline").is_none_or(|t| t.is_null()),
        "timeline was not asked for"
    );
}

/// `bench --only gpu --race --compare-tallies`: every case with race analysis off and on, each
/// with the adapter's workgroup tallies and with them off, and the resident dispatch's host
/// phases in each.
#[test]
fn bench_compares_the_tallies_and_splits_the_host_time() {
    let o = run(&[
        "bench",
        "--only",
        "gpu",
        "--slots",
        "256",
        "--rounds",
        "2",
        "--race",
        "--compare-tallies",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    let gpu = j["gpu"].as_array().expect("gpu section");
    let cases: Vec<bool> = gpu
        .iter()
        .map(|g| g["race_analysis"].as_bool().unwrap())
        .collect();
    assert_eq!(cases, [false, false, true, true], "{gpu:?}");
    // the second of each pair has the tallies off (the first as the adapter has them)
    for pair in gpu.chunks(2) {
        assert_eq!(pair[1]["workgroup_tallies"], false, "{}", pair[1]);
        assert!(pair[0]["workgroup_tallies"].is_boolean(), "{}", pair[0]);
    }
    for g in gpu {
        for key in [
            "resident_host_phases_median_ms",
            "round_trip_host_phases_median_ms",
        ] {
            let phases = &g[key];
            for p in ["upload", "begin", "submit", "wait", "read"] {
                assert!(phases[p].as_f64().unwrap() >= 0.0, "{key} {p}: {g}");
            }
            assert!(
                phases["wait"].as_f64().unwrap() > 0.0,
                "a readback waits for the device: {g}"
            );
        }
        // a resident dispatch uploads nothing; a round trip uploads the edited mirror
        assert_eq!(g["resident_host_phases_median_ms"]["upload"], 0.0, "{g}");
        assert!(
            g["round_trip_host_phases_median_ms"]["upload"]
                .as_f64()
                .unwrap()
                > 0.0,
            "{g}"
        );
    }
}

/// `megascope --bench-frames N` opens the real window (under Xvfb here), renders N frames
/// while dispatching every frame, prints frame-time statistics as JSON and exits.
#[test]
fn bench_frames_opens_the_window_and_reports_frame_times() {
    // a window that fails to close fails the test (exit 124) instead of hanging CI
    let o = with_env(Command::new("timeout"))
        .args(["300", "xvfb-run", "-a", "-s", "-screen 0 1600x1000x24"])
        .arg(env!("CARGO_BIN_EXE_megascope"))
        .args(["--bench-frames", "8", "--slots", "4096"])
        .output()
        .expect("timeout and xvfb-run are installed (apt-get install -y xvfb xauth; .ci/run does)");
    assert!(
        o.status.success(),
        "exit {:?} (124: the window did not close): {}",
        o.status.code(),
        stderr(&o)
    );
    let line = String::from_utf8_lossy(&o.stdout)
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no JSON line: {}", stderr(&o)));
    let j: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(j["frames"], 8, "{j}");
    assert_eq!(j["slots"], 4096, "{j}");
    assert!(j["dispatches"].as_u64().unwrap() >= 8, "{j}");
    assert!(j["frame_ms"]["median"].as_f64().unwrap() > 0.0, "{j}");
    assert!(j["fps_median"].as_f64().unwrap() > 0.0, "{j}");
}

// ---- hardening (issue 12) -------------------------------------------------------------

/// Runs the binary through `sh -c` with a file-size limit: `SIGXFSZ` is ignored (an ignored
/// signal stays ignored across exec), so the write fails with EFBIG as on a full disk.
fn run_with_file_size_limit(bytes: u64, args: &[&str]) -> Output {
    let mut c = with_env(Command::new("sh"));
    c.arg("-c")
        .arg(format!(
            "trap '' XFSZ; exec prlimit --fsize={bytes} \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_megascope"))
        .args(args);
    c.output()
        .expect("sh and prlimit (util-linux) are installed")
}

fn big_dump(dir: &Path, name: &str, slots: u32, marker: u32) -> (PathBuf, ResidentBuffers) {
    let mut m = ResidentBuffers::new(slots, 1, 4).unwrap();
    m.write_control(160, marker).unwrap();
    m.publish_slot(slots as u64 - 1, 0, Opcode::NOP, &[])
        .unwrap();
    let d = dir.join(name);
    megascope::files::dump::write_dump(&d, &m).unwrap();
    (d, m)
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn out_of_space_while_writing_is_a_runtime_failure_that_says_so() {
    let t = tempfile::tempdir().unwrap();
    let (src, _) = big_dump(t.path(), "src", 4096, 1);
    let out_parent = t.path().join("outs");
    std::fs::create_dir(&out_parent).unwrap();
    let (old_out, old) = big_dump(&out_parent, "out", 64, 7);
    // the ring (256 KiB) is past the 64 KiB limit
    let o = run_with_file_size_limit(
        64 << 10,
        &[
            "run",
            "--dump",
            src.to_str().unwrap(),
            "--dispatches",
            "0",
            "--out",
            old_out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("file-size limit") && e.contains("ring.bin") && !e.contains("exists"),
        "{e}"
    );
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    // the old dump is whole and nothing is left beside it
    assert_eq!(megascope::files::dump::read_dump(&old_out).unwrap(), old);
    assert_eq!(names_in(&out_parent), ["out"]);
}

#[test]
fn permission_denied_while_writing_is_a_runtime_failure_that_says_so() {
    let t = tempfile::tempdir().unwrap();
    // world-readable input; the output's parent belongs to root and nobody may not write it
    let shared = t.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let (src, _) = big_dump(&shared, "src", 64, 1);
    let locked = shared.join("locked");
    std::fs::create_dir(&locked).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for p in [t.path(), shared.as_path(), src.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for f in std::fs::read_dir(&src).unwrap() {
        std::fs::set_permissions(f.unwrap().path(), std::fs::Permissions::from_mode(0o644))
            .unwrap();
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = locked.join("out");
    let o = with_env(Command::new("setpriv"))
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_megascope"))
        .args([
            "run",
            "--dump",
            src.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .expect("setpriv (util-linux) is installed");
    if stderr(&o).contains("Permission denied") && o.status.code() == Some(127) {
        // the binary itself is not reachable by an unprivileged user here
        eprintln!("skipped: {}", stderr(&o));
        return;
    }
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("permission denied") && e.contains("may write"),
        "{e}"
    );
    assert!(names_in(&locked).is_empty());
}

#[test]
fn an_out_directory_holding_other_files_is_refused_not_replaced() {
    let t = tempfile::tempdir().unwrap();
    let d = dump_with_work(t.path());
    let mine = t.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("thesis.tex"), b"precious").unwrap();
    let o = run(&[
        "run",
        "--dump",
        d.to_str().unwrap(),
        "--out",
        mine.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("thesis.tex"), "{}", stderr(&o));
    assert_eq!(names_in(&mine), ["thesis.tex"]);
}

/// Whether a writer's temporary entry (a name starting with `.`) is in `dir`.
fn has_temporary(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|es| {
            es.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with('.'))
        })
        .unwrap_or(false)
}

/// Kills `megascope run --out` at random moments while it replaces a dump: the directory is
/// always wholly the old state or wholly the new one, and the next write clears leftovers.
#[test]
fn a_killed_write_leaves_the_old_dump_or_the_new_one_never_a_mix() {
    let t = tempfile::tempdir().unwrap();
    // old and new differ in every buffer's content and in the ring's length
    let (src, new) = big_dump(t.path(), "src", 1 << 19, 2);
    let outs = t.path().join("outs");
    std::fs::create_dir(&outs).unwrap();
    let out = outs.join("out");
    let write_new = || {
        bin()
            .args([
                "run",
                "--dump",
                src.to_str().unwrap(),
                "--dispatches",
                "0",
                "--out",
                out.to_str().unwrap(),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (_, old) = big_dump(&outs, "out", 64, 1);
    // how long one whole run takes here
    let start = std::time::Instant::now();
    assert!(write_new().wait().unwrap().success());
    let full = start.elapsed();
    assert_eq!(megascope::files::dump::read_dump(&out).unwrap(), new);
    let mut seen = [0usize; 2];
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
        | 1;
    let mut random = move || {
        // xorshift
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % 1000) as f64 / 1000.0
    };
    for i in 0..16 {
        megascope::files::dump::write_dump(&out, &old).unwrap();
        let mut child = write_new();
        let at = if i % 2 == 0 {
            // anywhere in the run
            let at = full.mul_f64(random() * 1.1);
            std::thread::sleep(at);
            at
        } else {
            // inside the write itself: once a temporary entry shows, within a few ms
            let t0 = std::time::Instant::now();
            while !has_temporary(&outs)
                && !has_temporary(&out)
                && t0.elapsed() < full * 2
                && child.try_wait().unwrap().is_none()
            {
                std::thread::yield_now();
            }
            std::thread::sleep(std::time::Duration::from_micros(
                (random() * 20_000.0) as u64,
            ));
            t0.elapsed()
        };
        let _ = child.kill();
        let _ = child.wait();
        let now = megascope::files::dump::read_dump(&out)
            .unwrap_or_else(|e| panic!("killed after {at:?}: not a whole dump: {e}"));
        if now == old {
            seen[0] += 1;
        } else if now == new {
            seen[1] += 1;
        } else {
            panic!("killed after {at:?}: a dump that is neither the old nor the new state");
        }
        assert_eq!(names_in(&out).len(), 4, "four plain files");
    }
    eprintln!(
        "one run takes {full:?}; after the kills the dump was old ×{}, new ×{}",
        seen[0], seen[1]
    );
    // a write after the kills removes whatever they left
    assert!(write_new().wait().unwrap().success());
    assert_eq!(names_in(&outs), ["out"], "kills seen: {seen:?}");
}

#[test]
fn non_regular_files_are_refused_without_hanging() {
    let t = tempfile::tempdir().unwrap();
    let fifo = t.path().join("s.ron");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let o = with_env(Command::new("timeout"))
        .args(["20", env!("CARGO_BIN_EXE_megascope"), "inspect"])
        .arg(&fifo)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("FIFO"), "{}", stderr(&o));
    let o = run(&["run", "/dev/zero"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("character device"), "{}", stderr(&o));
    let d = dump_with_work(t.path());
    std::fs::remove_file(d.join("ring.bin")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", d.join("ring.bin")).unwrap();
    let o = run(&["inspect", "--dump", d.to_str().unwrap()]);
    assert_dump_error(&o, "ring.bin", &["character device"]);
}

#[test]
fn a_misspelt_field_in_an_action_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let p = write_session(
        t.path(),
        "typo.ron",
        "(version: 1, geometry: (slot_count: 64, tenant_count: 4),\n script: [Publish(slot: 1, opcode: \"NOP\", tennant: 3)])",
    );
    let o = run(&["run", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("typo.ron:2:") && stderr(&o).contains("tennant"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn huge_script_counts_are_refused_at_once() {
    let t = tempfile::tempdir().unwrap();
    let p = write_session(
        t.path(),
        "long.ron",
        "(version: 1, geometry: (slot_count: 64), script: [Dispatch(count: 4000000000)])",
    );
    let start = std::time::Instant::now();
    let o = run(&["inspect", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("100000"), "{}", stderr(&o));
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn run_diagnostics_are_capped_per_kind_with_a_count() {
    let t = tempfile::tempdir().unwrap();
    // one slot of a disabled tenant: a stuck_tenant diagnostic every dispatch
    let p = write_session(
        t.path(),
        "stuck.ron",
        "(version: 1, geometry: (slot_count: 64, tenant_count: 2), script: [WriteControl(word: 4, value: 0), Publish(slot: 0, tenant: 1, opcode: \"NOP\")])",
    );
    let o = run(&["run", p.to_str().unwrap(), "--dispatches", "1500", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j = json(&o);
    let stuck = j["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "stuck_tenant")
        .count();
    assert_eq!(stuck, 1000);
    assert_eq!(j["diagnostics_omitted_by_kind"]["stuck_tenant"], 500);
    assert!(j["diagnostics_omitted"].as_u64().unwrap() >= 500);
}

#[test]
fn bench_of_an_unpublishable_opcode_says_why_on_stderr() {
    let o = run(&["bench", "--opcodes", "LOAD_MISS", "--only", "cpu", "--json"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("LOAD_MISS") && stderr(&o).contains("reserved"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_missing_file_given_to_the_app_is_said_on_stderr() {
    let o = run(&["/nonexistent/session.ron"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("/nonexistent/session.ron"),
        "{}",
        stderr(&o)
    );
}

/// `sessions/races.ron` on the GPU backend: the same three races as on the CPU (word and
/// both slots), its race breakpoint stops the run (exit 3), and the JSON says the analysis
/// ran in full; with the analysis off the JSON and the text say so instead of going quiet.
#[test]
fn the_races_session_finds_its_races_on_the_gpu_backend_too() {
    let session = concat!(env!("CARGO_MANIFEST_DIR"), "/sessions/races.ron");
    let races = |j: &serde_json::Value| {
        let mut v: Vec<(u64, Vec<u64>)> = j["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"] == "race")
            .map(|d| {
                (
                    d["word"].as_u64().unwrap(),
                    d["slots"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_u64().unwrap())
                        .collect(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let mut found = Vec::new();
    for backend in ["cpu", "gpu"] {
        let o = run(&["run", session, "--backend", backend, "--json"]);
        assert_eq!(o.status.code(), Some(3), "{backend}: {}", stderr(&o));
        let j = json(&o);
        assert_eq!(j["backend"], backend);
        assert_eq!(j["race_analysis"], "full", "{j}");
        assert_eq!(j["stopped_at"]["breakpoint"], "diagnostic `race` fires");
        found.push(races(&j));
    }
    assert_eq!(
        found[0],
        vec![(1, vec![0, 2]), (160, vec![0, 1]), (161, vec![3, 4])]
    );
    assert_eq!(found[1], found[0], "gpu, cpu");
    let t = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(session)
        .unwrap()
        .replace("script:", "run: (race_analysis: false),\n    script:");
    let off = write_session(t.path(), "off.ron", &text);
    let o = run(&["run", off.to_str().unwrap(), "--backend", "gpu", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["race_analysis"], "off", "{j}");
    assert!(races(&j).is_empty());
    let o = run(&["run", off.to_str().unwrap(), "--backend", "gpu"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("race analysis: off on the gpu backend"),
        "{out}"
    );
}

/// `bench --race` measures each GPU case with race analysis off and on.
#[test]
fn bench_race_measures_the_gpu_with_and_without_analysis() {
    let o = run(&[
        "bench", "--only", "gpu", "--slots", "256", "--rounds", "2", "--race", "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    let gpu = j["gpu"].as_array().expect("gpu section");
    let modes: Vec<bool> = gpu
        .iter()
        .map(|g| g["race_analysis"].as_bool().unwrap())
        .collect();
    assert_eq!(modes, [false, true]);
    for g in gpu {
        assert!(
            g["resident_dispatch_with_control_readback"]["median_ms"]
                .as_f64()
                .unwrap()
                > 0.0,
            "{g}"
        );
    }
}
