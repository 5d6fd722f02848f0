//! The `vyre-recorder` binary: a good scenario gives a recording and one JSON line; bad input
//! exits 2 with a message saying what is wrong.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use megascope_record::Recording;

fn run_bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vyre-recorder"))
        .args(args)
        .output()
        .expect("run vyre-recorder")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn records_a_scenario_and_prints_one_json_line() {
    let dir = out_dir("cli-ok");
    let out = dir.join("a.msrec");
    let o = run_bin(&[s(&scenario_path("atomic_add")), "--out", s(&out)]);
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    let j: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(j["path"], "cpu-ref");
    assert_eq!(j["vyre"], "0.7.2");
    assert_eq!(j["program"], "once");
    assert_eq!(j["steps"], 5);
    assert_eq!(j["dispatch_steps"], 2);
    assert_eq!(j["host_steps"], 3);
    assert_eq!(j["done_count"], 7);
    assert_eq!(j["dispatch_wall_ms"].as_array().unwrap().len(), 2);
    let rec = Recording::open(&out).unwrap();
    assert_eq!(rec.len(), 5);
    assert_eq!(
        recorded_steps(&rec),
        expected_steps(&scenario_json("atomic_add"))
    );
}

#[test]
fn explicit_cpu_ref_path_and_keyframe_interval() {
    let dir = out_dir("cli-cpu-ref");
    let out = dir.join("m.msrec");
    let o = run_bin(&[
        s(&scenario_path("multi_dispatch")),
        "--path",
        "cpu-ref",
        "--keyframe-interval",
        "3",
        "--out",
        s(&out),
    ]);
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let rec = Recording::open(&out).unwrap();
    assert_eq!(rec.meta().keyframe_interval, 3);
    assert!(rec.is_keyframe(3) && !rec.is_keyframe(4));
}

fn assert_bad(args: &[&str], needle: &str) {
    let o = run_bin(args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{args:?}: exit {:?}, stderr {stderr}",
        o.status.code()
    );
    assert!(
        stderr.contains(needle),
        "{args:?}: stderr should mention {needle:?}: {stderr}"
    );
    assert!(
        o.stdout.is_empty(),
        "{args:?}: printed {:?}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn bad_scenario_files_exit_2() {
    let dir = out_dir("cli-bad");
    let out = dir.join("never.msrec");
    let cases: &[(&str, &str, &str)] = &[
        ("not_json", "{ slot_count: 4", "invalid scenario JSON"),
        ("no_slots", r#"{"tenant_count": 1}"#, "slot_count"),
        (
            "zero_slots",
            r#"{"slot_count": 0}"#,
            "slot_count must be > 0",
        ),
        (
            "bad_wg",
            r#"{"slot_count": 64, "workgroup_size": 48}"#,
            "multiple of workgroup_size",
        ),
        (
            "bad_opcode",
            r#"{"slot_count": 64, "items": [{"slot": 0, "opcode": "FROB"}]}"#,
            "unknown opcode name",
        ),
        (
            "slot_oob",
            r#"{"slot_count": 64, "items": [{"slot": 64, "opcode": "NOP"}]}"#,
            "outside the ring",
        ),
        (
            "dispatch_oob",
            r#"{"slot_count": 64, "items": [{"slot": 1, "opcode": "NOP", "dispatch": 1}]}"#,
            "only 1 dispatch",
        ),
        (
            "too_many_args",
            r#"{"slot_count": 64, "items": [{"slot": 1, "opcode": "NOP", "args": [1,2,3,4,5,6,7,8,9,10,11,12,13]}]}"#,
            "at most 12",
        ),
        (
            "bad_program",
            r#"{"slot_count": 64, "program": "sometimes"}"#,
            "unknown program",
        ),
        (
            "unknown_field",
            r#"{"slot_count": 64, "slots": 3}"#,
            "unknown field",
        ),
        (
            "persistent_forever",
            r#"{"slot_count": 64, "program": "persistent", "items": [{"slot": 0, "opcode": "NOP"}]}"#,
            "SHUTDOWN",
        ),
        (
            "load_miss",
            r#"{"slot_count": 64, "items": [{"slot": 0, "opcode": "LOAD_MISS"}]}"#,
            "LOAD_MISS",
        ),
        (
            "poke_oob",
            r#"{"slot_count": 64, "observable_slots": 2, "initial_control_writes": [{"index": 162, "value": 1}]}"#,
            "outside control",
        ),
        (
            "republish_in_flight",
            r#"{"slot_count": 64, "tenant_count": 2, "dispatches": 2, "initial_control_writes": [{"index": 4, "value": 0}], "items": [{"slot": 0, "tenant": 1, "opcode": "NOP"}, {"slot": 0, "opcode": "NOP", "dispatch": 1}]}"#,
            "publish_slot",
        ),
    ];
    for (name, text, needle) in cases {
        let f = dir.join(format!("{name}.json"));
        std::fs::write(&f, text).unwrap();
        assert_bad(&[s(&f), "--out", s(&out)], needle);
    }
    assert_bad(
        &[s(&dir.join("missing.json")), "--out", s(&out)],
        "cannot read scenario",
    );
}

#[test]
fn bad_command_lines_exit_2() {
    let scen = scenario_path("store_u32");
    assert_bad(&[s(&scen)], "missing --out");
    assert_bad(&["--out", "x.msrec"], "missing SCENARIO.json");
    assert_bad(
        &[s(&scen), "--out", "x.msrec", "--path", "cuda"],
        "bad --path",
    );
    assert_bad(
        &[s(&scen), "--out", "x.msrec", "--frobnicate"],
        "unknown option",
    );
    assert_bad(
        &[s(&scen), "--out", "x.msrec", "--keyframe-interval", "0"],
        "keyframe-interval",
    );
}

#[cfg(not(feature = "gpu"))]
#[test]
fn gpu_path_without_the_feature_says_how() {
    let dir = out_dir("cli-gpu");
    let out = dir.join("g.msrec");
    assert_bad(
        &[
            s(&scenario_path("store_u32")),
            "--out",
            s(&out),
            "--path",
            "gpu",
        ],
        "--features gpu",
    );
    assert_bad(
        &[
            s(&scenario_path("store_u32")),
            "--out",
            s(&out),
            "--path",
            "gpu",
        ],
        "--path cpu-ref",
    );
}

#[test]
fn a_failure_mid_run_leaves_the_steps_before_it() {
    // Tenant 1 is disabled, so slot 0 stays PUBLISHED and vyre refuses to publish it again
    // before dispatch 1: the steps before are kept, the file has no footer.
    let dir = out_dir("cli-partial");
    let f = dir.join("in_flight.json");
    std::fs::write(
        &f,
        r#"{"slot_count": 64, "tenant_count": 2, "dispatches": 2,
            "initial_control_writes": [{"index": 4, "value": 0}],
            "items": [{"slot": 0, "tenant": 1, "opcode": "NOP"}, {"slot": 0, "opcode": "NOP", "dispatch": 1}]}"#,
    )
    .unwrap();
    let out = dir.join("partial.msrec");
    assert_bad(&[s(&f), "--out", s(&out)], "3 step(s) before the failure");
    let rec = Recording::open(&out).unwrap();
    assert!(!rec.is_finished());
    assert_eq!(
        recorded_steps(&rec),
        vec![
            ("host".to_string(), "initial state".to_string()),
            (
                "host".into(),
                "published 1 item(s) before dispatch 0".into()
            ),
            ("dispatch".into(), "dispatch 0".into()),
        ]
    );
}
