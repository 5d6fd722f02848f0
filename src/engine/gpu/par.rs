//! Host-side passes over a whole mirror, split across cores. At 1,048,576 slots a full round
//! trip copies the 64 MiB ring into staging memory and writes a million status words back
//! at a 64-byte stride: each pass is bound by one core's memory bandwidth (8–10 ms on an
//! H200's host), far more than the dispatch itself. An engine with [`Helpers`] splits every
//! pass of a MiB or more with them; one without (a software adapter's, whose cores run the
//! kernels, or the app's) splits only passes of 8 MiB or more, over threads spawned for the
//! pass. Small buffers stay on the calling thread.

use super::helpers::{self, Helpers};
use crate::abi::layout::SLOT_WORDS;

/// Below this many bytes per spawned thread a pass is not split. Patching a 65,536-slot ring (4 MiB)
/// in four threads of 1 MiB was measured on the H200's host: 0.30–0.40 ms against 0.19–0.22
/// ms in one, as spawning threads there costs more than the pass.
const MIN_CHUNK_BYTES: usize = 4 << 20;
/// The same for a copy into mapped staging memory. Splitting a 4 MiB ring (65,536 slots)
/// four ways was measured on the H200's host: the upload did not get faster and the
/// round trip got ~0.1 ms slower, so it stays whole.
const MIN_COPY_CHUNK_BYTES: usize = 4 << 20;
/// Memory bandwidth stops scaling well before the core count on big hosts.
const MAX_THREADS: usize = 8;

/// How many threads a pass over `bytes` bytes uses, at least `chunk` bytes each. A small
/// pass returns before asking for the core count, which reads cgroup files on Linux (tens
/// of microseconds: more than patching 4,096 statuses).
fn threads_for(bytes: usize, chunk: usize) -> usize {
    if bytes < 2 * chunk {
        return 1;
    }
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    (bytes / chunk).clamp(1, cores.clamp(1, MAX_THREADS))
}

/// A part of a mapped range, moved to the thread that fills it.
struct Part<'a>(wgpu::WriteOnly<'a, [u8]>);

// SAFETY: a `WriteOnly<[u8]>` is an exclusive pointer to writable bytes, like `&mut [u8]`,
// which is `Send`; wgpu-types declares `Send` only for sized targets (`T: Send` with the
// implicit `Sized` bound), not for slices. The parts come from `split_at`, so no two overlap,
// and the scope joins every thread before the mapped view is dropped.
unsafe impl Send for Part<'_> {}

impl Part<'_> {
    /// Takes the whole part (a closure would capture only its unsendable field).
    fn fill(self, src: &[u8]) {
        let mut dst = self.0;
        dst.copy_from_slice(src);
    }
}

/// The helpers, if they take part in a pass over `bytes` ([`Helpers::takes`]).
fn helpers_for(helpers: Option<&mut Helpers>, bytes: usize) -> Option<&mut Helpers> {
    helpers.filter(|h| h.takes(bytes))
}

/// Copies `src` into a mapped buffer range of the same length.
pub fn copy_into(dst: wgpu::WriteOnly<'_, [u8]>, src: &[u8], helpers: Option<&mut Helpers>) {
    if let Some(h) = helpers_for(helpers, src.len()) {
        h.copy(dst, src);
        return;
    }
    let threads = threads_for(src.len(), MIN_COPY_CHUNK_BYTES);
    let mut rest = dst;
    if threads == 1 {
        rest.copy_from_slice(src);
        return;
    }
    let chunk = src.len().div_ceil(threads);
    std::thread::scope(|s| {
        for part in src.chunks(chunk) {
            let (head, tail) = rest.split_at(part.len());
            rest = tail;
            let head = Part(head);
            s.spawn(move || head.fill(part));
        }
    });
}

/// Writes gathered status words into a host ring (16 words per slot), one per slot; the
/// other words of each slot are left as they are.
pub fn patch_statuses(ring: &mut [u32], statuses: &[u32], helpers: Option<&mut Helpers>) {
    use helpers::patch;
    if let Some(h) = helpers_for(helpers, ring.len() * 4) {
        h.patch(ring, statuses);
        return;
    }
    let threads = threads_for(ring.len() * 4, MIN_CHUNK_BYTES);
    if threads == 1 {
        patch(ring, statuses);
        return;
    }
    let slots = statuses.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for (r, st) in ring
            .chunks_mut(slots * SLOT_WORDS)
            .zip(statuses.chunks(slots))
        {
            s.spawn(move || patch(r, st));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::layout::W_STATUS;

    #[test]
    fn passes_split_only_past_two_chunks_and_never_past_the_cap() {
        assert_eq!(threads_for(0, MIN_CHUNK_BYTES), 1);
        assert_eq!(threads_for(2 * MIN_CHUNK_BYTES - 1, MIN_CHUNK_BYTES), 1);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(
            threads_for(2 * MIN_CHUNK_BYTES, MIN_CHUNK_BYTES),
            cores.clamp(1, 2)
        );
        assert_eq!(
            threads_for(1000 * MIN_CHUNK_BYTES, MIN_CHUNK_BYTES),
            cores.clamp(1, MAX_THREADS)
        );
    }

    #[test]
    fn statuses_patch_only_word_zero_of_each_slot() {
        let mut ring = vec![7u32; 3 * SLOT_WORDS];
        patch_statuses(&mut ring, &[1, 2, 3], None);
        for s in 0..3 {
            assert_eq!(ring[s * SLOT_WORDS], s as u32 + 1);
            assert!(
                ring[s * SLOT_WORDS + 1..(s + 1) * SLOT_WORDS]
                    .iter()
                    .all(|&w| w == 7)
            );
        }
    }

    /// Large enough to be split across threads wherever there are two cores or more: every
    /// slot, including the ones at chunk boundaries, gets its own status.
    #[test]
    fn split_patch_reaches_every_slot() {
        let n = (3 * MIN_CHUNK_BYTES / (SLOT_WORDS * 4)) + 5;
        let mut ring = vec![u32::MAX; n * SLOT_WORDS];
        let statuses: Vec<u32> = (0..n as u32).collect();
        patch_statuses(&mut ring, &statuses, None);
        for (s, slot) in ring.chunks_exact(SLOT_WORDS).enumerate() {
            assert_eq!(slot[W_STATUS], s as u32, "slot {s}");
            assert!(slot[1..].iter().all(|&w| w == u32::MAX), "slot {s}");
        }
    }

    #[test]
    fn split_copy_is_exact() {
        let len = 3 * MIN_COPY_CHUNK_BYTES + 12_345;
        let src: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let mut dst = vec![0u8; len];
        copy_into(wgpu::WriteOnly::from(&mut dst[..]), &src, None);
        assert!(dst == src);
        let mut small = [0u8; 5];
        copy_into(
            wgpu::WriteOnly::from(&mut small[..]),
            &[1, 2, 3, 4, 5],
            None,
        );
        assert_eq!(small, [1, 2, 3, 4, 5]);
    }
}
