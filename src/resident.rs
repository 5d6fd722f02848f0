//! The host mirror of the four resident buffers, with the API of vyre's
//! `ResidentQueueBuffers` (0.7.2) / `MegakernelResidentBuffers` (HEAD), ABI.md §8.
//!
//! Buffers are held as u32 words (the engines' unit); byte views are little-endian, as the GPU
//! holds them. Every mutation bumps a generation counter so an engine that keeps its own
//! device copy (the GPU engine) knows when it must upload again.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::abi::control::{self, ControlView};
use crate::abi::error::{AbiError, PublishError};
use crate::abi::layout::{
    ARG_WORDS, DEBUG_LOG_WORDS, IO_QUEUE_WORDS, SLOT_WORDS, W_ARGS, W_OPCODE, W_PRIORITY, W_STATUS,
    W_TENANT, control_words, ring_words,
};
use crate::abi::opcode::Opcode;
use crate::abi::slot::{PUBLISH_PRIORITY, encode_packed};
use crate::abi::status::{self, SlotStatus};
use crate::abi::validate::{PartLengths, check_observable, check_slot_count, validate_parts};

/// The four buffers as a readback carries them (vyre's `ResidentQueueReadback`), in words.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Readback {
    pub control: Vec<u32>,
    pub ring: Vec<u32>,
    pub debug_log: Vec<u32>,
    pub io_queue: Vec<u32>,
}

impl Readback {
    /// Slot `s`'s 16 words; empty past the ring.
    pub fn slot_words(&self, s: u32) -> &[u32] {
        ring_slot(&self.ring, s)
    }

    /// Slot `s`'s status.
    pub fn slot_status(&self, s: u32) -> crate::abi::status::SlotStatus {
        ring_status(&self.ring, s)
    }
}

/// Slot `s`'s words in a ring, the one place the 16-word stride is applied for the mirror.
fn ring_slot(ring: &[u32], s: u32) -> &[u32] {
    let start = s as usize * crate::abi::layout::SLOT_WORDS;
    ring.get(start..start + crate::abi::layout::SLOT_WORDS)
        .unwrap_or(&[])
}

fn ring_status(ring: &[u32], s: u32) -> crate::abi::status::SlotStatus {
    crate::abi::status::SlotStatus::from_word(ring_slot(ring, s).first().copied().unwrap_or(0))
}

/// One work item of `publish_work_items` (vyre's `ResidentWorkItem`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkItem {
    pub op: Opcode,
    pub input: u32,
    pub output: u32,
    pub param: u32,
}

static NEXT_MIRROR_ID: AtomicU64 = AtomicU64::new(1);

/// The host mirror of control, ring, debug log and IO queue.
#[derive(Debug)]
pub struct ResidentBuffers {
    slot_count: u32,
    control: Vec<u32>,
    ring: Vec<u32>,
    debug_log: Vec<u32>,
    io_queue: Vec<u32>,
    /// Identity of this mirror, so an engine can tell two mirrors apart.
    id: u64,
    generation: u64,
}

impl Clone for ResidentBuffers {
    /// A clone is a new mirror: it may diverge, so it gets its own identity.
    fn clone(&self) -> Self {
        ResidentBuffers {
            slot_count: self.slot_count,
            control: self.control.clone(),
            ring: self.ring.clone(),
            debug_log: self.debug_log.clone(),
            io_queue: self.io_queue.clone(),
            id: NEXT_MIRROR_ID.fetch_add(1, Ordering::Relaxed),
            generation: 0,
        }
    }
}

impl PartialEq for ResidentBuffers {
    /// Two mirrors are equal when their bytes are: identity and generation are bookkeeping.
    fn eq(&self, other: &Self) -> bool {
        self.slot_count == other.slot_count
            && self.control == other.control
            && self.ring == other.ring
            && self.debug_log == other.debug_log
            && self.io_queue == other.io_queue
    }
}

/// Allocates exactly `words` zeroed words, or says how much could not be had.
fn alloc_words(words: usize, what: &'static str) -> Result<Vec<u32>, AbiError> {
    let mut v = Vec::new();
    v.try_reserve_exact(words)
        .map_err(|e| AbiError::Allocation {
            what,
            bytes: words.saturating_mul(4),
            reason: e.to_string(),
        })?;
    v.resize(words, 0);
    Ok(v)
}

/// Little-endian bytes → words. The caller has checked `bytes.len() % 4 == 0`.
pub fn words_from_le_bytes(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Words → little-endian bytes.
pub fn le_bytes_from_words(words: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(words.len() * 4);
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

impl ResidentBuffers {
    /// `new(N, tenants, obs)`: exact-capacity buffers, then `reset`. N = 0 is accepted (ABI.md
    /// marks it unverified; `tests::zero_slots_is_accepted` pins the behaviour chosen).
    pub fn new(slot_count: u32, tenant_count: u32, observable: u32) -> Result<Self, AbiError> {
        check_slot_count(slot_count as u64)?;
        check_observable(observable as u64)?;
        let mut me = ResidentBuffers {
            slot_count,
            control: alloc_words(control_words(observable)?, "control buffer")?,
            ring: alloc_words(ring_words(slot_count)?, "ring")?,
            debug_log: alloc_words(DEBUG_LOG_WORDS, "debug log")?,
            io_queue: alloc_words(IO_QUEUE_WORDS, "IO queue")?,
            id: NEXT_MIRROR_ID.fetch_add(1, Ordering::Relaxed),
            generation: 0,
        };
        me.reset(tenant_count, observable)?;
        Ok(me)
    }

    /// `reset(tenants, obs)`: keeps N and reuses the allocations (the control buffer is resized
    /// only if `obs` changed); re-encodes control with the default partition offsets and zeroes
    /// ring, debug log and IO queue.
    pub fn reset(&mut self, tenant_count: u32, observable: u32) -> Result<(), AbiError> {
        check_observable(observable as u64)?;
        let want = control_words(observable)?;
        if self.control.len() != want {
            let mut c = alloc_words(want, "control buffer")?;
            std::mem::swap(&mut self.control, &mut c);
        }
        control::encode_reset(&mut self.control, self.slot_count, tenant_count);
        self.ring.fill(0);
        self.debug_log.clear();
        self.debug_log.resize(DEBUG_LOG_WORDS, 0);
        self.io_queue.clear();
        self.io_queue.resize(IO_QUEUE_WORDS, 0);
        self.touch();
        Ok(())
    }

    /// `from_parts(N, control, ring, debug, io)` from little-endian bytes: validates every part
    /// before accepting any (see [`validate_parts`]).
    pub fn from_parts(
        slot_count: u32,
        control: &[u8],
        ring: &[u8],
        debug_log: &[u8],
        io_queue: &[u8],
    ) -> Result<Self, AbiError> {
        check_slot_count(slot_count as u64)?;
        validate_parts(
            slot_count,
            PartLengths {
                control: control.len(),
                ring: ring.len(),
                debug_log: debug_log.len(),
                io_queue: io_queue.len(),
            },
        )?;
        Ok(Self::assemble(
            slot_count,
            words_from_le_bytes(control),
            words_from_le_bytes(ring),
            words_from_le_bytes(debug_log),
            words_from_le_bytes(io_queue),
        ))
    }

    /// [`from_parts`](Self::from_parts) for buffers already in words.
    pub fn from_words(slot_count: u32, parts: Readback) -> Result<Self, AbiError> {
        check_slot_count(slot_count as u64)?;
        validate_parts(slot_count, byte_lengths(&parts))?;
        Ok(Self::assemble(
            slot_count,
            parts.control,
            parts.ring,
            parts.debug_log,
            parts.io_queue,
        ))
    }

    fn assemble(
        slot_count: u32,
        control: Vec<u32>,
        ring: Vec<u32>,
        debug_log: Vec<u32>,
        io_queue: Vec<u32>,
    ) -> Self {
        ResidentBuffers {
            slot_count,
            control,
            ring,
            debug_log,
            io_queue,
            id: NEXT_MIRROR_ID.fetch_add(1, Ordering::Relaxed),
            generation: 0,
        }
    }

    // ---- accessors ---------------------------------------------------------------------

    pub fn slot_count(&self) -> u32 {
        self.slot_count
    }
    pub fn control(&self) -> &[u32] {
        &self.control
    }
    pub fn ring(&self) -> &[u32] {
        &self.ring
    }
    pub fn debug_log(&self) -> &[u32] {
        &self.debug_log
    }
    pub fn io_queue(&self) -> &[u32] {
        &self.io_queue
    }
    /// Slot `s`'s 16 words; empty past the ring.
    pub fn slot_words(&self, s: u32) -> &[u32] {
        ring_slot(&self.ring, s)
    }

    /// Slot `s`'s status (an out-of-range slot reads as EMPTY, like a short dump).
    pub fn slot_status(&self, s: u32) -> crate::abi::status::SlotStatus {
        ring_status(&self.ring, s)
    }

    /// Slot `s` decoded.
    pub fn slot(&self, s: u32) -> crate::abi::slot::Slot {
        crate::abi::slot::Slot::decode(self.slot_words(s))
    }

    pub fn control_view(&self) -> ControlView<'_> {
        ControlView(&self.control)
    }
    /// Observable words (control words past 160).
    pub fn observable_count(&self) -> u32 {
        self.control.len().saturating_sub(control::OBSERVABLE) as u32
    }
    /// Raw mutable access to every buffer at once (engines, `ring_bytes_mut`'s equivalent).
    /// Bumps the generation.
    pub fn buffers_mut(&mut self) -> BuffersMut<'_> {
        self.touch();
        BuffersMut {
            control: &mut self.control,
            ring: &mut self.ring,
            debug_log: &mut self.debug_log,
            io_queue: &mut self.io_queue,
        }
    }
    /// `(mirror id, generation)`: changes whenever the bytes may have changed.
    pub fn version(&self) -> (u64, u64) {
        (self.id, self.generation)
    }
    fn touch(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }
    /// Lets an engine that just wrote its own device copy into this mirror mark the two as
    /// in sync; returns the new version.
    pub fn mark_synced(&mut self) -> (u64, u64) {
        self.touch();
        self.version()
    }

    // ---- raw writes (the debugger's hand edits) -----------------------------------------

    /// Writes one control word; refuses an index past the buffer.
    pub fn write_control(&mut self, word: usize, value: u32) -> Result<(), PublishError> {
        let len = self.control.len();
        let w = self
            .control
            .get_mut(word)
            .ok_or(PublishError::ControlWordOutOfRange {
                word: word as u64,
                len,
            })?;
        *w = value;
        self.touch();
        Ok(())
    }

    /// Overwrites one slot's 16 words as given (raw, no publish rules: resuming WAIT_IO, or
    /// reproducing a state).
    pub fn write_slot_raw(
        &mut self,
        slot: u32,
        words: &[u32; SLOT_WORDS],
    ) -> Result<(), PublishError> {
        if slot >= self.slot_count {
            return Err(PublishError::SlotOutOfRange {
                slot: slot as u64,
                slot_count: self.slot_count,
            });
        }
        let base = slot as usize * SLOT_WORDS;
        self.ring[base..base + SLOT_WORDS].copy_from_slice(words);
        self.touch();
        Ok(())
    }

    // ---- publishing ---------------------------------------------------------------------

    fn slot_capacity(&self) -> usize {
        self.ring.len() / SLOT_WORDS
    }

    fn check_ring_aligned(&self) -> Result<(), PublishError> {
        if !self.ring.len().is_multiple_of(SLOT_WORDS) {
            return Err(PublishError::RingMisaligned {
                bytes: self.ring.len() * 4,
            });
        }
        Ok(())
    }

    fn check_op(op: Opcode) -> Result<(), PublishError> {
        match op.unpublishable_reason() {
            Some(reason) => Err(PublishError::NotPublishable { opcode: op, reason }),
            None => Ok(()),
        }
    }

    fn check_not_in_flight(&self, slot: usize) -> Result<(), PublishError> {
        let status = SlotStatus::from_word(self.ring[slot * SLOT_WORDS + W_STATUS]);
        if !status.is_publishable_over() {
            return Err(PublishError::InFlight {
                slot: slot as u32,
                status,
            });
        }
        Ok(())
    }

    /// Writes a slot's words with the status stored last, as vyre's publishers do.
    fn write_published(&mut self, slot: usize, tenant: u32, op: Opcode, args: &[u32]) {
        let base = slot * SLOT_WORDS;
        let w = &mut self.ring[base..base + SLOT_WORDS];
        w[W_OPCODE] = op.0;
        w[W_TENANT] = tenant;
        w[W_PRIORITY] = PUBLISH_PRIORITY;
        w[W_ARGS..].fill(0);
        w[W_ARGS..W_ARGS + args.len()].copy_from_slice(args);
        w[W_STATUS] = status::PUBLISHED;
    }

    /// `publish_slot(s, tenant, op, args)`, checked in ABI order: ring alignment, slot range,
    /// at most 12 args, publishable opcode, slot EMPTY or DONE. STATUS is written last.
    pub fn publish_slot(
        &mut self,
        slot: u64,
        tenant: u32,
        op: Opcode,
        args: &[u32],
    ) -> Result<(), PublishError> {
        self.check_ring_aligned()?;
        if slot >= self.slot_capacity() as u64 {
            return Err(PublishError::SlotOutOfRange {
                slot,
                slot_count: self.slot_count,
            });
        }
        if args.len() > ARG_WORDS {
            return Err(PublishError::TooManyArgs { count: args.len() });
        }
        Self::check_op(op)?;
        self.check_not_in_flight(slot as usize)?;
        self.write_published(slot as usize, tenant, op, args);
        self.touch();
        Ok(())
    }

    /// `publish_work_items(start, tenant, items)`: validates every opcode, the window and
    /// every target slot before writing anything; returns the number of items.
    pub fn publish_work_items(
        &mut self,
        start: u64,
        tenant: u32,
        items: &[WorkItem],
    ) -> Result<usize, PublishError> {
        self.check_ring_aligned()?;
        let end = start.saturating_add(items.len() as u64);
        if end > self.slot_capacity() as u64 {
            return Err(PublishError::WindowOutOfRange {
                start,
                end,
                slot_count: self.slot_count,
            });
        }
        for it in items {
            Self::check_op(it.op)?;
        }
        for i in 0..items.len() {
            self.check_not_in_flight(start as usize + i)?;
        }
        for (i, it) in items.iter().enumerate() {
            self.write_published(
                start as usize + i,
                tenant,
                it.op,
                &[it.input, it.output, it.param],
            );
        }
        self.touch();
        Ok(items.len())
    }

    /// `batch_publish(start, tenant, items, tag)`: the items, then a BATCH_FENCE `[n, tag]`
    /// right after them; everything validated first. Returns n + 1.
    pub fn batch_publish(
        &mut self,
        start: u64,
        tenant: u32,
        items: &[WorkItem],
        tag: u32,
    ) -> Result<usize, PublishError> {
        let mut all = items.to_vec();
        all.push(WorkItem {
            op: Opcode::BATCH_FENCE,
            input: items.len() as u32,
            output: tag,
            param: 0,
        });
        self.publish_work_items(start, tenant, &all)
    }

    /// `publish_packed_slot(s, tenant, ops)`: encodes the inner ops (ABI.md §4.3) and
    /// publishes a PACKED_SLOT. Returns the encoder's warnings (ops the kernel will skip).
    pub fn publish_packed_slot(
        &mut self,
        slot: u64,
        tenant: u32,
        ops: &[(u8, Vec<u32>)],
    ) -> Result<Vec<String>, PublishError> {
        let enc = encode_packed(ops)?;
        self.publish_slot(slot, tenant, Opcode::PACKED_SLOT, &enc.args)?;
        Ok(enc.warnings)
    }

    // ---- readback -----------------------------------------------------------------------

    /// `apply_readback`: swaps all four buffers in, unvalidated (as vyre does); the old ones
    /// go back in `readback` so their storage can be reused. A later dispatch validates.
    pub fn apply_readback(&mut self, readback: &mut Readback) {
        std::mem::swap(&mut self.control, &mut readback.control);
        std::mem::swap(&mut self.ring, &mut readback.ring);
        std::mem::swap(&mut self.debug_log, &mut readback.debug_log);
        std::mem::swap(&mut self.io_queue, &mut readback.io_queue);
        self.touch();
    }

    /// `snapshot_readback`: a copy of the four buffers.
    pub fn snapshot_readback(&self) -> Readback {
        let mut r = Readback::default();
        self.snapshot_readback_into(&mut r);
        r
    }

    /// `snapshot_readback_into`: copies into `out`, reusing its capacity.
    pub fn snapshot_readback_into(&self, out: &mut Readback) {
        for (dst, src) in [
            (&mut out.control, &self.control),
            (&mut out.ring, &self.ring),
            (&mut out.debug_log, &self.debug_log),
            (&mut out.io_queue, &self.io_queue),
        ] {
            dst.clear();
            dst.extend_from_slice(src);
        }
    }

    /// Validates the mirror as `from_parts` would (after an unvalidated `apply_readback`).
    pub fn validate(&self) -> Result<(), AbiError> {
        validate_parts(
            self.slot_count,
            PartLengths {
                control: self.control.len() * 4,
                ring: self.ring.len() * 4,
                debug_log: self.debug_log.len() * 4,
                io_queue: self.io_queue.len() * 4,
            },
        )
    }

    // ---- decoders -----------------------------------------------------------------------

    pub fn read_done_count(&self) -> u32 {
        self.control_view().done_count()
    }
    pub fn read_epoch(&self) -> u32 {
        self.control_view().epoch()
    }
    /// Observable word `i`, or `None` past the buffer.
    pub fn read_observable(&self, i: usize) -> Option<u32> {
        self.control
            .get(control::OBSERVABLE.checked_add(i)?)
            .copied()
    }
    pub fn read_metrics(&self) -> Vec<(Opcode, u32)> {
        self.control_view().metrics()
    }
}

/// Mutable borrows of the four buffers at once.
pub struct BuffersMut<'a> {
    pub control: &'a mut Vec<u32>,
    pub ring: &'a mut Vec<u32>,
    pub debug_log: &'a mut Vec<u32>,
    pub io_queue: &'a mut Vec<u32>,
}

/// Byte lengths of a readback's parts.
pub fn byte_lengths(parts: &Readback) -> PartLengths {
    PartLengths {
        control: parts.control.len() * 4,
        ring: parts.ring.len() * 4,
        debug_log: parts.debug_log.len() * 4,
        io_queue: parts.io_queue.len() * 4,
    }
}

/// `count_done_ring_slots(ring, n)`: DONE slots among the first `n`; none when `n == 0` or
/// the ring is shorter than `n` slots.
pub fn count_done_ring_slots(ring: &[u32], n: usize) -> usize {
    if n == 0 || ring.len() < n * SLOT_WORDS {
        return 0;
    }
    ring.chunks_exact(SLOT_WORDS)
        .take(n)
        .filter(|s| s[W_STATUS] == status::DONE)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::control::{DEFAULT_QUOTA, PRIORITY_OFFSETS};

    fn slot_words(m: &ResidentBuffers, s: usize) -> &[u32] {
        &m.ring()[s * 16..s * 16 + 16]
    }

    #[test]
    fn new_allocates_exact_lengths_and_encodes_control() {
        let m = ResidentBuffers::new(256, 2, 8).unwrap();
        assert_eq!(m.control().len(), 168);
        assert_eq!(m.ring().len(), 256 * 16);
        assert_eq!(m.debug_log().len(), 257);
        assert_eq!(m.io_queue().len(), 512);
        assert_eq!(m.control()[2], 3);
        assert_eq!(&m.control()[3..6], &[u32::MAX, u32::MAX, 0]);
        assert_eq!(&m.control()[32..35], &[DEFAULT_QUOTA, DEFAULT_QUOTA, 0]);
        assert_eq!(
            &m.control()[PRIORITY_OFFSETS..PRIORITY_OFFSETS + 6],
            &[0, 51, 102, 154, 205, 256]
        );
    }

    #[test]
    fn new_refuses_over_cap_with_a_fix() {
        let e = ResidentBuffers::new((1 << 20) + 1, 1, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("1048576") && e.contains("use at most"), "{e}");
        assert!(ResidentBuffers::new(4, 1, (1 << 20) + 1).is_err());
    }

    #[test]
    fn allocation_failure_is_an_error_not_an_abort() {
        let e = alloc_words(usize::MAX / 2, "ring").unwrap_err().to_string();
        assert!(
            e.contains("could not allocate") && e.contains("fewer slots"),
            "{e}"
        );
    }

    #[test]
    fn zero_slots_is_accepted() {
        // ABI.md marks N = 0 unverified; megascope accepts it: an empty ring, offsets all 0.
        let m = ResidentBuffers::new(0, 1, 0).unwrap();
        assert!(m.ring().is_empty());
        assert_eq!(&m.control()[129..135], &[0; 6]);
    }

    #[test]
    fn reset_reuses_storage_and_zeroes_ring_debug_io() {
        let mut m = ResidentBuffers::new(16, 1, 4).unwrap();
        m.publish_slot(3, 0, Opcode::NOP, &[1]).unwrap();
        {
            let b = m.buffers_mut();
            b.debug_log[0] = 8;
            b.io_queue[6] = 1;
            b.control[1] = 99;
        }
        let ring_ptr = m.ring().as_ptr();
        m.reset(2, 4).unwrap();
        assert_eq!(m.ring().as_ptr(), ring_ptr, "ring storage reused");
        assert!(m.ring().iter().all(|&w| w == 0));
        assert!(m.debug_log().iter().all(|&w| w == 0));
        assert!(m.io_queue().iter().all(|&w| w == 0));
        assert_eq!(m.control()[1], 0);
        assert_eq!(m.control()[4], u32::MAX, "second tenant enabled");
        assert_eq!(&m.control()[129..135], &[0, 3, 6, 10, 13, 16]);
    }

    #[test]
    fn from_parts_validates_every_part_and_names_the_ring() {
        let m = ResidentBuffers::new(4, 1, 0).unwrap();
        let c = le_bytes_from_words(m.control());
        let r = le_bytes_from_words(m.ring());
        let d = le_bytes_from_words(m.debug_log());
        let io = le_bytes_from_words(m.io_queue());
        let back = ResidentBuffers::from_parts(4, &c, &r, &d, &io).unwrap();
        assert_eq!(back, m);
        let e = ResidentBuffers::from_parts(4, &c, &r[..200], &d, &io)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("ring (ring.bin)"), "{e}");
        assert!(ResidentBuffers::from_parts(4, &c[..600], &r, &d, &io).is_err());
        assert!(ResidentBuffers::from_parts(4, &c, &r, &d[..1024], &io).is_err());
        assert!(ResidentBuffers::from_parts(4, &c, &r, &d, &io[..100]).is_err());
    }

    #[test]
    fn publish_slot_writes_fields_and_status_last() {
        let mut m = ResidentBuffers::new(4, 1, 0).unwrap();
        m.write_slot_raw(1, &[0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9])
            .unwrap();
        m.publish_slot(1, 5, Opcode::ATOMIC_ADD, &[7, 160]).unwrap();
        assert_eq!(
            slot_words(&m, 1),
            &[1, 2, 5, 2, 7, 160, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn publish_slot_checks_in_abi_order() {
        let mut m = ResidentBuffers::new(4, 1, 0).unwrap();
        // slot range is checked before args, args before opcode, opcode before status
        let e = m.publish_slot(9, 0, Opcode(0xFFF0), &[0; 13]).unwrap_err();
        assert!(
            matches!(e, PublishError::SlotOutOfRange { slot: 9, .. }),
            "{e}"
        );
        let e = m.publish_slot(0, 0, Opcode(0xFFF0), &[0; 13]).unwrap_err();
        assert!(matches!(e, PublishError::TooManyArgs { count: 13 }), "{e}");
        m.publish_slot(0, 0, Opcode::NOP, &[]).unwrap();
        let e = m.publish_slot(0, 0, Opcode(0xFFF0), &[]).unwrap_err();
        assert!(matches!(e, PublishError::NotPublishable { .. }), "{e}");
        let e = m.publish_slot(0, 0, Opcode::NOP, &[]).unwrap_err();
        assert!(
            matches!(
                e,
                PublishError::InFlight {
                    slot: 0,
                    status: SlotStatus::Published
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("only EMPTY or DONE"));
    }

    #[test]
    fn publish_slot_refuses_every_in_flight_status_and_accepts_done() {
        let mut m = ResidentBuffers::new(1, 1, 0).unwrap();
        for st in 0..10u32 {
            let mut w = [0u32; 16];
            w[0] = st;
            m.write_slot_raw(0, &w).unwrap();
            let ok = m.publish_slot(0, 0, Opcode::NOP, &[]).is_ok();
            assert_eq!(ok, st == 0 || st == 3, "status {st}");
        }
    }

    #[test]
    fn publish_work_items_validates_all_before_writing() {
        let mut m = ResidentBuffers::new(8, 1, 0).unwrap();
        m.publish_slot(5, 0, Opcode::NOP, &[]).unwrap();
        let items: Vec<WorkItem> = (0..4)
            .map(|i| WorkItem {
                op: Opcode::STORE_U32,
                input: i,
                output: 160,
                param: 0,
            })
            .collect();
        let before = m.ring().to_vec();
        assert!(matches!(
            m.publish_work_items(3, 0, &items).unwrap_err(),
            PublishError::InFlight { slot: 5, .. }
        ));
        assert_eq!(m.ring(), &before[..], "nothing written on failure");
        assert!(matches!(
            m.publish_work_items(6, 0, &items).unwrap_err(),
            PublishError::WindowOutOfRange {
                start: 6,
                end: 10,
                ..
            }
        ));
        let mut bad = items.clone();
        bad[2].op = Opcode::LOAD_MISS;
        assert!(matches!(
            m.publish_work_items(0, 0, &bad).unwrap_err(),
            PublishError::NotPublishable { .. }
        ));
        assert_eq!(m.publish_work_items(0, 7, &items).unwrap(), 4);
        assert_eq!(
            slot_words(&m, 2),
            &[1, 1, 7, 2, 2, 160, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            slot_words(&m, 4)[0],
            0,
            "slots outside the window untouched"
        );
    }

    #[test]
    fn batch_publish_appends_a_fence() {
        let mut m = ResidentBuffers::new(8, 1, 0).unwrap();
        let items = [WorkItem {
            op: Opcode::NOP,
            input: 0,
            output: 0,
            param: 0,
        }; 2];
        assert_eq!(m.batch_publish(1, 0, &items, 42).unwrap(), 3);
        assert_eq!(&slot_words(&m, 3)[..6], &[1, 7, 0, 2, 2, 42]);
        assert!(
            m.batch_publish(6, 0, &items, 1).is_err(),
            "fence would fall off the ring"
        );
    }

    #[test]
    fn publish_packed_slot_encodes_inner_ops() {
        let mut m = ResidentBuffers::new(2, 1, 0).unwrap();
        let warn = m
            .publish_packed_slot(0, 0, &[(2, vec![1, 160]), (0, vec![])])
            .unwrap();
        assert!(warn.is_empty());
        assert_eq!(slot_words(&m, 0)[1], Opcode::PACKED_SLOT.0);
        assert!(m.publish_packed_slot(1, 0, &[]).is_err());
    }

    #[test]
    fn apply_readback_swaps_unvalidated_and_returns_old_storage() {
        let mut m = ResidentBuffers::new(2, 1, 0).unwrap();
        let mut rb = Readback {
            control: vec![1; 3],
            ring: vec![2; 5],
            debug_log: vec![],
            io_queue: vec![],
        };
        m.apply_readback(&mut rb);
        assert_eq!(m.control(), &[1, 1, 1]);
        assert_eq!(rb.control.len(), 160, "old buffers handed back for reuse");
        assert!(m.validate().is_err(), "a later dispatch will refuse it");
    }

    #[test]
    fn snapshot_into_reuses_capacity() {
        let m = ResidentBuffers::new(64, 1, 0).unwrap();
        let mut rb = m.snapshot_readback();
        let ptr = rb.ring.as_ptr();
        m.snapshot_readback_into(&mut rb);
        assert_eq!(rb.ring.as_ptr(), ptr);
        assert_eq!(rb.ring, m.ring());
        assert_eq!(rb, m.snapshot_readback());
    }

    #[test]
    fn versions_change_on_every_mutation_and_clones_are_distinct() {
        let mut m = ResidentBuffers::new(2, 1, 0).unwrap();
        let v0 = m.version();
        m.write_control(160 - 1, 1).unwrap();
        assert_ne!(m.version(), v0);
        let c = m.clone();
        assert_ne!(c.version().0, m.version().0);
        assert_eq!(c, m);
        assert!(m.write_control(160, 1).is_err());
    }

    #[test]
    fn decoders() {
        let mut m = ResidentBuffers::new(4, 1, 2).unwrap();
        m.write_control(1, 3).unwrap();
        m.write_control(128, 2).unwrap();
        m.write_control(161, 9).unwrap();
        m.write_control(96 + 2, 4).unwrap();
        assert_eq!(m.read_done_count(), 3);
        assert_eq!(m.read_epoch(), 2);
        assert_eq!(m.read_observable(1), Some(9));
        assert_eq!(m.read_observable(2), None);
        assert_eq!(m.read_metrics(), vec![(Opcode::ATOMIC_ADD, 4)]);
        let mut ring = vec![0u32; 64];
        ring[16] = 3;
        ring[48] = 3;
        assert_eq!(count_done_ring_slots(&ring, 2), 1);
        assert_eq!(count_done_ring_slots(&ring, 4), 2);
        assert_eq!(count_done_ring_slots(&ring, 0), 0);
        assert_eq!(count_done_ring_slots(&ring, 5), 0);
    }
}
