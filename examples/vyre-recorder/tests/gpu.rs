//! The GPU path (`--features gpu`, a machine with a real GPU): every race-free scenario
//! recorded through vyre-driver-wgpu has vyre-peer's steps, says `gpu-wgpu`, ends in the same
//! state as vyre-reference (debug records as a multiset: their order is the GPU's lane order),
//! and passes `megascope record verify` when `MEGASCOPE_BIN` is set.
//!
//! Without a GPU that vyre accepts these tests fail with vyre's error; build without the `gpu`
//! feature there.
#![cfg(feature = "gpu")]

mod common;

use common::*;
use megascope_record::{Recording, StepKind};
use vyre_recorder::{Options, PathSel};

const RACE_FREE: [&str; 7] = [
    "store_u32",
    "atomic_add",
    "load_u32",
    "printf_debug",
    "cas_fence_tenants",
    "persistent_shutdown",
    "multi_dispatch",
];

fn debug_records(debug: &[u32]) -> Vec<[u32; 4]> {
    let n = (debug[0] / 4) as usize;
    let mut r: Vec<[u32; 4]> = (0..n.min(64))
        .map(|i| {
            [
                debug[1 + 4 * i],
                debug[2 + 4 * i],
                debug[3 + 4 * i],
                debug[4 + 4 * i],
            ]
        })
        .collect();
    r.sort();
    r
}

#[test]
fn gpu_recordings_match_vyre_reference_and_verify() {
    let bin = megascope_bin();
    let dir = out_dir("gpu");
    let mut failures = Vec::new();
    for name in RACE_FREE {
        let (cpu_dir, gpu_dir) = (dir.join("cpu"), dir.join("gpu"));
        std::fs::create_dir_all(&cpu_dir).unwrap();
        std::fs::create_dir_all(&gpu_dir).unwrap();
        let (cpu_file, _) = record(name, &cpu_dir, Options::default());
        let (gpu_file, report) = record(
            name,
            &gpu_dir,
            Options {
                path: PathSel::Gpu,
                ..Options::default()
            },
        );
        assert_eq!(report.path, "gpu-wgpu");
        let (cpu, gpu) = (
            Recording::open(&cpu_file).unwrap(),
            Recording::open(&gpu_file).unwrap(),
        );
        assert_eq!(
            recorded_steps(&gpu),
            expected_steps(&scenario_json(name)),
            "{name}"
        );
        for i in 0..gpu.len() {
            let info = gpu.info(i).unwrap();
            if let StepKind::Dispatch { .. } = info.kind {
                assert_eq!(info.extra["path"], "gpu-wgpu", "{name} step {i}");
                assert!(info.wall_ms.is_some());
            }
        }
        assert!(
            gpu.meta().program.contains("gpu-wgpu"),
            "{}",
            gpu.meta().program
        );
        let (c, g) = (
            cpu.state(cpu.len() - 1).unwrap(),
            gpu.state(gpu.len() - 1).unwrap(),
        );
        assert_eq!(c.control, g.control, "{name}: control");
        assert_eq!(c.ring, g.ring, "{name}: ring");
        assert_eq!(c.io_queue, g.io_queue, "{name}: io_queue");
        assert_eq!(
            debug_records(&c.debug_log),
            debug_records(&g.debug_log),
            "{name}: debug records"
        );
        let last = g.control.len();
        assert_eq!(
            le_bytes(&g.control),
            report.final_bytes[0],
            "{name}: {last} control words"
        );
        let (code, j) = verify(&bin, &gpu_file);
        if code != 0 || j["unexplained"] != 0 {
            failures.push(format!("{name}: exit {code}: {j}"));
        }
    }
    assert!(
        failures.is_empty(),
        "verify failed:\n{}",
        failures.join("\n")
    );
}
