//! Length validation of the four buffers, exactly as `from_parts` (ABI.md §8) and the dump
//! reader apply it, plus non-fatal lints for words no ABI rule produces.

use super::error::{AbiError, BufferKind};
use super::layout::{
    CONTROL_MIN_WORDS, DEBUG_LOG_WORDS, IO_QUEUE_WORDS, IO_SLOT_WORDS, MAX_OBSERVABLE, MAX_SLOTS,
    SLOT_BYTES, SLOT_WORDS,
};

/// Byte lengths of the four buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartLengths {
    pub control: usize,
    pub ring: usize,
    pub debug_log: usize,
    pub io_queue: usize,
}

/// Checks a slot count against the encoder's cap.
pub fn check_slot_count(slot_count: u64) -> Result<u32, AbiError> {
    if slot_count > MAX_SLOTS as u64 {
        return Err(AbiError::OverCap {
            what: "slots",
            requested: slot_count,
            cap: MAX_SLOTS as u64,
        });
    }
    Ok(slot_count as u32)
}

/// Checks an observable-word count against the encoder's cap.
pub fn check_observable(observable: u64) -> Result<u32, AbiError> {
    if observable > MAX_OBSERVABLE as u64 {
        return Err(AbiError::OverCap {
            what: "observable words",
            requested: observable,
            cap: MAX_OBSERVABLE as u64,
        });
    }
    Ok(observable as u32)
}

/// Validates every part before any is accepted, in `from_parts` order: control, debug log,
/// IO queue, ring. The first failure is returned, naming the buffer and the fix.
pub fn validate_parts(slot_count: u32, len: PartLengths) -> Result<(), AbiError> {
    let control_max = (CONTROL_MIN_WORDS + MAX_OBSERVABLE as usize) * 4;
    if len.control < CONTROL_MIN_WORDS * 4
        || !len.control.is_multiple_of(4)
        || len.control > control_max
    {
        return Err(AbiError::BufferLength {
            buffer: BufferKind::Control,
            expected: format!(
                "a multiple of 4 between 640 (160 words) and {control_max} bytes (160 words + up to {MAX_OBSERVABLE} observable words)"
            ),
            actual: len.control,
            fix: "take the control buffer from a complete dump: 160 control words followed by the observable words".into(),
        });
    }
    if len.debug_log != DEBUG_LOG_WORDS * 4 {
        return Err(AbiError::BufferLength {
            buffer: BufferKind::DebugLog,
            expected: format!(
                "exactly {} bytes (cursor + 64 records)",
                DEBUG_LOG_WORDS * 4
            ),
            actual: len.debug_log,
            fix: "the kernel is compiled for a 257-word debug log; dump it whole".into(),
        });
    }
    let io_slot_bytes = IO_SLOT_WORDS * 4;
    if !len.io_queue.is_multiple_of(io_slot_bytes) || len.io_queue > IO_QUEUE_WORDS * 4 {
        return Err(AbiError::BufferLength {
            buffer: BufferKind::IoQueue,
            expected: format!(
                "a multiple of {io_slot_bytes} bytes (whole 8-word IO slots), at most {}",
                IO_QUEUE_WORDS * 4
            ),
            actual: len.io_queue,
            fix: "dump the IO queue whole (64 slots, 2048 bytes)".into(),
        });
    }
    let want_ring = slot_count as usize * SLOT_BYTES;
    if len.ring != want_ring {
        return Err(AbiError::BufferLength {
            buffer: BufferKind::Ring,
            expected: format!("exactly {want_ring} bytes ({slot_count} slots × 64)"),
            actual: len.ring,
            fix: "the ring must hold slot_count whole 64-byte slots; check the slot count or re-dump the ring".into(),
        });
    }
    Ok(())
}

/// A suspicious word that the ABI allows in a buffer but no kernel or publisher writes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Lint {
    pub buffer: BufferKind,
    pub word: usize,
    pub message: String,
}

/// Lints: status words above 7, a debug cursor that is not a multiple of 4, partition offsets
/// that run backwards or past the ring, a tenant pointer outside the control buffer.
pub fn lint(slot_count: u32, control: &[u32], ring: &[u32], debug_log: &[u32]) -> Vec<Lint> {
    let mut out = Vec::new();
    let mut bad_status = 0usize;
    for (s, slot) in ring.chunks_exact(SLOT_WORDS).enumerate() {
        if slot[0] > 7 {
            if bad_status < 8 {
                out.push(Lint {
                    buffer: BufferKind::Ring,
                    word: s * SLOT_WORDS,
                    message: format!(
                        "slot {s} has status word {:#x}, which names no status",
                        slot[0]
                    ),
                });
            }
            bad_status += 1;
        }
    }
    if bad_status > 8 {
        out.push(Lint {
            buffer: BufferKind::Ring,
            word: 0,
            message: format!("{} more slots have invalid status words", bad_status - 8),
        });
    }
    if let Some(&cursor) = debug_log.first()
        && cursor % 4 != 0
    {
        out.push(Lint {
            buffer: BufferKind::DebugLog,
            word: 0,
            message: format!("debug cursor {cursor} is not a multiple of 4"),
        });
    }
    let view = super::control::ControlView(control);
    let o = view.priority_offsets();
    if o.windows(2).any(|w| w[0] > w[1]) || o[5] != slot_count {
        out.push(Lint {
            buffer: BufferKind::Control,
            word: super::control::PRIORITY_OFFSETS,
            message: format!(
                "priority offsets {o:?} are not ascending up to the slot count {slot_count}; the priority scan will skip or wrap partitions"
            ),
        });
    }
    if view.tenant_base() as usize >= control.len() {
        out.push(Lint {
            buffer: BufferKind::Control,
            word: super::control::TENANT_BASE,
            message: format!(
                "tenant pointer control[2] = {} points past the control buffer: every tenant reads mask 0",
                view.tenant_base()
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good(n: u32) -> PartLengths {
        PartLengths {
            control: 640,
            ring: n as usize * 64,
            debug_log: 1028,
            io_queue: 2048,
        }
    }

    #[test]
    fn accepts_the_mirror_geometry() {
        assert!(validate_parts(4, good(4)).is_ok());
        assert!(validate_parts(0, good(0)).is_ok());
        let mut l = good(4);
        l.control = 640 + 4 * 8;
        l.io_queue = 32;
        assert!(validate_parts(4, l).is_ok());
    }

    #[test]
    fn each_bad_part_is_named() {
        type Spoil = fn(&mut PartLengths);
        let cases: [(Spoil, BufferKind); 7] = [
            (|l| l.control = 636, BufferKind::Control),
            (|l| l.control = 642, BufferKind::Control),
            (|l| l.debug_log = 1024, BufferKind::DebugLog),
            (|l| l.io_queue = 2080, BufferKind::IoQueue),
            (|l| l.io_queue = 20, BufferKind::IoQueue),
            (|l| l.ring = 64 * 3, BufferKind::Ring),
            (|l| l.ring = 64 * 4 + 4, BufferKind::Ring),
        ];
        for (mutate, kind) in cases {
            let mut l = good(4);
            mutate(&mut l);
            match validate_parts(4, l) {
                Err(AbiError::BufferLength { buffer, .. }) => assert_eq!(buffer, kind),
                other => panic!("expected a {kind} error, got {other:?}"),
            }
        }
        let msg = validate_parts(
            4,
            PartLengths {
                ring: 100,
                ..good(4)
            },
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("ring.bin") && msg.contains("256"), "{msg}");
    }

    #[test]
    fn caps() {
        assert!(check_slot_count(1 << 20).is_ok());
        assert!(
            check_slot_count((1 << 20) + 1)
                .unwrap_err()
                .to_string()
                .contains("cap")
        );
        assert!(check_observable(1 << 21).is_err());
    }

    #[test]
    fn lints_find_invalid_words() {
        let mut control = vec![0u32; 160];
        super::super::control::encode_reset(&mut control, 2, 1);
        let mut ring = vec![0u32; 32];
        assert!(lint(2, &control, &ring, &[0]).is_empty());
        ring[16] = 9;
        control[2] = 1000;
        let l = lint(2, &control, &ring, &[3]);
        assert_eq!(l.len(), 3, "{l:?}");
    }
}
