//! The CPU engine against hand-computed states: every opcode, every status, every variant,
//! and each diagnostic. Each test is a small specification of one rule of ABI.md.

use super::CpuEngine;
use crate::abi::control::{DONE_COUNT, EPOCH, METRICS, OBSERVABLE, STARVATION};
use crate::abi::opcode::Opcode;
use crate::abi::status::{SlotStatus, StatusCounts};
use crate::engine::DispatchMirror;
use crate::engine::{
    DiagnosticKind, DispatchEnd, DispatchOptions, DispatchReport, Engine, Variant,
};
use crate::resident::ResidentBuffers;

fn mirror(n: u32, tenants: u32, obs: u32) -> ResidentBuffers {
    ResidentBuffers::new(n, tenants, obs).unwrap()
}

fn run(m: &mut ResidentBuffers, variant: Variant) -> DispatchReport {
    m.dispatch(
        &mut CpuEngine::new(),
        &DispatchOptions::with_variant(variant),
    )
    .unwrap()
}

fn status(m: &ResidentBuffers, s: usize) -> SlotStatus {
    SlotStatus::from_word(m.ring()[s * 16])
}

fn kinds(r: &DispatchReport) -> Vec<DiagnosticKind> {
    r.diagnostics.iter().map(|d| d.kind).collect()
}

fn c(m: &ResidentBuffers, i: usize) -> u32 {
    m.control()[i]
}

#[test]
fn nop_counts_a_metric_and_the_done_count() {
    let mut m = mirror(4, 1, 0);
    m.publish_slot(2, 0, Opcode::NOP, &[]).unwrap();
    let r = run(&mut m, Variant::Once);
    assert_eq!(status(&m, 2), SlotStatus::Done);
    assert_eq!(c(&m, METRICS), 1);
    assert_eq!(c(&m, DONE_COUNT), 1);
    assert_eq!(
        (r.claimed, r.executed, r.passes, r.end),
        (1, 1, 1, DispatchEnd::OnePass)
    );
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
}

#[test]
fn store_add_load() {
    let mut m = mirror(4, 1, 4);
    m.write_control(161, u32::MAX).unwrap();
    m.publish_slot(0, 0, Opcode::STORE_U32, &[0xDEAD_BEEF, 160])
        .unwrap();
    m.publish_slot(1, 0, Opcode::ATOMIC_ADD, &[2, 161]).unwrap();
    m.publish_slot(2, 0, Opcode::LOAD_U32, &[DONE_COUNT as u32, 2])
        .unwrap();
    run(&mut m, Variant::Once);
    assert_eq!(c(&m, 160), 0xDEAD_BEEF);
    assert_eq!(c(&m, 161), 1, "ATOMIC_ADD wraps");
    // LOAD_U32 of DONE_COUNT sees the value from before this workgroup's increments
    assert_eq!(c(&m, 162), 0);
    assert_eq!(c(&m, DONE_COUNT), 3);
    assert_eq!(&m.control()[METRICS..METRICS + 4], &[0, 1, 1, 1]);
}

#[test]
fn load_u32_observable_index_wraps_like_u32() {
    let mut m = mirror(2, 1, 0);
    m.write_control(5, 77).unwrap();
    // 160 + 0xFFFF_FF60 wraps to 0: the load lands in SHUTDOWN
    m.publish_slot(0, 0, Opcode::LOAD_U32, &[5, 0xFFFF_FF60])
        .unwrap();
    run(&mut m, Variant::Once);
    assert_eq!(c(&m, 0), 77);
}

#[test]
fn compare_swap_writes_old_value_to_observable_a0() {
    let mut m = mirror(2, 1, 8);
    m.write_control(3 + 1, 0).unwrap(); // control[4] = 0
    m.publish_slot(0, 0, Opcode::COMPARE_SWAP, &[4, 0, 55])
        .unwrap();
    m.publish_slot(1, 0, Opcode::COMPARE_SWAP, &[5, 9, 66])
        .unwrap(); // fails: control[5] = 0
    run(&mut m, Variant::Once);
    assert_eq!(c(&m, 4), 55);
    assert_eq!(c(&m, OBSERVABLE + 4), 0, "old value to observable a0");
    assert_eq!(c(&m, 5), 0, "failed CAS stores nothing");
    assert_eq!(c(&m, OBSERVABLE + 5), 0);
}

#[test]
fn memcpy_copies_element_by_element_not_like_memmove() {
    let mut m = mirror(2, 1, 8);
    for i in 0..4 {
        m.write_control(160 + i, 10 + i as u32).unwrap();
    }
    // overlapping forward copy [160..164) -> [161..165) smears word 160
    m.publish_slot(0, 0, Opcode::MEMCPY, &[160, 161, 4])
        .unwrap();
    run(&mut m, Variant::Once);
    assert_eq!(&m.control()[160..165], &[10, 10, 10, 10, 10]);
}

#[test]
fn memcpy_lanes_interleave_word_by_word() {
    let mut m = mirror(2, 1, 32);
    for i in 0..4 {
        m.write_control(160 + i, 1 + i as u32).unwrap();
    }
    // lane 0: [160..164) -> [170..174); lane 1: [170..174) -> [180..184).
    // Word i of lane 0 is copied before word i of lane 1, so lane 1 sees lane 0's copy.
    m.publish_slot(0, 0, Opcode::MEMCPY, &[160, 170, 4])
        .unwrap();
    m.publish_slot(1, 0, Opcode::MEMCPY, &[170, 180, 4])
        .unwrap();
    let r = run(&mut m, Variant::Once);
    assert_eq!(&m.control()[180..184], &[1, 2, 3, 4]);
    assert!(
        kinds(&r).contains(&DiagnosticKind::Race),
        "lane 1 reads what lane 0 writes"
    );
}

#[test]
fn memcpy_past_the_end_drops_stores_and_flags_them() {
    let mut m = mirror(1, 1, 0);
    m.publish_slot(0, 0, Opcode::MEMCPY, &[0, 158, u32::MAX])
        .unwrap();
    let r = run(&mut m, Variant::Once);
    let d = r
        .diagnostics
        .iter()
        .find(|d| d.kind == DiagnosticKind::OutOfRange)
        .unwrap();
    assert_eq!(d.slot, Some(0));
    assert_eq!(d.word, Some(160));
    assert!(d.count > 4_000_000_000, "{}", d.count);
    assert_eq!(status(&m, 0), SlotStatus::Done);
}

#[test]
fn dfa_step_only_counts_and_is_flagged() {
    let mut m = mirror(2, 1, 0);
    m.publish_slot(0, 0, Opcode::DFA_STEP, &[1, 2, 3]).unwrap();
    let r = run(&mut m, Variant::Once);
    assert_eq!(c(&m, METRICS + 6), 1);
    assert_eq!(status(&m, 0), SlotStatus::Done);
    assert_eq!(kinds(&r), vec![DiagnosticKind::DfaStep]);
}

#[test]
fn batch_fence_bumps_epoch_and_stores_tag() {
    let mut m = mirror(2, 1, 1);
    m.publish_slot(0, 0, Opcode::BATCH_FENCE, &[5, 9999])
        .unwrap();
    run(&mut m, Variant::Once);
    assert_eq!(c(&m, EPOCH), 1);
    assert_eq!(c(&m, 160), 9999);
    assert_eq!(c(&m, METRICS + 7), 1);
}

#[test]
fn printf_appends_a_record_with_slot_base_and_no_metric() {
    let mut m = mirror(8, 1, 0);
    m.publish_slot(3, 0, Opcode::PRINTF, &[100, 200, 300])
        .unwrap();
    let r = run(&mut m, Variant::Once);
    assert_eq!(&m.debug_log()[..5], &[4, 100, 200, 300, 48]);
    assert_eq!(m.control()[METRICS..METRICS + 32].iter().sum::<u32>(), 0);
    assert_eq!(r.debug_records, 1);
}

#[test]
fn printf_overflow_keeps_64_records_and_reports_the_dropped() {
    let mut m = mirror(128, 1, 0);
    for s in 0..70 {
        m.publish_slot(s, 0, Opcode::PRINTF, &[s as u32, 0, 0])
            .unwrap();
    }
    let r = run(&mut m, Variant::Once);
    assert_eq!(m.debug_log()[0], 280);
    assert_eq!(m.debug_log()[1 + 4 * 63], 63);
    assert_eq!((r.debug_records, r.debug_dropped), (70, 6));
    let d = r
        .diagnostics
        .iter()
        .find(|d| d.kind == DiagnosticKind::DebugOverflow)
        .unwrap();
    assert_eq!(d.count, 6);
}

#[test]
fn shutdown_sets_word_0_and_once_ignores_it() {
    let mut m = mirror(4, 1, 0);
    m.publish_slot(0, 0, Opcode::SHUTDOWN, &[]).unwrap();
    m.publish_slot(1, 0, Opcode::NOP, &[]).unwrap();
    run(&mut m, Variant::Once);
    assert_eq!(c(&m, 0), 1);
    assert_eq!(status(&m, 0), SlotStatus::Done);
    assert_eq!(c(&m, METRICS), 1, "only the NOP has a metric");
    // 0.7.2's once has no SHUTDOWN check: the next dispatch still runs
    m.publish_slot(2, 0, Opcode::NOP, &[]).unwrap();
    run(&mut m, Variant::Once);
    assert_eq!(status(&m, 2), SlotStatus::Done);
    // HEAD's once does check it
    m.publish_slot(3, 0, Opcode::NOP, &[]).unwrap();
    let opts = DispatchOptions {
        once_checks_shutdown: true,
        ..Default::default()
    };
    let r = m.dispatch(&mut CpuEngine::new(), &opts).unwrap();
    assert_eq!(status(&m, 3), SlotStatus::Published);
    assert!(kinds(&r).contains(&DiagnosticKind::ShutdownSet));
}

#[test]
fn packed_slot_runs_inner_ops_with_metrics_and_one_done_count() {
    let mut m = mirror(2, 1, 4);
    m.publish_packed_slot(
        0,
        0,
        &[(2, vec![5, 160]), (2, vec![7, 160]), (1, vec![9, 161])],
    )
    .unwrap();
    let r = run(&mut m, Variant::Once);
    assert_eq!(c(&m, 160), 12);
    assert_eq!(c(&m, 161), 9);
    assert_eq!(c(&m, METRICS + 2), 2);
    assert_eq!(c(&m, METRICS + 1), 1);
    assert_eq!(c(&m, DONE_COUNT), 1);
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
}

#[test]
fn packed_slot_clamps_to_four_ops() {
    // six packed ATOMIC_ADDs with offset 0: four run, metadata m = 3 words
    let mut bytes = [0u8; 48];
    bytes[0] = 6;
    for i in 0..6 {
        bytes[2 + 2 * i] = 2;
    }
    let mut args = [0u32; 12];
    for (i, a) in args.iter_mut().enumerate() {
        *a = u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap());
    }
    args[3] = 1; // a0 = 1
    args[4] = 161; // a1 = observable 1
    let mut m = mirror(1, 1, 4);
    m.publish_slot(0, 0, Opcode::PACKED_SLOT, &args).unwrap();
    let r = run(&mut m, Variant::Once);
    assert_eq!(c(&m, 161), 4);
    assert!(kinds(&r).contains(&DiagnosticKind::PackedClamped));
}

#[test]
fn unknown_opcodes_end_done_with_only_a_metric_below_32() {
    let mut m = mirror(4, 1, 0);
    m.publish_slot(0, 0, Opcode(0x1F), &[]).unwrap();
    m.publish_slot(1, 0, Opcode(0x20), &[]).unwrap();
    m.publish_slot(2, 0, Opcode(0x1234), &[]).unwrap();
    let r = run(&mut m, Variant::Once);
    assert!((0..3).all(|s| status(&m, s) == SlotStatus::Done));
    assert_eq!(c(&m, METRICS + 0x1F), 1);
    assert_eq!(c(&m, DONE_COUNT), 3);
    assert_eq!(
        kinds(&r)
            .iter()
            .filter(|k| **k == DiagnosticKind::UnknownOpcode)
            .count(),
        3
    );
}

#[test]
fn load_miss_in_a_dump_is_a_no_op() {
    let mut m = mirror(1, 1, 0);
    let mut w = [0u32; 16];
    w[0] = 1;
    w[1] = Opcode::LOAD_MISS.0;
    m.write_slot_raw(0, &w).unwrap();
    let r = run(&mut m, Variant::Once);
    assert_eq!(status(&m, 0), SlotStatus::Done);
    assert!(r.diagnostics[0].message.contains("self-loading"));
}

#[test]
fn disabled_tenant_stays_published_and_is_explained() {
    let mut m = mirror(4, 2, 0);
    m.write_control(4, 0).unwrap(); // tenant 1 off
    m.publish_slot(0, 1, Opcode::NOP, &[]).unwrap();
    m.publish_slot(1, 1, Opcode::NOP, &[]).unwrap();
    m.publish_slot(2, 0, Opcode::NOP, &[]).unwrap();
    let r = run(&mut m, Variant::Once);
    assert_eq!(status(&m, 0), SlotStatus::Published);
    assert_eq!(status(&m, 2), SlotStatus::Done);
    let d = r
        .diagnostics
        .iter()
        .find(|d| d.kind == DiagnosticKind::StuckTenant)
        .unwrap();
    assert_eq!((d.slot, d.word, d.count), (Some(0), Some(4), 2));
}

#[test]
fn tenant_29_aliases_the_quota_table_and_runs() {
    let mut m = mirror(2, 1, 0);
    m.publish_slot(0, 29, Opcode::NOP, &[]).unwrap();
    let r = run(&mut m, Variant::Once);
    assert_eq!(status(&m, 0), SlotStatus::Done);
    let d = r
        .diagnostics
        .iter()
        .find(|d| d.kind == DiagnosticKind::AliasedTenant)
        .unwrap();
    assert_eq!(d.word, Some(32));
}

#[test]
fn no_tenants_means_nothing_runs() {
    let mut m = mirror(2, 0, 0);
    m.publish_slot(0, 0, Opcode::NOP, &[]).unwrap();
    run(&mut m, Variant::Once);
    assert_eq!(status(&m, 0), SlotStatus::Published);
}

#[test]
fn direct_variants_leave_non_published_statuses_alone() {
    for variant in [Variant::Once, Variant::Persistent] {
        let mut m = mirror(8, 1, 0);
        for st in 2..8u32 {
            let mut w = [0u32; 16];
            w[0] = st;
            m.write_slot_raw(st, &w).unwrap();
        }
        let before = m.ring().to_vec();
        run(&mut m, variant);
        assert_eq!(m.ring(), &before[..], "{variant:?}");
    }
}

#[test]
fn out_of_range_loads_read_zero_and_stores_drop() {
    let mut m = mirror(2, 1, 0);
    m.publish_slot(0, 0, Opcode::STORE_U32, &[5, 10_000])
        .unwrap();
    m.publish_slot(1, 0, Opcode::LOAD_U32, &[20_000, 0xFFFF_FF60])
        .unwrap(); // lands in word 0
    let before: Vec<u32> = m.control().to_vec();
    let r = run(&mut m, Variant::Once);
    let oob: Vec<_> = r
        .diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::OutOfRange)
        .collect();
    assert_eq!(oob.len(), 2);
    assert_eq!(oob[0].word, Some(10_000));
    assert_eq!(c(&m, 0), 0);
    assert_eq!(m.control()[2..96], before[2..96]);
}

#[test]
fn persistent_settles_after_a_pass_that_claims_nothing() {
    let mut m = mirror(4, 1, 1);
    m.publish_slot(0, 0, Opcode::ATOMIC_ADD, &[1, 160]).unwrap();
    let r = run(&mut m, Variant::Persistent);
    assert_eq!((r.passes, r.end), (2, DispatchEnd::Settled));
    assert_eq!(c(&m, 160), 1);
}

#[test]
fn persistent_stops_at_shutdown() {
    let mut m = mirror(4, 1, 1);
    m.publish_slot(0, 0, Opcode::ATOMIC_ADD, &[1, 160]).unwrap();
    m.publish_slot(1, 0, Opcode::SHUTDOWN, &[]).unwrap();
    let r = run(&mut m, Variant::Persistent);
    assert_eq!((r.passes, r.end), (1, DispatchEnd::Shutdown));
    assert_eq!(c(&m, 0), 1);
    // a second dispatch does nothing until control[0] is cleared
    m.publish_slot(2, 0, Opcode::NOP, &[]).unwrap();
    let r = run(&mut m, Variant::Persistent);
    assert_eq!(status(&m, 2), SlotStatus::Published);
    assert_eq!(r.end, DispatchEnd::Shutdown);
    assert!(kinds(&r).contains(&DiagnosticKind::ShutdownSet));
    assert!(kinds(&r).contains(&DiagnosticKind::ShutdownWithWork));
}

/// ABI.md §5.2's example: slot 0 enables tenant 1, slot 1 (tenant 1) adds, slot 2 is
/// SHUTDOWN. vyre's reference interleaving lets slot 1 run (done count 3); in megascope's
/// lockstep order every lane reads SHUTDOWN at the same step, so slot 1 stays PUBLISHED
/// (done count 2) — any order is legal here, and the race diagnostic says so.
#[test]
fn persistent_tenant_enabled_mid_dispatch_is_a_flagged_race() {
    let mut m = mirror(4, 1, 0);
    m.publish_slot(0, 0, Opcode::STORE_U32, &[0xFFFF_FFFF, 4])
        .unwrap();
    m.publish_slot(1, 1, Opcode::ATOMIC_ADD, &[1, 40]).unwrap();
    m.publish_slot(2, 0, Opcode::SHUTDOWN, &[]).unwrap();
    let r = run(&mut m, Variant::Persistent);
    assert_eq!(status(&m, 1), SlotStatus::Published);
    assert_eq!(c(&m, DONE_COUNT), 2);
    let race_words: Vec<_> = r
        .diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::Race)
        .map(|d| d.word)
        .collect();
    // slot 1's mask read races slot 0's store; slot 0's loop-top SHUTDOWN read races slot 2
    assert!(race_words.contains(&Some(4)), "{race_words:?}");
    assert!(race_words.contains(&Some(0)), "{race_words:?}");
}

#[test]
fn persistent_chain_needs_a_pass_per_link_and_honours_the_budget() {
    // slot 0 (tenant 0) enables tenant 1; slot 1 (tenant 1) enables tenant 2; slot 2 runs
    let mut m = mirror(4, 1, 1);
    m.publish_slot(0, 0, Opcode::STORE_U32, &[1, 4]).unwrap();
    m.publish_slot(1, 1, Opcode::STORE_U32, &[1, 5]).unwrap();
    m.publish_slot(2, 2, Opcode::ATOMIC_ADD, &[1, 160]).unwrap();
    let opts = DispatchOptions {
        variant: Variant::Persistent,
        pass_budget: 2,
        ..Default::default()
    };
    let r = m.dispatch(&mut CpuEngine::new(), &opts).unwrap();
    assert_eq!((r.passes, r.end), (2, DispatchEnd::PassBudget));
    assert_eq!(status(&m, 2), SlotStatus::Published);
    let r = m.dispatch(&mut CpuEngine::new(), &opts).unwrap();
    assert_eq!(status(&m, 2), SlotStatus::Done);
    assert_eq!(r.end, DispatchEnd::Settled);
}

#[test]
fn pass_stepping_equals_a_whole_dispatch() {
    let build = || {
        let mut m = mirror(16, 1, 1);
        m.publish_slot(0, 0, Opcode::STORE_U32, &[1, 4]).unwrap();
        m.publish_slot(1, 1, Opcode::STORE_U32, &[1, 5]).unwrap();
        m.publish_slot(2, 2, Opcode::ATOMIC_ADD, &[1, 160]).unwrap();
        m
    };
    let opts = DispatchOptions::with_variant(Variant::Persistent);
    let mut whole = build();
    let r1 = whole.dispatch(&mut CpuEngine::new(), &opts).unwrap();
    let mut stepped = build();
    let mut e = CpuEngine::new();
    e.begin_dispatch(&mut stepped, &opts).unwrap();
    let mut steps = 0;
    while !e.run_passes(&mut stepped, 1).unwrap() {
        steps += 1;
    }
    let r2 = e.finish_dispatch(&mut stepped).unwrap();
    assert_eq!(whole, stepped);
    assert_eq!(r1.passes, r2.passes);
    assert_eq!(steps + 1, r2.passes);
}

fn priority_mirror(n: u32) -> ResidentBuffers {
    let mut m = mirror(n, 1, 0);
    for s in 0..n as u64 {
        m.publish_slot(s, 0, Opcode::NOP, &[]).unwrap();
    }
    m
}

#[test]
fn priority_n10_one_pass_claims_exactly_slots_0_and_1() {
    let mut m = priority_mirror(10);
    let opts = DispatchOptions {
        variant: Variant::Priority,
        pass_budget: 1,
        ..Default::default()
    };
    let r = m.dispatch(&mut CpuEngine::new(), &opts).unwrap();
    let done: Vec<usize> = (0..10)
        .filter(|&s| status(&m, s) == SlotStatus::Done)
        .collect();
    assert_eq!(done, vec![0, 1]);
    assert_eq!(r.claims_per_level, [2, 0, 0, 0, 0]);
    assert_eq!(c(&m, STARVATION), 2);
    assert_eq!(c(&m, 136), 2);
    assert_eq!(c(&m, 64), 2, "tenant 0 fairness");
}

#[test]
fn priority_starving_counter_skips_levels_0_and_1_then_resets() {
    let mut m = priority_mirror(10);
    m.write_control(STARVATION, 16).unwrap();
    let opts = DispatchOptions {
        variant: Variant::Priority,
        pass_budget: 1,
        ..Default::default()
    };
    m.dispatch(&mut CpuEngine::new(), &opts).unwrap();
    let done: Vec<usize> = (0..10)
        .filter(|&s| status(&m, s) == SlotStatus::Done)
        .collect();
    assert_eq!(done, vec![4, 5]);
    assert_eq!(c(&m, STARVATION), 0);
}

#[test]
fn priority_drains_every_partition_over_passes() {
    let mut m = priority_mirror(10);
    let r = run(&mut m, Variant::Priority);
    assert!((0..10).all(|s| status(&m, s) == SlotStatus::Done));
    assert_eq!(r.end, DispatchEnd::Settled);
    assert_eq!(r.passes, 6);
    assert_eq!(r.claims_per_level, [2, 2, 2, 2, 2]);
}

#[test]
fn priority_reversed_partition_probes_nothing() {
    // N = 16, offsets [0, 0, 10, 5, 16, 16]: partition 2 wraps to 0 probes; 12 and 13 are
    // claimed through partition 3 (ABI.md §5.4)
    let mut m = mirror(16, 1, 0);
    for (i, v) in [0u32, 0, 10, 5, 16, 16].into_iter().enumerate() {
        m.write_control(129 + i, v).unwrap();
    }
    m.publish_slot(12, 0, Opcode::NOP, &[]).unwrap();
    m.publish_slot(13, 0, Opcode::NOP, &[]).unwrap();
    let r = run(&mut m, Variant::Priority);
    assert_eq!(status(&m, 12), SlotStatus::Done);
    assert_eq!(status(&m, 13), SlotStatus::Done);
    assert_eq!(r.claims_per_level, [0, 0, 0, 2, 0]);
}

#[test]
fn priority_claims_yield_and_requeue_like_published() {
    let mut m = mirror(10, 1, 0);
    for (slot, st) in [(4u32, 5u32), (5, 6), (6, 4)] {
        let mut w = [0u32; 16];
        w[0] = st;
        m.write_slot_raw(slot, &w).unwrap();
    }
    run(&mut m, Variant::Priority);
    assert_eq!(status(&m, 4), SlotStatus::Done);
    assert_eq!(status(&m, 5), SlotStatus::Done);
    assert_eq!(
        status(&m, 6),
        SlotStatus::WaitIo,
        "WAIT_IO is never claimed"
    );
}

#[test]
fn priority_mask_turning_zero_at_the_recheck_leaves_the_slot_claimed() {
    // the tenant pointer aims at the starvation counter: the claim at level 2 stores 0 there
    let mut m = mirror(16, 1, 0);
    m.write_control(STARVATION, 5).unwrap();
    m.write_control(2, STARVATION as u32).unwrap();
    m.publish_slot(6, 0, Opcode::NOP, &[]).unwrap();
    let r = run(&mut m, Variant::Priority);
    assert_eq!(status(&m, 6), SlotStatus::Claimed);
    assert!(kinds(&r).contains(&DiagnosticKind::StuckClaimed));
}

#[test]
fn priority_slot_outside_every_partition_is_unscheduled() {
    let mut m = mirror(16, 1, 0);
    m.write_control(134, 12).unwrap(); // sentinel below N: slots 12.. are never probed
    m.publish_slot(14, 0, Opcode::NOP, &[]).unwrap();
    let r = run(&mut m, Variant::Priority);
    assert_eq!(status(&m, 14), SlotStatus::Published);
    assert!(kinds(&r).contains(&DiagnosticKind::Unscheduled));
}

#[test]
fn priority_overlapping_partitions_are_a_claim_race() {
    let mut m = mirror(16, 1, 0);
    for (i, v) in [0u32, 8, 4, 12, 16, 16].into_iter().enumerate() {
        m.write_control(129 + i, v).unwrap();
    }
    m.publish_slot(5, 0, Opcode::NOP, &[]).unwrap();
    let r = run(&mut m, Variant::Priority);
    assert!(
        kinds(&r).contains(&DiagnosticKind::Race),
        "{:?}",
        r.diagnostics
    );
}

#[test]
fn priority_with_a_budget_reports_starvation() {
    let mut m = priority_mirror(10);
    let opts = DispatchOptions {
        variant: Variant::Priority,
        pass_budget: 2,
        starvation_passes: 2,
        ..Default::default()
    };
    let r = m.dispatch(&mut CpuEngine::new(), &opts).unwrap();
    assert_eq!(r.end, DispatchEnd::PassBudget);
    let d = r
        .diagnostics
        .iter()
        .find(|d| d.kind == DiagnosticKind::Starvation)
        .unwrap();
    assert_eq!(d.count, 6);
}

#[test]
fn priority_published_io_slot_is_left_alone_and_reported() {
    let mut m = mirror(4, 1, 0);
    m.buffers_mut().io_queue[6] = 1;
    let r = run(&mut m, Variant::Priority);
    assert_eq!(m.io_queue()[6], 1);
    assert!(kinds(&r).contains(&DiagnosticKind::IoUnserviced));
}

#[test]
fn race_free_dispatch_reports_no_race() {
    let mut m = mirror(64, 2, 16);
    for s in 0..8u64 {
        // adds to one word commute; each store has a word of its own
        m.publish_slot(s, 0, Opcode::ATOMIC_ADD, &[1, 160]).unwrap();
        m.publish_slot(8 + s, 1, Opcode::STORE_U32, &[s as u32, 161 + s as u32])
            .unwrap();
    }
    let r = run(&mut m, Variant::Once);
    assert_eq!(r.executed, 16);
    assert_eq!(r.race_analysis, crate::engine::RaceCoverage::Full);
    let races: Vec<_> = r
        .diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::Race)
        .collect();
    assert!(races.is_empty(), "{races:?}");
}

#[test]
fn two_stores_of_different_values_to_one_word_are_one_race() {
    let mut m = mirror(64, 2, 8);
    for s in 0..8u64 {
        m.publish_slot(s, 0, Opcode::ATOMIC_ADD, &[1, 160]).unwrap();
        m.publish_slot(8 + s, 1, Opcode::STORE_U32, &[s as u32, 161 + s as u32 % 7])
            .unwrap();
    }
    let r = run(&mut m, Variant::Once);
    let races: Vec<_> = r
        .diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::Race)
        .collect();
    // slots 8 and 15 both store to 161 (values 0 and 7): exactly one racing word
    assert_eq!(races.len(), 1, "{races:?}");
    assert_eq!((races[0].word, races[0].slots), (Some(161), Some([8, 15])));
}

/// A race names the same two slots whatever order the lanes ran in: the lowest slots that
/// stored the lowest and the highest value, the lowest and highest reader or changer —
/// extremes a GPU computes with atomic min/max — never "the first two seen".
#[test]
fn races_name_order_free_slots() {
    let mut m = mirror(64, 1, 8);
    // word 160: slots 40 and 9 store 5, slot 20 stores 3, slot 33 stores 9
    for (s, v) in [(40u64, 5u32), (9, 5), (20, 3), (33, 9)] {
        m.publish_slot(s, 0, Opcode::STORE_U32, &[v, 160]).unwrap();
    }
    // word 161: read by slots 50 and 2, changed by slots 30 and 60 (in other workgroups)
    m.publish_slot(50, 0, Opcode::LOAD_U32, &[161, 4]).unwrap();
    m.publish_slot(2, 0, Opcode::LOAD_U32, &[161, 5]).unwrap();
    m.publish_slot(30, 0, Opcode::ATOMIC_ADD, &[1, 161])
        .unwrap();
    m.publish_slot(60, 0, Opcode::ATOMIC_ADD, &[1, 161])
        .unwrap();
    let opts = DispatchOptions {
        workgroup_size: Some(16),
        ..Default::default()
    };
    let r = m.dispatch(&mut CpuEngine::new(), &opts).unwrap();
    let race = |w: u64| {
        r.diagnostics
            .iter()
            .find(|d| d.kind == DiagnosticKind::Race && d.word == Some(w))
            .and_then(|d| d.slots)
    };
    assert_eq!(
        race(160),
        Some([20, 33]),
        "lowest storers of values 3 and 9"
    );
    assert_eq!(race(161), Some([2, 30]), "lowest reader, lowest changer");
    // the DONE_COUNT adds (every slot) and the loads of it: none here
    assert_eq!(
        r.diagnostics
            .iter()
            .filter(|d| d.kind == DiagnosticKind::Race)
            .count(),
        2
    );
}

#[test]
fn workgroup_size_must_divide_the_slot_count() {
    let mut m = mirror(96, 1, 0);
    let opts = DispatchOptions {
        workgroup_size: Some(64),
        ..Default::default()
    };
    let e = m
        .dispatch(&mut CpuEngine::new(), &opts)
        .unwrap_err()
        .to_string();
    assert!(e.contains("divide"), "{e}");
    let opts = DispatchOptions {
        workgroup_size: Some(32),
        ..Default::default()
    };
    assert_eq!(
        m.dispatch(&mut CpuEngine::new(), &opts)
            .unwrap()
            .workgroup_size,
        32
    );
}

#[test]
fn dispatching_a_corrupted_mirror_is_refused() {
    let mut m = mirror(4, 1, 0);
    let mut rb = m.snapshot_readback();
    rb.debug_log.truncate(10);
    m.apply_readback(&mut rb);
    let e = m
        .dispatch(&mut CpuEngine::new(), &DispatchOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("debug_log"), "{e}");
}

#[test]
fn zero_slots_dispatch_does_nothing() {
    let mut m = mirror(0, 1, 0);
    for v in Variant::ALL {
        let r = run(&mut m, v);
        assert_eq!(r.passes, 0);
    }
}

#[test]
fn no_dispatch_in_progress_is_an_error() {
    let mut m = mirror(4, 1, 0);
    let mut e = CpuEngine::new();
    assert!(e.run_passes(&mut m, 1).is_err());
    assert!(e.finish_dispatch(&mut m).is_err());
}

const RANDOM_OPS: [Opcode; 11] = [
    Opcode::NOP,
    Opcode::STORE_U32,
    Opcode::ATOMIC_ADD,
    Opcode::LOAD_U32,
    Opcode::COMPARE_SWAP,
    Opcode::MEMCPY,
    Opcode::BATCH_FENCE,
    Opcode::PRINTF,
    Opcode::SHUTDOWN,
    Opcode::PACKED_SLOT,
    Opcode::DFA_STEP,
];

#[test]
fn a_dispatch_that_leaves_no_slot_to_explain_counts_statuses_from_its_claims() {
    // dispatch 1 enables tenant 2 (its mask is word 5) after its slots read the mask, so they
    // wait; dispatch 2 runs them and leaves nothing waiting: it skips the scan
    let mut m = mirror(16, 2, 0);
    for s in 0..4 {
        m.publish_slot(s, 0, Opcode::NOP, &[]).unwrap();
    }
    m.publish_slot(5, 0, Opcode::STORE_U32, &[1, 5]).unwrap();
    for s in 8..12 {
        m.publish_slot(s, 2, Opcode::NOP, &[]).unwrap();
    }
    let mut e = CpuEngine::new();
    let opts = DispatchOptions::default();
    let first = m.dispatch(&mut e, &opts).unwrap();
    assert_eq!(first.status_counts.get(SlotStatus::Published), 4);
    assert_eq!(
        e.scans_skipped, 0,
        "slots were left waiting: the scan explains them"
    );
    let mut fresh = m.clone();
    let expected = fresh.dispatch(&mut CpuEngine::new(), &opts).unwrap();
    let second = m.dispatch(&mut e, &opts).unwrap();
    assert_eq!(e.scans_skipped, 1);
    assert_eq!(second.claimed, 4);
    assert_eq!(second.status_counts, expected.status_counts);
    assert_eq!(second.status_counts.get(SlotStatus::Done), 9);
    assert_eq!(second.status_counts.get(SlotStatus::Empty), 7);
    assert_eq!(second.diagnostics, expected.diagnostics);
    // a host change in between: the counts are not trusted
    m.publish_slot(0, 0, Opcode::NOP, &[]).unwrap();
    m.publish_slot(0, 0, Opcode::NOP, &[]).unwrap_err();
    let third = m.dispatch(&mut e, &opts).unwrap();
    assert_eq!(e.scans_skipped, 1);
    assert_eq!(third.status_counts.get(SlotStatus::Done), 9);
}

#[test]
fn a_host_change_between_the_passes_of_a_dispatch_is_counted_by_a_scan() {
    let mut m = mirror(16, 1, 0);
    for s in 0..4 {
        m.publish_slot(s, 0, Opcode::NOP, &[]).unwrap();
    }
    let mut e = CpuEngine::new();
    let opts = DispatchOptions::with_variant(Variant::Persistent);
    m.dispatch(&mut e, &opts).unwrap();
    e.begin_dispatch(&mut m, &opts).unwrap();
    // published after the dispatch began, before its first pass
    m.publish_slot(8, 0, Opcode::NOP, &[]).unwrap();
    while !e.run_passes(&mut m, 1).unwrap() {}
    let r = e.finish_dispatch(&mut m).unwrap();
    assert_eq!(r.claimed, 1);
    assert_eq!(r.status_counts, StatusCounts::of_ring(m.ring()));
    assert_eq!(e.scans_skipped, 0);
}

/// A state whose slots' words are drawn from `slots`: any status (invalid ones too), ops
/// that write control words, the debug log and SHUTDOWN, tenants 0 and 1 (enabled), 2
/// (disabled) and 30 (past the mask table). Tests of other modules use it too.
pub(crate) fn random_state(n: u32, slots: &[(u8, u8, u8, [u32; 4])]) -> ResidentBuffers {
    let mut m = ResidentBuffers::new(n, 2, 8).unwrap();
    for (s, &(status, op, tenant, args)) in slots.iter().enumerate().take(n as usize) {
        let mut w = [0u32; 16];
        w[0] = match status % 20 {
            0..=8 => SlotStatus::Published.word(),
            9 => SlotStatus::Yield.word(),
            10 => SlotStatus::Requeue.word(),
            11..=14 => SlotStatus::Done.word(),
            15..=17 => 0,
            18 => SlotStatus::Claimed.word(),
            _ => 99,
        };
        w[1] = RANDOM_OPS[op as usize % RANDOM_OPS.len()].0;
        w[2] = [0, 1, 2, 30][tenant as usize % 4];
        // small args, so stores and copies land in the 168-word control buffer or just past
        // it; a quarter of them hit tenant 2's mask (word 5), so later dispatches run its work
        w[4] = args[0] % 4;
        w[5] = if args[1] % 4 == 0 {
            5
        } else {
            150 + args[1] % 20
        };
        w[6] = args[2] % 6;
        w[7] = args[3];
        m.write_slot_raw(s as u32, &w).unwrap();
    }
    m
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// An engine that reuses the last dispatch's status counts (and skips the end-of-dispatch
    /// scan when no slot is left to explain) reports what a fresh engine, which scans every
    /// slot, reports: counts, diagnostics, everything but the time.
    #[test]
    fn reused_status_counts_report_what_a_full_scan_reports(
        slots in proptest::collection::vec(proptest::prelude::any::<(u8, u8, u8, [u32; 4])>(), 32),
        variant in proptest::prop_oneof![
            proptest::strategy::Just(Variant::Once),
            proptest::strategy::Just(Variant::Persistent),
            proptest::strategy::Just(Variant::Priority),
        ],
        wg in proptest::prop_oneof![proptest::strategy::Just(4u32), proptest::strategy::Just(32)],
        republish in proptest::collection::vec(proptest::prelude::any::<bool>(), 1..6),
    ) {
        let mut m = random_state(32, &slots);
        let mut reused = CpuEngine::new();
        let opts = DispatchOptions {
            variant,
            workgroup_size: Some(wg),
            pass_budget: 4,
            ..Default::default()
        };
        for again in republish {
            if again {
                // host work between dispatches: the next dispatch must not trust old counts
                for s in 0..32u32 {
                    if status(&m, s as usize) == SlotStatus::Done && s % 3 == 0 {
                        m.publish_slot(s as u64, 0, Opcode::NOP, &[]).unwrap();
                    }
                }
            }
            let mut fresh_state = m.clone();
            let expected = fresh_state.dispatch(&mut CpuEngine::new(), &opts).unwrap();
            let got = m.dispatch(&mut reused, &opts).unwrap();
            proptest::prop_assert_eq!(&m, &fresh_state);
            proptest::prop_assert_eq!(
                DispatchReport { elapsed: Default::default(), ..got },
                DispatchReport { elapsed: Default::default(), ..expected }
            );
        }
    }
}
