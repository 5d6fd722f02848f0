//! Every golden vector of vyre 0.7.2 (tests/data/conformance, copied from
//! ../shared/conformance) replayed on the CPU engine: final buffers bit for bit — racy ones
//! included — with the priority variant's debug records compared as a multiset. Racy vectors
//! must raise the race diagnostic; race-free ones must not.

use std::path::PathBuf;

use megascope::engine::cpu::CpuEngine;
use megascope::engine::{DiagnosticKind, Variant};
use megascope::scenario::{Vector, record_multiset};

fn vectors() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/data/conformance exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    assert!(v.len() >= 40, "expected the 48 vectors, found {}", v.len());
    v
}

fn first_diff(name: &str, got: &[u32], want: &[u32]) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!("{name}: length {} != {}", got.len(), want.len()));
    }
    let bad: Vec<usize> = (0..got.len()).filter(|&i| got[i] != want[i]).collect();
    (!bad.is_empty()).then(|| {
        let shown: Vec<String> = bad
            .iter()
            .take(6)
            .map(|&i| format!("[{i}] got {} want {}", got[i], want[i]))
            .collect();
        format!("{name}: {} words differ: {}", bad.len(), shown.join(", "))
    })
}

#[test]
fn cpu_engine_reproduces_every_vector() {
    let mut failures = Vec::new();
    for path in vectors() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let v = Vector::load(&path).unwrap();
        let mut engine = CpuEngine::new();
        let r = match v.scenario.replay(&mut engine) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{name}: replay failed: {e}"));
                continue;
            }
        };
        let mut diffs = Vec::new();
        if !v.initial.control.is_empty() {
            diffs.extend(first_diff(
                "initial control",
                &r.initial.control,
                &v.initial.control,
            ));
        }
        diffs.extend(first_diff("control", r.state.control(), &v.final_.control));
        diffs.extend(first_diff("ring", r.state.ring(), &v.final_.ring));
        diffs.extend(first_diff(
            "io_queue",
            r.state.io_queue(),
            &v.final_.io_queue,
        ));
        if v.scenario.variant() == Variant::Priority {
            if r.state.debug_log()[0] != v.final_.debug_log[0]
                || record_multiset(r.state.debug_log()) != record_multiset(&v.final_.debug_log)
            {
                diffs.push("debug_log: records differ as a multiset".into());
            }
        } else {
            diffs.extend(first_diff(
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
