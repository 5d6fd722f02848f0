//! vyre 0.7.2's golden vectors (tests/data/conformance) on the GPU engine — lavapipe where
//! there is no GPU. Every vector the CPU oracle replays without a `race` diagnostic (all
//! `random-*` and `special-*` ones), and the single-workgroup `prio-*` ones, must give vyre's
//! final control, ring and IO queue bit for bit and its debug records as a multiset with the
//! same cursor. `special-printf_flood` overflows the log, so which 64 records survive depends on
//! lane order: there the cursor, the record count and the reported reserved/dropped totals
//! are compared. The `pers-*` ones (one workgroup each) must match bit for bit too. Every
//! vector, racy ones included, must run to completion and raise the same races as the CPU.
//!
//! No adapter is a failure with instructions, never a skip: CI must run these.

use megascope::engine::DispatchMirror;
use std::path::PathBuf;

use megascope::abi::layout::default_workgroup_size;
use megascope::engine::cpu::CpuEngine;
use megascope::engine::gpu::GpuEngine;
use std::collections::BTreeSet;

use megascope::engine::{Backend, DiagnosticKind, DispatchReport, RaceCoverage, Variant};
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
    assert!(v.len() >= 54, "expected the 54 vectors, found {}", v.len());
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
fn replay_all(
    gpu: &mut GpuEngine,
    vectors: &[(String, Vector)],
    race_analysis: bool,
) -> Vec<String> {
    let mut failures = Vec::new();
    for (name, v) in vectors {
        match v
            .scenario
            .replay_with(gpu, |o| o.race_analysis = race_analysis)
        {
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

/// Replays `vectors` in every build of the direct passes — with race analysis and without it,
/// each with the workgroup tallies of control adds (a hardware GPU's default) and without
/// them (a software driver's), the tallies with device workgroups running one, two or three
/// of the dispatch's workgroups — and fails naming every vector that differs.
fn replay_in_every_direct_build(gpu: &mut GpuEngine, vectors: &[(String, Vector)]) {
    for (race_analysis, tallies, per) in [
        (true, false, 1),
        (true, true, 1),
        (true, true, 2),
        (false, true, 1),
        (false, true, 3),
        (false, false, 1),
    ] {
        gpu.set_workgroup_tallies(tallies);
        gpu.set_groups_per_workgroup(Some(per));
        let failures = replay_all(gpu, vectors, race_analysis);
        assert!(
            failures.is_empty(),
            "{} of {} vectors failed on {} (race analysis {race_analysis}, workgroup tallies \
             {tallies}, {per} workgroups per device workgroup):\n{}",
            failures.len(),
            vectors.len(),
            gpu.adapter_name(),
            failures.join("\n")
        );
    }
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
    replay_in_every_direct_build(&mut gpu, &compared);
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
    let failures = replay_all(&mut gpu, &prio, true);
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed on {}:\n{}",
        failures.len(),
        prio.len(),
        gpu.adapter_name(),
        failures.join("\n")
    );
}

/// A race as both engines must name it: (word, slot pair, slot, scheduler).
type RaceKey = (Option<u64>, Option<[u32; 2]>, Option<u32>, bool);

fn races(r: &DispatchReport, skip: &BTreeSet<u64>) -> Vec<RaceKey> {
    let mut v: Vec<RaceKey> = r
        .diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::Race)
        .filter(|d| d.word.is_none_or(|w| !skip.contains(&w)))
        .map(|d| (d.word, d.slots, d.slot, d.scheduler))
        .collect();
    v.sort();
    v
}

/// The control words a dispatch's slots store *computed* values to — a LOAD_U32's or a
/// COMPARE_SWAP's observable word, a COMPARE_SWAP's target (whether it stores depends on
/// the value it finds), a MEMCPY's destination. On a racy vector those values depend on
/// lane order, and so may the rules that look at values (two stores of *different* values,
/// a store of *another* value than the word held): races on these words can rightly differ
/// between the GPU's order and the CPU's.
fn value_carrying_words(v: &Vector, d: u32, control_len: u64) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    for it in v.scenario.items.iter().filter(|it| it.dispatch == d) {
        let a = |i: usize| it.args.get(i).copied().unwrap_or(0) as u64;
        match it.opcode.opcode().map(|o| o.0) {
            Ok(3) => {
                out.insert((160 + a(1)) & 0xFFFF_FFFF);
            }
            Ok(4) => {
                out.insert(a(0));
                out.insert((160 + a(0)) & 0xFFFF_FFFF);
            }
            Ok(5) => out.extend((0..a(2).min(control_len)).map(|i| (a(1) + i) & 0xFFFF_FFFF)),
            _ => {}
        }
    }
    out
}

/// Racy vectors have no single right answer for their values, but the GPU must run them to
/// completion (every slot counted once in the status histogram), with its race analysis
/// complete, and find the races the CPU oracle finds from the same state: every dispatch of
/// the GPU's replay is run again on the CPU from the GPU's state before it, and both must name
/// the same words and slots — except on the words whose stored values lane order computes
/// ([`value_carrying_words`]), and for dispatches where the two orders claimed different slots
/// (a racing store to a tenant mask), which this test counts and names rather than compares.
#[test]
fn racy_vectors_raise_the_same_races_as_the_cpu() {
    let mut gpu = engine();
    let mut failures = Vec::new();
    let (mut compared, mut skipped) = (0, Vec::new());
    for (name, v) in all_vectors() {
        let s = &v.scenario;
        let mut state = s.initial_state().unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut cpu_races = 0;
        for d in 0..s.dispatches {
            s.publish_for(&mut state, d)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut opts = s.dispatch_options();
            opts.dispatch_index = d as u64;
            let mut cpu_state = state.clone();
            let g = state
                .dispatch(&mut gpu, &opts)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let c = cpu_state
                .dispatch(&mut CpuEngine::new(), &opts)
                .unwrap_or_else(|e| panic!("{name}: CPU: {e}"));
            assert_eq!(
                g.status_counts.0.iter().sum::<u64>(),
                s.slot_count as u64,
                "{name}: histogram"
            );
            assert_eq!(g.race_analysis, RaceCoverage::Full, "{name}: GPU analysis");
            let skip = value_carrying_words(&v, d, state.control().len() as u64);
            cpu_races += races(&c, &BTreeSet::new()).len();
            if state.ring() != cpu_state.ring() {
                skipped.push(format!("{name} dispatch {d}"));
                continue;
            }
            compared += 1;
            let (gr, cr) = (races(&g, &skip), races(&c, &skip));
            if gr != cr {
                failures.push(format!(
                    "{name} dispatch {d}:\n    gpu {gr:?}\n    cpu {cr:?}"
                ));
            }
        }
        if name.starts_with("racy-") && cpu_races == 0 {
            failures.push(format!("{name}: the CPU found no race in a racy vector"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} dispatches differ on {}:\n{}",
        failures.len(),
        gpu.adapter_name(),
        failures.join("\n")
    );
    assert!(
        compared >= 60 && skipped.len() <= 5,
        "{compared} dispatches compared; claims differed in {skipped:?}"
    );
}

/// The `pers-*` vectors (the persistent variant, one workgroup each, ended by a SHUTDOWN
/// slot) are racy by the CPU's rules — SHUTDOWN is stored while the lanes that ran read it —
/// but a single workgroup checks SHUTDOWN at the top of each pass, before any of its lanes
/// runs a slot, so the GPU must reproduce them bit for bit too.
#[test]
fn persistent_vectors_match_too() {
    let mut gpu = engine();
    let pers: Vec<(String, Vector)> = all_vectors()
        .into_iter()
        .filter(|(name, _)| name.starts_with("pers-"))
        .collect();
    assert!(
        pers.len() >= 6,
        "expected the 6 pers vectors, found {}",
        pers.len()
    );
    assert!(
        pers.iter()
            .all(|(_, v)| v.scenario.variant() == Variant::Persistent),
        "pers vectors run the persistent variant"
    );
    replay_in_every_direct_build(&mut gpu, &pers);
}

/// `special-unknown_opcode` publishes user opcode 0x1234, opcode 0x20 (32: no metric word)
/// and an ATOMIC_ADD to word 41: two ops without a handler, nothing out of range. With race
/// analysis on (the default) the GPU lists them as the CPU does, one per opcode with its slot;
/// without it, once for the kind.
#[test]
fn unknown_opcodes_are_diagnosed_on_the_gpu() {
    let (_, v) = all_vectors()
        .into_iter()
        .find(|(n, _)| n == "special-unknown_opcode.json")
        .expect("special-unknown_opcode.json is present");
    let mut gpu = engine();
    let unknown = |r: &megascope::scenario::Replay| {
        let mut u: Vec<(Option<u32>, u64, String)> = r
            .reports
            .iter()
            .flat_map(|rep| &rep.diagnostics)
            .filter(|d| d.kind == DiagnosticKind::UnknownOpcode)
            .map(|d| (d.slot, d.count, d.message.clone()))
            .collect();
        u.sort();
        u
    };
    let cpu = v
        .scenario
        .replay(&mut megascope::engine::cpu::CpuEngine::new())
        .expect("cpu replay");
    let r = v.scenario.replay(&mut gpu).expect("replay");
    assert_eq!(
        unknown(&r),
        unknown(&cpu),
        "per opcode, as the CPU lists them"
    );
    assert_eq!(
        unknown(&r).iter().map(|u| (u.0, u.1)).collect::<Vec<_>>(),
        vec![(Some(0), 1), (Some(1), 1)]
    );
    let diags: Vec<_> = r.reports.iter().flat_map(|rep| &rep.diagnostics).collect();
    assert!(
        !diags.iter().any(|d| d.kind == DiagnosticKind::OutOfRange),
        "nothing in this vector is out of range: {diags:#?}"
    );
    let off = v
        .scenario
        .replay_with(&mut gpu, |o| o.race_analysis = false)
        .expect("replay without analysis");
    let once = unknown(&off);
    assert_eq!(once.len(), 1, "one entry for the kind: {once:?}");
    assert_eq!(once[0].1, 2, "{once:?}");
    assert!(
        matches!(once[0].0, Some(0) | Some(1)),
        "the culprit is slot 0 or 1: {once:?}"
    );
    assert_eq!(r.reports[0].executed, 3);
    assert_eq!(r.reports[0].status_counts.0[3], 3, "three slots DONE");
}
