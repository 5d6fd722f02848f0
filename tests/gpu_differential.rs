//! CPU oracle against the GPU engine on random **race-free** workloads (DESIGN.md §6): every
//! opcode (PACKED_SLOT with clamped and skipped inner ops, PRINTF, MEMCPY with huge counts,
//! COMPARE_SWAP, BATCH_FENCE, DFA_STEP, user opcodes, SHUTDOWN where it cannot race,
//! out-of-range loads and stores), several tenants (some disabled), slots left YIELD, REQUEUE,
//! WAIT_IO, FAULT or with an invalid status, all
//! three variants, several dispatches, one and several workgroups, aliased tenant ids (≥ 29,
//! reading the quota table), custom partition offsets (slots in no partition) and small pass
//! budgets (starving slots). After every dispatch the two engines must hold the same bytes
//! (debug records as a multiset, same cursor), report the same counters and status histogram,
//! the same diagnostics (see [`same_diagnostics`]), and no race on either — which checks the
//! generator as much as the engines, and the GPU's race analysis against false alarms.
//!
//! A second generator makes **racy** workloads (stores of different values, stores meeting
//! adds, reads of changing words, DONE_COUNT and METRICS read while every slot adds to them,
//! overlapping priority partitions): there the final values may differ, but both engines must
//! report the same races — kind, word and slot pair — and the same statuses.
//!
//! Both property tests start from a fixed seed (CI runs the same cases every time) and keep
//! any failing case in `tests/regressions/`, replayed first on every later run.
//!
//! Race-free by construction, per dispatch: every control word has one writing slot or only
//! atomic adders; loads read only words nothing writes; tenant masks, `control[2]` and the
//! partition offsets are never written; in the priority variant the claimable work of a
//! dispatch lies either all in levels 0–1 or all in levels 2–4 (the starvation counter never
//! mixes adds and stores) and the counter never reaches 16; SHUTDOWN in a looping variant is
//! the only work of its dispatch.
//!
//! Cases run through the `Engine` trait (upload, run, read back), through the resident fast
//! path (`dispatch_resident`, then `download_into`), or pass by pass (`run_passes(1)` on both
//! engines, compared after every pass).

use megascope::engine::DispatchMirror;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};

use megascope::abi::layout::SLOT_WORDS;
use megascope::abi::opcode::Opcode;
use megascope::abi::status;
use megascope::engine::cpu::CpuEngine;
use megascope::engine::gpu::{GpuEngine, KernelTiming};
use megascope::engine::{Diagnostic, RaceCoverage};
use megascope::engine::{
    DiagnosticKind, DispatchEnd, DispatchOptions, DispatchReport, Engine, Variant,
};
use megascope::resident::ResidentBuffers;
use megascope::scenario::record_multiset;
use proptest::prelude::*;
use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestCaseError, TestRng, TestRunner,
};

/// See `tests/conformance_gpu.rs`: wgpu-core's debug build captures a backtrace on every
/// internal lock when RUST_BACKTRACE is set; library backtraces go off before any device.
fn quiet_lib_backtraces() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: runs once, before this process creates any device or thread of its own; the
    // other tests block on `ONCE` until it is done.
    ONCE.call_once(|| unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") });
}

fn engine() -> GpuEngine {
    quiet_lib_backtraces();
    GpuEngine::new_headless().unwrap_or_else(|e| {
        panic!(
            "the GPU differential tests need a wgpu adapter: {e}\n\
             (on a machine without a GPU: apt-get install libvulkan1 mesa-vulkan-drivers, \
             and set XDG_RUNTIME_DIR)"
        )
    })
}

// ---- geometry ------------------------------------------------------------------------------

const OBS: u32 = 256;
/// Control words: 160 + OBS.
const LEN: u32 = 160 + OBS;
/// (slot count, workgroup size): one workgroup, several, and non-power-of-two sizes.
const SHAPES: [(u32, u32); 6] = [
    (16, 16),
    (64, 16),
    (96, 32),
    (100, 4),
    (256, 256),
    (384, 96),
];

/// Words 32..=34 (quota words) are left out of the pool: tenants 29..=31 read them as masks.
fn is_pool(w: u32) -> bool {
    (35..=63).contains(&w) || (141..=159).contains(&w) || (161..LEN).contains(&w)
}

fn pool() -> Vec<u32> {
    (35..=63).chain(141..=159).chain(161..LEN).collect()
}

fn default_offsets(n: u32) -> [u32; 6] {
    let (b, r) = (n / 5, n % 5);
    [0, b, 2 * b, 3 * b + r, 4 * b + r, n]
}

// ---- raw material proptest generates and shrinks -------------------------------------------

#[derive(Clone, Debug)]
struct RawItem {
    kind: u8,
    picks: [u32; 4],
    tenant: u8,
    status: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Trait,
    Resident,
    Stepped,
}

#[derive(Clone, Debug)]
struct RawCase {
    shape: usize,
    variant: Variant,
    tenant_count: u32,
    disabled: u8,
    mode: Mode,
    /// Bit 0: the last partition ends one slot short of the ring (that slot is in no
    /// partition); bit 1: the last dispatch has a pass budget of 1 (work left starving); bit
    /// 2: the debug log starts full (every PRINTF overflows it); bit 3: IO slot 5 is PUBLISHED
    /// (the priority kernel's IO loop cannot service it).
    extras: u8,
    /// Per dispatch: (priority work in levels 0–1?, items).
    dispatches: Vec<(bool, Vec<RawItem>)>,
}

fn raw_item() -> impl Strategy<Value = RawItem> {
    (0u8..16, any::<[u32; 4]>(), any::<u8>(), any::<u8>()).prop_map(
        |(kind, picks, tenant, status)| RawItem {
            kind,
            picks,
            tenant,
            status,
        },
    )
}

fn raw_case() -> impl Strategy<Value = RawCase> {
    (
        0..SHAPES.len(),
        prop_oneof![
            Just(Variant::Once),
            Just(Variant::Persistent),
            Just(Variant::Priority)
        ],
        1u32..=3,
        any::<u8>(),
        prop_oneof![
            3 => Just(Mode::Trait),
            1 => Just(Mode::Resident),
            1 => Just(Mode::Stepped)
        ],
        prop::collection::vec(
            (any::<bool>(), prop::collection::vec(raw_item(), 0..20)),
            1..=3,
        ),
        any::<u8>(),
    )
        .prop_map(
            |(shape, variant, tenant_count, disabled, mode, dispatches, extras)| RawCase {
                shape,
                variant,
                tenant_count,
                disabled,
                mode,
                extras,
                dispatches,
            },
        )
}

// ---- the race-free workload built from the raw material -------------------------------------

#[derive(Clone, Debug)]
enum Publish {
    Slot(Opcode, Vec<u32>),
    Packed(Vec<(u8, Vec<u32>)>),
    /// A PACKED_SLOT with hand-made argument words (a count byte above 4).
    RawPacked([u32; 12]),
}

#[derive(Clone, Debug)]
struct Item {
    slot: u32,
    tenant: u32,
    publish: Publish,
    /// A raw status written after publishing: YIELD or REQUEUE (the priority variant claims
    /// them), WAIT_IO, FAULT or a value no rule produces (nothing claims them).
    status: Option<u32>,
}

#[derive(Clone, Debug)]
struct Workload {
    n: u32,
    wg: u32,
    variant: Variant,
    tenant_count: u32,
    disabled: Vec<u32>,
    mode: Mode,
    /// Slots past the last partition (written into control[134] before the first dispatch).
    gap: u32,
    /// The last dispatch runs one pass at most.
    short_last: bool,
    /// The debug log's cursor before the first dispatch.
    debug_cursor: u32,
    /// An IO slot left PUBLISHED.
    io_published: bool,
    dispatches: Vec<Vec<Item>>,
}

/// Which control words the slots of one dispatch write, add to and read.
#[derive(Default)]
struct Reserve {
    written: HashSet<u32>,
    added: HashSet<u32>,
    read: HashSet<u32>,
}

impl Reserve {
    fn writable(&self, w: u32) -> bool {
        w >= LEN
            || (is_pool(w)
                && !self.written.contains(&w)
                && !self.added.contains(&w)
                && !self.read.contains(&w))
    }
    fn addable(&self, w: u32) -> bool {
        w >= LEN || (is_pool(w) && !self.written.contains(&w) && !self.read.contains(&w))
    }
    fn readable(&self, w: u32) -> bool {
        w >= LEN
            || (((2..=31).contains(&w) || (129..=134).contains(&w) || is_pool(w))
                && !self.written.contains(&w)
                && !self.added.contains(&w))
    }
    fn write(&mut self, w: u32) {
        if w < LEN {
            self.written.insert(w);
        }
    }
    fn add(&mut self, w: u32) {
        if w < LEN {
            self.added.insert(w);
        }
    }
    fn read(&mut self, w: u32) {
        if w < LEN {
            self.read.insert(w);
        }
    }
}

/// Builds one dispatch's ops under the race-free rules.
struct OpBuilder<'a> {
    res: &'a mut Reserve,
    pool: &'a [u32],
    fence_used: &'a mut bool,
    printf_left: &'a mut u32,
}

impl OpBuilder<'_> {
    fn find(&self, pick: u32, ok: impl Fn(&Reserve, u32) -> bool) -> Option<u32> {
        let n = self.pool.len();
        (0..n)
            .map(|i| self.pool[(pick as usize + i) % n])
            .find(|&w| ok(self.res, w))
    }

    /// A readable source word: the mask table, the offsets, the pool, or out of range.
    fn readable_word(&self, pick: u32) -> Option<u32> {
        match pick % 8 {
            0 => Some(2 + pick / 8 % 30),
            1 => Some(129 + pick / 8 % 6),
            2 => Some(LEN + pick / 8 % 1000),
            _ => self.find(pick / 8, |r, w| r.readable(w)),
        }
    }

    /// An observable destination `160 + a1` (wrapping): a writable pool word or out of range.
    fn observable_dst(&mut self, pick: u32) -> Option<u32> {
        let w = if pick.is_multiple_of(5) {
            LEN + pick % 777
        } else {
            self.find(pick, |r, w| r.writable(w))?
        };
        self.res.write(w);
        Some(w.wrapping_sub(160))
    }

    /// The opcode and arguments of op `kind` (0..=8 built-ins and a user op; others NOP),
    /// reserving the words it touches. `None` when nothing fits.
    fn op(&mut self, kind: u8, p: [u32; 4]) -> Option<(Opcode, Vec<u32>)> {
        Some(match kind {
            1 => {
                let w = if p[1].is_multiple_of(6) {
                    LEN + p[1] % 50
                } else {
                    self.find(p[1], |r, w| r.writable(w))?
                };
                self.res.write(w);
                (Opcode::STORE_U32, vec![p[0], w])
            }
            2 => {
                let shared = self.res.added.iter().copied().min();
                let w = match shared {
                    Some(w) if p[1].is_multiple_of(2) => w,
                    _ => self.find(p[1], |r, w| r.addable(w))?,
                };
                self.res.add(w);
                (Opcode::ATOMIC_ADD, vec![p[0], w])
            }
            3 => {
                let src = self.readable_word(p[0])?;
                if !self.res.readable(src) {
                    return None;
                }
                self.res.read(src);
                let a1 = self.observable_dst(p[1])?;
                (Opcode::LOAD_U32, vec![src, a1])
            }
            4 => {
                let ok = |r: &Reserve, w: u32| {
                    w < LEN && r.writable(w) && (w + 160 >= LEN || r.writable(w + 160))
                };
                let target = if p[0].is_multiple_of(7) {
                    5000 + p[0] % 100
                } else {
                    self.find(p[0], ok)?
                };
                self.res.write(target);
                self.res.read(target);
                self.res.write(target.wrapping_add(160));
                let expected = if p[1].is_multiple_of(2) { 0 } else { 1_000_000 };
                (Opcode::COMPARE_SWAP, vec![target, expected, p[2]])
            }
            5 => self.memcpy(p)?,
            6 => (Opcode::DFA_STEP, vec![p[0], p[1]]),
            7 => {
                if *self.fence_used {
                    return None;
                }
                *self.fence_used = true;
                (Opcode::BATCH_FENCE, vec![p[0] % 100, p[1]])
            }
            8 => {
                const USER: [u32; 6] = [8, 9, 31, 32, 0x1234, 0xFFEF];
                (Opcode(USER[p[0] as usize % USER.len()]), vec![p[1], p[2]])
            }
            _ => (Opcode::NOP, vec![p[0]]),
        })
    }

    fn memcpy(&mut self, p: [u32; 4]) -> Option<(Opcode, Vec<u32>)> {
        let (dst, count, src_len) = match p[3] % 6 {
            // a count of ~2^32 whose only in-range stores are the last two words (and small
            // enough that the destination never wraps past 2^32 into word 0)
            0 => (LEN - 2, u32::MAX - (LEN - 2) - p[2] % 3, 2),
            // every store out of range
            1 => (100_000 + p[1] % 10, 3, 0),
            _ => {
                let count = p[2] % 6;
                let d = self.find(p[1], |r, w| {
                    (0..count.max(1)).all(|i| w + i < LEN && r.writable(w + i))
                })?;
                (d, count, count)
            }
        };
        if dst < LEN && !(0..2.min(count)).all(|i| self.res.writable(dst + i)) {
            return None;
        }
        // `src_len` is how many source words the in-range steps read; a source at 2^32 - 2
        // reads two out-of-range words, then would wrap into words 0 and 1
        let src = if p[0].is_multiple_of(9) && src_len <= 2 {
            u32::MAX - 1
        } else {
            let s = self.readable_word(p[0])?;
            if s < LEN && !(0..src_len).all(|i| s + i < LEN && self.res.readable(s + i)) {
                return None;
            }
            s
        };
        let stores = if dst < LEN { count.min(LEN - dst) } else { 0 };
        for i in 0..stores {
            self.res.write(dst + i);
        }
        for i in 0..src_len {
            self.res.read(src.wrapping_add(i));
        }
        Some((Opcode::MEMCPY, vec![src, dst, count]))
    }

    /// A top-level item of raw `kind`; `None` when it cannot be made race-free here.
    fn top(&mut self, kind: u8, p: [u32; 4]) -> Option<Publish> {
        Some(match kind {
            0..=8 => {
                let (op, args) = self.op(kind, p)?;
                Publish::Slot(op, args)
            }
            9 => {
                if *self.printf_left == 0 {
                    return None;
                }
                *self.printf_left -= 1;
                Publish::Slot(Opcode::PRINTF, vec![p[0] % 1000, p[1], p[2]])
            }
            10 | 11 => self.packed(p),
            12 => self.raw_packed(p)?,
            13 => {
                // a load from out of range (reads 0)
                let src = if p[0].is_multiple_of(2) {
                    u32::MAX
                } else {
                    LEN + p[0] % 5000
                };
                let a1 = self.observable_dst(p[1])?;
                Publish::Slot(Opcode::LOAD_U32, vec![src, a1])
            }
            14 => {
                // a store out of range (dropped)
                let dst = if p[1].is_multiple_of(2) {
                    u32::MAX
                } else {
                    LEN + p[1] % 5000
                };
                Publish::Slot(Opcode::STORE_U32, vec![p[0], dst])
            }
            _ => Publish::Slot(Opcode::NOP, vec![]),
        })
    }

    /// Up to four inner ops built like top-level ones.
    fn packed(&mut self, p: [u32; 4]) -> Publish {
        let count = 1 + p[3] % 4;
        let mut ops = Vec::new();
        let mut words = (2 + 2 * count).div_ceil(4);
        for i in 0..count {
            let q = [
                p[0].rotate_left(7 * i),
                p[1].rotate_left(5 * i + 3),
                p[2].rotate_left(3 * i + 1),
                p[3].rotate_left(11 * i),
            ];
            let kind = (q[3] >> 4) as u8 % 10;
            let built = if kind == 9 {
                Some((Opcode(8 + q[0] % 248), vec![]))
            } else {
                self.op(kind, q)
            };
            let (op, mut args) = built.unwrap_or((Opcode::NOP, vec![]));
            if matches!(op, Opcode::NOP | Opcode::DFA_STEP) || op.0 >= 8 {
                args.clear();
            }
            if words + args.len() as u32 > 12 {
                ops.push((0u8, vec![]));
                continue;
            }
            words += args.len() as u32;
            ops.push((op.0 as u8, args));
        }
        Publish::Packed(ops)
    }

    /// A count byte of 5–7: the kernel runs 4 ops, reading metadata of 3 words; ATOMIC_ADDs
    /// at offsets 0, 3 and 6 run, one at offset 9 is skipped (past word 12).
    fn raw_packed(&mut self, p: [u32; 4]) -> Option<Publish> {
        let mut bytes = [0u8; 16];
        bytes[0] = 5 + (p[3] % 3) as u8;
        let mut adds = Vec::new();
        for i in 0..4usize {
            let (op, off) = match (p[0] >> (2 * i)) % 4 {
                0 => (Opcode::ATOMIC_ADD.0 as u8, 3 * i as u8),
                1 => (Opcode::DFA_STEP.0 as u8, (p[1] >> i) as u8 % 12),
                2 => (8 + (p[2] >> i) as u8 % 200, (p[1] >> i) as u8 % 12),
                _ => (0, (p[1] >> i) as u8 % 12),
            };
            bytes[2 + 2 * i] = op;
            bytes[3 + 2 * i] = off;
            if op == Opcode::ATOMIC_ADD.0 as u8 && 3 + 3 * i + 3 <= 12 {
                adds.push(i);
            }
        }
        for (k, b) in bytes.iter_mut().enumerate().skip(10) {
            *b = (p[2] >> k) as u8;
        }
        let mut args = [0u32; 12];
        for (j, w) in args.iter_mut().enumerate().take(4) {
            *w = u32::from_le_bytes([
                bytes[4 * j],
                bytes[4 * j + 1],
                bytes[4 * j + 2],
                bytes[4 * j + 3],
            ]);
        }
        for i in adds {
            let w = self.find(p[1].wrapping_add(i as u32), |r, w| r.addable(w))?;
            self.res.add(w);
            args[3 + 3 * i] = p[2].wrapping_add(i as u32);
            args[3 + 3 * i + 1] = w;
        }
        // op 3 at offset 9 would read words 12..15: the kernel skips it
        Some(Publish::RawPacked(args))
    }
}

fn build(raw: &RawCase) -> Workload {
    let (n, wg) = SHAPES[raw.shape];
    let pool = pool();
    let disabled: Vec<u32> = (1..raw.tenant_count)
        .filter(|t| raw.disabled >> t & 1 == 1)
        .collect();
    // tenants 29..=31 read quota words 32..=34 as their mask: 1,000,000 below tenant_count
    let enabled = |t: u32| {
        if t >= 29 {
            t - 29 < raw.tenant_count
        } else {
            t < raw.tenant_count && !disabled.contains(&t)
        }
    };
    let looping = raw.variant.is_looping();
    let priority = raw.variant == Variant::Priority;
    let gap = (raw.extras & 1) as u32;
    let mut offsets = default_offsets(n);
    offsets[5] -= gap;
    let mut used = vec![false; n as usize];
    let mut printf_left = 60u32;
    let mut starvation = 0u32;
    let mut shut_down = false;
    let mut dispatches = Vec::new();
    for (low, raw_items) in &raw.dispatches {
        let mut res = Reserve::default();
        let mut fence_used = false;
        let mut items = Vec::new();
        let mut running = 0u32;
        let levels = if *low { 0..2 } else { 2..5 };
        // a looping variant's SHUTDOWN is the only work of its dispatch
        if looping && !shut_down && raw_items.first().is_some_and(|it| it.kind == 15) {
            let it = &raw_items[0];
            let slot = if priority {
                let p = levels.start as usize;
                (offsets[p]..offsets[p + 1]).find(|&s| !used[s as usize])
            } else {
                (0..n)
                    .map(|i| (it.picks[3] % n + i) % n)
                    .find(|&s| !used[s as usize])
            };
            if let Some(slot) = slot {
                used[slot as usize] = true;
                items.push(Item {
                    slot,
                    tenant: 0,
                    publish: Publish::Slot(Opcode::SHUTDOWN, vec![]),
                    status: None,
                });
                shut_down = true;
                if *low {
                    starvation += 1;
                } else {
                    starvation = 0;
                }
            }
            dispatches.push(items);
            continue;
        }
        for it in raw_items {
            let tenant = if it.tenant >= 240 {
                29 + it.tenant as u32 % 3
            } else {
                it.tenant as u32 % (raw.tenant_count + 1)
            };
            let status = match it.status % 12 {
                0 => Some(status::YIELD),
                1 => Some(status::REQUEUE),
                2 => Some(status::WAIT_IO),
                3 => Some(status::FAULT),
                4 => Some(8 + it.picks[2] % 1000),
                _ => None,
            };
            let schedulable = match status {
                None => true,
                Some(status::YIELD | status::REQUEUE) => priority,
                Some(_) => false,
            };
            let mut runs = !shut_down && enabled(tenant) && schedulable;
            // some work the scan would run goes past the last partition instead: never probed
            let in_gap = runs && priority && gap > 0 && it.picks[0] % 4 == 0;
            if in_gap {
                runs = false;
            }
            if runs && priority && *low && starvation + running >= 15 {
                continue;
            }
            // the slot: in the dispatch's priority levels when it will be claimed there
            let (lo, hi) = if in_gap {
                (n - gap, n)
            } else if runs && priority {
                (offsets[levels.start as usize], offsets[levels.end as usize])
            } else {
                (0, n)
            };
            if hi <= lo {
                continue;
            }
            let span = hi - lo;
            let Some(slot) = (0..span)
                .map(|i| lo + (it.picks[3] % span + i) % span)
                .find(|&s| !used[s as usize])
            else {
                continue;
            };
            let publish = if it.kind == 15 {
                // SHUTDOWN: only in `once` (which never reads control[0]) when it runs
                if looping && runs {
                    continue;
                }
                Some(Publish::Slot(Opcode::SHUTDOWN, vec![]))
            } else if runs {
                OpBuilder {
                    res: &mut res,
                    pool: &pool,
                    fence_used: &mut fence_used,
                    printf_left: &mut printf_left,
                }
                .top(it.kind, it.picks)
            } else {
                // never runs: any arguments will do
                Some(Publish::Slot(Opcode(it.kind as u32 % 8), it.picks.to_vec()))
            };
            let Some(publish) = publish else { continue };
            used[slot as usize] = true;
            if runs {
                running += 1;
            }
            items.push(Item {
                slot,
                tenant,
                publish,
                status,
            });
        }
        if priority && running > 0 && !shut_down {
            if *low {
                starvation += running;
            } else {
                starvation = 0;
            }
        }
        dispatches.push(items);
    }
    Workload {
        n,
        wg,
        variant: raw.variant,
        tenant_count: raw.tenant_count,
        disabled,
        mode: raw.mode,
        gap,
        short_last: raw.extras & 2 != 0,
        debug_cursor: if raw.extras & 4 != 0 { 256 } else { 0 },
        io_published: raw.extras & 8 != 0,
        dispatches,
    }
}

// ---- running and comparing ---------------------------------------------------------------

fn initial_state(w: &Workload) -> ResidentBuffers {
    let mut m = ResidentBuffers::new(w.n, w.tenant_count, OBS).expect("state");
    for &t in &w.disabled {
        m.write_control(3 + t as usize, 0).expect("mask word");
    }
    if w.gap > 0 {
        m.write_control(134, w.n - w.gap)
            .expect("last partition end");
    }
    let b = m.buffers_mut();
    b.debug_log[0] = w.debug_cursor;
    if w.io_published {
        b.io_queue[5 * 8 + 6] = 1;
    }
    m
}

fn publish(m: &mut ResidentBuffers, items: &[Item]) {
    for it in items {
        let slot = it.slot as u64;
        match &it.publish {
            Publish::Slot(op, args) => m.publish_slot(slot, it.tenant, *op, args).expect("publish"),
            Publish::Packed(ops) => {
                m.publish_packed_slot(slot, it.tenant, ops)
                    .expect("publish packed");
            }
            Publish::RawPacked(args) => m
                .publish_slot(slot, it.tenant, Opcode::PACKED_SLOT, args)
                .expect("publish raw packed"),
        }
        if let Some(st) = it.status {
            let b = it.slot as usize * SLOT_WORDS;
            let mut words: [u32; SLOT_WORDS] =
                m.ring()[b..b + SLOT_WORDS].try_into().expect("16 words");
            words[0] = st;
            m.write_slot_raw(it.slot, &words).expect("raw status");
        }
    }
}

fn options(w: &Workload, d: usize) -> DispatchOptions {
    let last = d + 1 == w.dispatches.len();
    DispatchOptions {
        variant: w.variant,
        workgroup_size: Some(w.wg),
        pass_budget: if last && w.short_last { 1 } else { 64 },
        dispatch_index: d as u64,
        ..DispatchOptions::default()
    }
}

fn same_totals(when: &str, g: &DispatchReport, c: &DispatchReport) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        diag_totals(g),
        diag_totals(c),
        "{}: diagnostic totals (gpu, cpu)",
        when
    );
    Ok(())
}

/// Diagnostic counts by kind. `io_unserviced` counts the priority kernel's IO loops, one per
/// workgroup that ran a pass; in a pass where a SHUTDOWN op runs, how many other workgroups
/// still run it depends on when the store reaches them (the CPU's lockstep has every later
/// workgroup see it), which is no race by README "Races" when those lanes claim nothing. So
/// for a dispatch that ended on SHUTDOWN only its presence is compared.
fn diag_totals(r: &DispatchReport) -> BTreeMap<&'static str, u64> {
    let mut m = BTreeMap::new();
    for d in &r.diagnostics {
        *m.entry(d.kind.name()).or_insert(0) += d.count;
    }
    if r.end == DispatchEnd::Shutdown
        && let Some(c) = m.get_mut(DiagnosticKind::IoUnserviced.name())
    {
        *c = 1;
    }
    m
}

/// A race as both engines must name it: word (none for a probe race), the slot pair (lower
/// first), the slot, and whether it is against the priority scan.
type RaceKey = (Option<u64>, Option<[u32; 2]>, Option<u32>, bool);

fn races(r: &DispatchReport) -> Vec<RaceKey> {
    let mut v: Vec<RaceKey> = r
        .diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::Race)
        .map(|d| (d.word, d.slots, d.slot, d.scheduler))
        .collect();
    v.sort();
    v
}

/// Kinds the end-of-dispatch scan finds: both engines name the lowest slot (the GPU keeps
/// one entry per kind, the CPU one per tenant or one per kind).
const END_SCAN_KINDS: [DiagnosticKind; 4] = [
    DiagnosticKind::StuckTenant,
    DiagnosticKind::Unscheduled,
    DiagnosticKind::ShutdownWithWork,
    DiagnosticKind::Starvation,
];

fn lowest_slot(r: &DispatchReport, kind: DiagnosticKind) -> Option<(u32, Option<u64>)> {
    r.diagnostics
        .iter()
        .filter(|d| d.kind == kind)
        .filter_map(|d| d.slot.map(|s| (s, d.word)))
        .min()
}

/// Out-of-range accesses as both engines list them with race analysis on: per slot and
/// direction, the first bad index, its pass and the count.
/// (slot, first bad index, its pass, count, a store).
type OutOfRangeKey = (Option<u32>, Option<u64>, Option<u32>, u64, bool);

fn out_of_range(r: &DispatchReport) -> Vec<OutOfRangeKey> {
    let mut v: Vec<_> = r
        .diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::OutOfRange)
        .map(|d| {
            (
                d.slot,
                d.word,
                d.pass,
                d.count,
                d.message.contains("stores to"),
            )
        })
        .collect();
    v.sort();
    v
}

/// The diagnostics agree: every race by word and slot pair (and the analysis was complete
/// on both); every out-of-range access by slot, index, pass and count; the end scan's kinds
/// by their lowest slot and its word; every kind by its total count. (Unknown opcodes,
/// DFA_STEP, aliased tenants and clamped packed slots are aggregated per kind on the GPU with
/// the first slot *its* lanes met, so only their totals can be compared.)
fn same_diagnostics(
    when: &str,
    g: &DispatchReport,
    c: &DispatchReport,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        &g.race_analysis,
        &RaceCoverage::Full,
        "{}: gpu coverage",
        when
    );
    prop_assert_eq!(
        &c.race_analysis,
        &RaceCoverage::Full,
        "{}: cpu coverage",
        when
    );
    prop_assert_eq!(races(g), races(c), "{}: races (gpu, cpu)", when);
    prop_assert_eq!(
        out_of_range(g),
        out_of_range(c),
        "{}: out of range (gpu, cpu)",
        when
    );
    for kind in END_SCAN_KINDS {
        prop_assert_eq!(
            lowest_slot(g, kind),
            lowest_slot(c, kind),
            "{}: lowest {} slot (gpu, cpu)",
            when,
            kind.name()
        );
    }
    prop_assert_eq!(
        keyed(g),
        keyed(c),
        "{}: unknown opcodes, DFA_STEP, aliased tenants and clamped packed slots (gpu, cpu)",
        when
    );
    same_totals(when, g, c)
}

/// The kinds the race analysis lists per key (opcode, tenant, slot), as both engines must:
/// kind, slot of the first note, pass, word, count and message.
type KeyedKey = (
    &'static str,
    Option<u32>,
    Option<u32>,
    Option<u64>,
    u64,
    String,
);

fn keyed(r: &DispatchReport) -> Vec<KeyedKey> {
    let mut v: Vec<KeyedKey> = r
        .diagnostics
        .iter()
        .filter(|d| {
            matches!(
                d.kind,
                DiagnosticKind::UnknownOpcode
                    | DiagnosticKind::DfaStep
                    | DiagnosticKind::AliasedTenant
                    | DiagnosticKind::PackedClamped
            )
        })
        .map(|d| {
            (
                d.kind.name(),
                d.slot,
                d.pass,
                d.word,
                d.count,
                d.message.clone(),
            )
        })
        .collect();
    v.sort();
    v
}

fn same_words(what: &str, gpu: &[u32], cpu: &[u32]) -> Result<(), TestCaseError> {
    if gpu == cpu {
        return Ok(());
    }
    if gpu.len() != cpu.len() {
        return Err(TestCaseError::fail(format!(
            "{what}: {} words on the GPU, {} on the CPU",
            gpu.len(),
            cpu.len()
        )));
    }
    let bad: Vec<String> = (0..gpu.len())
        .filter(|&i| gpu[i] != cpu[i])
        .take(8)
        .map(|i| format!("[{i}] gpu {:#x} cpu {:#x}", gpu[i], cpu[i]))
        .collect();
    Err(TestCaseError::fail(format!(
        "{what} differs: {}",
        bad.join(", ")
    )))
}

fn same_state(
    when: &str,
    gpu_control: &[u32],
    gpu_ring: Option<&[u32]>,
    gpu_debug: &[u32],
    cpu: &ResidentBuffers,
) -> Result<(), TestCaseError> {
    same_words(&format!("{when}: control"), gpu_control, cpu.control())?;
    if let Some(ring) = gpu_ring {
        same_words(&format!("{when}: ring"), ring, cpu.ring())?;
    }
    prop_assert_eq!(gpu_debug[0], cpu.debug_log()[0], "{}: debug cursor", when);
    prop_assert_eq!(
        record_multiset(gpu_debug),
        record_multiset(cpu.debug_log()),
        "{}: debug records",
        when
    );
    Ok(())
}

/// Two whole mirrors agree: control, ring and IO queue word for word, debug records as a
/// multiset.
fn same_mirror(
    when: &str,
    gpu: &ResidentBuffers,
    cpu: &ResidentBuffers,
) -> Result<(), TestCaseError> {
    same_state(when, gpu.control(), Some(gpu.ring()), gpu.debug_log(), cpu)?;
    same_words(&format!("{when}: io"), gpu.io_queue(), cpu.io_queue())
}

fn same_report(when: &str, g: &DispatchReport, c: &DispatchReport) -> Result<(), TestCaseError> {
    let project = |r: &DispatchReport| {
        (
            r.passes,
            r.end,
            r.claimed,
            r.executed,
            r.claims_per_level,
            r.debug_records,
            r.debug_dropped,
            r.status_counts,
        )
    };
    prop_assert_eq!(project(g), project(c), "{}: report (gpu, cpu)", when);
    same_diagnostics(when, g, c)
}

/// [`same_report`] for a GPU dispatch without race analysis: the counts, and every
/// diagnostic kind by its total.
fn same_report_totals(
    when: &str,
    g: &DispatchReport,
    c: &DispatchReport,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        &g.race_analysis,
        &RaceCoverage::Off,
        "{}: gpu coverage",
        when
    );
    prop_assert_eq!(
        (g.passes, g.end, g.claimed, g.executed, g.status_counts),
        (c.passes, c.end, c.claimed, c.executed, c.status_counts),
        "{}: report (gpu, cpu)",
        when
    );
    same_totals(when, g, c)
}

fn no_race(when: &str, c: &DispatchReport) -> Result<(), TestCaseError> {
    let found: Vec<&Diagnostic> = c
        .diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::Race)
        .collect();
    if let Some(d) = found.first() {
        return Err(TestCaseError::fail(format!(
            "{when}: the generator made a racy workload: {}",
            d.message
        )));
    }
    Ok(())
}

/// Runs one workload on both engines, comparing after every dispatch; adds the kinds of
/// diagnostic the CPU reported to `seen`.
fn run_case(
    gpu: &mut GpuEngine,
    w: &Workload,
    seen: &mut std::collections::BTreeSet<DiagnosticKind>,
) -> Result<(), TestCaseError> {
    run_case_as(gpu, w, seen, true)
}

/// [`run_case`] with the GPU's race analysis on or off. Off, the GPU runs the build without
/// analysis (the one with workgroup tallies, where the engine has them on), whose
/// out-of-range accesses come back one entry per kind: diagnostics are compared by their
/// total count per kind, everything else as with the analysis on.
fn run_case_as(
    gpu: &mut GpuEngine,
    w: &Workload,
    seen: &mut std::collections::BTreeSet<DiagnosticKind>,
    gpu_analysis: bool,
) -> Result<(), TestCaseError> {
    let same_report = |when: &str, g: &DispatchReport, c: &DispatchReport| {
        if gpu_analysis {
            same_report(when, g, c)
        } else {
            same_report_totals(when, g, c)
        }
    };
    let mut cpu_state = initial_state(w);
    let mut gpu_state = initial_state(w);
    let mut cpu = CpuEngine::new();
    for (d, items) in w.dispatches.iter().enumerate() {
        let when = format!("dispatch {d}");
        publish(&mut cpu_state, items);
        let opts = options(w, d);
        let gopts = DispatchOptions {
            race_analysis: gpu_analysis,
            ..opts
        };
        match w.mode {
            Mode::Trait => {
                publish(&mut gpu_state, items);
                let c = cpu_state.dispatch(&mut cpu, &opts).map_err(fail)?;
                let g = gpu_state.dispatch(gpu, &gopts).map_err(fail)?;
                no_race(&when, &c)?;
                same_mirror(&when, &gpu_state, &cpu_state)?;
                same_report(&when, &g, &c)?;
                seen.extend(c.diagnostics.iter().map(|d| d.kind));
            }
            Mode::Resident => {
                // the mirror was brought up to date after the previous dispatch
                publish(&mut gpu_state, items);
                prop_assert!(!gpu.is_synced_with(&gpu_state) || items.is_empty());
                gpu.upload(&gpu_state).map_err(fail)?;
                let c = cpu_state.dispatch(&mut cpu, &opts).map_err(fail)?;
                let (g, control, debug) = gpu.dispatch_resident(&gopts).map_err(fail)?;
                no_race(&when, &c)?;
                same_state(&when, &control, None, &debug, &cpu_state)?;
                same_report(&when, &g, &c)?;
                seen.extend(c.diagnostics.iter().map(|d| d.kind));
                let ring = gpu.read_ring_slots(0..w.n).map_err(fail)?;
                same_words(&format!("{when}: ring slots"), &ring, cpu_state.ring())?;
                // into the uploaded mirror only the status words travel; into another mirror
                // the whole ring does
                if d % 2 == 1 {
                    gpu_state = initial_state(w);
                }
                gpu.download_into(&mut gpu_state).map_err(fail)?;
                prop_assert!(gpu.is_synced_with(&gpu_state));
                same_mirror(&format!("{when}: downloaded"), &gpu_state, &cpu_state)?;
            }
            Mode::Stepped => {
                publish(&mut gpu_state, items);
                cpu.begin_dispatch(&mut cpu_state, &opts).map_err(fail)?;
                gpu.begin_dispatch(&mut gpu_state, &gopts).map_err(fail)?;
                for pass in 0..=opts.passes_allowed() {
                    let c_end = cpu.run_passes(&mut cpu_state, 1).map_err(fail)?;
                    let g_end = gpu.run_passes(&mut gpu_state, 1).map_err(fail)?;
                    let at = format!("{when} pass {pass}");
                    same_mirror(&at, &gpu_state, &cpu_state)?;
                    prop_assert_eq!(g_end, c_end, "{}: ended (gpu, cpu)", at);
                    if c_end {
                        break;
                    }
                }
                let c = cpu.finish_dispatch(&mut cpu_state).map_err(fail)?;
                let g = gpu.finish_dispatch(&mut gpu_state).map_err(fail)?;
                no_race(&when, &c)?;
                same_report(&when, &g, &c)?;
                seen.extend(c.diagnostics.iter().map(|d| d.kind));
            }
        }
    }
    Ok(())
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// A runner with a fixed seed, so CI runs the same cases every time, that keeps failing
/// cases in `tests/regressions/NAME.txt` and replays them first.
fn runner(cases: u32, regressions: &'static str, seed: u8) -> TestRunner {
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]),
    )
}

#[test]
fn gpu_matches_cpu_on_random_race_free_workloads() {
    let gpu = RefCell::new(engine());
    let mut runner = runner(
        32,
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/regressions/gpu_differential_race_free.txt"
        ),
        0x5e,
    );
    let seen = RefCell::new(std::collections::BTreeSet::new());
    // every other case with the workgroup tallies of control adds (a hardware GPU's default;
    // a software adapter has them off)
    let case = std::cell::Cell::new(0u32);
    let result = runner.run(&raw_case(), |raw| {
        let w = build(&raw);
        // and, tallied, every other one with device workgroups running two of the dispatch's
        let (tallies, per) = [(false, 1), (true, 1), (false, 1), (true, 2)][case.get() as usize % 4];
        case.set(case.get() + 1);
        let mut gpu = gpu.borrow_mut();
        gpu.set_workgroup_tallies(tallies);
        gpu.set_groups_per_workgroup(Some(per));
        run_case(&mut gpu, &w, &mut seen.borrow_mut()).map_err(|e| {
            TestCaseError::fail(format!(
                "{e}\nworkgroup tallies {tallies}, {per} workgroups per device workgroup\nworkload: {w:#?}"
            ))
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // the generator reaches every kind a race-free workload can raise (the others: `race`
    // is the racy generator's; `stuck_claimed` needs a mask written during the scan, a race;
    // `publish_in_flight` is the host's, not an engine's)
    let not_race_free = [
        DiagnosticKind::Race,
        DiagnosticKind::StuckClaimed,
        DiagnosticKind::PublishInFlight,
    ];
    let want: Vec<DiagnosticKind> = DiagnosticKind::ALL
        .into_iter()
        .filter(|k| !not_race_free.contains(k))
        .collect();
    let seen = seen.into_inner();
    let missing: Vec<&str> = want
        .iter()
        .filter(|k| !seen.contains(k))
        .map(|k| k.name())
        .collect();
    assert!(
        missing.is_empty(),
        "the random race-free workloads never raised {missing:?}"
    );
}

/// The build without race analysis, with the workgroup tallies of control adds (a hardware
/// GPU's default; forced on here, as a software adapter has them off) and without, ends every
/// random race-free workload as the CPU does.
#[test]
fn the_build_without_analysis_matches_cpu_with_and_without_tallies() {
    let gpu = RefCell::new(engine());
    let mut runner = runner(
        24,
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/regressions/gpu_differential_tallies.txt"
        ),
        0x7a,
    );
    let case = std::cell::Cell::new(0u32);
    let result = runner.run(&raw_case(), |raw| {
        let w = build(&raw);
        let tallies = case.get() % 3 != 2;
        let per = if case.get() % 3 == 1 { 3 } else { 1 };
        case.set(case.get() + 1);
        let mut gpu = gpu.borrow_mut();
        gpu.set_workgroup_tallies(tallies);
        gpu.set_groups_per_workgroup(Some(per));
        run_case_as(&mut gpu, &w, &mut Default::default(), false).map_err(|e| {
            TestCaseError::fail(format!(
                "{e}\nworkgroup tallies {tallies}, {per} workgroups per device workgroup\nworkload: {w:#?}"
            ))
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// A hand-written workload that uses every kind of op in each variant, so coverage does not
/// hang on the random draw; the same checks as the random cases.
#[test]
fn every_op_kind_in_every_variant() {
    let mut gpu = engine();
    for variant in Variant::ALL {
        for (shape, mode) in [(1, Mode::Trait), (3, Mode::Stepped), (5, Mode::Resident)] {
            let items: Vec<RawItem> = (0..15u8)
                .map(|kind| RawItem {
                    kind,
                    picks: [
                        0x9E37_79B9u32.wrapping_mul(kind as u32 + 1),
                        0x85EB_CA6Bu32.wrapping_mul(kind as u32 + 7),
                        0xC2B2_AE35u32.wrapping_mul(kind as u32 + 3),
                        kind as u32 * 5 + 2,
                    ],
                    tenant: kind % 3,
                    // kinds 2, 5, 8, 11, 14 are left YIELD, REQUEUE, WAIT_IO, FAULT, invalid
                    status: if kind % 3 == 2 { kind / 3 } else { 5 + kind },
                })
                .collect();
            let raw = RawCase {
                shape,
                variant,
                tenant_count: 2,
                disabled: 0,
                mode,
                extras: 11,
                dispatches: vec![(false, items.clone()), (true, items)],
            };
            let w = build(&raw);
            assert!(
                w.dispatches[0].len() >= 10,
                "the generator dropped too much: {:#?}",
                w.dispatches[0]
            );
            if let Err(e) = run_case(&mut gpu, &w, &mut Default::default()) {
                panic!("{variant:?} {mode:?}: {e}\nworkload: {w:#?}");
            }
        }
    }
}

/// The per-slot "changed" serials: slots claimed by the latest dispatch hold its serial.
#[test]
fn changed_buffer_marks_the_slots_each_dispatch_claimed() {
    let mut gpu = engine();
    let mut m = ResidentBuffers::new(64, 1, 0).expect("state");
    m.publish_slot(3, 0, Opcode::NOP, &[]).expect("publish");
    m.publish_slot(40, 0, Opcode::ATOMIC_ADD, &[1, 50])
        .expect("publish");
    m.publish_slot(41, 1, Opcode::NOP, &[])
        .expect("publish (tenant 1 is disabled)");
    gpu.upload(&m).expect("upload");
    let opts = DispatchOptions::default();
    let (r, control, _) = gpu.dispatch_resident(&opts).expect("dispatch");
    assert_eq!((r.claimed, r.executed, control[50]), (2, 2, 1));
    let first = gpu.dispatch_serial();
    assert!(first >= 1);
    assert!(
        !gpu.is_synced_with(&m),
        "the device moved on without the mirror"
    );
    gpu.download_into(&mut m).expect("download");
    m.publish_slot(3, 0, Opcode::NOP, &[]).expect("republish");
    gpu.upload(&m).expect("upload");
    gpu.dispatch_resident(&opts).expect("dispatch");
    let changed = read_buffer(&gpu, gpu.changed_buffer().expect("changed buffer"), 64);
    let second = gpu.dispatch_serial();
    assert_eq!(second, first + 1);
    assert_eq!(changed[3], second);
    assert_eq!(changed[40], first);
    assert_eq!(changed[41], 0);
    assert_eq!(changed[0], 0);
    let slots = gpu.read_ring_slots(40..42).expect("ring slots");
    assert_eq!(
        (slots.len(), slots[0], slots[16]),
        (32, status::DONE, status::PUBLISHED)
    );
    assert!(gpu.read_ring_slots(60..65).is_err(), "past the ring");
}

/// Both engines and the persistent variant in 64-lane workgroups.
fn persistent_pair() -> (GpuEngine, CpuEngine, DispatchOptions) {
    let opts = DispatchOptions {
        variant: Variant::Persistent,
        workgroup_size: Some(64),
        ..DispatchOptions::default()
    };
    (engine(), CpuEngine::new(), opts)
}

/// Workgroups that returned on SHUTDOWN in one dispatch run again in the next: a returned
/// flag holds the serial of the dispatch it was set in, and nothing clears it between
/// dispatches, so a flag that only said "returned" would keep them out for good.
#[test]
fn workgroups_returned_in_one_dispatch_run_in_the_next() {
    use megascope::abi::control::SHUTDOWN;
    let (mut gpu, mut cpu, opts) = persistent_pair();
    let mut g = ResidentBuffers::new(256, 1, 0).expect("state");
    let mut c = g.clone();
    for round in 0..4 {
        // even rounds: one SHUTDOWN slot, after which every workgroup returns; odd rounds:
        // SHUTDOWN cleared and every slot published
        let stop = round % 2 == 0;
        for m in [&mut g, &mut c] {
            m.write_control(SHUTDOWN, 0).expect("SHUTDOWN");
            for s in 0..256 {
                if stop && s == 0 {
                    m.publish_slot(s, 0, Opcode::SHUTDOWN, &[])
                        .expect("publish");
                } else if !stop {
                    m.publish_slot(s, 0, Opcode::NOP, &[]).expect("publish");
                }
            }
        }
        let rg = g.dispatch(&mut gpu, &opts).expect("gpu dispatch");
        let rc = c.dispatch(&mut cpu, &opts).expect("cpu dispatch");
        let want = if stop { 1 } else { 256 };
        assert_eq!(rc.executed, want, "round {round}: the CPU's count");
        assert_same_end(&format!("round {round}"), (&rg, &g), (&rc, &c));
    }
}

/// A GPU dispatch ended as the CPU's did: passes, end, claims, executions, statuses, and the
/// ring and control words it left.
fn assert_same_end(
    when: &str,
    (g, gm): (&DispatchReport, &ResidentBuffers),
    (c, cm): (&DispatchReport, &ResidentBuffers),
) {
    assert_eq!(
        (g.passes, g.end, g.claimed, g.executed, g.status_counts),
        (c.passes, c.end, c.claimed, c.executed, c.status_counts),
        "{when}: report (gpu, cpu)"
    );
    assert_eq!(gm.ring(), cm.ring(), "{when}: ring");
    assert_eq!(gm.control(), cm.control(), "{when}: control");
}

/// A stepped dispatch whose ring gains an opcode between passes runs it: on a software
/// adapter the megakernel is built with only the handlers the uploaded ring needs, and an
/// upload in the middle of a dispatch must add the new ones.
#[test]
fn an_opcode_published_between_passes_gets_its_handler() {
    let (mut gpu, mut cpu, opts) = persistent_pair();
    let mut g = ResidentBuffers::new(128, 1, 4).expect("state");
    for s in 0..64 {
        g.publish_slot(s, 0, Opcode::NOP, &[]).expect("publish");
    }
    let mut c = g.clone();
    gpu.begin_dispatch(&mut g, &opts).expect("gpu begin");
    cpu.begin_dispatch(&mut c, &opts).expect("cpu begin");
    gpu.run_passes(&mut g, 1).expect("gpu pass");
    cpu.run_passes(&mut c, 1).expect("cpu pass");
    for m in [&mut g, &mut c] {
        m.publish_slot(100, 0, Opcode::STORE_U32, &[77, 162])
            .expect("publish STORE_U32");
        m.publish_slot(101, 0, Opcode::PRINTF, &[1, 2, 3])
            .expect("publish PRINTF");
    }
    gpu.run_passes(&mut g, 8).expect("gpu passes");
    cpu.run_passes(&mut c, 8).expect("cpu passes");
    let rg = gpu.finish_dispatch(&mut g).expect("gpu finish");
    let rc = cpu.finish_dispatch(&mut c).expect("cpu finish");
    assert_eq!(c.control()[162], 77, "the CPU ran the STORE_U32");
    assert_eq!(rc.executed, 66);
    assert_eq!(
        (rg.executed, rg.debug_records),
        (rc.executed, rc.debug_records)
    );
    assert_eq!(g.control(), c.control(), "control");
    assert_eq!(g.ring(), c.ring(), "ring");
    assert!(
        !rg.diagnostics
            .iter()
            .any(|d| d.kind == DiagnosticKind::UnknownOpcode),
        "the GPU ran an opcode as unknown: {:?}",
        rg.diagnostics
    );
}

/// With race analysis on the GPU lists unknown opcodes one per opcode, as the CPU does, up to
/// its table's 256 a kind; past that it says one entry stands for them all.
#[test]
fn distinct_unknown_opcodes_are_listed_one_by_one_until_the_table_is_full() {
    let mut gpu = engine();
    let mut cpu = CpuEngine::new();
    let unknown = |r: &DispatchReport| {
        let mut v: Vec<(Option<u32>, u64, String)> = r
            .diagnostics
            .iter()
            .filter(|d| d.kind == DiagnosticKind::UnknownOpcode)
            .map(|d| (d.slot, d.count, d.message.clone()))
            .collect();
        v.sort();
        v
    };
    for (distinct, listed) in [(200u32, true), (300, false)] {
        let mut g = ResidentBuffers::new(512, 1, 0).expect("state");
        for s in 0..512u32 {
            // slots s and s + distinct share an opcode
            g.publish_slot(s.into(), 0, Opcode(0x1000 + s % distinct), &[])
                .expect("publish");
        }
        let mut c = g.clone();
        let opts = DispatchOptions::default();
        let rg = g.dispatch(&mut gpu, &opts).expect("gpu dispatch");
        let rc = c.dispatch(&mut cpu, &opts).expect("cpu dispatch");
        assert_eq!(
            unknown(&rc).len(),
            distinct as usize,
            "the CPU: one per opcode"
        );
        if listed {
            assert_eq!(unknown(&rg), unknown(&rc), "{distinct} opcodes");
        } else {
            let u = unknown(&rg);
            assert_eq!(u.len(), 1, "one entry for the kind: {u:?}");
            assert_eq!(u[0].1, 512, "every op counted: {u:?}");
            assert!(u[0].2.contains("stands for all of them"), "{}", u[0].2);
        }
    }
}

/// `once` dispatches that change only the workgroup size each run every slot: a fused `once`
/// dispatch skips rewriting its indirect arguments when they are unchanged, and must write
/// them when the grid changes.
#[test]
fn once_dispatches_with_another_workgroup_size_run_every_slot() {
    let mut gpu = engine();
    let mut m = ResidentBuffers::new(256, 1, 0).expect("state");
    for wg in [64, 64, 32, 256, 32, 1] {
        for s in 0..256 {
            if m.slot_status(s) != megascope::abi::status::SlotStatus::Published {
                m.publish_slot(s.into(), 0, Opcode::NOP, &[])
                    .expect("publish");
            }
        }
        let opts = DispatchOptions {
            workgroup_size: Some(wg),
            ..DispatchOptions::default()
        };
        let r = m.dispatch(&mut gpu, &opts).expect("dispatch");
        assert_eq!(
            (r.workgroup_size, r.executed),
            (wg, 256),
            "workgroup size {wg}"
        );
        // the ring itself, not only the report (a fused pass's counts come from the slots
        // its lanes saw)
        let done = (0..256)
            .filter(|&s| m.slot_status(s) == megascope::abi::status::SlotStatus::Done)
            .count();
        assert_eq!(done, 256, "workgroup size {wg}: slots DONE");
    }
}

/// A dispatch finished before any pass ran ends as the CPU's does (PassBudget, nothing
/// claimed, every slot still PUBLISHED): the GPU's end scan writes into the dispatch's own
/// header, which reaches the device by a copy the scan must not overtake.
#[test]
fn a_dispatch_finished_before_any_pass_ends_as_on_the_cpu() {
    use megascope::engine::Engine;
    for variant in [Variant::Once, Variant::Persistent, Variant::Priority] {
        let (mut gpu, mut cpu) = (engine(), CpuEngine::new());
        let mut g = ResidentBuffers::new(64, 1, 0).expect("state");
        for s in 0..64 {
            g.publish_slot(s, 0, Opcode::NOP, &[]).expect("publish");
        }
        let mut c = g.clone();
        let opts = DispatchOptions {
            variant,
            workgroup_size: Some(16),
            ..DispatchOptions::default()
        };
        // an earlier dispatch leaves its header on the device
        g.clone()
            .dispatch(&mut gpu, &opts)
            .expect("earlier dispatch");
        gpu.begin_dispatch(&mut g, &opts).expect("gpu begin");
        let rg = gpu.finish_dispatch(&mut g).expect("gpu finish");
        cpu.begin_dispatch(&mut c, &opts).expect("cpu begin");
        let rc = cpu.finish_dispatch(&mut c).expect("cpu finish");
        assert_eq!(
            (rg.passes, rg.end, rg.claimed, rg.executed, rg.status_counts),
            (rc.passes, rc.end, rc.claimed, rc.executed, rc.status_counts),
            "{variant:?}: report (gpu, cpu)"
        );
    }
}

/// A GPU's defaults (the engine told it is not a software adapter): no workgroup tallies for
/// a ring of few workgroups, tallies from 64, and device workgroups running two of the
/// dispatch's once a pass has lanes to spare (2^18 slots in workgroups of 256). Each ends as
/// the CPU does, control words included (the tallied ATOMIC_ADDs land on 16 counters).
#[test]
fn gpu_defaults_tally_large_rings_and_share_workgroups_past_the_lanes_in_flight() {
    let mut gpu = engine();
    gpu.set_software_adapter(false);
    let mut cpu = CpuEngine::new();
    for (n, want) in [
        (4096, (false, 1)),
        (64 * 256, (true, 1)),
        (1 << 18, (true, 2)),
    ] {
        let mut g = ResidentBuffers::new(n, 1, 16).expect("state");
        for s in 0..n {
            g.publish_slot(s.into(), 0, Opcode::ATOMIC_ADD, &[1, 160 + s % 16])
                .expect("publish");
        }
        let mut c = g.clone();
        let opts = DispatchOptions {
            workgroup_size: Some(256),
            ..DispatchOptions::default()
        };
        let rg = g.dispatch(&mut gpu, &opts).expect("gpu dispatch");
        let rc = c.dispatch(&mut cpu, &opts).expect("cpu dispatch");
        assert_eq!(
            gpu.last_tallies(),
            Some(want),
            "{n} slots: tallies, groups per workgroup"
        );
        assert_eq!(rc.executed, u64::from(n), "{n} slots: the CPU's count");
        assert_same_end(&format!("{n} slots"), (&rg, &g), (&rc, &c));
    }
}

/// The starvation rule (ABI.md §5.4): with control[135] ≥ 16 the scan skips levels 0 and 1,
/// a level-2 claim stores 0, and the next pass claims levels 0 and 1 again. One workgroup
/// reads the counter once per iteration, so the order is defined (the CPU race analysis
/// still flags the store meeting the adds, which is why the random cases avoid it).
#[test]
fn starvation_skips_levels_zero_and_one_until_a_normal_claim() {
    let mut gpu = engine();
    let mut cpu = CpuEngine::new();
    for preset in [15u32, 16, 40] {
        let mut c = ResidentBuffers::new(16, 1, 8).expect("state");
        c.write_control(135, preset).expect("counter");
        // partitions [0,3) [3,6) [6,10) [10,13) [13,16): lanes 0 and 1 have work at levels
        // 0, 1 and 2; lane 2 only at level 4
        for slot in [0u64, 1, 3, 4, 6, 7, 15] {
            c.publish_slot(
                slot,
                0,
                Opcode::ATOMIC_ADD,
                &[1 + slot as u32, 160 + slot as u32],
            )
            .expect("publish");
        }
        let mut g = c.clone();
        let opts = DispatchOptions::with_variant(Variant::Priority);
        cpu.begin_dispatch(&mut c, &opts).expect("cpu begin");
        gpu.begin_dispatch(&mut g, &opts).expect("gpu begin");
        for pass in 0..8 {
            let c_end = cpu.run_passes(&mut c, 1).expect("cpu pass");
            let g_end = gpu.run_passes(&mut g, 1).expect("gpu pass");
            assert_eq!(
                g.control(),
                c.control(),
                "preset {preset} pass {pass}: control"
            );
            assert_eq!(g.ring(), c.ring(), "preset {preset} pass {pass}: ring");
            assert_eq!(g_end, c_end, "preset {preset} pass {pass}: ended");
            if c_end {
                break;
            }
        }
        let rc = cpu.finish_dispatch(&mut c).expect("cpu finish");
        let rg = gpu.finish_dispatch(&mut g).expect("gpu finish");
        assert_eq!(
            (rg.passes, rg.claims_per_level, rg.end),
            (rc.passes, rc.claims_per_level, rc.end),
            "preset {preset}"
        );
        if preset >= 16 {
            assert_eq!(
                rc.claims_per_level[2], 2,
                "the first pass claims level 2 only"
            );
        }
    }
}

/// An empty ring dispatches (nothing runs) in every variant.
#[test]
fn zero_slots_dispatch_and_report_nothing() {
    let mut gpu = engine();
    for variant in Variant::ALL {
        let mut m = ResidentBuffers::new(0, 1, 0).expect("state");
        let r = m
            .dispatch(&mut gpu, &DispatchOptions::with_variant(variant))
            .expect("dispatch");
        assert_eq!((r.passes, r.claimed), (0, 0));
        assert_eq!(r.status_counts.0.iter().sum::<u64>(), 0);
    }
}

/// With timestamps (lavapipe and the usual Vulkan drivers have them) the engine reports the
/// kernels' own time: none before any dispatch, then a time no longer than the dispatch's
/// wall time.
#[test]
fn kernel_time_comes_from_timestamps() {
    let mut gpu = engine();
    assert!(
        gpu.device()
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY),
        "the headless device asks for timestamps where the adapter has them ({})",
        gpu.adapter_name()
    );
    assert_eq!(gpu.last_kernel_time(), None);
    let mut m = ResidentBuffers::new(4096, 1, 0).expect("state");
    for slot in 0..4096 {
        m.publish_slot(slot, 0, Opcode::ATOMIC_ADD, &[1, 160])
            .expect("publish");
    }
    gpu.upload(&m).expect("upload");
    let t = std::time::Instant::now();
    let (r, _, _) = gpu
        .dispatch_resident(&DispatchOptions::default())
        .expect("dispatch");
    let wall = t.elapsed();
    assert_eq!(r.executed, 4096);
    let kernel = gpu
        .last_kernel_time()
        .expect("a kernel time after a dispatch");
    assert!(
        kernel > std::time::Duration::ZERO && kernel <= wall,
        "kernel {kernel:?}, wall {wall:?}"
    );
}

/// `once` runs as one kernel and the host finishes its header (no gate, no histogram pass);
/// a ring with slots it leaves waiting (a disabled tenant), slots left CLAIMED, slots already
/// DONE and empty ones still gives the CPU's status counts and end-scan diagnostics, and the
/// same words.
#[test]
fn once_as_one_kernel_counts_statuses_and_scans_what_it_left() {
    let mut gpu = engine();
    let mut cpu = CpuEngine::new();
    let mut m = ResidentBuffers::new(256, 1, 0).expect("state");
    for slot in 0..256u32 {
        match slot % 5 {
            0 => m.publish_slot(slot as u64, 0, Opcode::ATOMIC_ADD, &[1, 50]),
            1 => m.publish_slot(slot as u64, 1, Opcode::NOP, &[]),
            2 | 3 => {
                let mut w = [0u32; SLOT_WORDS];
                w[0] = if slot % 5 == 2 {
                    status::CLAIMED
                } else {
                    status::DONE
                };
                m.write_slot_raw(slot, &w)
            }
            _ => Ok(()),
        }
        .expect("slot");
    }
    let mut c = m.clone();
    let opts = DispatchOptions::default();
    let g = gpu.dispatch(&mut m, &opts).expect("gpu dispatch");
    let r = cpu.dispatch(&mut c, &opts).expect("cpu dispatch");
    if let Err(e) = same_report("once", &g, &r) {
        panic!("{e}");
    }
    assert_eq!(m.ring(), c.ring());
    assert_eq!(m.control(), c.control());
    let counts = g.status_counts.0;
    assert_eq!(counts[status::DONE as usize], 52 + 51);
    assert_eq!(counts[status::PUBLISHED as usize], 51);
    assert_eq!(counts[status::CLAIMED as usize], 51);
    assert_eq!(g.claimed, 52);
    // again: nothing left to claim, so every lane counts its own slot
    let g = gpu.dispatch(&mut m, &opts).expect("gpu dispatch");
    let r = cpu.dispatch(&mut c, &opts).expect("cpu dispatch");
    if let Err(e) = same_report("once again", &g, &r) {
        panic!("{e}");
    }
}

/// Back-to-back `once` dispatches run on the header the one before left when it holds no
/// taken record, pass count or SHUTDOWN flag (no header copy first), and report exactly what
/// the CPU does all the same: counters of the dispatch alone, records it took (and none of
/// the dispatch before's), an end scan's lowest slots, SHUTDOWN as found. A dispatch after
/// one that took a record, ran passes through the gate or saw SHUTDOWN gets a fresh header.
#[test]
fn once_dispatches_on_the_header_before_report_only_their_own() {
    for race_analysis in [true, false] {
        once_dispatches_back_to_back(race_analysis);
    }
}

fn once_dispatches_back_to_back(race_analysis: bool) {
    let mut gpu = engine();
    let mut cpu = CpuEngine::new();
    const N: u32 = 256;
    let mut m = ResidentBuffers::new(N, 1, 0).expect("state");
    let mut c = m.clone();
    // each slot's tenant, opcode and arguments; None: a slot already DONE
    type Ring = fn(u32) -> Option<(u32, Opcode, Vec<u32>)>;
    let clean: Ring = |s| Some((0, Opcode::ATOMIC_ADD, vec![1 + s % 3, 50 + s % 4]));
    let odd: Ring = |s| match s % 64 {
        7 => Some((0, Opcode(0xEE), vec![])),
        9 => Some((0, Opcode::STORE_U32, vec![5, 9_999])),
        _ => Some((0, Opcode::ATOMIC_ADD, vec![1, 50])),
    };
    // slots behind tenant 1's zero mask: from slot 3, and from slot 203 only
    let stuck: Ring = |s| Some((u32::from(s % 50 == 3), Opcode::NOP, vec![]));
    let stuck_high: Ring = |s| Some((u32::from(s >= 200 && s % 50 == 3), Opcode::NOP, vec![]));
    let printf: Ring = |s| match s % 16 {
        0 => Some((0, Opcode::PRINTF, vec![s, 2, 3])),
        _ => Some((0, Opcode::NOP, vec![])),
    };
    let some_done: Ring = |s| (s % 7 != 0).then(|| (0, Opcode::ATOMIC_ADD, vec![1, 51]));
    let shutdown: Ring = |s| match s {
        100 => Some((0, Opcode::SHUTDOWN, vec![])),
        _ => Some((0, Opcode::ATOMIC_ADD, vec![2, 60])),
    };
    let once = Variant::Once;
    // (ring, variant, once_checks_shutdown, header reused, diagnostics reported)
    let steps: [(Ring, Variant, bool, bool, bool); 18] = [
        (clean, once, false, false, false), // the first dispatch copies the template
        (clean, once, false, true, false),
        (odd, once, false, true, true), // takes records
        (clean, once, false, false, false),
        (clean, once, false, true, false),
        (stuck, once, false, true, true), // an end scan on a reused header
        (clean, once, false, true, false),
        (stuck_high, once, false, true, true), // the scan's lowest slot is this dispatch's
        (printf, once, false, true, false),
        (clean, once, false, true, false), // no debug records of the dispatch before
        (some_done, once, false, true, false),
        (clean, once, false, true, false), // no DONE slots of the dispatch before
        (clean, Variant::Persistent, false, false, false),
        (clean, once, false, false, false), // the gate counted passes
        (shutdown, once, false, true, false),
        (clean, once, false, false, false), // a SHUTDOWN op ran
        (clean, once, true, true, true),    // SHUTDOWN is still set: found at start
        (clean, once, false, false, false),
    ];
    for (i, (ring, variant, checks, reused, diagnosed)) in steps.into_iter().enumerate() {
        let mut fresh = ResidentBuffers::new(N, 1, 0).expect("state");
        for slot in 0..N {
            match ring(slot) {
                Some((tenant, op, args)) => fresh.publish_slot(slot as u64, tenant, op, &args),
                None => {
                    let mut w = [0u32; SLOT_WORDS];
                    w[0] = status::DONE;
                    fresh.write_slot_raw(slot, &w)
                }
            }
            .expect("slot");
        }
        for mirror in [&mut m, &mut c] {
            let mut rb = fresh.snapshot_readback();
            rb.control = mirror.control().to_vec();
            mirror.apply_readback(&mut rb);
        }
        let mut opts = DispatchOptions::with_variant(variant);
        opts.once_checks_shutdown = checks;
        opts.race_analysis = race_analysis;
        let g = gpu.dispatch(&mut m, &opts).expect("gpu dispatch");
        let r = cpu.dispatch(&mut c, &opts).expect("cpu dispatch");
        let when = format!("step {i}, race analysis {race_analysis}");
        let same = if race_analysis {
            same_report(&when, &g, &r)
        } else {
            same_report_totals(&when, &g, &r)
        };
        if let Err(e) = same {
            panic!("{e}");
        }
        assert_eq!(m, c, "{when}: the states differ");
        assert_eq!(
            gpu.last_dispatch_reused_header(),
            reused,
            "{when}: header reused"
        );
        assert_eq!(
            !g.diagnostics.is_empty(),
            diagnosed,
            "{when}: {:?}",
            g.diagnostics
        );
    }
}

/// Readbacks that poll the device (the default on a GPU) bring back the same words and
/// report as blocking ones: round trips and resident dispatches of every variant against the
/// CPU, on rings small enough to end while polling and large enough to fall back to a block.
#[test]
fn polling_readbacks_give_the_cpu_results() {
    let mut gpu = engine();
    gpu.poll_readbacks(true);
    let mut cpu = CpuEngine::new();
    for slots in [64u32, 16_384] {
        for variant in [Variant::Once, Variant::Persistent, Variant::Priority] {
            let mut m = ResidentBuffers::new(slots, 1, 0).expect("state");
            for slot in 0..slots {
                m.publish_slot(slot as u64, 0, Opcode::ATOMIC_ADD, &[1, 50 + slot % 4])
                    .expect("publish");
            }
            let mut c = m.clone();
            let opts = DispatchOptions {
                race_analysis: false,
                ..DispatchOptions::with_variant(variant)
            };
            let g = gpu.dispatch(&mut m, &opts).expect("gpu dispatch");
            let r = cpu.dispatch(&mut c, &opts).expect("cpu dispatch");
            assert_same_end(&format!("{slots} slots, {variant:?}"), (&g, &m), (&r, &c));
        }
    }
}

/// With the changed marks off a dispatch leaves the serials alone; on again, it writes them.
#[test]
fn changed_marks_can_be_switched_off() {
    let mut gpu = engine();
    let mut m = ResidentBuffers::new(64, 1, 0).expect("state");
    m.publish_slot(5, 0, Opcode::NOP, &[]).expect("publish");
    gpu.set_change_marks(false);
    gpu.upload(&m).expect("upload");
    let (r, _, _) = gpu
        .dispatch_resident(&DispatchOptions::default())
        .expect("dispatch");
    assert_eq!(r.claimed, 1);
    let changed = read_buffer(&gpu, gpu.changed_buffer().expect("changed buffer"), 64);
    assert!(changed.iter().all(|&w| w == 0), "{changed:?}");
    gpu.set_change_marks(true);
    gpu.upload(&m).expect("upload");
    gpu.dispatch_resident(&DispatchOptions::default())
        .expect("dispatch");
    let changed = read_buffer(&gpu, gpu.changed_buffer().expect("changed buffer"), 64);
    assert_eq!(changed[5], gpu.dispatch_serial());
}

/// Per-kernel timing names the kernels a dispatch ran (where the device writes timestamps
/// inside a pass): `once` is the megakernel alone, a looping variant adds the gate, the
/// histogram and its finalize step. With timing off nothing is timed.
#[test]
fn kernel_timing_per_kernel_and_off() {
    let mut gpu = engine();
    let mut m = ResidentBuffers::new(256, 1, 0).expect("state");
    for slot in 0..256 {
        m.publish_slot(slot, 0, Opcode::NOP, &[]).expect("publish");
    }
    let inside = gpu
        .device()
        .features()
        .contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES);
    gpu.set_kernel_timing(megascope::engine::gpu::KernelTiming::PerKernel);
    let labels = |gpu: &GpuEngine| -> Vec<&str> {
        gpu.last_kernel_breakdown()
            .iter()
            .map(|(l, _)| *l)
            .collect()
    };
    gpu.upload(&m).expect("upload");
    gpu.dispatch_resident(&DispatchOptions::default())
        .expect("once");
    if inside {
        assert_eq!(labels(&gpu), ["megakernel"]);
    } else {
        assert!(labels(&gpu).is_empty());
    }
    gpu.upload(&m).expect("upload");
    gpu.dispatch_resident(&DispatchOptions::with_variant(Variant::Persistent))
        .expect("persistent");
    if inside {
        assert_eq!(
            labels(&gpu),
            ["megakernel", "pass gate", "status histogram", "finalize"]
        );
    }
    // a round trip gathers the status words at the end of the passes' own compute pass
    let mut mirror = m.clone();
    Engine::dispatch(&mut gpu, &mut mirror, &DispatchOptions::default()).expect("round trip");
    let done = (0..256).filter(|&s| mirror.slot_status(s).word() == status::DONE);
    assert_eq!(
        done.count(),
        256,
        "the statuses came back with the round trip"
    );
    if inside {
        assert_eq!(labels(&gpu), ["megakernel", "gather statuses"]);
    }
    gpu.set_kernel_timing(megascope::engine::gpu::KernelTiming::Off);
    gpu.upload(&m).expect("upload");
    gpu.dispatch_resident(&DispatchOptions::default())
        .expect("once");
    assert_eq!(gpu.last_kernel_time(), None);
    assert!(labels(&gpu).is_empty());
}

/// Uploads go through one staging buffer kept mapped between uploads: round trips of an
/// edited mirror, back to back, each find it mapped again and give the CPU's result; a
/// public upload reaches the device before it returns (the app's grid reads the ring
/// straight from the device); and a mirror edited between `begin_dispatch` and
/// `run_passes`, staged twice with no submission between, runs with the second edit.
#[test]
fn staged_uploads_round_trip_back_to_back_and_reach_the_device_in_order() {
    let mut gpu = engine();
    let mut cpu = CpuEngine::new();
    let base = {
        let mut m = ResidentBuffers::new(512, 1, 4).expect("state");
        for slot in 0..512 {
            m.publish_slot(
                slot,
                0,
                Opcode::ATOMIC_ADD,
                &[1 + slot as u32 % 3, 160 + slot as u32 % 4],
            )
            .expect("publish");
        }
        m
    };
    let opts = DispatchOptions::default();
    let (mut on_gpu, mut on_cpu) = (base.clone(), base.clone());
    for round in 0..6u32 {
        // every round replaces the mirror wholesale: statuses, one argument, control
        for m in [&mut on_gpu, &mut on_cpu] {
            let mut rb = base.snapshot_readback();
            rb.ring[(round as usize % 512) * SLOT_WORDS + 4] = 7 + round;
            rb.control.clone_from(&m.control().to_vec());
            m.apply_readback(&mut rb);
        }
        let g = on_gpu.dispatch(&mut gpu, &opts).expect("gpu round trip");
        let c = on_cpu.dispatch(&mut cpu, &opts).expect("cpu round trip");
        assert_eq!(g.executed, c.executed, "round {round}");
        assert_eq!(on_gpu, on_cpu, "round {round}: the mirrors differ");
    }
    // a public upload is on the device when it returns
    let mut edited = on_gpu.clone();
    let mut rb = edited.snapshot_readback();
    rb.ring[5 * SLOT_WORDS + 6] = 0xABCD;
    edited.apply_readback(&mut rb);
    gpu.upload(&edited).expect("upload");
    let ring = gpu.ring_buffer().expect("ring");
    let words = read_buffer(&gpu, ring, 512 * SLOT_WORDS as u64);
    assert_eq!(
        words,
        edited.ring(),
        "the ring on the device after upload()"
    );
    // staged at begin_dispatch, edited, staged again by run_passes: the edit runs
    let mut m = base.clone();
    Engine::begin_dispatch(&mut gpu, &mut m, &opts).expect("begin");
    m.write_control(megascope::abi::control::OBSERVABLE + 1, 41)
        .expect("edit");
    while !Engine::run_passes(&mut gpu, &mut m, u32::MAX).expect("passes") {}
    Engine::finish_dispatch(&mut gpu, &mut m).expect("finish");
    let mut c = base.clone();
    c.write_control(megascope::abi::control::OBSERVABLE + 1, 41)
        .expect("edit");
    c.dispatch(&mut cpu, &opts).expect("cpu");
    assert_eq!(m, c, "the edit made between begin and the passes ran");
    // a device-side ring copy taken while an upload is staged copies the staged ring
    let mut m = base.clone();
    let mut rb = m.snapshot_readback();
    rb.ring[9 * SLOT_WORDS + 5] = 0x5EED;
    m.apply_readback(&mut rb);
    Engine::begin_dispatch(&mut gpu, &mut m, &opts).expect("begin");
    let _copy = gpu.copy_ring_on_device().expect("ring copy");
    let words = read_buffer(
        &gpu,
        gpu.ring_buffer().expect("ring"),
        512 * SLOT_WORDS as u64,
    );
    assert_eq!(words, m.ring(), "the staged ring reached the device first");
    Engine::finish_dispatch(&mut gpu, &mut m).expect("finish");
}

#[test]
fn device_ring_copies_restore_the_ring_and_refuse_a_ring_of_another_size() {
    let mut gpu = engine();
    let err = gpu
        .copy_ring_on_device()
        .err()
        .expect("nothing uploaded yet");
    assert!(
        err.to_string().contains("no state is on the device"),
        "{err}"
    );
    let mut m = ResidentBuffers::new(128, 1, 4).expect("state");
    for slot in 0..128 {
        m.publish_slot(slot, 0, Opcode::ATOMIC_ADD, &[1, 160])
            .expect("publish");
    }
    gpu.upload(&m).expect("upload");
    let copy = gpu.copy_ring_on_device().expect("ring copy");
    let opts = DispatchOptions::default();
    for round in 0..2 {
        gpu.restore_ring_on_device(&copy).expect("restore");
        let (r, control, _) = gpu.dispatch_resident(&opts).expect("dispatch");
        assert_eq!(
            r.executed, 128,
            "round {round}: the restored ring ran again"
        );
        assert_eq!(control[160], 128 * (round + 1), "round {round}");
    }
    // a copy of a 64-slot ring does not fit the 128-slot one
    let mut other = engine();
    other
        .upload(&ResidentBuffers::new(64, 1, 4).expect("state"))
        .expect("upload");
    let small = other.copy_ring_on_device().expect("ring copy");
    let err = gpu
        .restore_ring_on_device(&small)
        .expect_err("another size");
    assert!(
        err.to_string().contains("cannot restore the device ring"),
        "{err}"
    );
}

fn read_buffer(gpu: &GpuEngine, buf: &wgpu::Buffer, words: u64) -> Vec<u32> {
    let device = gpu.device();
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("test readback"),
        size: words * 4,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
    enc.copy_buffer_to_buffer(buf, 0, &staging, 0, words * 4);
    gpu.queue().submit([enc.finish()]);
    staging
        .slice(..)
        .map_async(wgpu::MapMode::Read, |r| r.expect("map"));
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .expect("poll");
    let view = staging.slice(..).get_mapped_range().expect("mapped");
    bytemuck::cast_slice(&view).to_vec()
}

// ---- racy workloads ------------------------------------------------------------------------

/// One racy op: kind, a hot word pick, a value pick, a tenant pick.
type RawRacy = (u8, u8, u8, u8);

/// Hot words every racy op aims at, so they collide (OBSERVABLE[0..4]; BATCH_FENCE stores
/// to the first).
const HOT: [u32; 4] = [160, 161, 162, 163];

/// A racy dispatch's slot items. Values are chosen so that what a race rule decides never
/// depends on a value the lane order computes: stores and adds carry fixed values; a load's
/// result goes to an observable word of its own that nothing else touches; no COMPARE_SWAP
/// (whether it stores depends on the order) and no MEMCPY (it stores what it read).
fn racy_items(n: u32, raw: &[RawRacy]) -> Vec<(u32, u32, Opcode, Vec<u32>)> {
    let mut items: Vec<(u32, u32, Opcode, Vec<u32>)> = Vec::new();
    let mut next_dst = 200u32;
    for (i, &(kind, hot, value, tenant)) in raw.iter().enumerate() {
        let slot = (i as u32 * 7 + hot as u32) % n;
        if items.iter().any(|(s, ..)| *s == slot) || next_dst >= LEN {
            continue;
        }
        let w = HOT[hot as usize % HOT.len()];
        // tenants 0 and 1 are enabled, 29 reads quota word 32 (authorized)
        let tenant = [0, 1, 29][tenant as usize % 3];
        let (op, args) = match kind % 6 {
            0 | 1 => (Opcode::STORE_U32, vec![value as u32 % 3, w]),
            2 => (Opcode::ATOMIC_ADD, vec![value as u32 % 3, w]),
            3 | 4 => {
                // reads a hot word, DONE_COUNT, a METRICS word or EPOCH
                let src = [w, 1, 97, 128][value as usize % 4];
                let dst = next_dst;
                next_dst += 1;
                (Opcode::LOAD_U32, vec![src, dst - 160])
            }
            _ => (Opcode::BATCH_FENCE, vec![1, value as u32 % 3]),
        };
        items.push((slot, tenant, op, args));
    }
    items
}

#[test]
fn gpu_and_cpu_report_the_same_races_on_random_racy_workloads() {
    let gpu = RefCell::new(engine());
    let mut runner = runner(
        24,
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/regressions/gpu_differential_racy.txt"
        ),
        0x7a,
    );
    let case = (
        0..SHAPES.len(),
        prop_oneof![
            Just(Variant::Once),
            Just(Variant::Persistent),
            Just(Variant::Priority)
        ],
        any::<bool>(),
        prop::collection::vec(prop::collection::vec(any::<RawRacy>(), 1..24), 1..=2),
    );
    // the races do not depend on whether the adds' atomics are tallied per workgroup
    let tallies = std::cell::Cell::new(false);
    let result = runner.run(&case, |(shape, variant, overlap, dispatches)| {
        tallies.set(!tallies.get());
        gpu.borrow_mut().set_workgroup_tallies(tallies.get());
        // (and with device workgroups running two of the dispatch's, where they tally)
        gpu.borrow_mut()
            .set_groups_per_workgroup(Some(if tallies.get() { 2 } else { 1 }));
        let (n, wg) = SHAPES[shape];
        let mut cpu_state = ResidentBuffers::new(n, 2, OBS).expect("state");
        if variant == Variant::Priority && overlap {
            // partitions 1 and 2 overlap: two lanes probe the same slots
            let o = default_offsets(n);
            cpu_state.write_control(131, o[1] / 2).expect("offsets");
        }
        let mut gpu_state = cpu_state.clone();
        let mut cpu = CpuEngine::new();
        for (d, raw) in dispatches.iter().enumerate() {
            let items = racy_items(n, raw);
            for m in [&mut cpu_state, &mut gpu_state] {
                for (slot, tenant, op, args) in &items {
                    // a slot still PUBLISHED from an earlier dispatch keeps its work
                    let _ = m.publish_slot(*slot as u64, *tenant, *op, args);
                }
            }
            let opts = DispatchOptions {
                variant,
                workgroup_size: Some(wg),
                dispatch_index: d as u64,
                ..DispatchOptions::default()
            };
            let c = cpu_state.dispatch(&mut cpu, &opts).map_err(fail)?;
            let g = gpu_state
                .dispatch(&mut *gpu.borrow_mut(), &opts)
                .map_err(fail)?;
            let when = format!("dispatch {d} ({variant:?}, {n} slots, items {items:?})");
            // statuses do not depend on the racing values: no mask, offset or SHUTDOWN is
            // written during a dispatch
            prop_assert_eq!(gpu_state.ring(), cpu_state.ring(), "{}: ring", &when);
            // (with overlapping partitions the pass a slot is claimed in depends on lane
            // order too, so the pass count may differ)
            let overlapping = variant == Variant::Priority && overlap;
            prop_assert_eq!(
                (
                    (!overlapping).then_some(g.passes),
                    g.claimed,
                    g.executed,
                    g.status_counts
                ),
                (
                    (!overlapping).then_some(c.passes),
                    c.claimed,
                    c.executed,
                    c.status_counts
                ),
                "{}: report",
                &when
            );
            if variant == Variant::Priority && overlap {
                // With overlapping partitions, which lane claims a slot — and so at which
                // level — is itself decided by lane order: whether the winners both add to
                // and reset the starvation counter (word 135), and which slots do, differs
                // between the GPU's order and the CPU's. That word's race is left out; the
                // probe races themselves and every other race must still agree.
                let strip = |r: &DispatchReport| {
                    let mut r = r.clone();
                    r.diagnostics
                        .retain(|d| !(d.kind == DiagnosticKind::Race && d.word == Some(135)));
                    r
                };
                same_diagnostics(&when, &strip(&g), &strip(&c))?;
            } else {
                same_diagnostics(&when, &g, &c)?;
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The GPU analysis finds what the CPU finds on the race session the README walks through:
/// three races, each naming its word and both slots.
#[test]
fn the_races_session_reports_three_races_on_both_backends() {
    let mut m = ResidentBuffers::new(64, 1, 64).expect("state");
    m.publish_slot(0, 0, Opcode::STORE_U32, &[1, 160])
        .expect("publish");
    m.publish_slot(1, 0, Opcode::STORE_U32, &[2, 160])
        .expect("publish");
    m.publish_slot(2, 0, Opcode::LOAD_U32, &[1, 2])
        .expect("publish");
    m.publish_slot(3, 0, Opcode::LOAD_U32, &[161, 3])
        .expect("publish");
    m.publish_slot(4, 0, Opcode::ATOMIC_ADD, &[5, 161])
        .expect("publish");
    for s in 5..64u32 {
        m.publish_slot(s as u64, 0, Opcode::ATOMIC_ADD, &[1, 160 + s])
            .expect("publish");
    }
    let mut g = m.clone();
    let opts = DispatchOptions::default();
    let c = m.dispatch(&mut CpuEngine::new(), &opts).expect("cpu");
    let r = g.dispatch(&mut engine(), &opts).expect("gpu");
    let want: Vec<RaceKey> = vec![
        (Some(1), Some([0, 2]), Some(0), false),
        (Some(160), Some([0, 1]), Some(0), false),
        (Some(161), Some([3, 4]), Some(3), false),
    ];
    assert_eq!(races(&c), want);
    assert_eq!(races(&r), want);
    assert_eq!(r.race_analysis, RaceCoverage::Full);
    let off = DispatchOptions {
        race_analysis: false,
        ..DispatchOptions::default()
    };
    let mut g2 = m.clone();
    let r = g2.dispatch(&mut engine(), &off).expect("gpu");
    assert!(races(&r).is_empty());
    assert_eq!(
        r.race_analysis,
        RaceCoverage::Off,
        "off says off, not silence"
    );
}

/// More workgroups than one grid dimension holds (the 2-D grid path) and an odd slot count:
/// 131,071 slots in workgroups of one lane, every slot adding to one word — plus two racing
/// stores at the far end of the grid, which the analysis must find there too.
#[test]
fn a_two_dimensional_grid_of_an_odd_slot_count_matches_the_cpu() {
    let n = 131_071u32;
    let mut gpu = engine();
    assert!(
        n > gpu.device().limits().max_compute_workgroups_per_dimension,
        "the test needs more workgroups than one dimension allows"
    );
    let mut m = ResidentBuffers::new(n, 1, 4).expect("state");
    for s in 0..n - 2 {
        m.publish_slot(s as u64, 0, Opcode::ATOMIC_ADD, &[1, 160 + s % 2])
            .expect("publish");
    }
    m.publish_slot(n as u64 - 2, 0, Opcode::STORE_U32, &[7, 162])
        .expect("publish");
    m.publish_slot(n as u64 - 1, 0, Opcode::STORE_U32, &[8, 162])
        .expect("publish");
    let mut g = m.clone();
    let opts = DispatchOptions {
        workgroup_size: Some(1),
        ..DispatchOptions::default()
    };
    let c = m.dispatch(&mut CpuEngine::new(), &opts).expect("cpu");
    let r = g.dispatch(&mut gpu, &opts).expect("gpu");
    assert_eq!(r.executed, n as u64);
    assert_eq!(g.ring(), m.ring(), "ring");
    assert_eq!(
        g.control()[..162],
        m.control()[..162],
        "control before the racing word"
    );
    assert_eq!(races(&r), races(&c));
    assert_eq!(
        races(&c),
        vec![(Some(162), Some([n - 2, n - 1]), Some(n - 2), false)]
    );
}

/// A chain of tenants, each slot enabling the next tenant's mask: a persistent dispatch of
/// more than 16 passes on the CPU (one link per pass), which is racy by nature — each waiting
/// slot reads its mask every pass while another slot writes it. The GPU may run links in
/// fewer passes (lane order decides when a lane sees the store), but both engines must end
/// with every slot DONE and report the same races: each mask word, read by the slot it
/// enables and changed by the one before.
#[test]
fn a_chain_of_tenants_runs_many_passes_and_races_alike() {
    const LINKS: u32 = 24;
    let mut m = ResidentBuffers::new(64, 1, 4).expect("state");
    // tenant k's slot is 40 - k: lower slots wait for higher ones
    for k in 0..LINKS {
        m.publish_slot((40 - k) as u64, k, Opcode::STORE_U32, &[1, 3 + k + 1])
            .expect("publish");
    }
    let mut g = m.clone();
    let opts = DispatchOptions::with_variant(Variant::Persistent);
    let c = m.dispatch(&mut CpuEngine::new(), &opts).expect("cpu");
    let r = g.dispatch(&mut engine(), &opts).expect("gpu");
    assert!(c.passes >= 16, "the CPU ran {} passes", c.passes);
    assert!(r.passes >= 2, "the GPU ran {} passes", r.passes);
    assert_eq!(c.executed, LINKS as u64);
    assert_eq!(r.executed, LINKS as u64);
    assert_eq!(g.ring(), m.ring(), "every link DONE on both");
    let cpu_races = races(&c);
    assert_eq!(cpu_races.len(), LINKS as usize - 1, "{cpu_races:?}");
    // tenant 1's mask (word 4): read by its slot 39, stored by tenant 0's slot 40
    assert!(cpu_races.contains(&(Some(4), Some([39, 40]), Some(39), false)));
    assert_eq!(races(&r), cpu_races);
    assert_eq!(r.race_analysis, RaceCoverage::Full);
}

/// Round trips whose upload and status patch are split with helper threads (a ring over
/// 1 MiB, an odd slot count that leaves a short last chunk, and slots left in different
/// states so that a misplaced status shows): every word as on the CPU, dispatch after
/// dispatch, with edits in between.
#[test]
fn round_trips_split_with_helper_threads_match_the_cpu() {
    let n = 20_011u32;
    let mut gpu = engine();
    assert_eq!(
        gpu.host_helpers(),
        0,
        "a software adapter starts without helpers"
    );
    gpu.set_host_helpers(2);
    assert_eq!(gpu.host_helpers(), 2);
    let mut cpu = CpuEngine::new();
    let mut m = ResidentBuffers::new(n, 1, 4).expect("state");
    let opts = DispatchOptions::default();
    for round in 0..3u32 {
        // every third slot (shifted each round) runs; tenant 1's slots wait on its mask
        for s in (round..n).step_by(3) {
            let tenant = u32::from(s % 7 == 0);
            m.publish_slot(s as u64, tenant, Opcode::ATOMIC_ADD, &[s % 5, 160 + s % 3])
                .expect("publish");
        }
        let mut g = m.clone();
        let c = m.dispatch(&mut cpu, &opts).expect("cpu");
        let r = g.dispatch(&mut gpu, &opts).expect("gpu");
        assert_eq!(r.executed, c.executed, "round {round}");
        assert!(g.ring() == m.ring(), "ring after round {round}");
        assert_eq!(g.control(), m.control(), "control after round {round}");
    }
}

/// A submission shaped like the one before it runs commands built while that one ran:
/// round trips in a row and resident dispatches in a row reuse them, with timestamps too, a
/// change of shape (race analysis on, timestamps on) builds its own, and every result is the
/// CPU's.
#[test]
fn dispatches_shaped_like_the_last_reuse_commands_built_ahead_and_match_the_cpu() {
    let n = 1024u32;
    let mut gpu = engine();
    gpu.set_kernel_timing(KernelTiming::Off);
    let mut cpu = CpuEngine::new();
    let opts = DispatchOptions::default();
    let mut m = ResidentBuffers::new(n, 1, 4).expect("state");
    let publish = |m: &mut ResidentBuffers, round: u32| {
        for s in (round % 2..n).step_by(2) {
            m.publish_slot(s as u64, 0, Opcode::ATOMIC_ADD, &[round + 1, 160 + s % 3])
                .expect("publish");
        }
    };
    // a round trip on both engines: the same result; whether it reused commands
    let round_trip = |gpu: &mut GpuEngine, cpu: &mut CpuEngine, m: &mut ResidentBuffers, round| {
        publish(m, round);
        let mut g = m.clone();
        let c = m.dispatch(cpu, &opts).expect("cpu");
        let r = g.dispatch(gpu, &opts).expect("gpu");
        assert_eq!(r.executed, c.executed, "round trip {round}");
        assert!(g.ring() == m.ring(), "ring after round trip {round}");
        assert_eq!(g.control(), m.control(), "control after round trip {round}");
        gpu.last_submission_reused_commands()
    };
    let reused: Vec<bool> = (0..4)
        .map(|round| round_trip(&mut gpu, &mut cpu, &mut m, round))
        .collect();
    // the first dispatch also clears the returned flags and copies the header: the second
    // is shaped otherwise than the first
    assert_eq!(reused, [false, false, true, true], "round trips");
    // resident: the upload goes in a submission of its own, the dispatches are alike
    let mut reused = Vec::new();
    for round in 4..8 {
        publish(&mut m, round);
        gpu.upload(&m).expect("upload");
        let race_analysis = round == 7;
        let with = DispatchOptions {
            race_analysis,
            ..DispatchOptions::default()
        };
        let c = m.dispatch(&mut cpu, &with).expect("cpu");
        let (r, control, _) = gpu.dispatch_resident(&with).expect("gpu");
        reused.push(gpu.last_submission_reused_commands());
        assert_eq!(r.executed, c.executed, "resident dispatch {round}");
        assert_eq!(
            control,
            m.control(),
            "control after resident dispatch {round}"
        );
    }
    assert_eq!(
        reused,
        [false, true, true, false],
        "resident, the last with race analysis"
    );
    // with timestamps the commands built ahead write them too, and the times read back
    // stand for the kernels they were built with; switching timing on changes the shape
    let inside = gpu
        .device()
        .features()
        .contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES);
    let stamps = gpu
        .device()
        .features()
        .contains(wgpu::Features::TIMESTAMP_QUERY);
    gpu.set_kernel_timing(KernelTiming::PerKernel);
    reused.clear();
    for round in 8..11 {
        reused.push(round_trip(&mut gpu, &mut cpu, &mut m, round));
        assert_eq!(
            gpu.last_kernel_time().is_some(),
            stamps,
            "round trip {round}"
        );
        let labels: Vec<&str> = gpu
            .last_kernel_breakdown()
            .iter()
            .map(|(l, _)| *l)
            .collect();
        if inside {
            assert_eq!(
                labels,
                ["megakernel", "gather statuses"],
                "round trip {round}"
            );
        }
    }
    assert_eq!(reused, [false, true, true], "round trips with timestamps");
}
