//! megascope's oracle agrees with vyre: `megascope record verify` re-runs every recorded
//! dispatch on megascope's CPU engine and must find nothing unexplained in any recording; and a
//! recording with one forged control word must fail verify at exactly that step and word.
//!
//! Needs `MEGASCOPE_BIN` (the built `megascope` binary, which `scripts/test` sets); fails
//! without it.

mod common;

use common::*;
use megascope_record::{Recording, StepKind};
use vyre_recorder::Options;

#[test]
fn megascope_verify_accepts_every_recording() {
    let bin = megascope_bin();
    let dir = out_dir("verify-all");
    let mut failures = Vec::new();
    for name in SCENARIOS {
        let (file, report) = record(name, &dir, Options::default());
        let (code, j) = verify(&bin, &file);
        let dispatches = report.steps.iter().filter(|(k, _)| k == "dispatch").count();
        let ok = code == 0
            && j["unexplained"] == 0
            && j["steps"] == report.steps.len()
            && j["dispatch_steps"] == dispatches;
        if !ok {
            failures.push(format!("{name}: exit {code}, report {j}"));
        }
    }
    assert!(
        failures.is_empty(),
        "verify failed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn megascope_verify_pins_a_forged_control_word() {
    let bin = megascope_bin();
    const WORD: usize = 161;
    const FLIP: u32 = 0x5a5a;
    let dir = out_dir("verify-forged");
    let mut forged_step = None;
    let mut hook =
        |step: u64, info: &megascope_record::StepInfo, state: &mut megascope_record::State| {
            if info.label == "dispatch 2" {
                assert!(matches!(info.kind, StepKind::Dispatch { .. }));
                state.control[WORD] ^= FLIP;
                forged_step = Some(step);
            }
        };
    let (file, report) = record(
        "multi_dispatch",
        &dir,
        Options {
            hook: Some(&mut hook),
            ..Options::default()
        },
    );
    let step = forged_step.expect("the hook saw dispatch 2") as usize;
    // Only the recording is forged: vyre's own final state is untouched.
    assert_eq!(
        report.final_bytes[0][WORD * 4..WORD * 4 + 4],
        1111u32.to_le_bytes()
    );
    let rec = Recording::open(&file).unwrap();
    assert_eq!(rec.state(step).unwrap().control[WORD], 1111 ^ FLIP);

    let (code, j) = verify(&bin, &file);
    assert_eq!(code, 4, "verify of a forged recording must exit 4: {j}");
    assert!(j["unexplained"].as_u64().unwrap() >= 1, "{j}");
    let divergences = j["divergences"].as_array().expect("divergences");
    let first = divergences
        .iter()
        .filter(|d| d["explained_by"].is_null())
        .min_by_key(|d| (d["step"].as_u64().unwrap(), d["word"].as_u64().unwrap()))
        .expect("an unexplained divergence");
    assert_eq!(first["step"], step, "{j}");
    assert_eq!(first["buffer"], "control", "{j}");
    assert_eq!(first["word"], WORD, "{j}");
    assert_eq!(first["expected"], 1111, "{j}");
    assert_eq!(first["recorded"], 1111 ^ FLIP, "{j}");
    // Nothing diverges before the forged step.
    assert!(
        divergences
            .iter()
            .all(|d| d["step"].as_u64().unwrap() as usize >= step),
        "{j}"
    );

    // The same scenario unforged verifies clean (the forgery is what verify caught).
    let (clean, _) = record(
        "multi_dispatch",
        &out_dir("verify-unforged"),
        Options::default(),
    );
    let (code, j) = verify(&bin, &clean);
    assert_eq!((code, &j["unexplained"]), (0, &serde_json::json!(0)), "{j}");
}
