//! Every scenario under tests/scenarios/ recorded through vyre-reference 0.7.2: the recording
//! reopens, holds exactly vyre-peer's steps (kinds, labels, dispatch metadata), its first state
//! is vyre's fresh host mirror, every publish step shows the published slots, its last state is
//! vyre's final readback byte for byte, and the final words are what the scenario computes.

mod common;

use common::*;
use megascope_record::{Recording, StepKind};
use serde_json::Value as Json;
use vyre_recorder::Options;
use vyre_runtime::resident_work_queue as mk;
use vyre_runtime::resident_work_queue::ResidentQueueBuffers;

/// Words of the final control buffer a scenario must produce, its done count and epoch.
struct Expect {
    control: &'static [(usize, u32)],
    done_count: u32,
    epoch: u32,
}

fn expect(name: &str) -> Expect {
    match name {
        "store_u32" => Expect {
            control: &[
                (160, 11),
                (161, 0xDEAD_BEEF),
                (162, u32::MAX),
                (167, 123_456),
                (165, 7),
                (163, 0),
            ],
            done_count: 5,
            epoch: 0,
        },
        "atomic_add" => Expect {
            control: &[(160, 1020), (161, 5), (162, u32::MAX), (163, 0)],
            done_count: 7,
            epoch: 0,
        },
        "load_u32" => Expect {
            control: &[(160, 4242), (162, 77), (163, 4242), (167, 4242)],
            done_count: 5,
            epoch: 0,
        },
        "printf_debug" => Expect {
            control: &[],
            done_count: 6,
            epoch: 0,
        },
        "cas_fence_tenants" => Expect {
            control: &[
                (170, 100),
                (330, 99),
                (171, 6),
                (331, 6),
                (162, 9),
                (160, 4242),
                (180, 6),
                (161, 0),
                (163, 0),
                (4, 0),
            ],
            done_count: 8,
            epoch: 2,
        },
        "persistent_shutdown" => Expect {
            control: &[(0, 1), (160, 5), (161, 9)],
            done_count: 4,
            epoch: 0,
        },
        "multi_dispatch" => Expect {
            control: &[
                (160, 4),
                (161, 1111),
                (162, 2222),
                (163, 1111),
                (164, 2222),
                (165, 2222),
                (175, 4),
                (167, 4),
                (96 + mk::opcode::DFA_STEP as usize, 1),
                (96 + mk::opcode::ATOMIC_ADD as usize, 5),
                (96 + mk::opcode::LOAD_U32 as usize, 2),
                (96 + mk::opcode::MEMCPY as usize, 1),
            ],
            done_count: 11,
            epoch: 0,
        },
        "priority_program" => Expect {
            control: &[(0, 1), (160, 5), (161, 9)],
            done_count: 4,
            epoch: 0,
        },
        other => panic!("no expectations for {other}"),
    }
}

fn words(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn opcode_of(v: &Json) -> u32 {
    vyre_recorder::opcode_from_json(v).expect("opcode")
}

fn check_scenario(name: &str) {
    let scen = scenario_json(name);
    let dir = out_dir(&format!("recordings-{name}"));
    let (file, report) = record(name, &dir, Options::default());
    let rec = Recording::open(&file).expect("reopen the recording");
    assert!(rec.is_finished(), "{name}: recording not finished");
    assert!(
        rec.damage().is_none(),
        "{name}: damaged: {:?}",
        rec.damage()
    );
    assert!(
        rec.warnings().is_empty(),
        "{name}: warnings {:?}",
        rec.warnings()
    );

    // The steps vyre-peer's --record writes, in order.
    let expected = expected_steps(&scen);
    assert_eq!(recorded_steps(&rec), expected, "{name}: steps");
    assert_eq!(report.steps, expected, "{name}: reported steps");
    assert_eq!(report.summary.steps as usize, expected.len());

    // Header.
    let slots = scen["slot_count"].as_u64().unwrap() as u32;
    let observable = scen["observable_slots"].as_u64().unwrap_or(0) as u32;
    let tenants = scen["tenant_count"].as_u64().unwrap_or(1) as u32;
    let program = scen["program"].as_str().unwrap_or("once");
    let wg = scen["workgroup_size"]
        .as_u64()
        .map(|w| w as u32)
        .unwrap_or_else(|| {
            (0..=8)
                .rev()
                .map(|k| 1u32 << k)
                .find(|w| slots.is_multiple_of(*w))
                .unwrap()
        });
    let meta = rec.meta();
    let fp = &meta.fingerprint;
    assert_eq!(fp.control_words, 160 + observable, "{name}: control words");
    assert_eq!(fp.ring_words, 16 * slots, "{name}: ring words");
    assert_eq!(fp.slot_count, slots);
    assert_eq!(fp.tenant_count, tenants);
    assert_eq!(fp.vyre_version, "0.7.2");
    assert!(meta.program.contains("vyre 0.7.2"), "{}", meta.program);
    assert!(meta.program.contains("cpu-ref"), "{}", meta.program);
    assert!(
        meta.program.contains(&format!("`{program}`")),
        "{}",
        meta.program
    );
    assert_eq!(meta.extra["path"], "cpu-ref");

    // Step metadata.
    for i in 0..rec.len() {
        let info = rec.info(i).unwrap();
        match &info.kind {
            StepKind::Host => {
                assert_eq!(info.wall_ms, None, "{name} step {i}: host step with a time");
            }
            StepKind::Dispatch {
                variant,
                workgroup_size,
            } => {
                assert_eq!(variant, program, "{name} step {i}: variant");
                assert_eq!(*workgroup_size, wg, "{name} step {i}: workgroup size");
                let ms = info.wall_ms.expect("dispatch wall_ms");
                assert!(ms.is_finite() && ms >= 0.0, "{name} step {i}: wall_ms {ms}");
                assert_eq!(
                    info.extra.get("path"),
                    Some(&Json::from("cpu-ref")),
                    "{name} step {i}"
                );
            }
        }
    }
    assert_eq!(
        report.dispatch_wall_ms.len() as u64,
        scen["dispatches"].as_u64().unwrap_or(1)
    );

    // Step 0: vyre's fresh host mirror plus the initial control writes.
    let fresh = ResidentQueueBuffers::new(slots, tenants, observable).unwrap();
    let mut control0 = words(fresh.control_bytes());
    for w in scen["initial_control_writes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        control0[w["index"].as_u64().unwrap() as usize] = w["value"].as_u64().unwrap() as u32;
    }
    let s0 = rec.state(0).unwrap();
    assert_eq!(s0.control, control0, "{name}: step 0 control");
    assert_eq!(s0.ring, words(fresh.ring_bytes()), "{name}: step 0 ring");
    assert_eq!(
        s0.debug_log,
        words(fresh.debug_log_bytes()),
        "{name}: step 0 debug_log"
    );
    assert_eq!(
        s0.io_queue,
        words(fresh.io_queue_bytes()),
        "{name}: step 0 io_queue"
    );

    // Each publish step shows exactly its round's items in the ring, and nothing else changed
    // in control, debug_log or io_queue.
    let items = scen["items"].as_array().cloned().unwrap_or_default();
    for i in 1..rec.len() {
        let info = rec.info(i).unwrap();
        let Some(round) = info
            .label
            .strip_prefix("published ")
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|d| d.parse::<u64>().ok())
        else {
            continue;
        };
        let (before, after) = (rec.state(i - 1).unwrap(), rec.state(i).unwrap());
        assert_eq!(
            before.control, after.control,
            "{name} step {i}: publish changed control"
        );
        assert_eq!(before.debug_log, after.debug_log);
        assert_eq!(before.io_queue, after.io_queue);
        let mut touched = std::collections::BTreeSet::new();
        for it in items
            .iter()
            .filter(|it| it["dispatch"].as_u64().unwrap_or(0) == round)
        {
            let s = it["slot"].as_u64().unwrap() as usize;
            touched.insert(s);
            let slot = &after.ring[s * 16..s * 16 + 16];
            assert_eq!(
                slot[0],
                mk::slot::PUBLISHED,
                "{name} step {i} slot {s}: status"
            );
            assert_eq!(
                slot[1],
                opcode_of(&it["opcode"]),
                "{name} step {i} slot {s}: opcode"
            );
            assert_eq!(
                slot[2] as u64,
                it["tenant"].as_u64().unwrap_or(0),
                "{name} slot {s}: tenant"
            );
            if let Some(p) = it["priority"].as_u64() {
                assert_eq!(slot[3] as u64, p, "{name} step {i} slot {s}: priority");
            }
            for (k, a) in it["args"].as_array().unwrap().iter().enumerate() {
                assert_eq!(
                    slot[4 + k] as u64,
                    a.as_u64().unwrap(),
                    "{name} slot {s}: arg {k}"
                );
            }
        }
        for s in 0..slots as usize {
            if !touched.contains(&s) {
                assert_eq!(
                    before.ring[s * 16..s * 16 + 16],
                    after.ring[s * 16..s * 16 + 16],
                    "{name} step {i}: slot {s} changed but was not published"
                );
            }
        }
    }

    // The last state is vyre's final readback, byte for byte.
    let last = rec.state(rec.len() - 1).unwrap();
    let recorded = [&last.control, &last.ring, &last.debug_log, &last.io_queue];
    for (k, name_k) in ["control", "ring", "debug_log", "io_queue"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            le_bytes(recorded[k]),
            report.final_bytes[k],
            "{name}: last recorded {name_k} differs from vyre's readback"
        );
    }

    // What the scenario computes.
    let e = expect(name);
    for &(w, v) in e.control {
        assert_eq!(last.control[w], v, "{name}: control[{w}]");
    }
    assert_eq!(
        last.control[mk::control::DONE_COUNT as usize],
        e.done_count,
        "{name}: done count"
    );
    assert_eq!(report.done_count, e.done_count);
    assert_eq!(
        last.control[mk::control::EPOCH as usize],
        e.epoch,
        "{name}: epoch"
    );
    assert_eq!(report.epoch, e.epoch);
}

#[test]
fn store_u32_records_every_step() {
    check_scenario("store_u32");
}

#[test]
fn atomic_add_records_every_step() {
    check_scenario("atomic_add");
}

#[test]
fn load_u32_records_every_step() {
    check_scenario("load_u32");
    // LOAD_U32 of control[2] (the tenant-table pointer) copies it.
    let dir = out_dir("load_u32-pointer");
    let (file, _) = record("load_u32", &dir, Options::default());
    let rec = Recording::open(&file).unwrap();
    let last = rec.state(rec.len() - 1).unwrap();
    assert_eq!(last.control[161], last.control[2]);
}

#[test]
fn printf_records_every_step() {
    check_scenario("printf_debug");
    let dir = out_dir("printf-records");
    let (file, _) = record("printf_debug", &dir, Options::default());
    let rec = Recording::open(&file).unwrap();
    let debug = rec.state(rec.len() - 1).unwrap().debug_log;
    assert_eq!(debug[0], 24, "cursor: 6 records of 4 words");
    let mut records: Vec<[u32; 4]> = (0..6)
        .map(|r| {
            [
                debug[1 + 4 * r],
                debug[2 + 4 * r],
                debug[3 + 4 * r],
                debug[4 + 4 * r],
            ]
        })
        .collect();
    records.sort();
    assert_eq!(
        records,
        vec![
            [42, 1, 2, 0],
            [43, 3, 4, 48],
            [44, 5, 6, 17 * 16],
            [45, 7, 8, 47 * 16],
            [46, 9, 10, 48],
            [47, 11, 12, 20 * 16]
        ]
    );
    // After dispatch 0 (step 2) only the first four records exist.
    assert_eq!(rec.state(2).unwrap().debug_log[0], 16);
}

#[test]
fn cas_fence_and_disabled_tenant_record_every_step() {
    check_scenario("cas_fence_tenants");
    let dir = out_dir("cas-ring");
    let (file, _) = record("cas_fence_tenants", &dir, Options::default());
    let rec = Recording::open(&file).unwrap();
    let ring = rec.state(rec.len() - 1).unwrap().ring;
    // Tenant 1 is disabled: its slots stay PUBLISHED; every other published slot is DONE.
    for s in [2usize, 40] {
        assert_eq!(ring[s * 16], mk::slot::PUBLISHED, "slot {s}");
    }
    for s in [0usize, 1, 3, 4, 5, 6, 41] {
        assert_eq!(ring[s * 16], mk::slot::DONE, "slot {s}");
    }
}

#[test]
fn persistent_program_ending_in_shutdown_records_every_step() {
    check_scenario("persistent_shutdown");
}

#[test]
fn multi_dispatch_records_every_step() {
    check_scenario("multi_dispatch");
    // Dispatch 3 publishes nothing: two dispatch steps follow each other, and it changes nothing.
    let dir = out_dir("multi-idle");
    let (file, _) = record("multi_dispatch", &dir, Options::default());
    let rec = Recording::open(&file).unwrap();
    let steps = recorded_steps(&rec);
    let d2 = steps.iter().position(|(_, l)| l == "dispatch 2").unwrap();
    assert_eq!(steps[d2 + 1].1, "dispatch 3");
    assert_eq!(rec.state(d2).unwrap(), rec.state(d2 + 1).unwrap());
}

#[test]
fn priority_program_records_every_step() {
    check_scenario("priority_program");
}

#[test]
fn keyframes_and_deltas_reproduce_vyre_state_at_every_step() {
    // 2048 slots (32,768 ring words: 32 blocks), all re-published every round, keyframe every
    // 2 steps: every state read back from deltas must equal what vyre handed over.
    let slots = 2048u32;
    let items: Vec<Json> = (0..3)
        .flat_map(|d| {
            (0..slots).map(move |s| {
                serde_json::json!({"slot": s, "opcode": "ATOMIC_ADD", "args": [s % 7 + 1, 160 + s % 16], "dispatch": d})
            })
        })
        .collect();
    let scen = serde_json::json!({
        "slot_count": slots, "tenant_count": 1, "observable_slots": 16, "dispatches": 3, "items": items,
    });
    let scenario = vyre_recorder::Scenario::parse(&scen.to_string()).unwrap();
    let dir = out_dir("keyframes");
    let file = dir.join("big.msrec");
    let mut seen: Vec<megascope_record::State> = Vec::new();
    let mut hook = |_: u64, _: &megascope_record::StepInfo, s: &mut megascope_record::State| {
        seen.push(s.clone());
    };
    let report = vyre_recorder::run_and_record(
        &scenario,
        &file,
        Options {
            keyframe_interval: Some(2),
            hook: Some(&mut hook),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(report.summary.steps, 7);
    assert_eq!(report.summary.keyframes, 4);
    let rec = Recording::open(&file).unwrap();
    assert_eq!(rec.len(), seen.len());
    for (i, s) in seen.iter().enumerate() {
        assert_eq!(&rec.state(i).unwrap(), s, "step {i}");
    }
    let last = &seen[6];
    // Each observable word w gets, per round, the sum over slots s ≡ w (mod 16) of s % 7 + 1.
    for w in 0..16u32 {
        let per_round: u32 = (0..slots).filter(|s| s % 16 == w).map(|s| s % 7 + 1).sum();
        assert_eq!(
            last.control[(160 + w) as usize],
            3 * per_round,
            "word {}",
            160 + w
        );
    }
    assert_eq!(last.control[1], 3 * slots);
}
