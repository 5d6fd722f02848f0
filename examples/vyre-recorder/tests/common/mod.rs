//! Shared helpers of the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use megascope_record::{Recording, StepKind};
use serde_json::Value as Json;
use vyre_recorder::{run_and_record, Options, RunReport, Scenario};

/// The scenario files under tests/scenarios/, by file stem.
pub const SCENARIOS: [&str; 8] = [
    "store_u32",
    "atomic_add",
    "load_u32",
    "printf_debug",
    "cas_fence_tenants",
    "persistent_shutdown",
    "multi_dispatch",
    "priority_program",
];

pub fn scenario_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(format!("{name}.json"))
}

/// The scenario as raw JSON (read independently of the crate's parser).
pub fn scenario_json(name: &str) -> Json {
    let text = std::fs::read_to_string(scenario_path(name)).expect("read scenario");
    serde_json::from_str(&text).expect("scenario JSON")
}

/// A fresh directory under Cargo's per-target temp dir.
pub fn out_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("vyre-recorder-tests")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create test dir");
    dir
}

/// Records scenario `name` on cpu-ref into `dir/name.msrec`.
pub fn record(name: &str, dir: &Path, opts: Options<'_>) -> (PathBuf, RunReport) {
    let scenario = Scenario::load(&scenario_path(name)).expect("load scenario");
    let out = dir.join(format!("{name}.msrec"));
    let report = run_and_record(&scenario, &out, opts)
        .unwrap_or_else(|e| panic!("{name}: run_and_record failed: {e}"));
    (out, report)
}

/// The (kind, label) steps vyre-peer's `--record` writes for a scenario, derived from the
/// scenario JSON alone.
pub fn expected_steps(scenario: &Json) -> Vec<(String, String)> {
    let dispatches = scenario["dispatches"].as_u64().unwrap_or(1);
    let items = scenario["items"].as_array().cloned().unwrap_or_default();
    let mut steps = vec![("host".to_string(), "initial state".to_string())];
    for d in 0..dispatches {
        let n = items
            .iter()
            .filter(|it| it["dispatch"].as_u64().unwrap_or(0) == d)
            .count();
        if n > 0 {
            steps.push((
                "host".into(),
                format!("published {n} item(s) before dispatch {d}"),
            ));
        }
        steps.push(("dispatch".into(), format!("dispatch {d}")));
    }
    steps
}

/// Kind and label of every step of a recording.
pub fn recorded_steps(rec: &Recording) -> Vec<(String, String)> {
    (0..rec.len())
        .map(|i| {
            let info = rec.info(i).expect("step info");
            let kind = match info.kind {
                StepKind::Host => "host",
                StepKind::Dispatch { .. } => "dispatch",
            };
            (kind.to_string(), info.label.clone())
        })
        .collect()
}

/// Little-endian bytes of words.
pub fn le_bytes(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Where the megascope binary is (`MEGASCOPE_BIN`); the test fails when it is not set, so a
/// run without megascope never passes for one that verified.
pub fn megascope_bin() -> PathBuf {
    match std::env::var_os("MEGASCOPE_BIN") {
        Some(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "MEGASCOPE_BIN={} is not a file: point it at the built `megascope` binary",
                p.display()
            );
            p
        }
        _ => panic!(
            "set MEGASCOPE_BIN to the megascope binary (e.g. MEGASCOPE_BIN=$PWD/../../target/debug/megascope after `cargo build` in the megascope workspace; scripts/test does this): these tests check every recording with `megascope record verify`"
        ),
    }
}

/// Runs `megascope record verify FILE --json`; returns (exit code, parsed JSON).
pub fn verify(bin: &Path, file: &Path) -> (i32, Json) {
    let out = std::process::Command::new(bin)
        .args(["record", "verify"])
        .arg(file)
        .arg("--json")
        .output()
        .expect("run megascope");
    let code = out.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if code == 2
        && (stderr.contains("cannot be used with") || stderr.contains("unrecognized subcommand"))
    {
        panic!(
            "{} has no `record verify` subcommand (a megascope older than recordings?): rebuild it, or point MEGASCOPE_BIN at one that has it. Its error: {stderr}",
            bin.display()
        );
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'));
    let json = match line {
        Some(l) => serde_json::from_str(l).unwrap_or_else(|e| {
            panic!(
                "verify of {} printed bad JSON ({e}): {stdout}",
                file.display()
            )
        }),
        None => panic!(
            "verify of {} printed no JSON (exit {code}); stdout: {stdout}; stderr: {}",
            file.display(),
            stderr
        ),
    };
    (code, json)
}
