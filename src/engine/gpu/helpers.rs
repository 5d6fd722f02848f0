//! Helper threads that are already running when a dispatch's big host-side passes start.
//!
//! A 65,536-slot round trip copies its 4 MiB ring into mapped staging memory and writes
//! 65,536 status words back at a 64-byte stride. On an H200's host each pass is bound by
//! what one core moves (0.28–0.35 ms and 0.19–0.23 ms), and both scale with cores — but only
//! with threads that are awake: threads spawned for the pass, or woken from sleep when it
//! starts, arrived too late and made it slower. These helpers are woken when a dispatch
//! begins and spin for [`SPIN`] after each wake or job before they sleep again, so they are
//! running when the work arrives. A job is cut into chunks that every thread claims from
//! one counter: the caller starts at once and never waits for a helper that has not started,
//! which then simply takes fewer chunks (measured on the H200 with one helper: the upload
//! 0.33 → 0.16 ms, both passes together 0.68 → 0.39 ms of round trip).
//!
//! The jobs point into the caller's slices, which outlive them: [`Helpers::run`] returns
//! (or unwinds) only once every helper has left the job.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::abi::layout::{SLOT_WORDS, W_STATUS};

/// How long a helper spins after a wake or a job before it sleeps: long enough to cover the
/// device's part of a dispatch between the upload and the status patch (0.06 ms at 65,536
/// slots on an H200), short enough that an idle engine costs nothing.
const SPIN: Duration = Duration::from_micros(500);

/// Bytes of a copy chunk, and slots of a patch chunk (the same 256 KiB of ring): small
/// enough that a 4 MiB ring makes sixteen, large enough that claiming one costs nothing.
const COPY_CHUNK: usize = 256 << 10;
const PATCH_CHUNK: usize = COPY_CHUNK / (SLOT_WORDS * 4);

/// Below this many bytes a pass stays on the caller: a 4,096-slot ring (256 KiB) is copied
/// in 0.017 ms, less than a sleeping helper takes to wake.
const MIN_BYTES: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `len` bytes from `src` to `dst`.
    Copy,
    /// `len` statuses from `src` (words) into word [`W_STATUS`] of each 16-word slot at `dst`.
    Patch,
}

/// One pass: raw addresses, because the helpers outlive every borrow they serve.
#[derive(Clone, Copy, Debug)]
struct Job {
    kind: Kind,
    dst: usize,
    src: usize,
    len: usize,
    chunk: usize,
    serial: u64,
}

impl Job {
    /// # Safety
    /// `dst` and `src` must be valid for the job's whole length (and not overlap) until the
    /// job is closed; `i` below the job's chunk count; each chunk run once.
    unsafe fn run_chunk(&self, i: usize) {
        let start = i * self.chunk;
        let end = (start + self.chunk).min(self.len);
        if start >= end {
            return;
        }
        // SAFETY: as the caller promises; chunks do not overlap, so no two threads touch
        // the same bytes.
        unsafe {
            match self.kind {
                Kind::Copy => std::ptr::copy_nonoverlapping(
                    (self.src as *const u8).add(start),
                    (self.dst as *mut u8).add(start),
                    end - start,
                ),
                Kind::Patch => {
                    let ring = std::slice::from_raw_parts_mut(
                        (self.dst as *mut u32).add(start * SLOT_WORDS),
                        (end - start) * SLOT_WORDS,
                    );
                    let statuses = std::slice::from_raw_parts(
                        (self.src as *const u32).add(start),
                        end - start,
                    );
                    patch(ring, statuses);
                }
            }
        }
    }
}

/// Word [`W_STATUS`] of each slot from `statuses`.
pub fn patch(ring: &mut [u32], statuses: &[u32]) {
    for (slot, &st) in ring.chunks_exact_mut(SLOT_WORDS).zip(statuses) {
        slot[W_STATUS] = st;
    }
}

#[derive(Default)]
struct Shared {
    /// The latest job; written only while no helper is inside one.
    job: Mutex<Option<Job>>,
    /// The serial of the open job, 0 when none is: a helper works on `job` only if its
    /// serial is this one, so a helper that read an old job late leaves it alone.
    open: AtomicU64,
    /// Helpers inside the open job: the caller waits for none before it returns.
    inside: AtomicUsize,
    next: AtomicUsize,
    done: AtomicUsize,
    /// Bumped by every wake: a helper that sees it change spins again.
    wakes: AtomicU64,
    parked: Vec<AtomicBool>,
    /// The helpers' handles, for waking them (set once they are spawned).
    handles: std::sync::OnceLock<Vec<std::thread::Thread>>,
    quit: AtomicBool,
}

impl Shared {
    /// Claims and runs chunks until none is left.
    fn work(&self, job: &Job) {
        let chunks = job.len.div_ceil(job.chunk);
        loop {
            let i = self.next.fetch_add(1, SeqCst);
            if i >= chunks {
                return;
            }
            // SAFETY: the job is open (the caller checked its serial, and it stays open
            // until every claimed chunk is done), so its slices are alive; `fetch_add` hands
            // out each index once.
            unsafe { job.run_chunk(i) };
            self.done.fetch_add(1, SeqCst);
        }
    }
}

/// A few threads that split big copies and status patches with the caller.
pub struct Helpers {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    serial: u64,
}

impl Helpers {
    /// `count` helper threads, asleep until the first wake.
    pub fn new(count: usize) -> Helpers {
        let shared = Arc::new(Shared {
            parked: (0..count).map(|_| AtomicBool::new(false)).collect(),
            ..Shared::default()
        });
        // a helper that cannot be spawned ends the list: the others keep their indices
        let threads: Vec<JoinHandle<()>> = (0..count)
            .map_while(|i| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("megascope-helper-{i}"))
                    .spawn(move || helper(&shared, i))
                    .ok()
            })
            .collect();
        let _ = shared
            .handles
            .set(threads.iter().map(|t| t.thread().clone()).collect());
        Helpers {
            shared,
            threads,
            serial: 0,
        }
    }

    /// One helper per core beyond the caller's, at most `max`.
    pub fn for_this_machine(max: usize) -> Helpers {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Helpers::new(cores.saturating_sub(1).min(max))
    }

    /// How many helpers run.
    pub fn count(&self) -> usize {
        self.threads.len()
    }

    /// Whether the helpers take part in a pass over `bytes` of ring: only a big enough one,
    /// and only if there are any.
    pub fn takes(&self, bytes: usize) -> bool {
        self.count() > 0 && bytes >= MIN_BYTES
    }

    /// Gets the helpers spinning (a big pass is coming): wakes the first sleeping one, which
    /// wakes the next, so the caller pays for one wake-up at most.
    pub fn wake(&self) {
        self.shared.wakes.fetch_add(1, SeqCst);
        self.shared.unpark_from(0);
    }

    /// Copies `src` into `dst` (the same length) with the helpers.
    pub fn copy(&mut self, dst: wgpu::WriteOnly<'_, [u8]>, src: &[u8]) {
        let mut dst = dst;
        assert_eq!(
            dst.len(),
            src.len(),
            "a copy between ranges of different lengths"
        );
        let to = dst.as_raw_element_ptr().as_ptr() as usize;
        // `dst` is borrowed (through the `WriteOnly`) until this returns, and so is `src`
        self.run(Kind::Copy, to, src.as_ptr() as usize, src.len(), COPY_CHUNK);
    }

    /// [`patch`] with the helpers.
    pub fn patch(&mut self, ring: &mut [u32], statuses: &[u32]) {
        let slots = statuses.len().min(ring.len() / SLOT_WORDS);
        let (to, from) = (ring.as_mut_ptr() as usize, statuses.as_ptr() as usize);
        self.run(Kind::Patch, to, from, slots, PATCH_CHUNK);
    }

    fn run(&mut self, kind: Kind, dst: usize, src: usize, len: usize, chunk: usize) {
        if len == 0 {
            return;
        }
        let s = &*self.shared;
        self.serial += 1;
        let job = Job {
            kind,
            dst,
            src,
            len,
            chunk,
            serial: self.serial,
        };
        // no helper is inside a job (the last `run` waited for that); one that reads this
        // before it opens finds a serial that is not open yet, and leaves it
        *s.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(job);
        s.next.store(0, SeqCst);
        s.done.store(0, SeqCst);
        s.open.store(self.serial, SeqCst);
        self.wake();
        // closes the job and waits for the helpers inside it, even if this thread unwinds
        let close = Close(s);
        s.work(&job);
        let chunks = len.div_ceil(chunk);
        while s.done.load(SeqCst) < chunks {
            std::hint::spin_loop();
        }
        drop(close);
    }
}

/// Closes the open job and waits until no helper is inside it.
struct Close<'a>(&'a Shared);

impl Drop for Close<'_> {
    fn drop(&mut self) {
        self.0.open.store(0, SeqCst);
        while self.0.inside.load(SeqCst) != 0 {
            std::hint::spin_loop();
        }
    }
}

impl Drop for Helpers {
    fn drop(&mut self) {
        self.shared.quit.store(true, SeqCst);
        for t in &self.threads {
            t.thread().unpark();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Shared {
    /// Wakes the first sleeping helper from index `first` on.
    fn unpark_from(&self, first: usize) {
        let Some(handles) = self.handles.get() else {
            return;
        };
        if let Some(i) = (first..handles.len()).find(|&i| self.parked[i].load(SeqCst)) {
            self.parked[i].store(false, SeqCst);
            handles[i].unpark();
        }
    }
}

/// A helper: takes chunks of every job it sees open, spins for [`SPIN`] after each wake or
/// job, then sleeps until woken.
fn helper(s: &Shared, index: usize) {
    let mut seen_wakes = s.wakes.load(SeqCst);
    let mut seen_serial = 0;
    let mut until = Instant::now();
    loop {
        if s.quit.load(SeqCst) {
            return;
        }
        let open = s.open.load(SeqCst);
        if open != 0 && open != seen_serial {
            s.inside.fetch_add(1, SeqCst);
            // Inside, the open job cannot close before this helper leaves. The serial is
            // read again after entering: a job closed before that shows 0 (or a later
            // serial, whose job was written before it was opened).
            let open = s.open.load(SeqCst);
            let job = *s.job.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(job) = job.filter(|j| open != 0 && j.serial == open) {
                seen_serial = job.serial;
                s.work(&job);
            }
            s.inside.fetch_sub(1, SeqCst);
            until = Instant::now() + SPIN;
        }
        let wakes = s.wakes.load(SeqCst);
        if wakes != seen_wakes {
            seen_wakes = wakes;
            until = Instant::now() + SPIN;
        }
        if Instant::now() < until {
            std::hint::spin_loop();
            continue;
        }
        s.parked[index].store(true, SeqCst);
        // a wake after the flag is seen by the waker (it unparks); one before it is seen here
        if s.wakes.load(SeqCst) == seen_wakes && s.open.load(SeqCst) == 0 && !s.quit.load(SeqCst) {
            std::thread::park();
        }
        s.parked[index].store(false, SeqCst);
        seen_wakes = s.wakes.load(SeqCst);
        until = Instant::now() + SPIN;
        // pass the wake on, so the waker paid for one
        s.unpark_from(index + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_and_statuses(slots: usize) -> (Vec<u32>, Vec<u32>) {
        let ring = (0..slots * SLOT_WORDS)
            .map(|w| w as u32 | 1 << 31)
            .collect();
        let statuses = (0..slots as u32)
            .map(|s| s.wrapping_mul(2_654_435_761))
            .collect();
        (ring, statuses)
    }

    #[test]
    fn a_patch_with_helpers_equals_one_on_the_caller() {
        for helpers in [0, 1, 3] {
            let mut pool = Helpers::new(helpers);
            for slots in [0, 1, PATCH_CHUNK - 1, PATCH_CHUNK, 3 * PATCH_CHUNK + 17] {
                let (mut ring, statuses) = ring_and_statuses(slots);
                let mut expect = ring.clone();
                patch(&mut expect, &statuses);
                pool.wake();
                pool.patch(&mut ring, &statuses);
                assert!(ring == expect, "{helpers} helpers, {slots} slots");
            }
        }
    }

    /// Jobs back to back, some after the helpers have gone to sleep, so that helpers join
    /// jobs at every point of their life: each result is exact.
    #[test]
    fn many_jobs_in_a_row_with_helpers_coming_and_going_stay_exact() {
        let mut pool = Helpers::new(3);
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for job in 0..300 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let slots = (rng % (5 * PATCH_CHUNK as u64)) as usize;
            let (mut ring, statuses) = ring_and_statuses(slots);
            let mut expect = ring.clone();
            patch(&mut expect, &statuses);
            pool.patch(&mut ring, &statuses);
            assert!(ring == expect, "job {job}, {slots} slots");
            if rng.is_multiple_of(8) {
                std::thread::sleep(SPIN + Duration::from_micros(200));
            }
        }
    }

    #[test]
    fn a_copy_with_helpers_is_exact_and_helpers_sleep_between_jobs() {
        let mut pool = Helpers::new(2);
        assert_eq!(pool.count(), 2);
        for (round, len) in [0, 5, COPY_CHUNK, 5 * COPY_CHUNK + 3]
            .into_iter()
            .enumerate()
        {
            let src: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let mut dst = vec![0u8; len];
            if round == 2 {
                // the helpers have gone to sleep: the caller does the work alone or wakes them
                std::thread::sleep(SPIN * 4);
            }
            pool.copy(wgpu::WriteOnly::from(&mut dst[..]), &src);
            assert!(dst == src, "{len} bytes");
        }
    }
}
