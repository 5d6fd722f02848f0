//! "Who wrote this word?": for any control word (observable words included) or slot word,
//! the word's whole history over the timeline, the point that last changed it at or before
//! the cursor, and every writer of that point with what each wrote. DONE_COUNT after a
//! dispatch of 4,000 slots has 4,000 writers, each adding 1; naming one of them would lie.

use super::Debugger;
use super::timeline::PointKind;
use crate::abi::control::{DONE_COUNT, EPOCH, METRICS, OBSERVABLE, SHUTDOWN};
use crate::abi::opcode::Opcode;
use crate::abi::slot::Slot;
use crate::abi::status::SlotStatus;
use crate::resident::ResidentBuffers;

/// A word of the state: a control word, or word `word` of slot `slot`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WordRef {
    Control(u32),
    Slot { slot: u32, word: u32 },
}

impl WordRef {
    pub fn describe(self) -> String {
        match self {
            WordRef::Control(w) => format!(
                "control[{w}] ({})",
                crate::abi::control::word_name(w as usize)
            ),
            WordRef::Slot { slot, word } => format!("slot {slot} word {word}"),
        }
    }

    /// The word's value in `s`, or `None` past the buffer.
    pub fn read(self, s: &ResidentBuffers) -> Option<u32> {
        match self {
            WordRef::Control(w) => s.control().get(w as usize).copied(),
            WordRef::Slot { slot, word } => s.slot_words(slot).get(word as usize).copied(),
        }
    }
}

/// One writer of a word at one point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Writer {
    /// The slot whose execution wrote it; `None` for the host (a publish, a reset, a write).
    pub slot: Option<u32>,
    /// What it did, e.g. "added 1 (DONE_COUNT counts every slot that ran)".
    pub how: String,
}

/// One change of the word along the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub point: usize,
    pub label: String,
    pub old: u32,
    pub new: u32,
}

/// The answer to "who wrote it?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WhoWrote {
    pub word: WordRef,
    /// The word's value at the base, then every change, over the whole timeline.
    pub initial: u32,
    pub history: Vec<Change>,
    /// The last change at or before the cursor, as an index into `history`.
    pub last: Option<usize>,
    /// Every writer of that change's point.
    pub writers: Vec<Writer>,
}

impl Debugger {
    /// Who wrote `word`. `None` when the word is past its buffer.
    pub fn who_wrote(&self, word: WordRef) -> Option<WhoWrote> {
        word.read(&self.state)?;
        let points = self.timeline.points();
        let mut history = Vec::new();
        let mut initial = 0;
        let mut prev = None;
        self.timeline.walk_states(&self.state, |i, s| {
            let v = word.read(s).unwrap_or(0);
            match prev {
                None => initial = v,
                Some(old) if old != v => history.push(Change {
                    point: i,
                    label: points[i].label.clone(),
                    old,
                    new: v,
                }),
                _ => {}
            }
            prev = Some(v);
        });
        let cursor = self.timeline.cursor();
        let last = history.iter().rposition(|c| c.point <= cursor);
        let writers = match last {
            Some(l) => {
                let p = history[l].point;
                let (before, after) = self.timeline.diff(&self.state, p - 1, p);
                writers_at(&points[p].kind, word, &before, &after)
            }
            None => Vec::new(),
        };
        Some(WhoWrote {
            word,
            initial,
            history,
            last,
            writers,
        })
    }
}

/// The writers of `word` between two adjacent states, given what made the point.
fn writers_at(
    kind: &PointKind,
    word: WordRef,
    before: &ResidentBuffers,
    after: &ResidentBuffers,
) -> Vec<Writer> {
    let ran = |s: u32| {
        let was = before.slot_status(s);
        let now = after.slot_status(s);
        was != now && now == SlotStatus::Done
    };
    match kind {
        PointKind::Dispatch { .. } | PointKind::Pass { .. } => {}
        PointKind::Recorded { dispatch: true, .. } => {}
        _ => {
            return vec![Writer {
                slot: None,
                how: "the host (this point is not a dispatch)".into(),
            }];
        }
    }
    match word {
        WordRef::Control(w) => {
            let len = after.control().len();
            let mut out = Vec::new();
            for s in 0..after.slot_count() {
                if !ran(s) {
                    continue;
                }
                let slot = after.slot(s);
                for how in writes_word(&slot, w, len) {
                    out.push(Writer { slot: Some(s), how });
                }
            }
            out
        }
        WordRef::Slot { slot, word } => {
            // a slot's words change as the kernel claims and finishes it
            let how = if word == 0 {
                format!(
                    "the kernel running slot {slot}: {} -> {}",
                    before.slot_status(slot).name(),
                    after.slot_status(slot).name()
                )
            } else {
                format!("the kernel running slot {slot}")
            };
            vec![Writer {
                slot: Some(slot),
                how,
            }]
        }
    }
}

/// How an executed slot's handler (or the kernel on its behalf) writes control `word`:
/// one line per way, empty when it does not.
pub fn writes_word(slot: &Slot, word: u32, len: usize) -> Vec<String> {
    let mut out = Vec::new();
    if word == DONE_COUNT as u32 {
        out.push("added 1 (DONE_COUNT counts every slot that ran)".to_string());
    }
    let mut op_writes = |op: Opcode, a: [u32; 3], inner: bool| {
        let obs = |i: u32| (OBSERVABLE as u32).wrapping_add(i);
        let who = if inner {
            format!("its packed {op}")
        } else {
            op.to_string()
        };
        if op.has_metric() && word == METRICS as u32 + op.0 {
            out.push(format!("added 1 ({who} counts in METRICS)"));
        }
        let how = match op {
            Opcode::STORE_U32 if a[1] == word => Some(format!("stored {:#x} ({who})", a[0])),
            Opcode::ATOMIC_ADD if a[1] == word => Some(format!("added {} ({who})", a[0])),
            Opcode::LOAD_U32 if obs(a[1]) == word => {
                Some(format!("copied control[{}] here ({who})", a[0]))
            }
            Opcode::COMPARE_SWAP if a[0] == word || obs(a[0]) == word => Some(format!(
                "compare-and-swap {:#x} -> {:#x} ({who})",
                a[1], a[2]
            )),
            Opcode::MEMCPY
                if (word as u64).wrapping_sub(a[1] as u64) & 0xFFFF_FFFF < a[2] as u64
                    && (word as usize) < len =>
            {
                Some(format!(
                    "copied control[{}] here ({who})",
                    a[0].wrapping_add(word.wrapping_sub(a[1]))
                ))
            }
            Opcode::BATCH_FENCE if word == EPOCH as u32 || word == OBSERVABLE as u32 => {
                Some(format!("fenced the batch ({who})"))
            }
            Opcode::SHUTDOWN if word == SHUTDOWN as u32 => Some(format!("set SHUTDOWN ({who})")),
            _ => None,
        };
        out.extend(how);
    };
    op_writes(
        slot.opcode,
        [slot.args[0], slot.args[1], slot.args[2]],
        false,
    );
    if let Some(p) = slot.packed() {
        for o in &p.ops {
            if let Some(a) = o.args {
                op_writes(o.opcode, a, true);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debugger::action::Action;

    fn debugger() -> Debugger {
        crate::debugger::test_debugger(64, 4)
    }

    fn publish(d: &mut Debugger, slot: u32, opcode: Opcode, args: Vec<u32>) {
        d.apply(Action::Publish {
            slot,
            tenant: 0,
            opcode,
            args,
            priority: None,
        })
        .unwrap();
    }

    #[test]
    fn done_count_lists_every_slot_that_ran_not_one() {
        let mut d = debugger();
        for s in 0..5 {
            publish(&mut d, s, Opcode::NOP, vec![]);
        }
        d.dispatch().unwrap();
        let w = d.who_wrote(WordRef::Control(DONE_COUNT as u32)).unwrap();
        let slots: Vec<u32> = w.writers.iter().filter_map(|x| x.slot).collect();
        assert_eq!(slots, [0, 1, 2, 3, 4]);
        assert!(w.writers.iter().all(|x| x.how.starts_with("added 1")));
        assert_eq!(w.initial, 0);
        assert_eq!(w.history.len(), 1);
        assert_eq!((w.history[0].old, w.history[0].new), (0, 5));
    }

    #[test]
    fn each_writer_says_what_it_wrote_and_the_history_follows_the_timeline() {
        let mut d = debugger();
        publish(&mut d, 3, Opcode::STORE_U32, vec![7, 150]);
        publish(&mut d, 9, Opcode::ATOMIC_ADD, vec![2, 151]);
        d.dispatch().unwrap();
        d.apply(Action::WriteControl {
            word: 150,
            value: 1,
        })
        .unwrap();
        let w = d.who_wrote(WordRef::Control(150)).unwrap();
        assert_eq!(
            w.history.len(),
            2,
            "the dispatch's store, then the host write"
        );
        assert_eq!(w.last, Some(1));
        assert_eq!(w.writers[0].slot, None, "the last change was the host's");
        // back at the dispatch: slot 3 stored 7
        d.step_back();
        let w = d.who_wrote(WordRef::Control(150)).unwrap();
        assert_eq!(w.last, Some(0));
        assert_eq!(
            w.writers,
            [Writer {
                slot: Some(3),
                how: "stored 0x7 (STORE_U32)".into()
            }]
        );
        let add = d.who_wrote(WordRef::Control(151)).unwrap();
        assert_eq!(add.writers[0].how, "added 2 (ATOMIC_ADD)");
        // a slot's status word: claimed and finished by the kernel
        let st = d.who_wrote(WordRef::Slot { slot: 3, word: 0 }).unwrap();
        assert_eq!(st.history.len(), 2, "published, then done");
        assert!(st.writers[0].how.contains("-> DONE"), "{:?}", st.writers);
        // past the buffers: no answer
        assert!(d.who_wrote(WordRef::Control(100_000)).is_none());
        assert!(d.who_wrote(WordRef::Slot { slot: 3, word: 16 }).is_none());
    }

    #[test]
    fn a_word_that_never_changed_has_no_history() {
        let d = debugger();
        let w = d.who_wrote(WordRef::Control(EPOCH as u32)).unwrap();
        assert!(w.history.is_empty() && w.last.is_none() && w.writers.is_empty());
    }
}
