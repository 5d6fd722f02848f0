//! `megascope record verify FILE.msrec [--json]`: every recorded dispatch re-run on the CPU
//! engine (the oracle) from the recorded state before it, and compared with the recorded
//! state after it — debug-log records as a multiset (their order is the GPU's lane order),
//! every other word exactly.
//!
//! Each divergence is *explained* when lane order can account for it: a race of that
//! dispatch on the word itself, or on a word that a slot which wrote it (or, for a ring word,
//! the slot that owns it) read — followed through chains, since a LOAD_U32, COMPARE_SWAP or
//! MEMCPY that read a raced word writes a different value that others may read in turn. A
//! counter only ever added to (DONE_COUNT, metrics) or the debug-log cursor differs when a
//! different set of slots ran, so it takes the explanation of the step's ring divergences. A
//! debug record is explained by `debug_overflow` when records were dropped (which records fit
//! depends on lane order). Everything else is unexplained: a bug in the kernel, the driver or
//! the program.
//!
//! To run at the engine's speed, each dispatch is first re-run without race analysis; only a
//! dispatch that diverges is run again with the analysis and an access log.

use std::collections::HashMap;
use std::time::Instant;

use megascope_record::{BufferKind, Recording, State, StepChange, StepKind};
use serde::Serialize;

use super::RecordingError;
use crate::abi::debug_log::{DebugLogView, DebugRecord};
use crate::abi::layout::{DEBUG_RECORD_WORDS, SLOT_WORDS};
use crate::engine::cpu::CpuEngine;
use crate::engine::race::{AccessLog, SCHEDULER};
use crate::engine::{DispatchOptions, Engine, Variant};
use crate::resident::ResidentBuffers;

/// The most divergences listed; the rest are counted in `omitted` (and in `unexplained`).
pub const DIVERGENCE_CAP: usize = 10_000;
/// Passes a looping dispatch may run when re-run (a recorded persistent dispatch ended, so it
/// reached SHUTDOWN or a fixed point; this only bounds a recording that lies).
pub const VERIFY_PASS_BUDGET: u32 = 1 << 16;
/// Rounds of following a raced value from the words a slot read to the words it wrote.
const CHAIN_ROUNDS: usize = 64;

/// Why a divergence is not a bug.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Explanation {
    /// A race of the dispatch on `race_word` between `slots` (one slot and `scheduler` for a
    /// race against the priority scan).
    Race {
        race_word: u32,
        slots: Vec<u32>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        scheduler: bool,
    },
    /// The debug log overflowed: which records fit depends on lane order.
    Overflow {
        diagnostic: &'static str,
        dropped: u64,
    },
}

/// One word (or debug record) the recording has differently from the oracle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Divergence {
    pub step: usize,
    /// `control`, `ring`, `debug_log` or `io_queue`.
    pub buffer: &'static str,
    /// The word's index in that buffer (for a debug record, its first word where it lies).
    pub word: u64,
    /// The slot, for ring words only.
    pub slot: Option<u32>,
    /// The oracle's value (for a debug record: its fmt id, or null if the oracle has none).
    pub expected: Option<u32>,
    /// The recorded value (for a debug record: its fmt id, or null if the recording has none).
    pub recorded: Option<u32>,
    pub explained_by: Option<Explanation>,
    /// A debug record's four words `[fmt_id, a1, a2, slot_base]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<[u32; 4]>,
}

/// A dispatch step that could not be re-run (its recorded variant cannot run this state).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepError {
    pub step: usize,
    pub message: String,
}

/// What `record verify --json` prints (a contract).
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    pub steps: usize,
    pub dispatch_steps: usize,
    /// Dispatch steps whose state differs from the oracle's.
    pub diverging_steps: Vec<usize>,
    pub divergences: Vec<Divergence>,
    pub unexplained: u64,
    /// Divergences past [`DIVERGENCE_CAP`], counted but not listed.
    pub omitted: u64,
    pub step_errors: Vec<StepError>,
    pub warnings: Vec<String>,
    /// Damage that stopped the check before the end of the file.
    pub damage: Option<String>,
    /// Top-level slots the oracle executed over all re-run dispatches.
    pub slot_executions: u64,
    pub elapsed_ms: f64,
}

impl VerifyReport {
    /// 0 when everything is explained and the file is whole; 4 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.unexplained == 0 && self.step_errors.is_empty() && self.damage.is_none() {
            0
        } else {
            4
        }
    }

    fn push(&mut self, d: Divergence) {
        if d.explained_by.is_none() {
            self.unexplained += 1;
        }
        if self.divergences.len() < DIVERGENCE_CAP {
            self.divergences.push(d);
        } else {
            self.omitted += 1;
        }
    }
}

fn is_dispatch(rec: &Recording, step: usize) -> bool {
    rec.info(step)
        .is_some_and(|i| matches!(i.kind, StepKind::Dispatch { .. }))
}

/// A recorded state as a mirror, or bad input when its buffers are not a valid state.
fn mirror_of(slot_count: u32, s: State) -> Result<ResidentBuffers, RecordingError> {
    super::to_resident(slot_count, s)
        .map_err(|e| RecordingError::Input(format!("a recorded state is not a valid state: {e}")))
}

/// Applies a decoded step to a mirror.
fn apply(change: &StepChange, m: &mut ResidentBuffers) {
    let b = m.buffers_mut();
    change.apply(BufferKind::Control, b.control);
    change.apply(BufferKind::Ring, b.ring);
    change.apply(BufferKind::DebugLog, b.debug_log);
    change.apply(BufferKind::IoQueue, b.io_queue);
}

/// Copies one mirror's buffers into another of the same geometry.
fn copy_mirror(from: &ResidentBuffers, into: &mut ResidentBuffers) {
    let b = into.buffers_mut();
    b.control.copy_from_slice(from.control());
    b.ring.copy_from_slice(from.ring());
    b.debug_log.copy_from_slice(from.debug_log());
    b.io_queue.copy_from_slice(from.io_queue());
}

type Decoded = Result<StepChange, megascope_record::RecordError>;

/// Checks every dispatch step of `rec`. `progress(done, total)` is called after each step.
///
/// One thread decodes the steps ahead (a step's changed words need no earlier state); the other
/// keeps the recorded state, runs the engine on a second mirror and compares. While recording
/// and oracle agree that mirror already holds the next state's base, so it only takes the same
/// changes instead of a full copy.
pub fn verify(
    rec: &Recording,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<VerifyReport, RecordingError> {
    let t0 = Instant::now();
    let slot_count = rec.meta().fingerprint.slot_count;
    let mut report = VerifyReport {
        steps: rec.len(),
        dispatch_steps: (0..rec.len()).filter(|&i| is_dispatch(rec, i)).count(),
        diverging_steps: Vec::new(),
        divergences: Vec::new(),
        unexplained: 0,
        omitted: 0,
        step_errors: Vec::new(),
        warnings: rec.warnings().to_vec(),
        damage: rec.damage().map(|d| d.to_string()),
        slot_executions: 0,
        elapsed_ms: 0.0,
    };
    let (tx, rx) = std::sync::mpsc::sync_channel::<Decoded>(4);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            for i in 0..rec.len() {
                let change = rec.step_change(i);
                let stop = change.is_err();
                if tx.send(change).is_err() || stop {
                    return;
                }
            }
        });
        let r = check_dispatches(rec, slot_count, &rx, &mut report, progress);
        drop(rx);
        r
    })?;
    report.elapsed_ms = t0.elapsed().as_secs_f64() * 1e3;
    Ok(report)
}

/// The engine side of [`verify`]: receives the decoded steps in order.
fn check_dispatches(
    rec: &Recording,
    slot_count: u32,
    rx: &std::sync::mpsc::Receiver<Decoded>,
    report: &mut VerifyReport,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(), RecordingError> {
    let mut cpu = CpuEngine::new();
    // The recorded state after the last step received.
    let mut recorded: Option<ResidentBuffers> = None;
    // The engine's mirror, and whether it equals `recorded` (then it needs no copy).
    let mut scratch: Option<ResidentBuffers> = None;
    let mut in_step = false;
    for msg in rx.iter() {
        let change = match msg {
            Ok(c) => c,
            Err(e) => {
                report.damage = Some(e.to_string());
                break;
            }
        };
        let i = change.step;
        let dispatch = rec.info(i).and_then(|info| match &info.kind {
            StepKind::Dispatch {
                variant,
                workgroup_size,
            } => Some((variant.clone(), *workgroup_size)),
            StepKind::Host => None,
        });
        let Some(before) = recorded.as_mut() else {
            // the first step: a keyframe (the format requires it)
            if dispatch.is_some() {
                report.step_errors.push(StepError {
                    step: i,
                    message: "a dispatch with no recorded state before it cannot be re-run".into(),
                });
            }
            let state = change.keyframe.clone().unwrap_or_default();
            recorded = Some(mirror_of(slot_count, state)?);
            progress(i + 1, rec.len());
            continue;
        };
        let Some((variant, workgroup_size)) = dispatch else {
            apply(&change, before);
            if in_step && let Some(m) = scratch.as_mut() {
                apply(&change, m);
            }
            progress(i + 1, rec.len());
            continue;
        };
        let Some(v) = Variant::from_name(&variant) else {
            report.step_errors.push(StepError {
                step: i,
                message: format!(
                    "the recorded variant \"{variant}\" is not one megascope runs (once, persistent, priority)"
                ),
            });
            apply(&change, before);
            in_step = false;
            progress(i + 1, rec.len());
            continue;
        };
        let options = DispatchOptions {
            variant: v,
            workgroup_size: Some(workgroup_size),
            pass_budget: VERIFY_PASS_BUDGET,
            race_analysis: false,
            dispatch_index: i as u64,
            ..Default::default()
        };
        let m = match scratch.as_mut() {
            Some(m) => {
                if !in_step {
                    copy_mirror(before, m);
                }
                m
            }
            None => scratch.insert(before.clone()),
        };
        match cpu.dispatch(m, &options) {
            Err(e) => {
                report.step_errors.push(StepError {
                    step: i,
                    message: format!("the oracle cannot run this dispatch: {e}"),
                });
                apply(&change, before);
                in_step = false;
            }
            Ok(r) => {
                report.slot_executions += r.executed;
                apply(&change, before);
                in_step = same_mirrors(m, before);
                if !in_step {
                    report.diverging_steps.push(i);
                    // The state before comes back from the recording (diverging steps only).
                    let again = mirror_of(slot_count, rec.state(i - 1)?)?;
                    let after = State {
                        control: before.control().to_vec(),
                        ring: before.ring().to_vec(),
                        debug_log: before.debug_log().to_vec(),
                        io_queue: before.io_queue().to_vec(),
                    };
                    explain_step(&mut cpu, again, &options, i, &after, report)?;
                }
            }
        }
        progress(i + 1, rec.len());
    }
    Ok(())
}

/// Whether the oracle's mirror equals the recorded one (debug records as a multiset).
fn same_mirrors(oracle: &ResidentBuffers, recorded: &ResidentBuffers) -> bool {
    oracle.control() == recorded.control()
        && oracle.ring() == recorded.ring()
        && oracle.io_queue() == recorded.io_queue()
        && debug_logs_agree(oracle.debug_log(), recorded.debug_log())
}

/// Whether two debug logs agree as `verify` compares them: the cursor and the words past the
/// records exactly, the records as a multiset (their order is the GPU's lane order).
pub fn debug_logs_agree(expected: &[u32], recorded: &[u32]) -> bool {
    debug_log_diff(expected, recorded).is_empty()
}

/// The debug log's differences: `(word, expected, recorded)` for plain words (the cursor and
/// anything past the records), and the records one side has more of than the other.
#[derive(Debug, Default, PartialEq)]
struct DebugDiff {
    words: Vec<(usize, u32, u32)>,
    /// Records the oracle has and the recording lacks, with their index in the oracle's log.
    missing: Vec<(usize, DebugRecord)>,
    /// Records the recording has and the oracle lacks, with their index in the recording.
    extra: Vec<(usize, DebugRecord)>,
}

impl DebugDiff {
    fn is_empty(&self) -> bool {
        self.words.is_empty() && self.missing.is_empty() && self.extra.is_empty()
    }
}

fn debug_log_diff(expected: &[u32], recorded: &[u32]) -> DebugDiff {
    let mut diff = DebugDiff::default();
    let (e, r) = (
        DebugLogView::decode(expected),
        DebugLogView::decode(recorded),
    );
    let held = e.records.len().max(r.records.len());
    let records_end = 1 + held * DEBUG_RECORD_WORDS;
    for w in (0..expected.len().max(recorded.len())).filter(|&w| w == 0 || w >= records_end) {
        let (a, b) = (expected.get(w).copied(), recorded.get(w).copied());
        if a != b {
            diff.words.push((w, a.unwrap_or(0), b.unwrap_or(0)));
        }
    }
    let mut count: HashMap<DebugRecord, i64> = HashMap::new();
    for rec in &e.records {
        *count.entry(*rec).or_default() += 1;
    }
    for rec in &r.records {
        *count.entry(*rec).or_default() -= 1;
    }
    // Name the surplus records where they lie, last occurrences first unmatched.
    let mut left = count.clone();
    for (k, rec) in e.records.iter().enumerate() {
        if let Some(n) = left.get_mut(rec)
            && *n > 0
        {
            diff.missing.push((k, *rec));
            *n -= 1;
        }
    }
    let mut left = count;
    for (k, rec) in r.records.iter().enumerate() {
        if let Some(n) = left.get_mut(rec)
            && *n < 0
        {
            diff.extra.push((k, *rec));
            *n += 1;
        }
    }
    diff
}

/// What lane order can account for in one dispatch: raced words and everything derived from
/// them through the slots that read them.
struct Taint {
    words: HashMap<u32, Explanation>,
    reads_by_slot: HashMap<u32, Vec<u32>>,
    writers: HashMap<u32, Vec<u32>>,
    /// A race against the priority scan changes who is claimed at all.
    scheduler: Option<Explanation>,
}

fn race_explanation(word: u32, a: u32, b: u32) -> Explanation {
    let scheduler = a == SCHEDULER || b == SCHEDULER;
    let mut slots: Vec<u32> = [a, b].into_iter().filter(|&s| s < SCHEDULER).collect();
    slots.sort_unstable();
    slots.dedup();
    Explanation::Race {
        race_word: word,
        slots,
        scheduler,
    }
}

impl Taint {
    fn new(races: &[(u32, u32, u32)], log: Option<&AccessLog>) -> Taint {
        let mut words: HashMap<u32, Explanation> = races
            .iter()
            .map(|&(w, a, b)| (w, race_explanation(w, a, b)))
            .collect();
        let scheduler = races
            .iter()
            .find(|&&(_, a, b)| a == SCHEDULER || b == SCHEDULER)
            .map(|&(w, a, b)| race_explanation(w, a, b));
        let mut reads_by_slot: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut writers: HashMap<u32, Vec<u32>> = HashMap::new();
        if let Some(log) = log {
            for &(w, s) in &log.reads {
                reads_by_slot.entry(s).or_default().push(w);
            }
            for &(w, s) in &log.writes {
                writers.entry(w).or_default().push(s);
            }
            for v in reads_by_slot.values_mut().chain(writers.values_mut()) {
                v.sort_unstable();
                v.dedup();
            }
            // Follow raced values from what a slot read to what it wrote.
            for _ in 0..CHAIN_ROUNDS {
                let mut grew = false;
                for &(w, s) in &log.writes {
                    if words.contains_key(&w) {
                        continue;
                    }
                    let from = reads_by_slot
                        .get(&s)
                        .and_then(|r| r.iter().find_map(|x| words.get(x)))
                        .cloned();
                    if let Some(e) = from {
                        words.insert(w, e);
                        grew = true;
                    }
                }
                if !grew {
                    break;
                }
            }
        }
        Taint {
            words,
            reads_by_slot,
            writers,
            scheduler,
        }
    }

    /// Why slot `s` may have run differently: it read a raced (or derived) word, or the scan
    /// that chooses slots raced.
    fn slot(&self, s: u32) -> Option<Explanation> {
        self.reads_by_slot
            .get(&s)
            .and_then(|r| r.iter().find_map(|w| self.words.get(w)))
            .cloned()
            .or_else(|| self.scheduler.clone())
    }

    /// Why control word `w` may differ: it raced (or derives from a race), or one of its
    /// writers ran differently.
    fn control_word(&self, w: u32) -> Option<Explanation> {
        self.words.get(&w).cloned().or_else(|| {
            self.writers
                .get(&w)
                .and_then(|ws| ws.iter().find_map(|&s| self.slot(s)))
        })
    }
}

fn explain_step(
    cpu: &mut CpuEngine,
    mut mirror: ResidentBuffers,
    options: &DispatchOptions,
    step: usize,
    recorded: &State,
    report: &mut VerifyReport,
) -> Result<(), RecordingError> {
    cpu.keep_access_log(true);
    let analysed = cpu.dispatch(
        &mut mirror,
        &DispatchOptions {
            race_analysis: true,
            ..*options
        },
    );
    let taint = Taint::new(&cpu.last_races(), cpu.access_log());
    cpu.keep_access_log(false);
    let analysed = analysed.map_err(|e| {
        RecordingError::Runtime(format!("step {step}: re-running the dispatch: {e}"))
    })?;
    let expected = &mirror;
    let mut ring_explanation: Option<Explanation> = None;
    let mut ring_unexplained = false;
    // Ring: each differing word, explained by what its slot read.
    for (w, (&a, &b)) in expected.ring().iter().zip(&recorded.ring).enumerate() {
        if a != b {
            let slot = (w / SLOT_WORDS) as u32;
            let why = taint.slot(slot);
            match &why {
                Some(e) if ring_explanation.is_none() => ring_explanation = Some(e.clone()),
                None => ring_unexplained = true,
                _ => {}
            }
            report.push(Divergence {
                step,
                buffer: "ring",
                word: w as u64,
                slot: Some(slot),
                expected: Some(a),
                recorded: Some(b),
                explained_by: why,
                record: None,
            });
        }
    }
    // A counter differs when a different set of slots ran: that is what the ring shows.
    let borrowed = (!ring_unexplained).then_some(ring_explanation).flatten();
    for (w, (&a, &b)) in expected.control().iter().zip(&recorded.control).enumerate() {
        if a != b {
            let why = taint
                .control_word(w as u32)
                .or_else(|| borrowed.clone())
                .or_else(|| taint.scheduler.clone());
            report.push(Divergence {
                step,
                buffer: "control",
                word: w as u64,
                slot: None,
                expected: Some(a),
                recorded: Some(b),
                explained_by: why,
                record: None,
            });
        }
    }
    for (w, (&a, &b)) in expected
        .io_queue()
        .iter()
        .zip(&recorded.io_queue)
        .enumerate()
    {
        if a != b {
            report.push(Divergence {
                step,
                buffer: "io_queue",
                word: w as u64,
                slot: None,
                expected: Some(a),
                recorded: Some(b),
                explained_by: None,
                record: None,
            });
        }
    }
    let diff = debug_log_diff(expected.debug_log(), &recorded.debug_log);
    let recorded_dropped = DebugLogView::decode(&recorded.debug_log).dropped as u64;
    let dropped = analysed.debug_dropped.max(recorded_dropped);
    let overflow = (dropped > 0).then_some(Explanation::Overflow {
        diagnostic: "debug_overflow",
        dropped,
    });
    for (w, a, b) in diff.words {
        report.push(Divergence {
            step,
            buffer: "debug_log",
            word: w as u64,
            slot: None,
            expected: Some(a),
            recorded: Some(b),
            explained_by: borrowed.clone().or_else(|| taint.scheduler.clone()),
            record: None,
        });
    }
    let why_record = |r: &DebugRecord| {
        overflow
            .clone()
            .or_else(|| r.slot().and_then(|s| taint.slot(s)))
    };
    // A record only the oracle has, or only the recording: its fmt id on that side.
    let missing = diff.missing.into_iter().map(|(k, r)| (k, r, true));
    let extra = diff.extra.into_iter().map(|(k, r)| (k, r, false));
    for (k, r, oracle_side) in missing.chain(extra) {
        report.push(Divergence {
            step,
            buffer: "debug_log",
            word: (1 + k * DEBUG_RECORD_WORDS) as u64,
            slot: None,
            expected: oracle_side.then_some(r.fmt_id),
            recorded: (!oracle_side).then_some(r.fmt_id),
            explained_by: why_record(&r),
            record: Some([r.fmt_id, r.a1, r.a2, r.slot_base]),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(records: &[[u32; 4]], cursor: u32) -> Vec<u32> {
        let mut w = vec![0u32; 257];
        w[0] = cursor;
        for (i, r) in records.iter().enumerate() {
            w[1 + 4 * i..5 + 4 * i].copy_from_slice(r);
        }
        w
    }

    #[test]
    fn debug_records_compare_as_a_multiset() {
        let a = log_of(&[[7, 1, 2, 0], [7, 3, 4, 16]], 8);
        let b = log_of(&[[7, 3, 4, 16], [7, 1, 2, 0]], 8);
        assert!(debug_log_diff(&a, &b).is_empty());
    }

    #[test]
    fn a_missing_and_an_extra_record_are_named_where_they_lie() {
        let a = log_of(&[[7, 1, 2, 0], [7, 3, 4, 16]], 8);
        let b = log_of(&[[7, 3, 4, 16], [9, 9, 9, 32]], 8);
        let d = debug_log_diff(&a, &b);
        assert_eq!(d.missing, vec![(0, DebugRecord::from_words(&[7, 1, 2, 0]))]);
        assert_eq!(d.extra, vec![(1, DebugRecord::from_words(&[9, 9, 9, 32]))]);
        assert!(d.words.is_empty());
    }

    #[test]
    fn the_cursor_and_words_past_the_records_compare_exactly() {
        let a = log_of(&[[7, 1, 2, 0]], 4);
        let mut b = log_of(&[[7, 1, 2, 0]], 8);
        b[200] = 5;
        let d = debug_log_diff(&a, &b);
        assert_eq!(d.words, vec![(0, 4, 8), (200, 0, 5)]);
    }

    #[test]
    fn taint_follows_a_raced_word_through_the_slot_that_read_it() {
        // slot 3 read word 1 (raced between slots 1 and 2) and wrote word 161, which slot 4
        // read before writing word 170
        let log = AccessLog {
            reads: vec![(1, 3), (161, 4)],
            writes: vec![(161, 3), (170, 4), (180, 5)],
        };
        let t = Taint::new(&[(1, 1, 2)], Some(&log));
        let race = race_explanation(1, 1, 2);
        assert_eq!(t.control_word(161), Some(race.clone()));
        assert_eq!(t.control_word(170), Some(race.clone()));
        assert_eq!(t.control_word(180), None, "slot 5 read nothing raced");
        assert_eq!(t.slot(4), Some(race));
        assert_eq!(t.slot(5), None);
    }

    #[test]
    fn a_scheduler_race_explains_any_slot() {
        let t = Taint::new(&[(129, SCHEDULER, 7)], None);
        assert_eq!(
            t.slot(100),
            Some(Explanation::Race {
                race_word: 129,
                slots: vec![7],
                scheduler: true
            })
        );
    }
}
