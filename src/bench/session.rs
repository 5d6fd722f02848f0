//! Session benchmark: a 1,048,576-slot session with a snapshot saved and opened (DESIGN.md
//! §5 and issue 5: ≤ 1 s each on this machine).

use std::time::Instant;

use super::{BenchArgs, BenchReport};
use crate::abi::opcode::Opcode;
use crate::debugger::{Debugger, RunConfig};
use crate::engine::Backend;
use crate::files::session::{self, SaveMode, SaveRequest, ViewState};

pub fn section(_args: &BenchArgs, report: &mut BenchReport) -> Result<(), String> {
    let slots = 1u32 << 20;
    let state = super::bench_state(slots, Opcode::ATOMIC_ADD, 16)?;
    let d = Debugger::from_state(state, 1, RunConfig::default(), Backend::Cpu);
    let dir = tempfile::Builder::new()
        .prefix("megascope-bench")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let path = dir.path().join("stress.ron");
    let t = Instant::now();
    session::save(
        &path,
        &SaveRequest {
            debugger: &d,
            breakpoints: &[],
            view: &ViewState::default(),
            mode: SaveMode::Snapshot,
            header: None,
        },
    )
    .map_err(|e| e.to_string())?;
    let save_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let loaded = session::load(&path).map_err(|e| e.to_string())?;
    let load_s = t.elapsed().as_secs_f64();
    if loaded.debugger.state() != d.state() {
        return Err("the reopened session differs from the saved one".into());
    }
    let t = Instant::now();
    let dump_dir = dir.path().join("dump");
    crate::files::dump::write_dump(&dump_dir, d.state()).map_err(|e| e.to_string())?;
    let dump_write_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    crate::files::dump::read_dump(&dump_dir).map_err(|e| e.to_string())?;
    let dump_read_s = t.elapsed().as_secs_f64();
    report.session = Some(serde_json::json!({
        "slots": slots,
        "snapshot_bytes": (d.state().ring().len() + d.state().control().len() + 257 + 512) * 4,
        "save_s": save_s,
        "open_s": load_s,
        "dump_write_s": dump_write_s,
        "dump_read_s": dump_read_s,
        "target_s": 1.0,
    }));
    Ok(())
}
