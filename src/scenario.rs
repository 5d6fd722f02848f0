//! vyre-peer scenarios and conformance vectors (`../shared/conformance/README.md`): the JSON
//! workload format both tools share. Replaying one builds the state the way vyre's
//! `ResidentQueueBuffers` does, publishes each item just before its dispatch, and runs the
//! dispatches through any engine — the conformance tests and `megascope bench` use it.

use crate::engine::DispatchMirror;
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

    /// Every `*.json` vector of a directory with its file name, sorted by name, so reports
    /// list them in a stable order.
    pub fn load_dir(dir: &Path) -> Result<Vec<(String, Vector)>, String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let name = path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string();
                out.push((name, Vector::load(&path)?));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// How a state's control, ring and IO queue differ from the vector's final buffers
    /// (empty when bit-identical). The debug log is left to the caller, which compares it
    /// as a multiset where lane order decides record order.
    pub fn final_differences(&self, state: &ResidentBuffers) -> Vec<String> {
        let f = &self.final_;
        [
            word_differences("control", state.control(), &f.control),
            word_differences("ring", state.ring(), &f.ring),
            word_differences("io_queue", state.io_queue(), &f.io_queue),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// A one-line account of how two buffers differ — the lengths, or how many words and the
/// first six of them — or `None` when they are equal.
pub fn word_differences(name: &str, got: &[u32], want: &[u32]) -> Option<String> {
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
        self.replay_with(engine, |_| {})
    }

    /// [`Scenario::replay`] with each dispatch's options adjusted by `adjust` (race analysis
    /// off, say, which runs another build of the GPU kernel).
    pub fn replay_with(
        &self,
        engine: &mut dyn Engine,
        adjust: impl Fn(&mut DispatchOptions),
    ) -> Result<Replay, String> {
        let mut state = self.initial_state()?;
        let initial = state.snapshot_readback();
        let mut reports = Vec::new();
        let mut done_counts = Vec::new();
        for d in 0..self.dispatches {
            self.publish_for(&mut state, d)?;
            let mut opts = self.dispatch_options();
            opts.dispatch_index = d as u64;
            adjust(&mut opts);
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
    fn word_differences_name_the_buffer_and_the_words() {
        assert_eq!(word_differences("ring", &[1, 2, 3], &[1, 2, 3]), None);
        assert_eq!(
            word_differences("ring", &[1, 2], &[1, 2, 3]).unwrap(),
            "ring: length 2 != 3"
        );
        assert_eq!(
            word_differences("control", &[1, 9, 3, 8], &[1, 2, 3, 4]).unwrap(),
            "control: 2 words differ: [1] got 9 want 2, [3] got 8 want 4"
        );
    }

    #[test]
    fn final_differences_compare_control_ring_and_io() {
        let s: Scenario =
            serde_json::from_str(r#"{"slot_count": 4, "items": [{"slot": 1, "opcode": "NOP"}]}"#)
                .unwrap();
        let m = s.initial_state().unwrap();
        let words = |m: &ResidentBuffers| Words {
            control: m.control().to_vec(),
            ring: m.ring().to_vec(),
            debug_log: m.debug_log().to_vec(),
            io_queue: m.io_queue().to_vec(),
        };
        let mut v = Vector {
            scenario: s,
            initial: Words::default(),
            final_: words(&m),
            done_count_after_each_dispatch: Vec::new(),
        };
        assert!(v.final_differences(&m).is_empty());
        v.final_.ring[16] = 3;
        v.final_.io_queue.pop();
        let d = v.final_differences(&m);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("ring: 1 words differ: [16]"), "{d:?}");
        assert!(d[1].starts_with("io_queue: length"), "{d:?}");
    }

    #[test]
    fn load_dir_reads_json_vectors_sorted_and_names_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let vector = r#"{"scenario": {"slot_count": 4, "items": []},
            "final": {"control": [], "ring": [], "debug_log": [], "io_queue": []}}"#;
        std::fs::write(dir.path().join("b.json"), vector).unwrap();
        std::fs::write(dir.path().join("a.json"), vector).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a vector").unwrap();
        let names: Vec<String> = Vector::load_dir(dir.path())
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["a.json", "b.json"]);
        std::fs::write(dir.path().join("c.json"), "{").unwrap();
        let e = Vector::load_dir(dir.path()).unwrap_err();
        assert!(e.contains("c.json"), "{e}");
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
