//! Race analysis: records, per control word, which slots read, stored and added during one
//! dispatch, then reports every word whose final value or whose readers' view depends on
//! lane order (DESIGN.md §2).
//!
//! The rules, per word, between two *different* slots:
//! - two stores of different values (equal values commute);
//! - a store and a non-zero atomic add (store-then-add ≠ add-then-store);
//! - a read and a change (a store of a value other than the word's value at the start of the
//!   dispatch, or a non-zero add).
//!
//! Atomic adds among themselves commute and never race. The priority scan's read of the
//! starvation counter only matters through its threshold, so it races only when writes could
//! move the counter across 16. Reads made by the scan itself (partition offsets) are
//! attributed to [`SCHEDULER`], which differs from every slot.

use super::diagnostics::DiagnosticSink;
use crate::abi::control::{STARVATION_THRESHOLD, word_name};

/// Reader id of the priority scan's own reads (not any slot).
pub const SCHEDULER: u32 = u32::MAX - 1;
/// "No id" in a [`Pair`] (and the GPU's "no slot").
pub(crate) const NONE: u32 = u32::MAX;

/// Receives every in-range control access of a dispatch. [`NoTracking`] compiles to nothing,
/// so the engine runs at full speed when race analysis is off.
pub trait AccessTracker {
    const ENABLED: bool;
    fn read(&mut self, word: u32, slot: u32, value: u32);
    fn store(&mut self, word: u32, slot: u32, old: u32, new: u32);
    fn add(&mut self, word: u32, slot: u32, old: u32, amount: u32);
    /// The priority scan's `control[135] >= 16` test.
    fn threshold_read(&mut self, word: u32, value: u32);
}

/// Tracking disabled.
pub struct NoTracking;

impl AccessTracker for NoTracking {
    const ENABLED: bool = false;
    #[inline(always)]
    fn read(&mut self, _: u32, _: u32, _: u32) {}
    #[inline(always)]
    fn store(&mut self, _: u32, _: u32, _: u32, _: u32) {}
    #[inline(always)]
    fn add(&mut self, _: u32, _: u32, _: u32, _: u32) {}
    #[inline(always)]
    fn threshold_read(&mut self, _: u32, _: u32) {}
}

/// The lowest and the highest id seen in some role (`.1` is [`NONE`] while only one id was
/// seen). Keeping the extremes rather than the first two ids seen makes the slots a race
/// names a function of *which* slots touched the word, not of the order they ran in: the GPU
/// engine computes the same extremes with atomic min/max and must name the same slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pair(pub u32, pub u32);

impl Pair {
    pub const EMPTY: Pair = Pair(NONE, NONE);

    /// The pair of a role whose lowest id is `min` and highest `max` (`min` [`NONE`]: empty).
    pub fn from_extremes(min: u32, max: u32) -> Pair {
        if min == NONE {
            Pair::EMPTY
        } else if max <= min {
            Pair(min, NONE)
        } else {
            Pair(min, max)
        }
    }

    #[inline]
    pub fn push(&mut self, id: u32) {
        if self.0 == NONE {
            self.0 = id;
        } else if id < self.0 {
            if self.1 == NONE {
                self.1 = self.0;
            }
            self.0 = id;
        } else if id > self.0 && (self.1 == NONE || id > self.1) {
            self.1 = id;
        }
    }

    fn is_empty(&self) -> bool {
        self.0 == NONE
    }

    /// Two distinct ids were seen.
    fn has_two(&self) -> bool {
        self.1 != NONE
    }

    /// Some pair `(a, b)` with `a` from `self`, `b` from `other`, `a != b`.
    fn distinct_with(&self, other: &Pair) -> Option<(u32, u32)> {
        for a in [self.0, self.1] {
            for b in [other.0, other.1] {
                if a != NONE && b != NONE && a != b {
                    return Some((a, b));
                }
            }
        }
        None
    }
}

/// What one dispatch did to one control word: enough to decide every rule of the module's
/// list and to name the same two slots whatever order the accesses came in. The CPU engine
/// fills it access by access; the GPU engine from the per-word extremes its kernel keeps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WordLog {
    pub stamp: u32,
    /// The word's value when the dispatch began.
    pub initial: u32,
    pub stores: Pair,
    /// The lowest and highest value stored, each with the lowest slot that stored it.
    pub store_min: u32,
    pub store_min_slot: u32,
    pub store_max: u32,
    pub store_max_slot: u32,
    pub adds: Pair,
    pub add_total: u64,
    pub reads: Pair,
    pub changes: Pair,
    pub threshold_read: bool,
}

impl WordLog {
    pub const FRESH: WordLog = WordLog {
        stamp: 0,
        initial: 0,
        stores: Pair::EMPTY,
        store_min: u32::MAX,
        store_min_slot: NONE,
        store_max: 0,
        store_max_slot: NONE,
        adds: Pair::EMPTY,
        add_total: 0,
        reads: Pair::EMPTY,
        changes: Pair::EMPTY,
        threshold_read: false,
    };

    pub fn touched(&self) -> bool {
        !(self.stores.is_empty()
            && self.adds.is_empty()
            && self.reads.is_empty()
            && !self.threshold_read)
    }

    /// Notes a store of `new` by `slot`.
    #[inline]
    fn note_store(&mut self, slot: u32, new: u32) {
        self.stores.push(slot);
        if self.store_min_slot == NONE
            || new < self.store_min
            || (new == self.store_min && slot < self.store_min_slot)
        {
            self.store_min = new;
            self.store_min_slot = slot;
        }
        if self.store_max_slot == NONE
            || new > self.store_max
            || (new == self.store_max && slot < self.store_max_slot)
        {
            self.store_max = new;
            self.store_max_slot = slot;
        }
        if new != self.initial {
            self.changes.push(slot);
        }
    }

    /// Two slots that stored different values, if any: the lowest slots that stored the
    /// lowest and the highest value, or — when one slot stored both — that slot and another
    /// storer (whatever it stored differs from one of the two).
    fn store_conflict(&self) -> Option<(u32, u32)> {
        if !self.stores.has_two() || self.store_min == self.store_max {
            return None;
        }
        let (p, q) = (self.store_min_slot, self.store_max_slot);
        let other = if p != q {
            q
        } else if self.stores.0 != p {
            self.stores.0
        } else {
            self.stores.1
        };
        Some((p.min(other), p.max(other)))
    }
}

/// Every in-range control access of one dispatch, as `(word, slot)` in execution order, kept
/// only on request: `record verify` follows a diverging word back through the slots that
/// wrote it and the words they read. Bulk adds (DONE_COUNT, METRICS) name only their lowest
/// and highest slot of each workgroup, as the race analysis keeps them.
#[derive(Clone, Debug, Default)]
pub struct AccessLog {
    pub reads: Vec<(u32, u32)>,
    pub writes: Vec<(u32, u32)>,
}

/// Per-dispatch access log over the control buffer.
#[derive(Debug, Default)]
pub struct RaceTracker {
    words: Vec<WordLog>,
    touched: Vec<u32>,
    stamp: u32,
    log: Option<AccessLog>,
}

impl RaceTracker {
    /// Starts a new dispatch over a control buffer of `control_len` words.
    pub fn begin(&mut self, control_len: usize) {
        if self.words.len() != control_len {
            self.words.clear();
            self.words.resize(control_len, WordLog::FRESH);
        }
        self.touched.clear();
        if let Some(log) = &mut self.log {
            log.reads.clear();
            log.writes.clear();
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            // Stamps wrapped: old entries could alias the new stamp.
            self.words.fill(WordLog::FRESH);
            self.stamp = 1;
        }
    }

    /// Keep (or stop keeping) an [`AccessLog`] from the next dispatch on.
    pub fn keep_access_log(&mut self, keep: bool) {
        if keep != self.log.is_some() {
            self.log = keep.then(AccessLog::default);
        }
    }

    /// The last dispatch's accesses, when kept.
    pub fn access_log(&self) -> Option<&AccessLog> {
        self.log.as_ref()
    }

    #[inline]
    fn entry(&mut self, word: u32, current: u32) -> &mut WordLog {
        let stamp = self.stamp;
        let e = &mut self.words[word as usize];
        if e.stamp != stamp {
            *e = WordLog::FRESH;
            e.stamp = stamp;
            e.initial = current;
            self.touched.push(word);
        }
        e
    }

    /// The words touched in this dispatch, ascending: races are listed by word, whatever
    /// order the lanes ran in.
    fn touched_sorted(&self) -> Vec<u32> {
        let mut t = self.touched.clone();
        t.sort_unstable();
        t
    }

    /// Reports every racing word into `sink` (at most one diagnostic per word).
    pub fn report(&self, sink: &mut DiagnosticSink) {
        for w in self.touched_sorted() {
            note_word_race(sink, w, &self.words[w as usize]);
        }
    }

    /// Every race of the dispatch as `(word, a, b)` (either id may be [`SCHEDULER`]), with no
    /// cap: the words [`report`](Self::report) lists, for callers that must see all of them.
    pub fn raced_words(&self) -> Vec<(u32, u32, u32)> {
        self.touched_sorted()
            .into_iter()
            .filter_map(|w| race_of(&self.words[w as usize]).map(|(_, a, b)| (w, a, b)))
            .collect()
    }
}

/// Notes the race on word `w`, if its log breaks a rule. Both engines report through here,
/// so a race reads the same on either backend.
pub(crate) fn note_word_race(sink: &mut DiagnosticSink, w: u32, e: &WordLog) {
    let Some((rule, a, b)) = race_of(e) else {
        return;
    };
    sink.note_race(w, a, b, || {
        let name = format!("control[{w}] ({})", word_name(w as usize));
        let who = |s: u32| {
            if s == SCHEDULER {
                "the priority scan".to_string()
            } else {
                format!("slot {s}")
            }
        };
        match rule {
            RaceRule::Stores => format!(
                "{} and {} store different values to {name}; the last store wins, so the result depends on lane order",
                who(a),
                who(b)
            ),
            RaceRule::StoreAdd => format!(
                "{} stores to {name} while {} adds to it; store and add do not commute, so the result depends on lane order",
                who(a),
                who(b)
            ),
            RaceRule::ReadChange => format!(
                "{} reads {name} while {} changes it in the same dispatch; what it reads depends on lane order",
                who(a),
                who(b)
            ),
            RaceRule::Threshold => format!(
                "the priority scan tests {name} >= {STARVATION_THRESHOLD} while {} moves it across the threshold; which levels are skipped depends on lane order",
                who(b)
            ),
        }
    });
}

/// Which rule of the module's list a word breaks.
#[derive(Clone, Copy, Debug)]
enum RaceRule {
    Stores,
    StoreAdd,
    ReadChange,
    Threshold,
}

/// The first rule `e` breaks and the two ids involved, in the order the message names them.
fn race_of(e: &WordLog) -> Option<(RaceRule, u32, u32)> {
    if let Some((a, b)) = e.store_conflict() {
        return Some((RaceRule::Stores, a, b));
    }
    if e.add_total != 0
        && let Some((s, a)) = e.stores.distinct_with(&e.adds)
    {
        return Some((RaceRule::StoreAdd, s, a));
    }
    if let Some((r, c)) = e.reads.distinct_with(&e.changes) {
        return Some((RaceRule::ReadChange, r, c));
    }
    if e.threshold_read && threshold_may_flip(e) {
        let c = if e.changes.0 != NONE {
            e.changes.0
        } else {
            e.stores.0
        };
        return Some((RaceRule::Threshold, SCHEDULER, c));
    }
    None
}

/// Whether the writes to a threshold-read word can put the `>= 16` test on either side.
fn threshold_may_flip(e: &WordLog) -> bool {
    let lo = e.initial.min(e.store_min) as u64;
    let hi = e.initial.max(e.store_max) as u64 + e.add_total;
    let t = STARVATION_THRESHOLD as u64;
    lo < t && hi >= t
}

impl AccessTracker for RaceTracker {
    const ENABLED: bool = true;

    #[inline]
    fn read(&mut self, word: u32, slot: u32, value: u32) {
        self.entry(word, value).reads.push(slot);
        if let Some(log) = &mut self.log {
            log.reads.push((word, slot));
        }
    }

    #[inline]
    fn store(&mut self, word: u32, slot: u32, old: u32, new: u32) {
        if let Some(log) = &mut self.log {
            log.writes.push((word, slot));
        }
        self.entry(word, old).note_store(slot, new);
    }

    #[inline]
    fn add(&mut self, word: u32, slot: u32, old: u32, amount: u32) {
        if amount == 0 {
            return;
        }
        if let Some(log) = &mut self.log {
            log.writes.push((word, slot));
        }
        let e = self.entry(word, old);
        e.adds.push(slot);
        e.add_total += amount as u64;
        e.changes.push(slot);
    }

    #[inline]
    fn threshold_read(&mut self, word: u32, value: u32) {
        self.entry(word, value).threshold_read = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::diagnostics::Diagnostic;

    fn races(f: impl FnOnce(&mut RaceTracker)) -> Vec<Diagnostic> {
        let mut t = RaceTracker::default();
        t.begin(200);
        f(&mut t);
        let mut sink = DiagnosticSink::new(0);
        t.report(&mut sink);
        sink.finish().0
    }

    #[test]
    fn stores_of_different_values_race_equal_ones_do_not() {
        let d = races(|t| {
            t.store(160, 1, 0, 5);
            t.store(160, 2, 5, 6);
        });
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].word, Some(160));
        assert!(
            d[0].message.contains("slot 1 and slot 2"),
            "{}",
            d[0].message
        );
        assert!(
            races(|t| {
                t.store(160, 1, 0, 5);
                t.store(160, 2, 5, 5);
            })
            .is_empty()
        );
    }

    #[test]
    fn one_slot_storing_twice_is_not_a_race() {
        assert!(
            races(|t| {
                t.store(161, 3, 0, 1);
                t.store(161, 3, 1, 2);
                t.read(161, 3, 2);
            })
            .is_empty()
        );
    }

    #[test]
    fn a_varied_first_store_conflicts_with_a_second_slot_of_its_first_value() {
        let d = races(|t| {
            t.store(160, 1, 0, 5);
            t.store(160, 2, 5, 5);
            t.store(160, 1, 5, 7);
        });
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn adds_commute_but_not_with_stores_or_reads() {
        assert!(
            races(|t| {
                t.add(1, 1, 0, 1);
                t.add(1, 2, 1, 1);
                t.add(1, 3, 2, 7);
            })
            .is_empty()
        );
        assert_eq!(
            races(|t| {
                t.add(1, 1, 0, 1);
                t.store(1, 2, 1, 9);
            })
            .len(),
            1
        );
        let d = races(|t| {
            t.add(1, 1, 0, 1);
            t.read(1, 2, 1);
        });
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].slot, Some(1), "the changing slot is the culprit");
        assert!(
            races(|t| {
                t.add(1, 1, 0, 0);
                t.read(1, 2, 0);
            })
            .is_empty(),
            "adding 0 changes nothing"
        );
    }

    #[test]
    fn reads_race_only_with_changes_by_other_slots() {
        assert!(
            races(|t| {
                t.read(4, 1, 7);
                t.store(4, 2, 7, 7);
            })
            .is_empty(),
            "a store of the value already there changes nothing"
        );
        assert_eq!(
            races(|t| {
                t.read(4, 1, 7);
                t.store(4, 2, 7, 8);
            })
            .len(),
            1
        );
        assert!(
            races(|t| {
                t.read(4, 1, 7);
                t.store(4, 1, 7, 8);
            })
            .is_empty()
        );
    }

    #[test]
    fn a_race_between_two_slots_keeps_both_lower_first() {
        let d = races(|t| {
            t.store(160, 9, 0, 5);
            t.store(160, 2, 5, 6);
        });
        assert_eq!(d[0].slots, Some([2, 9]));
        assert_eq!(d[0].slot, Some(2));
        assert!(!d[0].scheduler);
    }

    #[test]
    fn the_access_log_keeps_reads_and_writes_only_when_asked() {
        let mut t = RaceTracker::default();
        t.begin(200);
        t.read(4, 1, 0);
        assert!(t.access_log().is_none());
        t.keep_access_log(true);
        t.begin(200);
        t.read(4, 1, 0);
        t.store(160, 1, 0, 3);
        t.add(1, 2, 0, 1);
        t.add(1, 3, 1, 0);
        let log = t.access_log().unwrap();
        assert_eq!(log.reads, vec![(4, 1)]);
        assert_eq!(
            log.writes,
            vec![(160, 1), (1, 2)],
            "adding 0 writes nothing"
        );
        t.begin(200);
        assert!(
            t.access_log().unwrap().writes.is_empty(),
            "each dispatch starts clean"
        );
    }

    #[test]
    fn raced_words_lists_what_report_lists() {
        let mut t = RaceTracker::default();
        t.begin(200);
        t.store(160, 1, 0, 5);
        t.store(160, 2, 5, 6);
        t.read(4, 3, 0);
        t.store(4, 1, 0, 1);
        t.add(1, 1, 0, 1);
        t.add(1, 2, 1, 1);
        let mut w = t.raced_words();
        w.sort();
        assert_eq!(w, vec![(4, 3, 1), (160, 1, 2)]);
    }

    #[test]
    fn scheduler_reads_are_not_any_slot() {
        let d = races(|t| {
            t.read(129, SCHEDULER, 0);
            t.store(129, 0, 0, 3);
        });
        assert_eq!(d.len(), 1);
        assert!(d[0].message.contains("priority scan"));
        assert_eq!(d[0].slot, Some(0));
        assert!(d[0].scheduler, "a race against the scan says so");
        assert_eq!(d[0].slots, None);
    }

    #[test]
    fn starvation_threshold_races_only_when_it_can_flip() {
        assert!(
            races(|t| {
                t.threshold_read(135, 0);
                t.add(135, 1, 0, 1);
                t.add(135, 2, 1, 1);
            })
            .is_empty()
        );
        assert!(
            races(|t| {
                t.threshold_read(135, 3);
                t.store(135, 1, 3, 0);
                t.store(135, 2, 0, 0);
            })
            .is_empty()
        );
        assert_eq!(
            races(|t| {
                t.threshold_read(135, 15);
                t.add(135, 1, 15, 1);
            })
            .len(),
            1
        );
    }

    #[test]
    fn each_dispatch_starts_clean() {
        let mut t = RaceTracker::default();
        t.begin(10);
        t.store(3, 1, 0, 1);
        t.begin(10);
        t.store(3, 2, 1, 2);
        let mut sink = DiagnosticSink::new(0);
        t.report(&mut sink);
        assert!(sink.finish().0.is_empty());
    }
}
