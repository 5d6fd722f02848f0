//! Race analysis on the device: the layout of the two buffers the megakernel fills while
//! analysis is on, and the host side that turns them into the same `race` diagnostics as the
//! CPU engine (through [`note_word_race`], the CPU's own rule code).
//!
//! The kernel cannot keep an access log per lane at a million lanes, so for every control
//! word it keeps what the rules of README "Races" need: the lowest and the highest slot that
//! read, stored, added (a non-zero amount) and changed it (stored another value than the word
//! held when the dispatch began, or added), and the lowest and highest value stored. These
//! are order-free (atomic min/max), which is why the CPU engine names the same extremes. The
//! one thing min/max cannot give is *which* slot stored the lowest (highest) value: stores
//! that reach or pass the running extreme append `(word, slot, value)` to a bounded log, and
//! the host picks the lowest slot per extreme from it. If that log fills up, every race is
//! still *found* (the summaries decide the rules), but a store race may name other slots than
//! the CPU would: the report then says the analysis was partial.
//!
//! Buffers (allocated only while analysis is on, bound to a pipeline of their own):
//! - `race_words`: a header ([`RW_HEADER`] words), the control buffer as the dispatch found
//!   it (copied on the device before the first pass), [`SUM_WORDS`] summary words per control
//!   word, then two words per slot for the priority scan's probes (lowest and highest lane
//!   that probed the slot, kept when the partitions overlap), then [`OOB_WORDS`] per slot for
//!   its out-of-range accesses — so that, with analysis on, `out_of_range` is reported per
//!   slot with its first bad index, as the CPU engine does, rather than once per kind.
//!   The header holds one keyed table per [`KeyedTable`] (unknown opcodes, DFA_STEP,
//!   aliased tenants, clamped packed slots): per opcode, tenant or slot, the first pass it
//!   was noted in, the first note of that pass in the CPU's lockstep order, the count and
//!   the word — so these kinds are listed per key, as the CPU engine lists them.
//! - `race_log`: [`LOG_RECORD_WORDS`]-word store records.
//!
//! Minimums are stored bit-inverted so that every summary word is an `atomicMax` from zero:
//! one `clear_buffer` resets them all, and 0 reads as "none".

use super::super::diagnostics::DiagnosticSink;
use crate::abi::control::STARVATION;
use crate::abi::slot::PACKED_MAX_OPS;
use crate::engine::RaceCoverage;
use crate::engine::race::{NONE, Pair, WordLog, note_word_race};

/// Store records appended past the end of the log.
pub const RW_LOG_COUNT: usize = 0;
/// Non-zero once the priority scan tested the starvation counter.
pub const RW_THRESHOLD: usize = 1;
/// The total added to the starvation counter (64 bits): its threshold rule needs the sum.
pub const RW_ADD_LO: usize = 2;
pub const RW_ADD_HI: usize = 3;
/// Notes the keyed tables had no room for (the host then reports those kinds once each).
pub const RW_KEYED_OVERFLOW: usize = 4;
/// The keyed tables: one per [`KeyedTable`], [`KEYED_ENTRIES`] entries of [`KEYED_WORDS`].
pub const RW_KEYED: usize = 8;
/// Entries of one keyed table (distinct opcodes, tenants or slots a dispatch can list).
pub const KEYED_ENTRIES: usize = 256;
/// Entry fields: the key (0: free), the first pass it was noted in (inverted), the lowest
/// order of a note in that pass (inverted: workgroup, then step, then lane, as the CPU
/// engine's lockstep runs them), the lowest slot in that pass (inverted), a 64-bit count,
/// and the first note's word and extra value (an aliased tenant's mask word; a clamped packed
/// slot's argument word or count byte).
pub const KE_KEY: usize = 0;
pub const KE_PASS: usize = 1;
pub const KE_ORDER: usize = 2;
pub const KE_SLOT: usize = 3;
pub const KE_COUNT_LO: usize = 4;
pub const KE_COUNT_HI: usize = 5;
pub const KE_WORD: usize = 6;
pub const KE_EXTRA: usize = 7;
pub const KEYED_WORDS: usize = 8;
/// Steps of one workgroup in the order key: the claim at each of the five priority levels,
/// the slot's op, a skip and an inner op per packed op, the packed count check.
pub const KEYED_STEPS: usize = 16;
/// The first step of the slot's own op (the claims come before).
pub const STEP_OP: u32 = 5;
/// The packed count check, after every packed op's check and op.
pub const STEP_PACKED_COUNT: u32 = STEP_OP + 1 + 2 * PACKED_MAX_OPS as u32;
const _: () = assert!((STEP_PACKED_COUNT as usize) < KEYED_STEPS);

/// The kinds the megakernel lists per key when the analysis is on (the CPU engine lists
/// them so: an entry per unknown opcode, per aliased tenant, per clamped packed slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyedTable {
    /// Key: the opcode.
    Unknown = 0,
    /// Key: DFA_STEP's opcode (one entry).
    DfaStep = 1,
    /// Key: the tenant id (29 or more, never 0).
    Aliased = 2,
    /// Key: the slot + 1.
    Packed = 3,
}

impl KeyedTable {
    pub const ALL: [KeyedTable; 4] = [
        KeyedTable::Unknown,
        KeyedTable::DfaStep,
        KeyedTable::Aliased,
        KeyedTable::Packed,
    ];
}

/// Header words (the keyed tables included); the initial control copy follows.
pub const RW_HEADER: usize = RW_KEYED + KeyedTable::ALL.len() * KEYED_ENTRIES * KEYED_WORDS;

/// One keyed entry as it came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyedEntry {
    pub table: KeyedTable,
    /// The opcode, DFA_STEP, the tenant, or the slot.
    pub key: u32,
    pub pass: u32,
    /// The first note's position in its pass: workgroup, step, lane (see [`KEYED_STEPS`]),
    /// then the level of the lane's claim.
    pub order: u32,
    /// The lowest slot noted in the first pass.
    pub lowest_slot: u32,
    pub count: u64,
    pub word: u32,
    pub extra: u32,
}

impl KeyedEntry {
    /// The lane of the first note (workgroup × size + lane in it): in a direct variant, the
    /// slot.
    pub fn lane(&self, workgroup_size: u32) -> u32 {
        let wg = workgroup_size.max(1);
        let o = self.order / 8;
        (o / wg / KEYED_STEPS as u32) * wg + o % wg
    }

    /// The step of the slot's handler chain the first note came from.
    pub fn step(&self, workgroup_size: u32) -> u32 {
        (self.order / 8 / workgroup_size.max(1)) % KEYED_STEPS as u32
    }

    /// The priority level the first note's lane claimed at (0 in the direct variants).
    pub fn level(&self) -> u32 {
        self.order % 8
    }
}

/// Summary fields, per control word. `*_MIN` words hold `!min`. The changers (`SUM_C*`)
/// are those that stored another value than the word's initial one; adders are changers
/// too, merged in on the host.
pub const SUM_RMIN: usize = 0;
pub const SUM_RMAX: usize = 1;
pub const SUM_SMIN: usize = 2;
pub const SUM_SMAX: usize = 3;
pub const SUM_AMIN: usize = 4;
pub const SUM_AMAX: usize = 5;
pub const SUM_CMIN: usize = 6;
pub const SUM_CMAX: usize = 7;
pub const SUM_VMIN: usize = 8;
pub const SUM_VMAX: usize = 9;
pub const SUM_WORDS: usize = 10;

/// Words of one store record: word, slot, value.
pub const LOG_RECORD_WORDS: usize = 3;

/// Per slot: out-of-range loads (count, first index, its pass), then stores (the same).
pub const OOB_LOAD_COUNT: usize = 0;
pub const OOB_STORE_COUNT: usize = 3;
/// The first index and its pass, after a direction's count.
const OOB_WORD: usize = 1;
const OOB_PASS: usize = 2;
pub const OOB_WORDS: usize = 6;

/// Words of `race_words` for a control buffer of `control_words` and `n` slots.
pub fn race_words_len(control_words: usize, n: u32) -> u64 {
    oob_offset(control_words, n) as u64 + OOB_WORDS as u64 * (n as u64).max(1)
}

/// Offset of the per-slot out-of-range words.
pub fn oob_offset(control_words: usize, n: u32) -> usize {
    probes_offset(control_words) + 2 * (n as usize).max(1)
}

/// Offset of the probe words.
pub fn probes_offset(control_words: usize) -> usize {
    RW_HEADER + control_words * (1 + SUM_WORDS)
}

/// Store records the log holds: enough for every slot to store twice at an extreme, plus a
/// word's worth each, so ordinary dispatches never fill it.
pub fn log_capacity(control_words: usize, n: u32) -> u64 {
    2 * n as u64 + control_words as u64 + 1024
}

/// The WGSL constants of this layout.
pub fn wgsl_constants() -> Vec<(&'static str, usize)> {
    vec![
        ("RW_LOG_COUNT", RW_LOG_COUNT),
        ("RW_THRESHOLD", RW_THRESHOLD),
        ("RW_ADD_LO", RW_ADD_LO),
        ("RW_ADD_HI", RW_ADD_HI),
        ("RW_HEADER", RW_HEADER),
        ("RW_KEYED_OVERFLOW", RW_KEYED_OVERFLOW),
        ("RW_KEYED", RW_KEYED),
        ("KEYED_ENTRIES", KEYED_ENTRIES),
        ("KEYED_WORDS", KEYED_WORDS),
        ("KEYED_STEPS", KEYED_STEPS),
        ("STEP_OP", STEP_OP as usize),
        ("STEP_PACKED_COUNT", STEP_PACKED_COUNT as usize),
        ("KE_PASS", KE_PASS),
        ("KE_ORDER", KE_ORDER),
        ("KE_SLOT", KE_SLOT),
        ("KE_COUNT_LO", KE_COUNT_LO),
        ("KE_COUNT_HI", KE_COUNT_HI),
        ("KE_WORD", KE_WORD),
        ("KE_EXTRA", KE_EXTRA),
        ("SUM_RMIN", SUM_RMIN),
        ("SUM_RMAX", SUM_RMAX),
        ("SUM_SMIN", SUM_SMIN),
        ("SUM_SMAX", SUM_SMAX),
        ("SUM_AMIN", SUM_AMIN),
        ("SUM_AMAX", SUM_AMAX),
        ("SUM_CMIN", SUM_CMIN),
        ("SUM_CMAX", SUM_CMAX),
        ("SUM_VMIN", SUM_VMIN),
        ("SUM_VMAX", SUM_VMAX),
        ("SUM_WORDS", SUM_WORDS),
        ("LOG_RECORD_WORDS", LOG_RECORD_WORDS),
        ("OOB_LOAD_COUNT", OOB_LOAD_COUNT),
        ("OOB_WORDS", OOB_WORDS),
    ]
}

/// What came back from the device: `race_words` (header, initial control, summaries, and the
/// probe words when they were kept) and the store records that fit in the log.
pub struct RaceReadback<'a> {
    pub words: &'a [u32],
    pub log: &'a [u32],
    pub control_words: usize,
    pub n: u32,
    pub probes_kept: bool,
}

impl RaceReadback<'_> {
    fn w(&self, i: usize) -> u32 {
        self.words.get(i).copied().unwrap_or(0)
    }

    fn pair(&self, base: usize, min: usize, max: usize) -> Pair {
        let m = self.w(base + min);
        if m == 0 {
            return Pair::EMPTY;
        }
        Pair::from_extremes(!m, self.w(base + max))
    }

    /// Control word `w` as the dispatch found it.
    pub fn initial_control(&self, w: usize) -> u32 {
        self.w(RW_HEADER + w)
    }

    /// Every keyed entry, or `None` when a table overflowed (then those kinds are reported
    /// once each, from the run-state records).
    pub fn keyed(&self) -> Option<Vec<KeyedEntry>> {
        if self.w(RW_KEYED_OVERFLOW) != 0 || self.words.len() < RW_HEADER {
            return None;
        }
        let mut out = Vec::new();
        for table in KeyedTable::ALL {
            for e in 0..KEYED_ENTRIES {
                let b = RW_KEYED + (table as usize * KEYED_ENTRIES + e) * KEYED_WORDS;
                let key = self.w(b + KE_KEY);
                if key == 0 || self.w(b + KE_PASS) == 0 {
                    continue;
                }
                out.push(KeyedEntry {
                    table,
                    key: if table == KeyedTable::Packed {
                        key - 1
                    } else {
                        key
                    },
                    pass: !self.w(b + KE_PASS),
                    order: !self.w(b + KE_ORDER),
                    lowest_slot: !self.w(b + KE_SLOT),
                    count: self.w(b + KE_COUNT_LO) as u64 | (self.w(b + KE_COUNT_HI) as u64) << 32,
                    word: self.w(b + KE_WORD),
                    extra: self.w(b + KE_EXTRA),
                });
            }
        }
        Some(out)
    }

    /// Whether the per-slot out-of-range words came back.
    pub fn has_oob(&self) -> bool {
        self.words.len() >= race_words_len(self.control_words, self.n) as usize
    }

    /// Every slot's out-of-range accesses, as the CPU engine lists them: one entry per slot
    /// and direction, with the first bad index, its pass and the count.
    pub fn report_out_of_range(&self, sink: &mut DiagnosticSink) {
        if !self.has_oob() {
            return;
        }
        let base = oob_offset(self.control_words, self.n);
        let len = self.control_words;
        for slot in 0..self.n {
            for store in [false, true] {
                let b = base
                    + slot as usize * OOB_WORDS
                    + if store {
                        OOB_STORE_COUNT
                    } else {
                        OOB_LOAD_COUNT
                    };
                let count = self.w(b) as u64;
                if count == 0 {
                    continue;
                }
                let (word, pass) = (self.w(b + OOB_WORD), self.w(b + OOB_PASS));
                sink.note(
                    crate::engine::DiagnosticKind::OutOfRange,
                    (slot as u64) << 1 | store as u64,
                    count,
                    || {
                        let (what, effect) = if store {
                            ("stores to", "the store is dropped")
                        } else {
                            ("reads", "it reads 0")
                        };
                        (
                            Some(pass),
                            Some(slot),
                            Some(word as u64),
                            format!(
                                "slot {slot} {what} control[{word}], past the {len}-word control buffer; {effect}"
                            ),
                        )
                    },
                );
            }
        }
    }

    /// Store records appended, including those the log had no room for.
    pub fn log_count(&self) -> u64 {
        self.w(RW_LOG_COUNT) as u64
    }

    /// Reports every race of the dispatch into `sink`, words ascending then probed slots
    /// ascending, as the CPU engine does; returns how complete the analysis was.
    pub fn report(&self, sink: &mut DiagnosticSink) -> RaceCoverage {
        let len = self.control_words;
        let records = (self.log.len() / LOG_RECORD_WORDS) as u64;
        let overflow = self.log_count().saturating_sub(records);
        // the lowest slot that stored each word's extreme values, from the log
        let mut lowest: std::collections::HashMap<(u32, u32), u32> = Default::default();
        for r in self.log.chunks_exact(LOG_RECORD_WORDS) {
            let e = lowest.entry((r[0], r[2])).or_insert(NONE);
            *e = (*e).min(r[1]);
        }
        let threshold = self.w(RW_THRESHOLD) != 0;
        let add_total = self.w(RW_ADD_LO) as u64 | (self.w(RW_ADD_HI) as u64) << 32;
        for w in 0..len {
            let b = RW_HEADER + len + w * SUM_WORDS;
            let mut e = WordLog::FRESH;
            e.initial = self.w(RW_HEADER + w);
            e.reads = self.pair(b, SUM_RMIN, SUM_RMAX);
            e.stores = self.pair(b, SUM_SMIN, SUM_SMAX);
            e.adds = self.pair(b, SUM_AMIN, SUM_AMAX);
            // the kernel keeps the storers that changed the word; adders change it too
            e.changes = self.pair(b, SUM_CMIN, SUM_CMAX);
            for id in [e.adds.0, e.adds.1] {
                if id != NONE {
                    e.changes.push(id);
                }
            }
            if w == STARVATION {
                e.threshold_read = threshold;
                e.add_total = add_total;
            } else if e.adds.0 != NONE {
                // only whether anything was added matters off the starvation counter
                e.add_total = 1;
            }
            if e.stores.0 != NONE {
                e.store_min = !self.w(b + SUM_VMIN);
                e.store_max = self.w(b + SUM_VMAX);
                let find = |v: u32| lowest.get(&(w as u32, v)).copied().unwrap_or(NONE);
                // with a full log the extremes' storers may be missing: fall back on the
                // lowest and highest storer, which still store different values often enough
                // to name, and say the analysis was partial
                e.store_min_slot = match find(e.store_min) {
                    NONE => e.stores.0,
                    s => s,
                };
                e.store_max_slot = match find(e.store_max) {
                    NONE if e.stores.1 != NONE => e.stores.1,
                    NONE => e.stores.0,
                    s => s,
                };
            }
            if e.touched() {
                note_word_race(sink, w as u32, &e);
            }
        }
        if self.probes_kept {
            let base = probes_offset(len);
            for slot in 0..self.n {
                let b = base + 2 * slot as usize;
                let m = self.w(b);
                if m != 0 && !m != self.w(b + 1) {
                    crate::engine::cpu::note_probe_race(sink, slot, !m, self.w(b + 1));
                }
            }
        }
        if overflow > 0 {
            RaceCoverage::Partial(format!(
                "{overflow} stores at a word's lowest or highest value did not fit in the device's store log ({records} records), so a store race may name other slots than the CPU engine would; every racing word is still reported"
            ))
        } else {
            RaceCoverage::Full
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::diagnostics::DiagnosticKind;

    const LEN: usize = 170;

    fn words(n: u32) -> Vec<u32> {
        vec![0; race_words_len(LEN, n) as usize]
    }

    fn set_min(v: &mut [u32], w: usize, field: usize, id: u32) {
        let i = RW_HEADER + LEN + w * SUM_WORDS + field;
        v[i] = v[i].max(!id);
    }

    fn set_max(v: &mut [u32], w: usize, field: usize, id: u32) {
        let i = RW_HEADER + LEN + w * SUM_WORDS + field;
        v[i] = v[i].max(id);
    }

    fn store(v: &mut [u32], log: &mut Vec<u32>, w: usize, slot: u32, value: u32) {
        set_min(v, w, SUM_SMIN, slot);
        set_max(v, w, SUM_SMAX, slot);
        set_min(v, w, SUM_VMIN, value);
        set_max(v, w, SUM_VMAX, value);
        if value != v[RW_HEADER + w] {
            set_min(v, w, SUM_CMIN, slot);
            set_max(v, w, SUM_CMAX, slot);
        }
        log.extend([w as u32, slot, value]);
    }

    fn report(
        v: &[u32],
        log: &[u32],
        n: u32,
        probes: bool,
    ) -> (Vec<crate::engine::Diagnostic>, RaceCoverage) {
        let mut sink = DiagnosticSink::new(0);
        let cov = RaceReadback {
            words: v,
            log,
            control_words: LEN,
            n,
            probes_kept: probes,
        }
        .report(&mut sink);
        (sink.finish().0, cov)
    }

    #[test]
    fn keyed_entries_decode_and_a_full_table_gives_none() {
        let mut v = words(4);
        let e = |table: KeyedTable, k: usize| {
            RW_KEYED + (table as usize * KEYED_ENTRIES + k) * KEYED_WORDS
        };
        // tenant 40, first noted in pass 2 by workgroup 3 (of 64 lanes), lane 5, claiming at
        // level 2 (step 2)
        let a = e(KeyedTable::Aliased, 40);
        v[a + KE_KEY] = 40;
        v[a + KE_PASS] = !2;
        v[a + KE_ORDER] = !(((3 * KEYED_STEPS as u32 + 2) * 64 + 5) * 8 + 2);
        v[a + KE_SLOT] = !100;
        v[a + KE_COUNT_LO] = 7;
        v[a + KE_COUNT_HI] = 1;
        v[a + KE_WORD] = 43;
        // slot 0's packed entry (key 1)
        let p = e(KeyedTable::Packed, 1);
        v[p + KE_KEY] = 1;
        v[p + KE_PASS] = !0;
        v[p + KE_COUNT_LO] = 2;
        let r = RaceReadback {
            words: &v,
            log: &[],
            control_words: LEN,
            n: 4,
            probes_kept: false,
        };
        let got = r.keyed().expect("no overflow");
        assert_eq!(got.len(), 2);
        let t = got.iter().find(|k| k.table == KeyedTable::Aliased).unwrap();
        assert_eq!((t.key, t.pass, t.count, t.word), (40, 2, 7 | 1 << 32, 43));
        assert_eq!(t.lane(64), 3 * 64 + 5, "workgroup 3, lane 5");
        assert_eq!((t.step(64), t.level()), (2, 2), "claimed at level 2");
        assert_eq!(t.lowest_slot, 100);
        let p = got.iter().find(|k| k.table == KeyedTable::Packed).unwrap();
        assert_eq!(
            (p.key, p.pass, p.count),
            (0, 0, 2),
            "the slot, not the key + 1"
        );
        let mut v = v.clone();
        v[RW_KEYED_OVERFLOW] = 1;
        let full = RaceReadback {
            words: &v,
            log: &[],
            control_words: LEN,
            n: 4,
            probes_kept: false,
        };
        assert_eq!(full.keyed(), None);
    }

    #[test]
    fn nothing_touched_is_no_race_and_full_coverage() {
        let (d, cov) = report(&words(4), &[], 4, true);
        assert!(d.is_empty());
        assert_eq!(cov, RaceCoverage::Full);
    }

    #[test]
    fn stores_name_the_lowest_slots_of_the_extreme_values() {
        let mut v = words(16);
        let mut log = Vec::new();
        store(&mut v, &mut log, 160, 9, 5);
        store(&mut v, &mut log, 160, 3, 7);
        store(&mut v, &mut log, 160, 12, 5);
        v[RW_LOG_COUNT] = 3;
        let (d, cov) = report(&v, &log, 16, false);
        assert_eq!(cov, RaceCoverage::Full);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].word, d[0].slots), (Some(160), Some([3, 9])));
    }

    #[test]
    fn a_full_log_still_finds_the_race_and_says_partial() {
        let mut v = words(16);
        let mut log = Vec::new();
        store(&mut v, &mut log, 161, 1, 5);
        store(&mut v, &mut log, 161, 2, 6);
        v[RW_LOG_COUNT] = 10;
        let (d, cov) = report(&v, &[], 16, false);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(matches!(cov, RaceCoverage::Partial(_)), "{cov:?}");
    }

    #[test]
    fn reads_and_adds_race_by_their_extremes() {
        let mut v = words(16);
        set_min(&mut v, 4, SUM_RMIN, 7);
        set_max(&mut v, 4, SUM_RMAX, 7);
        set_min(&mut v, 4, SUM_AMIN, 2);
        set_max(&mut v, 4, SUM_AMAX, 2);
        let (d, _) = report(&v, &[], 16, false);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].word, d[0].slots), (Some(4), Some([2, 7])));
    }

    #[test]
    fn out_of_range_accesses_come_back_per_slot() {
        let mut v = words(8);
        let b = oob_offset(LEN, 8);
        // slot 2 read past the buffer 3 times, first control[900] in pass 1; slot 6 stored once
        v[b + 2 * OOB_WORDS + OOB_LOAD_COUNT..][..3].copy_from_slice(&[3, 900, 1]);
        v[b + 6 * OOB_WORDS + OOB_STORE_COUNT..][..3].copy_from_slice(&[1, 4000, 0]);
        let r = RaceReadback {
            words: &v,
            log: &[],
            control_words: LEN,
            n: 8,
            probes_kept: false,
        };
        assert!(r.has_oob());
        let mut sink = DiagnosticSink::new(0);
        r.report_out_of_range(&mut sink);
        let d = sink.finish().0;
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].slot, d[0].word, d[0].pass, d[0].count),
            (Some(2), Some(900), Some(1), 3)
        );
        assert!(
            d[1].message.contains("slot 6 stores to control[4000]"),
            "{}",
            d[1].message
        );
        let short = RaceReadback {
            words: &v[..oob_offset(LEN, 8)],
            ..r
        };
        assert!(
            !short.has_oob(),
            "not read back: the aggregated records stand"
        );
    }

    #[test]
    fn probes_of_one_slot_by_two_lanes_race() {
        let mut v = words(8);
        let b = probes_offset(LEN);
        v[b + 2 * 5] = !1;
        v[b + 2 * 5 + 1] = 6;
        v[b + 2 * 3] = !2;
        v[b + 2 * 3 + 1] = 2;
        let (d, _) = report(&v, &[], 8, true);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].kind, d[0].slot), (DiagnosticKind::Race, Some(5)));
        assert!(d[0].message.contains("lanes 1 and 6"), "{}", d[0].message);
        assert!(report(&v, &[], 8, false).0.is_empty(), "only when kept");
    }
}
