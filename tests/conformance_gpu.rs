//! vyre 0.7.2's golden vectors (tests/data/conformance) on the GPU engine — lavapipe where
//! there is no GPU. Every vector the CPU oracle replays without a `race` diagnostic (all
//! `random-*` and `special-*` ones), and the single-workgroup `prio-*` ones, must give vyre's
//! final control, ring and IO queue bit for bit and its debug records as a multiset with the
//! same cursor. `special-printf_flood` overflows the log, so which 64 records survive depends on
//! lane order: there the cursor, the record count and the reported reserved/dropped totals
//! are compared. Racy vectors must still run to completion.
//!
//! No adapter is a failure with instructions, never a skip: CI must run these.

use std::path::PathBuf;

use megascope::abi::layout::default_workgroup_size;
use megascope::engine::cpu::CpuEngine;
use megascope::engine::gpu::GpuEngine;
use megascope::engine::{Backend, DiagnosticKind, Variant};
use megascope::scenario::{Replay, Vector, record_multiset};

/// wgpu-core's debug build captures a `Backtrace` on every internal lock when backtraces
/// are enabled (RUST_BACKTRACE=1 in CI), which makes each GPU call ~25× slower; library
/// backtraces are switched off before any device exists (panic backtraces stay on).
pub fn quiet_lib_backtraces() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: runs once, before this process creates any device or thread of its own; the
    // other tests block on `ONCE` until it is done.
    ONCE.call_once(|| unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") });
}

fn engine() -> GpuEngine {
    quiet_lib_backtraces();
    match GpuEngine::new_headless() {
        Ok(e) => e,
        Err(e) => panic!(
            "the GPU conformance tests need a wgpu adapter: {e}\n\
             (on a machine without a GPU: apt-get install libvulkan1 mesa-vulkan-drivers, \
             and set XDG_RUNTIME_DIR)"
        ),
    }
}

fn all_vectors() -> Vec<(String, Vector)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance");
    let v = Vector::load_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(v.len() >= 48, "expected the 48 vectors, found {}", v.len());
    v
}

/// Whether the CPU oracle replays the vector without a race diagnostic.
fn race_free(v: &Vector) -> bool {
    let r = v
        .scenario
        .replay(&mut CpuEngine::new())
        .expect("CPU replay");
    !r.reports
        .iter()
        .flat_map(|rep| &rep.diagnostics)
        .any(|d| d.kind == DiagnosticKind::Race)
}

fn record_count(log: &[u32]) -> usize {
    record_multiset(log).len()
}

/// What differs between a GPU replay and the vector's final buffers.
fn differences(name: &str, v: &Vector, r: &Replay) -> Vec<String> {
    let mut diffs = v.final_differences(&r.state);
    let (got, want) = (r.state.debug_log(), &v.final_.debug_log[..]);
    let reserved: u64 = r.reports.iter().map(|rep| rep.debug_records).sum();
    let dropped: u64 = r.reports.iter().map(|rep| rep.debug_dropped).sum();
    if got[0] != want[0] {
        diffs.push(format!("debug cursor {} != {}", got[0], want[0]));
    } else if name == "special-printf_flood.json" {
        if record_count(got) != record_count(want) {
            diffs.push(format!(
                "debug records: {} != {}",
                record_count(got),
                record_count(want)
            ));
        }
    } else if record_multiset(got) != record_multiset(want) {
        diffs.push("debug_log: records differ as a multiset".into());
    }
    let cursor_records = want[0] as u64 / 4;
    if (reserved, dropped) != (cursor_records, cursor_records.saturating_sub(64)) {
        diffs.push(format!(
            "reported {reserved} PRINTF records reserved and {dropped} dropped; the cursor says {cursor_records} and {}",
            cursor_records.saturating_sub(64)
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
    if r.reports.iter().any(|rep| rep.backend != Backend::Gpu) {
        diffs.push("a report does not come from the GPU backend".into());
    }
    diffs
}

/// Replays each vector on the GPU; returns the failures.
fn replay_all(gpu: &mut GpuEngine, vectors: &[(String, Vector)]) -> Vec<String> {
    let mut failures = Vec::new();
    for (name, v) in vectors {
        match v.scenario.replay(gpu) {
            Ok(r) => {
                let diffs = differences(name, v, &r);
                if !diffs.is_empty() {
                    failures.push(format!("{name}:\n    {}", diffs.join("\n    ")));
                }
            }
            Err(e) => failures.push(format!("{name}: replay failed: {e}")),
        }
    }
    failures
}

#[test]
fn gpu_engine_reproduces_every_race_free_vector() {
    let mut gpu = engine();
    let mut compared = Vec::new();
    for (name, v) in all_vectors() {
        if race_free(&v) {
            compared.push((name, v));
        } else {
            assert!(
                !(name.starts_with("random-") || name.starts_with("special-")),
                "{name} should be race-free on the CPU"
            );
        }
    }
    assert!(
        compared.len() >= 23,
        "only {} race-free vectors",
        compared.len()
    );
    let failures = replay_all(&mut gpu, &compared);
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed on {}:\n{}",
        failures.len(),
        compared.len(),
        gpu.adapter_name(),
        failures.join("\n")
    );
}

/// The `prio-*` vectors are racy by the CPU's rules (the starvation counter takes adds and a
/// reset in one dispatch), but each runs in one workgroup, where the megakernel applies the
/// winners' counter updates level by level between barriers — the CPU's lockstep order — so
/// the GPU must reproduce them bit for bit too (debug records as a multiset).
#[test]
fn single_workgroup_priority_vectors_match_too() {
    let mut gpu = engine();
    let prio: Vec<(String, Vector)> = all_vectors()
        .into_iter()
        .filter(|(_, v)| {
            let s = &v.scenario;
            let wg = s
                .workgroup_size
                .unwrap_or_else(|| default_workgroup_size(s.slot_count));
            s.variant() == Variant::Priority && wg == s.slot_count
        })
        .collect();
    assert!(
        prio.len() >= 9,
        "expected the 9 prio vectors, found {}",
        prio.len()
    );
    let failures = replay_all(&mut gpu, &prio);
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed on {}:\n{}",
        failures.len(),
        prio.len(),
        gpu.adapter_name(),
        failures.join("\n")
    );
}

/// Racy vectors have no single right answer, but they must run to completion, with every
/// slot counted once in the status histogram.
#[test]
fn racy_vectors_run_to_completion() {
    let mut gpu = engine();
    for (name, v) in all_vectors() {
        let r = v
            .scenario
            .replay(&mut gpu)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for rep in &r.reports {
            assert_eq!(
                rep.status_counts.0.iter().sum::<u64>(),
                v.scenario.slot_count as u64,
                "{name}: histogram"
            );
        }
    }
}

/// `special-unknown_opcode` publishes user opcode 0x1234, opcode 0x20 (32: no metric word)
/// and an ATOMIC_ADD to word 41: two ops without a handler, nothing out of range.
#[test]
fn unknown_opcodes_are_diagnosed_on_the_gpu() {
    let (_, v) = all_vectors()
        .into_iter()
        .find(|(n, _)| n == "special-unknown_opcode.json")
        .expect("special-unknown_opcode.json is present");
    let mut gpu = engine();
    let r = v.scenario.replay(&mut gpu).expect("replay");
    let diags: Vec<_> = r.reports.iter().flat_map(|rep| &rep.diagnostics).collect();
    let unknown = diags
        .iter()
        .find(|d| d.kind == DiagnosticKind::UnknownOpcode)
        .unwrap_or_else(|| panic!("no unknown_opcode diagnostic in {diags:#?}"));
    assert_eq!(unknown.count, 2, "{unknown:?}");
    assert!(
        matches!(unknown.slot, Some(0) | Some(1)),
        "the culprit is slot 0 or 1: {unknown:?}"
    );
    assert!(
        !diags.iter().any(|d| d.kind == DiagnosticKind::OutOfRange),
        "nothing in this vector is out of range: {diags:#?}"
    );
    assert_eq!(r.reports[0].executed, 3);
    assert_eq!(r.reports[0].status_counts.0[3], 3, "three slots DONE");
}
