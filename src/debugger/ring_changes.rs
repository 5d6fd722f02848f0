//! Which ring slots changed since a reader last looked, for a reader that keeps its own copy
//! of the ring: the grid's GPU copy of the CPU backend's ring, which then uploads the slots
//! a dispatch changed instead of every slot's words each frame.
//!
//! The list is fed from the deltas the timeline stores anyway, so it costs what the changes
//! cost. It is only trusted when the mirror's version moved by noted steps alone: every
//! change the list did not see (a GPU readback, a load) breaks the chain, and the reader is
//! told to copy everything. Until a reader first asks, nothing is kept.

use super::delta::Delta;
use crate::abi::layout::SLOT_WORDS;

/// `(mirror id, generation)`, see [`ResidentBuffers::version`](crate::resident::ResidentBuffers::version).
pub type Version = (u64, u64);

impl super::Debugger {
    /// The ring slots changed since the mirror had `since` (its [`version`]), or `None` when
    /// that is not known (then copy the whole ring); the next call answers from now on. One
    /// reader only: each call starts the list again.
    ///
    /// [`version`]: crate::resident::ResidentBuffers::version
    pub fn take_ring_changes_since(&mut self, since: Version) -> Option<Vec<u32>> {
        let (now, n) = (self.state.version(), self.state.slot_count());
        self.ring_changes.take_since(since, now, n)
    }

    /// Notes the points a seek from point `from` crossed to reach the cursor.
    pub(super) fn note_seek(&mut self, before: Version, from: usize) {
        let to = self.timeline.cursor();
        let crossed = from.min(to) + 1..=from.max(to);
        let points = &self.timeline.points()[crossed];
        self.ring_changes.note(
            before,
            self.state.version(),
            points.iter().map(|p| &p.delta),
        );
    }
}

#[derive(Debug, Default)]
pub struct RingChanges {
    /// A reader has asked, so steps are noted.
    reading: bool,
    /// The version the list starts from.
    from: Version,
    /// The version the noted steps brought the mirror to.
    to: Version,
    /// Changed slots since `from`, possibly repeated; `None` when unknown or too many.
    slots: Option<Vec<u32>>,
    /// Past this many entries copying everything is as cheap, so the list is dropped.
    cap: usize,
}

impl RingChanges {
    /// Notes a step that took the mirror from `before` to `after` through `deltas`.
    pub fn note<'a>(
        &mut self,
        before: Version,
        after: Version,
        deltas: impl IntoIterator<Item = &'a Delta>,
    ) {
        if !self.reading {
            return;
        }
        if self.to != before {
            self.slots = None;
        }
        self.to = after;
        for d in deltas {
            let Some(slots) = self.slots.as_mut() else {
                return;
            };
            // a slot counts once per word that changed: past 16 × cap entries there are
            // more than cap slots whatever the repeats
            d.extend_changed_slots(slots, self.cap.saturating_mul(SLOT_WORDS));
            if slots.len() > self.cap {
                slots.sort_unstable();
                slots.dedup();
            }
            if slots.len() > self.cap {
                self.slots = None;
            }
        }
    }

    /// The slots changed from the mirror at `since` to the mirror at `now`, if the noted
    /// steps account for every change between them; then starts a new list at `now`.
    /// `slot_count` sizes the cap (a quarter of the ring).
    pub fn take_since(
        &mut self,
        since: Version,
        now: Version,
        slot_count: u32,
    ) -> Option<Vec<u32>> {
        let known = self.reading && self.from == since && self.to == now;
        let slots = self.slots.replace(Vec::new()).filter(|_| known);
        self.reading = true;
        self.from = now;
        self.to = now;
        self.cap = (slot_count as usize / 4).max(1024);
        slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resident::ResidentBuffers;

    fn delta_of(m: &mut ResidentBuffers, slot: u32) -> Delta {
        let before = m.snapshot_readback();
        m.write_slot_raw(slot, &[7; 16]).unwrap();
        Delta::between(&before, m)
    }

    #[test]
    fn nothing_is_known_before_the_first_reader_asks() {
        let mut m = ResidentBuffers::new(64, 1, 0).unwrap();
        let mut c = RingChanges::default();
        let v0 = m.version();
        let d = delta_of(&mut m, 3);
        c.note(v0, m.version(), [&d]);
        assert_eq!(c.take_since(v0, m.version(), 64), None);
    }

    #[test]
    fn noted_steps_give_their_slots_and_an_unnoted_change_breaks_the_chain() {
        let mut m = ResidentBuffers::new(64, 1, 0).unwrap();
        let mut c = RingChanges::default();
        let v0 = m.version();
        assert_eq!(
            c.take_since(v0, v0, 64),
            None,
            "the first ask knows nothing"
        );
        let d = delta_of(&mut m, 3);
        let v1 = m.version();
        c.note(v0, v1, [&d]);
        let d = delta_of(&mut m, 9);
        let v2 = m.version();
        c.note(v1, v2, [&d]);
        let mut got = c.take_since(v0, v2, 64).unwrap();
        got.sort_unstable();
        got.dedup();
        assert_eq!(got, vec![3, 9]);
        // asked from another version than the list starts at: unknown
        let d = delta_of(&mut m, 4);
        c.note(v2, m.version(), [&d]);
        assert_eq!(c.take_since(v1, m.version(), 64), None);
        // a change nobody noted, then a noted one: unknown
        let v3 = m.version();
        m.write_control(1, 5).unwrap();
        let before = m.version();
        let d = delta_of(&mut m, 5);
        c.note(before, m.version(), [&d]);
        assert_eq!(c.take_since(v3, m.version(), 64), None);
        // and a fresh list after that
        let v4 = m.version();
        let d = delta_of(&mut m, 6);
        c.note(v4, m.version(), [&d]);
        let got = c.take_since(v4, m.version(), 64).unwrap();
        assert!(!got.is_empty() && got.iter().all(|&s| s == 6), "{got:?}");
    }

    #[test]
    fn slots_count_once_however_many_of_their_words_changed() {
        let mut m = ResidentBuffers::new(8192, 1, 0).unwrap();
        let mut c = RingChanges::default();
        let v0 = m.version();
        c.take_since(v0, v0, 8192);
        let before = m.snapshot_readback();
        // 1,500 slots of 16 changed words: 24,000 entries, under the cap of 2,048 slots
        for s in 0..1500 {
            m.write_slot_raw(s, &[s + 1; 16]).unwrap();
        }
        let d = Delta::between(&before, &m);
        c.note(v0, m.version(), [&d]);
        let mut got = c.take_since(v0, m.version(), 8192).unwrap();
        got.sort_unstable();
        got.dedup();
        assert_eq!(got, (0..1500).collect::<Vec<_>>());
    }

    #[test]
    fn too_many_changed_slots_mean_copy_everything() {
        let mut m = ResidentBuffers::new(8192, 1, 0).unwrap();
        let mut c = RingChanges::default();
        let v0 = m.version();
        c.take_since(v0, v0, 8192);
        let before = m.snapshot_readback();
        for s in 0..3000 {
            m.write_slot_raw(s, &[s + 1; 16]).unwrap();
        }
        let d = Delta::between(&before, &m);
        c.note(v0, m.version(), [&d]);
        assert_eq!(c.take_since(v0, m.version(), 8192), None);
    }
}
