//! State deltas for the timeline: what changed between two states, stored small.
//!
//! A delta keeps, per buffer, the XOR of old and new words run-length encoded along *planes*
//! (the ring is 16 interleaved planes, one per slot word). XOR serves both directions (old =
//! new ^ x, new = old ^ x), and a dispatch that moves 65,536 statuses from PUBLISHED to DONE
//! is one run of `1 ^ 3` in the status plane: a few bytes instead of a copy. Applying a delta
//! costs time in proportion to the runs, not to the buffer.

use crate::abi::layout::SLOT_WORDS;
use crate::resident::ResidentBuffers;

/// A run of `len` plane elements from `start` whose words change by XOR `xor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    start: u32,
    len: u32,
    xor: u32,
}

/// Changes of one buffer.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
enum BufferDelta {
    #[default]
    Same,
    /// Runs per plane (`stride` planes; plane `p` holds words `p, p+stride, …`).
    Runs { stride: u32, planes: Vec<Vec<Run>> },
    /// The length changed (a reset with another observable count): both versions whole.
    Replace { old: Vec<u32>, new: Vec<u32> },
}

impl BufferDelta {
    fn between(old: &[u32], new: &[u32], stride: usize) -> BufferDelta {
        if old.len() != new.len() {
            return BufferDelta::Replace {
                old: old.to_vec(),
                new: new.to_vec(),
            };
        }
        if old == new {
            return BufferDelta::Same;
        }
        let mut planes = vec![Vec::new(); stride];
        for (p, runs) in planes.iter_mut().enumerate() {
            let mut j = 0u32;
            let mut current: Option<Run> = None;
            let mut i = p;
            while i < old.len() {
                let x = old[i] ^ new[i];
                match current.as_mut() {
                    Some(r) if r.xor == x && r.start + r.len == j => r.len += 1,
                    _ => {
                        if let Some(r) = current.take() {
                            runs.push(r);
                        }
                        if x != 0 {
                            current = Some(Run {
                                start: j,
                                len: 1,
                                xor: x,
                            });
                        }
                    }
                }
                if x == 0
                    && let Some(r) = current.take()
                {
                    runs.push(r);
                }
                i += stride;
                j += 1;
            }
            if let Some(r) = current {
                runs.push(r);
            }
        }
        BufferDelta::Runs {
            stride: stride as u32,
            planes,
        }
    }

    /// The runs of a buffer that changed only at the words of `changes` (word index and old
    /// value; an index may repeat, its first old value counts). Gives exactly what
    /// [`BufferDelta::between`] gives on the whole buffer, in time proportional to the changes.
    fn from_changes(new: &[u32], stride: usize, changes: &[(u32, u32)]) -> BufferDelta {
        // per plane, in the order given: claims and named slots come in ascending order, so
        // no sort is needed (a stable one keeps a repeated index's first value otherwise)
        let mut by_plane: Vec<Vec<(u32, u32)>> = vec![Vec::new(); stride];
        for &(i, old) in changes {
            by_plane[i as usize % stride].push(((i as usize / stride) as u32, old));
        }
        let mut planes = vec![Vec::new(); stride];
        let mut any = false;
        for (p, (elements, runs)) in by_plane.iter_mut().zip(planes.iter_mut()).enumerate() {
            if !elements.is_sorted_by_key(|e| e.0) {
                elements.sort_by_key(|e| e.0);
            }
            let mut last = None;
            for &(j, old) in elements.iter() {
                if last == Some(j) {
                    continue;
                }
                last = Some(j);
                let Some(&now) = new.get(j as usize * stride + p) else {
                    continue;
                };
                let x = old ^ now;
                if x == 0 {
                    continue;
                }
                any = true;
                let runs: &mut Vec<Run> = runs;
                match runs.last_mut() {
                    Some(r) if r.xor == x && r.start + r.len == j => r.len += 1,
                    _ => runs.push(Run {
                        start: j,
                        len: 1,
                        xor: x,
                    }),
                }
            }
        }
        if !any {
            return BufferDelta::Same;
        }
        BufferDelta::Runs {
            stride: stride as u32,
            planes,
        }
    }

    /// Applies in the given direction (`forward`: old → new).
    fn apply(&self, buf: &mut Vec<u32>, forward: bool) {
        match self {
            BufferDelta::Same => {}
            BufferDelta::Runs { stride, planes } => {
                let stride = *stride as usize;
                for (p, runs) in planes.iter().enumerate() {
                    for r in runs {
                        let mut i = p + r.start as usize * stride;
                        for _ in 0..r.len {
                            if let Some(w) = buf.get_mut(i) {
                                *w ^= r.xor;
                            }
                            i += stride;
                        }
                    }
                }
            }
            BufferDelta::Replace { old, new } => {
                buf.clear();
                buf.extend_from_slice(if forward { new } else { old });
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            BufferDelta::Same => 0,
            BufferDelta::Runs { planes, .. } => planes
                .iter()
                .map(|p| {
                    p.capacity() * std::mem::size_of::<Run>() + std::mem::size_of::<Vec<Run>>()
                })
                .sum(),
            BufferDelta::Replace { old, new } => (old.capacity() + new.capacity()) * 4,
        }
    }

    fn changed_words(&self) -> u64 {
        match self {
            BufferDelta::Same => 0,
            BufferDelta::Runs { planes, .. } => planes.iter().flatten().map(|r| r.len as u64).sum(),
            BufferDelta::Replace { new, .. } => new.len() as u64,
        }
    }
}

/// The difference between two states of the four buffers.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Delta {
    control: BufferDelta,
    ring: BufferDelta,
    debug_log: BufferDelta,
    io_queue: BufferDelta,
}

impl Delta {
    /// The delta from `old` to `new` (both the same slot count).
    pub fn between(old: &crate::resident::Readback, new: &ResidentBuffers) -> Delta {
        Delta {
            control: BufferDelta::between(&old.control, new.control(), 1),
            ring: BufferDelta::between(&old.ring, new.ring(), SLOT_WORDS),
            debug_log: BufferDelta::between(&old.debug_log, new.debug_log(), 1),
            io_queue: BufferDelta::between(&old.io_queue, new.io_queue(), 1),
        }
    }

    /// The delta of a step that wrote no ring word but those in `ring_changes` (ring word
    /// index and old value), from `old`, whose ring is not read (a snapshot of the other
    /// buffers is enough): the same delta as [`Delta::between`] on the whole state, without
    /// copying and diffing the ring — 64 MiB at 1M slots, for a dispatch that may have
    /// claimed a handful.
    pub fn with_ring_changes(
        old: &crate::resident::Readback,
        new: &ResidentBuffers,
        ring_changes: &[(u32, u32)],
    ) -> Delta {
        Delta {
            control: BufferDelta::between(&old.control, new.control(), 1),
            ring: BufferDelta::from_changes(new.ring(), SLOT_WORDS, ring_changes),
            debug_log: BufferDelta::between(&old.debug_log, new.debug_log(), 1),
            io_queue: BufferDelta::between(&old.io_queue, new.io_queue(), 1),
        }
    }

    pub fn is_empty(&self) -> bool {
        [&self.control, &self.ring, &self.debug_log, &self.io_queue]
            .iter()
            .all(|b| matches!(b, BufferDelta::Same))
    }

    /// Applies the delta to `state`: forward (old → new) or backward (new → old).
    pub fn apply(&self, state: &mut ResidentBuffers, forward: bool) {
        let b = state.buffers_mut();
        self.control.apply(b.control, forward);
        self.ring.apply(b.ring, forward);
        self.debug_log.apply(b.debug_log, forward);
        self.io_queue.apply(b.io_queue, forward);
    }

    /// Heap bytes the delta holds (for the timeline's memory budget).
    pub fn heap_bytes(&self) -> usize {
        self.control.heap_bytes()
            + self.ring.heap_bytes()
            + self.debug_log.heap_bytes()
            + self.io_queue.heap_bytes()
    }

    /// Words that differ, per buffer: control, ring, debug log, IO queue.
    pub fn changed_words(&self) -> [u64; 4] {
        [
            self.control.changed_words(),
            self.ring.changed_words(),
            self.debug_log.changed_words(),
            self.io_queue.changed_words(),
        ]
    }

    /// Ring slots whose words differ, ascending (for highlighting a diff in the grid).
    pub fn changed_slots(&self) -> Vec<u32> {
        let mut out = Vec::new();
        self.extend_changed_slots(&mut out, usize::MAX);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Appends the ring slots whose words differ to `out` (unsorted, a slot once per word
    /// that changed), stopping once `out` holds more than `cap`: a reader that copies
    /// everything past that many need not have a million slot numbers made first.
    pub fn extend_changed_slots(&self, out: &mut Vec<u32>, cap: usize) {
        match &self.ring {
            BufferDelta::Same => {}
            BufferDelta::Runs { planes, .. } => {
                for r in planes.iter().flatten() {
                    if out.len() > cap {
                        return;
                    }
                    let take = (r.len as usize).min(cap.saturating_add(1) - out.len().min(cap));
                    out.extend(r.start..r.start + take as u32);
                }
            }
            BufferDelta::Replace { old, new } => {
                let n = old.len().max(new.len()) / SLOT_WORDS;
                for s in 0..n {
                    if out.len() > cap {
                        return;
                    }
                    let a = old.get(s * SLOT_WORDS..(s + 1) * SLOT_WORDS);
                    let b = new.get(s * SLOT_WORDS..(s + 1) * SLOT_WORDS);
                    if a != b {
                        out.push(s as u32);
                    }
                }
            }
        }
    }

    /// Control words whose value differs, with the XOR (old ^ new).
    pub fn changed_control_words(&self) -> Vec<(u32, u32)> {
        match &self.control {
            BufferDelta::Runs { planes, .. } => {
                let mut v: Vec<(u32, u32)> = planes[0]
                    .iter()
                    .flat_map(|r| (r.start..r.start + r.len).map(move |i| (i, r.xor)))
                    .collect();
                v.sort_unstable();
                v
            }
            BufferDelta::Replace { old, new } => (0..old.len().max(new.len()))
                .filter_map(|i| {
                    let (a, b) = (
                        old.get(i).copied().unwrap_or(0),
                        new.get(i).copied().unwrap_or(0),
                    );
                    (a != b).then_some((i as u32, a ^ b))
                })
                .collect(),
            BufferDelta::Same => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::opcode::Opcode;
    use crate::engine::DispatchMirror;
    use crate::engine::DispatchOptions;
    use crate::engine::cpu::CpuEngine;

    #[test]
    fn delta_goes_both_ways_exactly() {
        let mut m = ResidentBuffers::new(64, 1, 4).unwrap();
        for s in 0..64 {
            m.publish_slot(s, 0, Opcode::ATOMIC_ADD, &[1, 160 + (s as u32 % 4)])
                .unwrap();
        }
        let before = m.snapshot_readback();
        let before_state = m.clone();
        m.dispatch(&mut CpuEngine::new(), &DispatchOptions::default())
            .unwrap();
        let after_state = m.clone();
        let d = Delta::between(&before, &m);
        d.apply(&mut m, false);
        assert_eq!(m, before_state);
        d.apply(&mut m, true);
        assert_eq!(m, after_state);
    }

    #[test]
    fn uniform_status_change_is_one_run() {
        let mut m = ResidentBuffers::new(65_536, 1, 0).unwrap();
        let p = crate::debugger::action::Pattern {
            start: 0,
            end: 65_536,
            step: 1,
            tenants: vec![0],
            opcodes: vec![Opcode::NOP],
            priorities: vec![],
            args: vec![],
        };
        p.publish(&mut m).unwrap();
        let before = m.snapshot_readback();
        m.dispatch(&mut CpuEngine::new(), &DispatchOptions::default())
            .unwrap();
        let d = Delta::between(&before, &m);
        assert_eq!(d.changed_words()[1], 65_536);
        assert!(d.heap_bytes() < 2048, "{} bytes", d.heap_bytes());
        assert_eq!(d.changed_slots().len(), 65_536);
    }

    #[test]
    fn length_changes_replace_the_buffer() {
        let mut m = ResidentBuffers::new(4, 1, 0).unwrap();
        let before = m.snapshot_readback();
        let before_state = m.clone();
        m.reset(1, 8).unwrap();
        let d = Delta::between(&before, &m);
        assert_eq!(d.changed_control_words().len(), 0, "only new zero words");
        let after = m.clone();
        d.apply(&mut m, false);
        assert_eq!(m, before_state);
        d.apply(&mut m, true);
        assert_eq!(m, after);
    }

    proptest::proptest! {
        /// Runs built from a list of possibly changed words — in any order, with unchanged
        /// words and repeats among them — are the runs a diff of the whole buffer finds.
        #[test]
        fn runs_from_listed_words_equal_runs_from_a_whole_diff(
            old in proptest::collection::vec(0u32..4, 96),
            writes in proptest::collection::vec((0usize..96, 0u32..4), 0..60),
            extra in proptest::collection::vec(0usize..96, 0..10),
            reverse in proptest::prelude::any::<bool>(),
        ) {
            let mut new = old.clone();
            // each write lists the word with its value before the step; a word written
            // twice is listed twice, the first entry holding the original value
            let mut listed = Vec::new();
            for &(i, v) in &writes {
                listed.push((i as u32, old[i]));
                new[i] = v;
            }
            listed.extend(extra.iter().map(|&i| (i as u32, old[i])));
            if reverse {
                // out of order, the original values still first for each index
                listed.sort_by_key(|&(i, _)| std::cmp::Reverse(i));
            }
            for stride in [1, 16] {
                proptest::prop_assert_eq!(
                    BufferDelta::from_changes(&new, stride, &listed),
                    BufferDelta::between(&old, &new, stride)
                );
            }
        }
    }

    #[test]
    fn identical_states_give_an_empty_delta() {
        let m = ResidentBuffers::new(4, 1, 0).unwrap();
        assert!(Delta::between(&m.snapshot_readback(), &m).is_empty());
    }

    #[test]
    fn changed_control_words_report_xor() {
        let mut m = ResidentBuffers::new(4, 1, 0).unwrap();
        let before = m.snapshot_readback();
        m.write_control(150, 5).unwrap();
        m.write_control(151, 5).unwrap();
        m.write_control(1, 2).unwrap();
        assert_eq!(
            Delta::between(&before, &m).changed_control_words(),
            vec![(1, 2), (150, 5), (151, 5)]
        );
    }
}
