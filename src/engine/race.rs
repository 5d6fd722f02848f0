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
const NONE: u32 = u32::MAX;

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

/// Two distinct ids seen in some role, in first-seen order.
#[derive(Clone, Copy, Debug)]
struct Pair(u32, u32);

impl Pair {
    const EMPTY: Pair = Pair(NONE, NONE);
    #[inline]
    fn push(&mut self, id: u32) {
        if self.0 == NONE {
            self.0 = id;
        } else if self.1 == NONE && self.0 != id {
            self.1 = id;
        }
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

#[derive(Clone, Copy, Debug)]
struct WordLog {
    stamp: u32,
    /// The word's value when first touched in this dispatch.
    initial: u32,
    first_store: u32,
    first_store_value: u32,
    /// The first storing slot has also stored other values.
    first_store_varied: bool,
    stores: Pair,
    /// Slots that stored different values.
    store_conflict: Option<(u32, u32)>,
    adds: Pair,
    add_total: u64,
    reads: Pair,
    changes: Pair,
    threshold_read: bool,
    store_min: u32,
    store_max: u32,
}

impl WordLog {
    const FRESH: WordLog = WordLog {
        stamp: 0,
        initial: 0,
        first_store: NONE,
        first_store_value: 0,
        first_store_varied: false,
        stores: Pair::EMPTY,
        store_conflict: None,
        adds: Pair::EMPTY,
        add_total: 0,
        reads: Pair::EMPTY,
        changes: Pair::EMPTY,
        threshold_read: false,
        store_min: u32::MAX,
        store_max: 0,
    };
}

/// Every in-range control access of one dispatch, as `(word, slot)` in execution order, kept
/// only on request: `record verify` follows a diverging word back through the slots that
/// wrote it and the words they read. Bulk adds (DONE_COUNT, METRICS) name only their first
/// two distinct slots, as the race analysis does.
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

    /// Reports every racing word into `sink` (at most one diagnostic per word).
    pub fn report(&self, sink: &mut DiagnosticSink) {
        for &w in &self.touched {
            let Some((rule, a, b)) = race_of(&self.words[w as usize]) else {
                continue;
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
    }

    /// Every race of the dispatch as `(word, a, b)` (either id may be [`SCHEDULER`]), with no
    /// cap: the words [`report`](Self::report) lists, for callers that must see all of them.
    pub fn raced_words(&self) -> Vec<(u32, u32, u32)> {
        self.touched
            .iter()
            .filter_map(|&w| race_of(&self.words[w as usize]).map(|(_, a, b)| (w, a, b)))
            .collect()
    }
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
    if let Some((a, b)) = e.store_conflict {
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
        let e = self.entry(word, old);
        if e.first_store == NONE {
            e.first_store = slot;
            e.first_store_value = new;
        } else if slot != e.first_store {
            if (new != e.first_store_value || e.first_store_varied) && e.store_conflict.is_none() {
                e.store_conflict = Some((e.first_store, slot));
            }
        } else if new != e.first_store_value {
            e.first_store_varied = true;
            if e.stores.1 != NONE && e.store_conflict.is_none() {
                e.store_conflict = Some((e.stores.1, slot));
            }
        }
        e.stores.push(slot);
        e.store_min = e.store_min.min(new);
        e.store_max = e.store_max.max(new);
        if new != e.initial {
            e.changes.push(slot);
        }
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
