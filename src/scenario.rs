//! vyre-peer scenarios and conformance vectors (`../shared/conformance/README.md`): the JSON
//! workload format both tools share. Replaying one builds the state the way vyre's
//! `ResidentQueueBuffers` does, publishes each item just before its dispatch, and runs the
//! dispatches through any engine — the conformance tests and `megascope bench` use it.

use std::path::Path;

use serde::Deserialize;

use crate::abi::layout::{SLOT_WORDS, W_PRIORITY};
use crate::abi::opcode::Opcode;
use crate::engine::{DispatchOptions, DispatchReport, Engine, Variant};
use crate::resident::ResidentBuffers;

/// A raw control-word write applied after `new`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ControlWrite {
    pub index: usize,
    pub value: u32,
}

/// An opcode as the JSON gives it: a name, a hex string, or a number.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum OpcodeField {
    Number(u32),
    Text(String),
}

impl OpcodeField {
    pub fn opcode(&self) -> Result<Opcode, String> {
        match self {
            OpcodeField::Number(n) => Ok(Opcode(*n)),
            OpcodeField::Text(t) => Opcode::parse(t),
        }
    }
}

/// One published item.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Item {
    pub slot: u64,
    #[serde(default)]
    pub tenant: u32,
    pub opcode: OpcodeField,
    /// Written into ring word 3 after publishing (vyre's publisher always writes 2).
    #[serde(default)]
    pub priority: Option<u32>,
    #[serde(default)]
    pub args: Vec<u32>,
    /// Published just before this dispatch (0-based).
    #[serde(default)]
    pub dispatch: u32,
}

fn one() -> u32 {
    1
}

/// A scenario (vyre-peer's input; a conformance vector's `scenario`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Scenario {
    pub slot_count: u32,
    #[serde(default = "one")]
    pub tenant_count: u32,
    #[serde(default)]
    pub observable_slots: u32,
    #[serde(default = "one")]
    pub dispatches: u32,
    #[serde(default)]
    pub initial_control_writes: Option<Vec<ControlWrite>>,
    pub items: Vec<Item>,
    #[serde(default)]
    pub workgroup_size: Option<u32>,
    #[serde(default)]
    pub program: Option<Variant>,
}

/// Words of the four buffers.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Words {
    #[serde(default)]
    pub control: Vec<u32>,
    #[serde(default)]
    pub ring: Vec<u32>,
    #[serde(default)]
    pub debug_log: Vec<u32>,
    #[serde(default)]
    pub io_queue: Vec<u32>,
}

/// A conformance vector: a scenario plus vyre's initial and final buffers.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Vector {
    pub scenario: Scenario,
    #[serde(default)]
    pub initial: Words,
    #[serde(rename = "final")]
    pub final_: Words,
    #[serde(default)]
    pub done_count_after_each_dispatch: Vec<u32>,
}

impl Vector {
    pub fn load(path: &Path) -> Result<Vector, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

impl Scenario {
    pub fn variant(&self) -> Variant {
        self.program.unwrap_or_default()
    }

    /// The state after `new` and the raw control writes, before any publish.
    pub fn initial_state(&self) -> Result<ResidentBuffers, String> {
        let mut m = ResidentBuffers::new(self.slot_count, self.tenant_count, self.observable_slots)
            .map_err(|e| e.to_string())?;
        for w in self.initial_control_writes.iter().flatten() {
            m.write_control(w.index, w.value)
                .map_err(|e| format!("initial control write {}: {e}", w.index))?;
        }
        Ok(m)
    }

    /// Publishes the items of dispatch `d`.
    pub fn publish_for(&self, m: &mut ResidentBuffers, d: u32) -> Result<(), String> {
        for it in self.items.iter().filter(|it| it.dispatch == d) {
            let op = it.opcode.opcode()?;
            m.publish_slot(it.slot, it.tenant, op, &it.args)
                .map_err(|e| format!("item for slot {}: {e}", it.slot))?;
            if let Some(p) = it.priority {
                let mut words: [u32; SLOT_WORDS] = m.ring()
                    [it.slot as usize * SLOT_WORDS..(it.slot as usize + 1) * SLOT_WORDS]
                    .try_into()
                    .expect("slot words");
                words[W_PRIORITY] = p;
                m.write_slot_raw(it.slot as u32, &words)
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// The options every dispatch of this scenario runs with.
    pub fn dispatch_options(&self) -> DispatchOptions {
        DispatchOptions {
            variant: self.variant(),
            workgroup_size: self.workgroup_size,
            // vyre's looping programs run until SHUTDOWN or forever; a fixed point is reached
            // long before this budget in every scenario.
            pass_budget: 1 << 20,
            ..DispatchOptions::default()
        }
    }

    /// Runs the whole scenario through `engine`.
    pub fn replay(&self, engine: &mut dyn Engine) -> Result<Replay, String> {
        let mut state = self.initial_state()?;
        let initial = state.snapshot_readback();
        let mut reports = Vec::new();
        let mut done_counts = Vec::new();
        for d in 0..self.dispatches {
            self.publish_for(&mut state, d)?;
            let mut opts = self.dispatch_options();
            opts.dispatch_index = d as u64;
            let r = state.dispatch(engine, &opts).map_err(|e| e.to_string())?;
            done_counts.push(state.read_done_count());
            reports.push(r);
        }
        Ok(Replay {
            initial,
            state,
            reports,
            done_counts,
        })
    }
}

/// What replaying a scenario produced.
#[derive(Debug)]
pub struct Replay {
    pub initial: crate::resident::Readback,
    pub state: ResidentBuffers,
    pub reports: Vec<DispatchReport>,
    pub done_counts: Vec<u32>,
}

/// The debug records of a log as a sorted multiset (record order is the GPU's).
pub fn record_multiset(log: &[u32]) -> Vec<[u32; 4]> {
    let view = crate::abi::debug_log::DebugLogView::decode(log);
    let mut r: Vec<[u32; 4]> = view
        .records
        .iter()
        .map(|r| [r.fmt_id, r.a1, r.a2, r.slot_base])
        .collect();
    r.sort_unstable();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vyre_peer_scenarios() {
        let s: Scenario = serde_json::from_str(
            r#"{"slot_count": 64, "observable_slots": 8, "items": [
                {"slot": 0, "opcode": "ATOMIC_ADD", "args": [1, 160]},
                {"slot": 1, "tenant": 0, "opcode": "0x1234", "priority": 1, "dispatch": 1},
                {"slot": 2, "opcode": 7}
            ], "program": "persistent"}"#,
        )
        .unwrap();
        assert_eq!(s.tenant_count, 1);
        assert_eq!(s.dispatches, 1);
        assert_eq!(s.variant(), Variant::Persistent);
        assert_eq!(s.items[1].opcode.opcode().unwrap(), Opcode(0x1234));
        assert_eq!(s.items[2].opcode.opcode().unwrap(), Opcode::BATCH_FENCE);
    }

    #[test]
    fn publish_writes_the_priority_word_after_publishing() {
        let s: Scenario = serde_json::from_str(
            r#"{"slot_count": 4, "items": [{"slot": 1, "opcode": "NOP", "priority": 4}]}"#,
        )
        .unwrap();
        let mut m = s.initial_state().unwrap();
        s.publish_for(&mut m, 0).unwrap();
        assert_eq!(&m.ring()[16..20], &[1, 0, 0, 4]);
    }

    #[test]
    fn multiset_ignores_order() {
        let mut a = vec![0u32; 257];
        a[0] = 8;
        a[1..9].copy_from_slice(&[1, 2, 3, 16, 4, 5, 6, 32]);
        let mut b = a.clone();
        b[1..9].copy_from_slice(&[4, 5, 6, 32, 1, 2, 3, 16]);
        assert_eq!(record_multiset(&a), record_multiset(&b));
    }
}
