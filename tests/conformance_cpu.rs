//! Every golden vector of vyre 0.7.2 (tests/data/conformance, copied from
//! ../shared/conformance) replayed on the CPU engine: final buffers bit for bit — racy ones
//! included — with the priority variant's debug records compared as a multiset. Racy vectors
//! must raise the race diagnostic; race-free ones must not.

use std::path::PathBuf;

use megascope::engine::cpu::CpuEngine;
use megascope::engine::{DiagnosticKind, Variant};
use megascope::scenario::{Vector, record_multiset, word_differences};

fn vectors() -> Vec<(String, Vector)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance");
    let v = Vector::load_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(v.len() >= 54, "expected the 54 vectors, found {}", v.len());
    v
}

#[test]
fn cpu_engine_reproduces_every_vector() {
    let mut failures = Vec::new();
    for (name, v) in vectors() {
        let mut engine = CpuEngine::new();
        let r = match v.scenario.replay(&mut engine) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: replay failed: {e}"));
                continue;
            }
        };
        let mut diffs = v.final_differences(&r.state);
        if !v.initial.control.is_empty() {
            diffs.extend(word_differences(
                "initial control",
                &r.initial.control,
                &v.initial.control,
            ));
        }
        if v.scenario.variant() == Variant::Priority {
            if r.state.debug_log()[0] != v.final_.debug_log[0]
                || record_multiset(r.state.debug_log()) != record_multiset(&v.final_.debug_log)
            {
                diffs.push("debug_log: records differ as a multiset".into());
            }
        } else {
            diffs.extend(word_differences(
                "debug_log",
                r.state.debug_log(),
                &v.final_.debug_log,
            ));
        }
        if !v.done_count_after_each_dispatch.is_empty()
            && r.done_counts != v.done_count_after_each_dispatch
        {
            diffs.push(format!(
                "done counts {:?} != {:?}",
                r.done_counts, v.done_count_after_each_dispatch
            ));
        }
        let races = r
            .reports
            .iter()
            .flat_map(|rep| &rep.diagnostics)
            .filter(|d| d.kind == DiagnosticKind::Race)
            .count();
        if name.starts_with("racy-") && races == 0 {
            diffs.push("racy vector raised no race diagnostic".into());
        }
        if name.starts_with("random-") && races > 0 {
            let first = r
                .reports
                .iter()
                .flat_map(|rep| &rep.diagnostics)
                .find(|d| d.kind == DiagnosticKind::Race)
                .unwrap();
            diffs.push(format!(
                "race-free vector reported a race: {}",
                first.message
            ));
        }
        if !diffs.is_empty() {
            failures.push(format!("{name}:\n    {}", diffs.join("\n    ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
