//! The timeline: every action, dispatch and pass is a point; each point stores the delta from
//! the point before it, so stepping back or forward applies deltas instead of re-running.
//!
//! Running or acting from an earlier point forks: the old future is discarded (the simplest
//! model that never surprises — "redo" exists only until something new happens).

use super::action::Action;
use super::delta::Delta;
use crate::resident::ResidentBuffers;

/// What made a timeline point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PointKind {
    /// The state the timeline starts from.
    Base,
    /// A host action (publish, control write, reset).
    Action(Action),
    /// A pass of a dispatch still in progress (`dispatch` is its index, `pass` 0-based).
    Pass { dispatch: u64, pass: u32 },
    /// A completed dispatch.
    Dispatch { index: u64 },
    /// A step of a replayed recording (`dispatch`: a kernel dispatch, else a host change).
    Recorded { step: usize, dispatch: bool },
}

/// One point of the timeline.
#[derive(Clone, Debug)]
pub struct Point {
    pub kind: PointKind,
    /// The action that made the point (replaying the actions rebuilds the timeline).
    pub action: Option<Action>,
    /// From the previous point to this one.
    pub delta: Delta,
    /// Dispatches completed at this point.
    pub dispatches: u64,
    pub label: String,
}

impl Point {
    /// What the point costs in memory: its delta, itself and its label (the action's own
    /// few heap bytes are noise beside them).
    fn cost(&self) -> usize {
        std::mem::size_of::<Point>() + self.label.capacity() + self.delta.heap_bytes()
    }
}

/// Points and a cursor; `points[0]` is the base.
#[derive(Debug)]
pub struct Timeline {
    points: Vec<Point>,
    cursor: usize,
    bytes: usize,
    budget: usize,
    /// Points dropped from the front to stay within the memory budget.
    trimmed: u64,
}

/// The default memory budget for deltas.
pub const DEFAULT_TIMELINE_BUDGET: usize = 512 << 20;

impl Timeline {
    pub fn new(dispatches: u64) -> Timeline {
        Timeline {
            points: vec![Point {
                kind: PointKind::Base,
                action: None,
                delta: Delta::default(),
                dispatches,
                label: "start".into(),
            }],
            cursor: 0,
            bytes: 0,
            budget: DEFAULT_TIMELINE_BUDGET,
            trimmed: 0,
        }
    }

    pub fn set_budget(&mut self, bytes: usize) {
        self.budget = bytes;
        self.trim();
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn points(&self) -> &[Point] {
        &self.points
    }

    pub fn current(&self) -> &Point {
        &self.points[self.cursor]
    }

    pub fn at_end(&self) -> bool {
        self.cursor + 1 == self.points.len()
    }

    /// Bytes the points after the base hold: their deltas and their own size and labels, so
    /// a long run of dispatches that change nothing is bounded by the budget too.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Points dropped from the front so far.
    pub fn trimmed(&self) -> u64 {
        self.trimmed
    }

    /// Appends a point after the cursor, discarding any future, and moves onto it.
    pub fn push(
        &mut self,
        kind: PointKind,
        action: Option<Action>,
        delta: Delta,
        dispatches: u64,
        label: String,
    ) {
        self.split_future();
        self.add(Point {
            kind,
            action,
            delta,
            dispatches,
            label,
        });
        self.cursor = self.points.len() - 1;
        self.trim();
    }

    /// Removes and returns the points after the cursor (the future an action is about to
    /// replace), so the debugger can offer them back.
    pub fn split_future(&mut self) -> Vec<Point> {
        let future: Vec<Point> = self.points.drain(self.cursor + 1..).collect();
        for p in &future {
            self.bytes -= p.cost();
        }
        future
    }

    /// Puts points back after the cursor, which must be the last point; the cursor stays.
    pub fn attach_future(&mut self, future: Vec<Point>) {
        debug_assert!(self.at_end(), "a future attaches only at the end");
        for p in future {
            self.add(p);
        }
        self.trim();
    }

    /// Adds a point after the last one without moving the cursor (a followed recording that
    /// grew while the user looks at an earlier step).
    pub fn append(
        &mut self,
        kind: PointKind,
        action: Option<Action>,
        delta: Delta,
        dispatches: u64,
        label: String,
    ) {
        self.add(Point {
            kind,
            action,
            delta,
            dispatches,
            label,
        });
        self.trim();
    }

    fn add(&mut self, point: Point) {
        self.bytes += point.cost();
        self.points.push(point);
    }

    /// Drops the oldest points when over budget (the base moves forward), down to seven
    /// eighths of it: dropping from the front moves every point, so it happens once in many
    /// pushes, not on each (a run past the budget stayed O(points) per dispatch).
    fn trim(&mut self) {
        if self.bytes <= self.budget {
            return;
        }
        let target = self.budget - self.budget / 8;
        let mut drop = 0;
        let mut bytes = self.bytes;
        while bytes > target && drop + 1 < self.cursor {
            drop += 1;
            bytes -= self.points[drop].cost();
        }
        if drop > 0 {
            self.points.drain(1..=drop);
            self.points[0].delta = Delta::default();
            self.points[0].kind = PointKind::Base;
            self.points[0].action = None;
            self.points[0].label = "start (older history trimmed)".into();
            self.cursor -= drop;
            self.bytes = bytes;
            self.trimmed += drop as u64;
        }
    }

    /// Moves the cursor to `target` (clamped), applying deltas to `state`. Returns the
    /// number of points crossed.
    pub fn seek(&mut self, state: &mut ResidentBuffers, target: usize) -> usize {
        let target = target.min(self.points.len() - 1);
        let crossed = self.cursor.abs_diff(target);
        while self.cursor > target {
            self.points[self.cursor].delta.apply(state, false);
            self.cursor -= 1;
        }
        while self.cursor < target {
            self.cursor += 1;
            self.points[self.cursor].delta.apply(state, true);
        }
        crossed
    }

    /// The delta between two points (`from` → `to`), composed by replaying on a copy.
    pub fn diff(
        &self,
        state_at_cursor: &ResidentBuffers,
        from: usize,
        to: usize,
    ) -> (ResidentBuffers, ResidentBuffers) {
        let mut a = state_at_cursor.clone();
        let mut b = state_at_cursor.clone();
        Self::walk(&self.points, self.cursor, from, &mut a);
        Self::walk(&self.points, self.cursor, to, &mut b);
        (a, b)
    }

    fn walk(points: &[Point], mut at: usize, target: usize, s: &mut ResidentBuffers) {
        let target = target.min(points.len() - 1);
        while at > target {
            points[at].delta.apply(s, false);
            at -= 1;
        }
        while at < target {
            at += 1;
            points[at].delta.apply(s, true);
        }
    }

    /// Calls `f` with every point's index and state, from the base to the last point (the
    /// future included), by replaying deltas on one copy of the state.
    pub fn walk_states(
        &self,
        state_at_cursor: &ResidentBuffers,
        mut f: impl FnMut(usize, &ResidentBuffers),
    ) {
        let mut s = state_at_cursor.clone();
        Self::walk(&self.points, self.cursor, 0, &mut s);
        f(0, &s);
        for i in 1..self.points.len() {
            self.points[i].delta.apply(&mut s, true);
            f(i, &s);
        }
    }

    /// The actions from the base to the last point (the future included).
    pub fn actions(&self) -> Vec<Action> {
        self.points[1..]
            .iter()
            .filter_map(|p| p.action.clone())
            .collect()
    }

    /// The most recent point at or before the cursor whose delta changed control word
    /// `word`, as its index.
    pub fn last_change_of_control_word(&self, word: u32) -> Option<usize> {
        (1..=self.cursor).rev().find(|&i| {
            self.points[i]
                .delta
                .changed_control_words()
                .iter()
                .any(|(w, _)| *w == word)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with(v: u32) -> ResidentBuffers {
        let mut m = ResidentBuffers::new(4, 1, 0).unwrap();
        m.write_control(150, v).unwrap();
        m
    }

    fn timeline_of(values: &[u32]) -> (Timeline, ResidentBuffers) {
        let mut t = Timeline::new(0);
        let mut m = state_with(0);
        for &v in values {
            let before = m.snapshot_readback();
            m.write_control(150, v).unwrap();
            t.push(
                PointKind::Action(Action::WriteControl {
                    word: 150,
                    value: v,
                }),
                Some(Action::WriteControl {
                    word: 150,
                    value: v,
                }),
                Delta::between(&before, &m),
                0,
                format!("{v}"),
            );
        }
        (t, m)
    }

    #[test]
    fn seek_moves_both_ways() {
        let (mut t, mut m) = timeline_of(&[1, 2, 3]);
        assert_eq!(t.cursor(), 3);
        t.seek(&mut m, 1);
        assert_eq!(m.control()[150], 1);
        t.seek(&mut m, 0);
        assert_eq!(m, state_with(0));
        t.seek(&mut m, 99);
        assert_eq!(m.control()[150], 3);
        assert!(t.at_end());
    }

    #[test]
    fn acting_from_the_past_discards_the_future() {
        let (mut t, mut m) = timeline_of(&[1, 2, 3]);
        t.seek(&mut m, 1);
        let before = m.snapshot_readback();
        m.write_control(150, 9).unwrap();
        t.push(
            PointKind::Base,
            None,
            Delta::between(&before, &m),
            0,
            "fork".into(),
        );
        assert_eq!(t.len(), 3);
        assert!(t.at_end());
        t.seek(&mut m, 0);
        assert_eq!(m.control()[150], 0);
    }

    #[test]
    fn budget_trims_the_oldest_points() {
        let (mut t, mut m) = timeline_of(&[1, 2, 3, 4, 5]);
        let per = t.points()[1].delta.heap_bytes();
        t.set_budget(per * 2);
        assert!(t.len() <= 4, "{}", t.len());
        assert!(t.trimmed() >= 2);
        assert_eq!(m.control()[150], 5);
        t.seek(&mut m, 0);
        assert_ne!(m.control()[150], 0, "the base moved forward");
    }

    #[test]
    fn points_that_change_nothing_count_against_the_budget() {
        // a run of dispatches that change nothing has empty deltas: the points themselves
        // must still be bounded
        let mut t = Timeline::new(0);
        let budget = 64 << 10;
        t.set_budget(budget);
        let mut trims = 0;
        for i in 0..100_000u64 {
            let before = t.trimmed();
            t.push(
                PointKind::Dispatch { index: i },
                Some(Action::Dispatch { count: 1 }),
                Delta::default(),
                i + 1,
                format!("dispatch {i}"),
            );
            trims += (t.trimmed() != before) as u32;
        }
        assert!(t.bytes() <= budget, "{}", t.bytes());
        // dropping from the front moves every point: it happens in batches, not per push
        assert!(trims < 10_000, "{trims} trims for 100,000 pushes");
        assert!(
            t.len() * std::mem::size_of::<Point>() <= budget + 1024,
            "{} points",
            t.len()
        );
        assert!(t.trimmed() > 90_000);
    }

    #[test]
    fn last_change_finds_the_writer() {
        let (t, _) = timeline_of(&[1, 1, 2]);
        // point 2 wrote the same value: no change; point 3 changed it
        assert_eq!(t.last_change_of_control_word(150), Some(3));
        assert_eq!(t.last_change_of_control_word(151), None);
    }

    #[test]
    fn diff_builds_both_states_without_moving() {
        let (t, m) = timeline_of(&[1, 2, 3]);
        let (a, b) = t.diff(&m, 1, 2);
        assert_eq!((a.control()[150], b.control()[150]), (1, 2));
        assert_eq!(t.cursor(), 3);
    }
}
