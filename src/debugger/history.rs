//! Per-dispatch summaries: what the plots draw (partition offsets, debug-log throughput,
//! status counts, claims per level) without keeping any state copy.

use serde::Serialize;

use crate::abi::control::ControlView;
use crate::abi::debug_log::record_count;
use crate::abi::status::StatusCounts;
use crate::engine::{DispatchEnd, DispatchReport, Variant};

/// One completed dispatch, as plotted.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DispatchSummary {
    pub index: u64,
    pub variant: Variant,
    pub passes: u32,
    pub end: DispatchEnd,
    pub claimed: u64,
    pub executed: u64,
    pub claims_per_level: [u64; 5],
    /// PRINTF records reserved by this dispatch, and dropped of those.
    pub debug_records: u64,
    pub debug_dropped: u64,
    /// Records reserved since the log was last cleared (the cursor / 4).
    pub debug_total: u64,
    pub status_counts: StatusCounts,
    pub priority_offsets: [u32; 6],
    pub starvation: u32,
    pub done_count: u32,
    pub diagnostics: usize,
    pub elapsed_ms: f64,
}

impl DispatchSummary {
    /// A recorded dispatch the oracle could not re-run: what the recorded state itself says.
    pub fn recorded(
        index: u64,
        control: &[u32],
        debug_log: &[u32],
        ring: &[u32],
    ) -> DispatchSummary {
        let view = ControlView(control);
        DispatchSummary {
            index,
            variant: Variant::Once,
            passes: 0,
            end: DispatchEnd::OnePass,
            claimed: 0,
            executed: 0,
            claims_per_level: [0; 5],
            debug_records: 0,
            debug_dropped: 0,
            debug_total: record_count(debug_log.first().copied().unwrap_or(0)) as u64,
            status_counts: StatusCounts::of_ring(ring),
            priority_offsets: view.priority_offsets(),
            starvation: view.starvation(),
            done_count: view.done_count(),
            diagnostics: 0,
            elapsed_ms: 0.0,
        }
    }

    pub fn new(report: &DispatchReport, control: &[u32], debug_log: &[u32]) -> DispatchSummary {
        let view = ControlView(control);
        DispatchSummary {
            index: report.dispatch_index,
            variant: report.variant,
            passes: report.passes,
            end: report.end,
            claimed: report.claimed,
            executed: report.executed,
            claims_per_level: report.claims_per_level,
            debug_records: report.debug_records,
            debug_dropped: report.debug_dropped,
            debug_total: record_count(debug_log.first().copied().unwrap_or(0)) as u64,
            status_counts: report.status_counts,
            priority_offsets: view.priority_offsets(),
            starvation: view.starvation(),
            done_count: view.done_count(),
            diagnostics: report.diagnostics.len(),
            elapsed_ms: report.elapsed.as_secs_f64() * 1e3,
        }
    }
}
