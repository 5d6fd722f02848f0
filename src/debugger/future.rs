//! What belongs to timeline points besides the state: the diagnostics of each dispatch and
//! the breakpoint hits, shown as of the cursor; and the future an action drops when the
//! user acts from an earlier point, kept so it can be put back.
//!
//! All three logs are in timeline order, so "after the cursor" is always a tail: stepping
//! back hides the tail, acting from there cuts it off (into [`DroppedFuture`]), and
//! [`Debugger::restore_future`] swaps the cut-off tail with the one made since.

use super::history::DispatchSummary;
use super::timeline::{Point, PointKind};
use super::{Debugger, Diagnostic};

/// One breakpoint hit: where on the timeline it happened and which breakpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HitEntry {
    pub dispatch: u64,
    /// The pass, for a hit while pass stepping.
    pub pass: Option<u32>,
    pub breakpoint: usize,
}

/// Points after the cursor that an action replaced, with what belonged to them.
#[derive(Debug, Default)]
pub struct DroppedFuture {
    /// The cursor they followed, and the timeline's trim count then (trimming shifts it).
    branch: usize,
    trimmed: u64,
    points: Vec<Point>,
    history: Vec<DispatchSummary>,
    diagnostics: Vec<Diagnostic>,
    hits: Vec<HitEntry>,
    bookmarks: Vec<super::settings::Bookmark>,
}

impl Debugger {
    /// Whether something that happened at `dispatch` (and `pass`, while pass stepping) is
    /// at or before the cursor.
    fn before_cursor(&self, dispatch: u64, pass: Option<u32>) -> bool {
        if dispatch < self.dispatches {
            return true;
        }
        match self.timeline.current().kind {
            PointKind::Pass {
                dispatch: d,
                pass: q,
            } => d == dispatch && pass.is_some_and(|p| p <= q),
            _ => false,
        }
    }

    /// The diagnostics of the dispatches up to the cursor.
    pub fn diagnostics_shown(&self) -> &[Diagnostic] {
        let all = &self.diagnostics;
        &all[..all.partition_point(|d| self.before_cursor(d.dispatch, None))]
    }

    /// Each breakpoint's hits up to the cursor.
    pub fn breakpoint_hits_shown(&self) -> Vec<u64> {
        let later = &self.hit_log[self.hits_before_cursor()..];
        self.breakpoints
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let ahead = later.iter().filter(|h| h.breakpoint == i).count() as u64;
                b.hits.saturating_sub(ahead)
            })
            .collect()
    }

    fn hits_before_cursor(&self) -> usize {
        self.hit_log
            .partition_point(|h| self.before_cursor(h.dispatch, h.pass))
    }

    /// Logs the breakpoints whose hit counts grew since `before`.
    pub(super) fn log_hits(&mut self, before: &[u64], dispatch: u64, pass: Option<u32>) {
        for (i, b) in self.breakpoints.iter().enumerate() {
            let old = before.get(i).copied().unwrap_or(0);
            for _ in old..b.hits {
                self.hit_log.push(HitEntry {
                    dispatch,
                    pass,
                    breakpoint: i,
                });
            }
        }
    }

    /// Forgets breakpoint `i`'s hits (it was removed); later breakpoints move down one.
    pub(super) fn forget_breakpoint_hits(&mut self, i: usize) {
        let fix = |log: &mut Vec<HitEntry>| {
            log.retain(|h| h.breakpoint != i);
            for h in log.iter_mut().filter(|h| h.breakpoint > i) {
                h.breakpoint -= 1;
            }
        };
        fix(&mut self.hit_log);
        if let Some(d) = &mut self.dropped {
            fix(&mut d.hits);
        }
    }

    /// Cuts off everything after the cursor: timeline points, dispatch summaries,
    /// diagnostics and breakpoint hits (their counts go down).
    fn cut_future(&mut self) -> DroppedFuture {
        let points = self.timeline.split_future();
        let keep_history = self.dispatches.saturating_sub(self.history_start) as usize;
        let history = if self.dispatches < self.history_start {
            // back before the oldest summary kept: the new future starts a new history
            self.history.clear();
            self.history_start = self.dispatches;
            Vec::new()
        } else {
            self.history.split_off(keep_history.min(self.history.len()))
        };
        let keep = self.diagnostics_shown().len();
        let diagnostics = self.diagnostics.split_off(keep);
        let keep = self.hits_before_cursor();
        let hits = self.hit_log.split_off(keep);
        for h in &hits {
            if let Some(b) = self.breakpoints.get_mut(h.breakpoint) {
                b.hits = b.hits.saturating_sub(1);
            }
        }
        let at = self.timeline.trimmed() as usize + self.timeline.cursor();
        let keep = self.bookmarks.partition_point(|b| b.point <= at);
        let bookmarks = self.bookmarks.split_off(keep);
        DroppedFuture {
            branch: self.timeline.cursor(),
            trimmed: self.timeline.trimmed(),
            points,
            history,
            diagnostics,
            hits,
            bookmarks,
        }
    }

    /// Called before a new point is pushed: the future is cut off and kept for
    /// [`Debugger::restore_future`]; the app is told through
    /// [`Debugger::dropped_future_taken`].
    pub(super) fn truncate_future(&mut self) {
        let cut = self.cut_future();
        if !cut.points.is_empty() {
            self.dropped_fresh = Some(cut.points.len());
            self.dropped = Some(cut);
        }
    }

    /// How many points the last action dropped, once: the app says so and offers Undo.
    pub fn dropped_future_taken(&mut self) -> Option<usize> {
        self.dropped_fresh.take()
    }

    /// Whether there is a dropped future to put back.
    pub fn can_restore_future(&self) -> bool {
        self.dropped.is_some()
    }

    /// Puts back the points the last action after a step back dropped: the cursor returns
    /// to where that action was taken, and the points made since become the restorable
    /// future in their place (so restoring twice swaps back). Returns how many points came
    /// back, or `None` when there is nothing to restore (or older history was trimmed past
    /// the branch).
    pub fn restore_future(&mut self) -> Option<usize> {
        if self.replay.is_some() {
            return None;
        }
        let stash = self.dropped.take()?;
        let shift = self.timeline.trimmed().saturating_sub(stash.trimmed);
        let branch = stash.branch.checked_sub(shift as usize)?;
        if branch >= self.timeline.len() {
            return None;
        }
        self.seek(branch);
        if self.timeline.cursor() != branch {
            // the seek failed (a GPU read-back error, logged): keep the stash
            self.dropped = Some(stash);
            return None;
        }
        let mine = self.cut_future();
        let n = stash.points.len();
        self.timeline.attach_future(stash.points);
        self.history.extend(stash.history);
        self.diagnostics.extend(stash.diagnostics);
        self.bookmarks.extend(stash.bookmarks);
        for h in stash.hits {
            if let Some(b) = self.breakpoints.get_mut(h.breakpoint) {
                b.hits += 1;
                self.hit_log.push(h);
            }
        }
        self.dropped = (!mine.points.is_empty()).then_some(mine);
        self.revision += 1;
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use crate::abi::opcode::Opcode;
    use crate::debugger::Debugger;
    use crate::debugger::action::Action;
    use crate::debugger::breakpoint::{Condition, SlotSelector};
    use crate::debugger::settings::Edit;
    use crate::engine::DiagnosticKind;

    fn debugger() -> Debugger {
        crate::debugger::test_debugger(64, 0)
    }

    /// Two slots that store to one control word race (README "Races").
    fn publish_race(d: &mut Debugger) {
        for slot in [1, 2] {
            d.apply(Action::Publish {
                slot,
                tenant: 0,
                opcode: Opcode::STORE_U32,
                args: vec![slot, 140],
                priority: None,
            })
            .unwrap();
        }
    }

    fn races(d: &Debugger) -> usize {
        d.diagnostics_shown()
            .iter()
            .filter(|x| x.kind == DiagnosticKind::Race)
            .count()
    }

    #[test]
    fn diagnostics_follow_the_cursor_and_are_not_listed_twice_after_a_rerun() {
        let mut d = debugger();
        publish_race(&mut d);
        d.dispatch().unwrap();
        let once = races(&d);
        assert!(once > 0, "the two stores race");
        // before the dispatch: its diagnostics are not shown
        assert!(d.step_back());
        assert_eq!(races(&d), 0);
        // forward again: shown once
        assert!(d.step_forward());
        assert_eq!(races(&d), once);
        // back, then dispatch again (a new future): still once, not twice
        assert!(d.step_back());
        d.dispatch().unwrap();
        assert_eq!(races(&d), once);
        assert_eq!(d.diagnostics().len(), d.diagnostics_shown().len());
    }

    #[test]
    fn hit_counts_follow_the_cursor_and_drop_with_a_discarded_future() {
        let mut d = debugger();
        d.edit(Edit::AddBreakpoint(Condition::SlotEnters {
            slots: SlotSelector::Any,
            status: crate::abi::status::SlotStatus::Done,
        }))
        .unwrap();
        publish_race(&mut d);
        d.dispatch().unwrap();
        assert_eq!(d.breakpoint_hits_shown(), [1]);
        assert!(d.step_back());
        assert_eq!(
            d.breakpoint_hits_shown(),
            [0],
            "the hit is after the cursor"
        );
        // a publish from here drops the dispatch point, and with it the hit
        d.apply(Action::WriteControl {
            word: 140,
            value: 9,
        })
        .unwrap();
        assert_eq!(d.dropped_future_taken(), Some(1));
        assert_eq!(d.breakpoints()[0].hits, 0);
        assert_eq!(d.breakpoint_hits_shown(), [0]);
    }

    #[test]
    fn a_dropped_future_comes_back_and_restoring_again_swaps_back() {
        let mut d = debugger();
        publish_race(&mut d);
        d.apply(Action::Dispatch { count: 2 }).unwrap();
        let end_state = d.state().clone();
        let points = d.timeline().len();
        let diagnostics = d.diagnostics().len();
        // back two points, then Reset: both dispatches are dropped
        d.seek(points - 3);
        let branch = d.timeline().cursor();
        d.apply(Action::Reset).unwrap();
        assert_eq!(d.dropped_future_taken(), Some(2));
        assert_eq!(d.timeline().len(), branch + 2);
        assert_eq!(d.dispatches(), 0);
        // undo: the cursor is back at the branch, the two dispatches follow it
        assert_eq!(d.restore_future(), Some(2));
        assert_eq!(d.timeline().cursor(), branch);
        assert_eq!(d.timeline().len(), points);
        d.seek(points - 1);
        assert_eq!(d.state(), &end_state);
        assert_eq!(d.diagnostics().len(), diagnostics);
        assert_eq!(d.history().len(), 2);
        // and the reset is the restorable future now
        d.seek(branch);
        assert_eq!(d.restore_future(), Some(1));
        assert_eq!(d.timeline().len(), branch + 2);
        assert_eq!(d.timeline().points()[branch + 1].label, "reset");
    }

    #[test]
    fn nothing_to_restore_says_so() {
        let mut d = debugger();
        assert_eq!(d.restore_future(), None);
        d.apply(Action::Dispatch { count: 1 }).unwrap();
        assert_eq!(
            d.dropped_future_taken(),
            None,
            "acting at the end drops nothing"
        );
        assert_eq!(d.restore_future(), None);
    }
}
