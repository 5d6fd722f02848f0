//! The decoded state (`megascope inspect`): named control words, tenants, metrics, the slot
//! table by status, the debug log and the IO queue — as a serializable report and as text.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::abi::control::{ControlView, OBSERVABLE, word_name};
use crate::abi::debug_log::DebugLogView;
use crate::abi::io_queue::decode_io_queue;
use crate::abi::layout::{MAX_ENCODED_TENANT_MASKS, SLOT_WORDS};
use crate::abi::opcode::Priority;
use crate::abi::slot::Slot;
use crate::abi::status::{SlotStatus, StatusCounts};
use crate::abi::validate::{Lint, lint};
use crate::resident::ResidentBuffers;

#[derive(Serialize)]
pub struct NamedControl {
    pub shutdown: u32,
    pub done_count: u32,
    pub tenant_base: u32,
    pub epoch: u32,
    pub priority_offsets: [u32; 6],
    pub starvation: u32,
    pub priority_fairness: [u32; 5],
}

#[derive(Serialize)]
pub struct TenantReport {
    pub tenant: u32,
    pub mask_word: u32,
    pub mask: u32,
    pub quota: u32,
    pub fairness: u32,
    pub aliased: bool,
    /// Slots of this tenant in the ring (any status but EMPTY).
    pub slots: u64,
}

#[derive(Serialize)]
pub struct MetricReport {
    pub opcode: u32,
    pub name: String,
    pub count: u32,
}

#[derive(Serialize)]
pub struct PackedReport {
    pub opcode: u32,
    pub name: String,
    pub args: Option<[u32; 3]>,
}

#[derive(Serialize)]
pub struct SlotReport {
    pub slot: u32,
    pub status: String,
    pub opcode: u32,
    pub opcode_name: String,
    pub tenant: u32,
    pub priority_word: u32,
    /// The priority partition the slot lies in (what the kernel uses), if any.
    pub partition: Option<u32>,
    pub args: [u32; 12],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packed: Option<Vec<PackedReport>>,
}

#[derive(Serialize)]
pub struct RecordReport {
    pub fmt_id: u32,
    pub a1: u32,
    pub a2: u32,
    pub slot_base: u32,
    pub slot: Option<u32>,
}

#[derive(Serialize)]
pub struct DebugReport {
    pub cursor: u32,
    pub records: Vec<RecordReport>,
    pub dropped: u32,
    pub misaligned: bool,
}

#[derive(Serialize)]
pub struct IoReport {
    pub index: usize,
    pub op: String,
    pub status: String,
    pub src_handle: u32,
    pub dst_handle: u32,
    pub offset: u64,
    pub byte_count: u32,
    pub tag: u32,
}

/// The whole decoded state.
#[derive(Serialize)]
pub struct StateReport {
    pub slot_count: u32,
    pub observable_slots: u32,
    pub control: NamedControl,
    pub tenants: Vec<TenantReport>,
    pub metrics: Vec<MetricReport>,
    pub observable: Vec<u32>,
    pub status_counts: BTreeMap<&'static str, u64>,
    /// Every slot that is not EMPTY, ascending.
    pub slots: Vec<SlotReport>,
    pub debug_log: DebugReport,
    pub io_queue: Vec<IoReport>,
    pub lints: Vec<Lint>,
}

/// Status counts by lower-case name: the eight named statuses always, `invalid` when any.
pub fn status_count_map(c: &StatusCounts) -> BTreeMap<&'static str, u64> {
    c.named()
        .filter(|(name, n)| *name != "invalid" || *n > 0)
        .collect()
}

pub fn slot_report(state: &ResidentBuffers, s: u32) -> SlotReport {
    let view = ControlView(state.control());
    let slot = Slot::of_ring(state.ring(), s);
    SlotReport {
        slot: s,
        status: slot.status().lower_name().to_string(),
        opcode: slot.opcode.0,
        opcode_name: slot.opcode.label(),
        tenant: slot.tenant,
        priority_word: slot.priority,
        partition: view.partition_of(s),
        args: slot.args,
        packed: slot.packed().map(|p| {
            p.ops
                .iter()
                .map(|o| PackedReport {
                    opcode: o.opcode.0,
                    name: o.opcode.label(),
                    args: o.args,
                })
                .collect()
        }),
    }
}

impl StateReport {
    pub fn new(state: &ResidentBuffers) -> StateReport {
        let view = ControlView(state.control());
        let counts = StatusCounts::of_ring(state.ring());
        let mut tenant_slots: BTreeMap<u32, u64> = BTreeMap::new();
        let mut slots = Vec::new();
        for (s, w) in state.ring().chunks_exact(SLOT_WORDS).enumerate() {
            if w[0] != 0 || w.iter().any(|&x| x != 0) {
                *tenant_slots.entry(w[2]).or_default() += 1;
                slots.push(slot_report(state, s as u32));
            }
        }
        let mut tenant_ids: Vec<u32> = (0..MAX_ENCODED_TENANT_MASKS)
            .filter(|&t| {
                view.tenant_mask(t) != 0
                    || view.quota(t as usize) != 0
                    || view.tenant_fairness(t as usize) != 0
            })
            .collect();
        tenant_ids.extend(tenant_slots.keys().copied());
        tenant_ids.sort_unstable();
        tenant_ids.dedup();
        let tenants = tenant_ids
            .into_iter()
            .map(|t| TenantReport {
                tenant: t,
                mask_word: view.tenant_mask_index(t),
                mask: view.tenant_mask(t),
                quota: if t < 32 { view.quota(t as usize) } else { 0 },
                fairness: view.tenant_fairness((t % 32) as usize),
                aliased: view.tenant_is_aliased(t),
                slots: tenant_slots.get(&t).copied().unwrap_or(0),
            })
            .collect();
        let log = DebugLogView::decode(state.debug_log());
        StateReport {
            slot_count: state.slot_count(),
            observable_slots: state.observable_count(),
            control: NamedControl {
                shutdown: view.shutdown(),
                done_count: view.done_count(),
                tenant_base: view.tenant_base(),
                epoch: view.epoch(),
                priority_offsets: view.priority_offsets(),
                starvation: view.starvation(),
                priority_fairness: view.priority_fairness(),
            },
            tenants,
            metrics: view
                .metrics()
                .into_iter()
                .map(|(op, count)| MetricReport {
                    opcode: op.0,
                    name: op.label(),
                    count,
                })
                .collect(),
            observable: state.control().get(OBSERVABLE..).unwrap_or(&[]).to_vec(),
            status_counts: status_count_map(&counts),
            slots,
            debug_log: DebugReport {
                cursor: log.cursor,
                records: log
                    .records
                    .iter()
                    .map(|r| RecordReport {
                        fmt_id: r.fmt_id,
                        a1: r.a1,
                        a2: r.a2,
                        slot_base: r.slot_base,
                        slot: r.slot(),
                    })
                    .collect(),
                dropped: log.dropped,
                misaligned: log.misaligned,
            },
            io_queue: decode_io_queue(state.io_queue())
                .into_iter()
                .enumerate()
                .filter(|(_, s)| !s.is_empty_slot())
                .map(|(index, s)| IoReport {
                    index,
                    op: s.op_name(),
                    status: s.status_name(),
                    src_handle: s.src_handle,
                    dst_handle: s.dst_handle,
                    offset: s.offset,
                    byte_count: s.byte_count,
                    tag: s.tag,
                })
                .collect(),
            lints: lint(
                state.slot_count(),
                state.control(),
                state.ring(),
                state.debug_log(),
            ),
        }
    }

    /// Human-readable text; `per_status` caps the slots listed per status (0 = all).
    pub fn to_text(&self, per_status: usize) -> String {
        let mut o = String::new();
        let c = &self.control;
        let _ = writeln!(
            o,
            "geometry: {} slots, {} observable words",
            self.slot_count, self.observable_slots
        );
        let _ = writeln!(o, "\ncontrol:");
        let _ = writeln!(o, "  SHUTDOWN          {}", c.shutdown);
        let _ = writeln!(o, "  DONE_COUNT        {}", c.done_count);
        let _ = writeln!(o, "  TENANT_BASE       {}", c.tenant_base);
        let _ = writeln!(o, "  EPOCH             {}", c.epoch);
        let _ = writeln!(o, "  PRIORITY_OFFSETS  {:?}", c.priority_offsets);
        let _ = writeln!(o, "  STARVATION        {}", c.starvation);
        let _ = writeln!(
            o,
            "  PRIORITY_FAIRNESS {}",
            Priority::ALL
                .iter()
                .zip(c.priority_fairness)
                .map(|(p, n)| format!("{}={n}", p.name()))
                .collect::<Vec<_>>()
                .join(" ")
        );
        if !self.tenants.is_empty() {
            let _ = writeln!(o, "\ntenants:");
            for t in &self.tenants {
                let _ = writeln!(
                    o,
                    "  tenant {:<3} mask control[{}] = {:#010x}{}  quota {}  fairness {}  slots {}",
                    t.tenant,
                    t.mask_word,
                    t.mask,
                    if t.aliased {
                        format!(" (aliased: {})", word_name(t.mask_word as usize))
                    } else {
                        String::new()
                    },
                    t.quota,
                    t.fairness,
                    t.slots
                );
            }
        }
        if !self.metrics.is_empty() {
            let _ = writeln!(o, "\nmetrics:");
            for m in &self.metrics {
                let _ = writeln!(o, "  {:<14} {}", m.name, m.count);
            }
        }
        let nonzero: Vec<(usize, u32)> = self
            .observable
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, v)| *v != 0)
            .collect();
        if !nonzero.is_empty() {
            let _ = writeln!(o, "\nobservable (non-zero):");
            for (i, v) in nonzero.iter().take(64) {
                let _ = writeln!(o, "  OBSERVABLE[{i}] = {v} ({v:#x})");
            }
            if nonzero.len() > 64 {
                let _ = writeln!(o, "  … {} more", nonzero.len() - 64);
            }
        }
        let _ = writeln!(o, "\nslots by status:");
        for (name, n) in &self.status_counts {
            let _ = writeln!(o, "  {name:<10} {n}");
        }
        for st in SlotStatus::NAMED
            .iter()
            .map(|s| s.lower_name())
            .chain(["invalid"])
        {
            let of: Vec<&SlotReport> = self.slots.iter().filter(|s| s.status == st).collect();
            if of.is_empty() {
                continue;
            }
            let _ = writeln!(o, "\n{} slots ({}):", st.to_uppercase(), of.len());
            let shown = if per_status == 0 {
                of.len()
            } else {
                per_status.min(of.len())
            };
            for s in &of[..shown] {
                let args: Vec<String> = s
                    .args
                    .iter()
                    .rev()
                    .skip_while(|a| **a == 0)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .map(|a| a.to_string())
                    .collect();
                let _ = writeln!(
                    o,
                    "  slot {:<8} {:<14} tenant {:<3} partition {:<8} args [{}]",
                    s.slot,
                    s.opcode_name,
                    s.tenant,
                    // by level name, as the app and the ABI tables say it
                    s.partition
                        .and_then(crate::abi::opcode::Priority::from_level)
                        .map(|p| p.name().to_string())
                        .unwrap_or_else(|| "-".into()),
                    args.join(", ")
                );
            }
            if shown < of.len() {
                let _ = writeln!(o, "  … {} more (use --all)", of.len() - shown);
            }
        }
        let d = &self.debug_log;
        let _ = writeln!(
            o,
            "\ndebug log: cursor {} ({} records held, {} dropped{})",
            d.cursor,
            d.records.len(),
            d.dropped,
            if d.misaligned {
                ", cursor not a multiple of 4"
            } else {
                ""
            }
        );
        for (i, r) in d.records.iter().enumerate() {
            let _ = writeln!(
                o,
                "  #{i:<3} fmt {:<8} args {:<10} {:<10} slot {}",
                r.fmt_id,
                r.a1,
                r.a2,
                r.slot
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| format!("base {}", r.slot_base))
            );
        }
        if !self.io_queue.is_empty() {
            let _ = writeln!(o, "\nIO queue:");
            for q in &self.io_queue {
                let _ = writeln!(
                    o,
                    "  io {:<3} {:<6} {:<10} src {} dst {} offset {} bytes {} tag {}",
                    q.index,
                    q.op,
                    q.status,
                    q.src_handle,
                    q.dst_handle,
                    q.offset,
                    q.byte_count,
                    q.tag
                );
            }
        }
        if !self.lints.is_empty() {
            let _ = writeln!(o, "\nwarnings:");
            for l in &self.lints {
                let _ = writeln!(o, "  {}[{}]: {}", l.buffer, l.word, l.message);
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::opcode::Opcode;
    use crate::engine::DispatchMirror;
    use crate::engine::DispatchOptions;
    use crate::engine::cpu::CpuEngine;

    fn state() -> ResidentBuffers {
        let mut m = ResidentBuffers::new(16, 2, 2).unwrap();
        m.publish_slot(1, 0, Opcode::PRINTF, &[7, 8, 9]).unwrap();
        m.publish_slot(2, 0, Opcode::ATOMIC_ADD, &[3, 160]).unwrap();
        m.publish_slot(5, 40, Opcode::NOP, &[]).unwrap();
        m.dispatch(&mut CpuEngine::new(), &DispatchOptions::default())
            .unwrap();
        m.publish_packed_slot(3, 1, &[(2, vec![1, 161])]).unwrap();
        m
    }

    #[test]
    fn report_decodes_every_part() {
        let r = StateReport::new(&state());
        assert_eq!(r.status_counts["done"], 2);
        assert_eq!(r.status_counts["published"], 2);
        assert!(!r.status_counts.contains_key("invalid"));
        assert_eq!(r.slots.len(), 4);
        assert_eq!(r.slots[2].opcode_name, "PACKED_SLOT");
        assert_eq!(
            r.slots[2].packed.as_ref().unwrap()[0].args,
            Some([1, 161, 0])
        );
        assert_eq!(r.debug_log.records[0].slot, Some(1));
        assert_eq!(r.observable, vec![3, 0]);
        assert_eq!(r.metrics.len(), 1);
        let t40 = r.tenants.iter().find(|t| t.tenant == 40).unwrap();
        assert!(t40.aliased);
        assert_eq!(t40.mask, 0);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["control"]["done_count"], 2);
    }

    #[test]
    fn text_lists_slots_by_status_and_caps() {
        let text = StateReport::new(&state()).to_text(1);
        assert!(text.contains("PUBLISHED slots (2)"), "{text}");
        assert!(text.contains("… 1 more"), "{text}");
        assert!(text.contains("fmt 7"), "{text}");
        assert!(text.contains("aliased"), "{text}");
    }
}
