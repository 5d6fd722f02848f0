//! Ring slots (ABI.md §3) and PACKED_SLOT argument encoding (§4.3).

use super::error::PublishError;
use super::layout::{ARG_WORDS, SLOT_WORDS, W_ARGS, W_OPCODE, W_PRIORITY, W_STATUS, W_TENANT};
use super::opcode::Opcode;
use super::status::SlotStatus;

/// The priority word every host publisher writes (NORMAL); no kernel reads it.
pub const PUBLISH_PRIORITY: u32 = 2;
/// The kernel runs at most this many packed inner ops.
pub const PACKED_MAX_OPS: usize = 4;

/// One decoded 16-word ring slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Slot {
    pub status: u32,
    pub opcode: Opcode,
    pub tenant: u32,
    pub priority: u32,
    pub args: [u32; ARG_WORDS],
}

impl Slot {
    /// Decodes a slot from up to 16 words; missing words read as 0 (a short dump).
    pub fn decode(words: &[u32]) -> Slot {
        let w = |i: usize| words.get(i).copied().unwrap_or(0);
        Slot {
            status: w(W_STATUS),
            opcode: Opcode(w(W_OPCODE)),
            tenant: w(W_TENANT),
            priority: w(W_PRIORITY),
            args: std::array::from_fn(|i| w(W_ARGS + i)),
        }
    }

    /// Decodes slot `index` of a ring.
    pub fn of_ring(ring: &[u32], index: u32) -> Slot {
        let base = index as usize * SLOT_WORDS;
        Slot::decode(ring.get(base..).unwrap_or(&[]))
    }

    pub fn encode(&self) -> [u32; SLOT_WORDS] {
        let mut w = [0u32; SLOT_WORDS];
        w[W_STATUS] = self.status;
        w[W_OPCODE] = self.opcode.0;
        w[W_TENANT] = self.tenant;
        w[W_PRIORITY] = self.priority;
        w[W_ARGS..].copy_from_slice(&self.args);
        w
    }

    pub fn status(&self) -> SlotStatus {
        SlotStatus::from_word(self.status)
    }

    /// The packed inner ops, when this is a PACKED_SLOT.
    pub fn packed(&self) -> Option<PackedView> {
        (self.opcode == Opcode::PACKED_SLOT).then(|| PackedView::decode(&self.args))
    }
}

/// One inner op of a PACKED_SLOT as the kernel sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedInner {
    pub index: usize,
    pub opcode: Opcode,
    /// Offset byte: counted from the end of the metadata.
    pub offset: u8,
    /// First argument word the kernel reads (`m + offset`).
    pub base: usize,
    /// `a0..a2`, or `None` when `base + 3 > 12` and the kernel skips the op.
    pub args: Option<[u32; 3]>,
}

/// A PACKED_SLOT's 12 argument words decoded as the kernel reads them (ABI.md §4.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedView {
    /// Byte 0 as written.
    pub raw_count: u8,
    /// Byte 1: total packed argument words (the kernel ignores it).
    pub total_words: u8,
    /// Metadata words the kernel assumes: `ceil((2 + 2·min(n, 4)) / 4)`.
    pub meta_words: usize,
    /// The inner ops the kernel visits (at most 4), skipped ones included with `args: None`.
    pub ops: Vec<PackedInner>,
}

impl PackedView {
    pub fn decode(args: &[u32; ARG_WORDS]) -> PackedView {
        let bytes = packed_bytes(args);
        let n = (bytes[0] as usize).min(PACKED_MAX_OPS);
        let meta = (2 + 2 * n).div_ceil(4);
        let ops = (0..n)
            .map(|i| {
                let offset = bytes[3 + 2 * i];
                let base = meta + offset as usize;
                PackedInner {
                    index: i,
                    opcode: Opcode(bytes[2 + 2 * i] as u32),
                    offset,
                    base,
                    args: (base + 3 <= ARG_WORDS)
                        .then(|| [args[base], args[base + 1], args[base + 2]]),
                }
            })
            .collect();
        PackedView {
            raw_count: bytes[0],
            total_words: bytes[1],
            meta_words: meta,
            ops,
        }
    }

    /// Inner ops the kernel drops because the count byte is above 4.
    pub fn clamped_ops(&self) -> usize {
        (self.raw_count as usize).saturating_sub(PACKED_MAX_OPS)
    }
}

/// The 12 argument words as the 48 little-endian bytes the kernel reads.
pub fn packed_bytes(args: &[u32; ARG_WORDS]) -> [u8; 48] {
    let mut b = [0u8; 48];
    for (i, w) in args.iter().enumerate() {
        b[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    b
}

/// Encodes inner ops like vyre's host encoder: metadata, then each op's arguments back to
/// back. Refuses more than 4 ops (the kernel would silently drop the rest), opcodes above
/// 255, more than 3 arguments per op, and anything past 12 words. An op whose arguments end
/// within 3 words of the end is still encoded, but the kernel skips it; `warnings` says so.
pub fn encode_packed(ops: &[(u8, Vec<u32>)]) -> Result<PackedEncoding, PublishError> {
    if ops.is_empty() {
        return Err(PublishError::Packed("give at least one inner op".into()));
    }
    if ops.len() > PACKED_MAX_OPS {
        return Err(PublishError::Packed(format!(
            "{} inner ops given; the kernel runs at most {PACKED_MAX_OPS}",
            ops.len()
        )));
    }
    let meta = (2 + 2 * ops.len()).div_ceil(4);
    let total: usize = ops.iter().map(|(_, a)| a.len()).sum();
    if let Some((i, _)) = ops.iter().enumerate().find(|(_, (_, a))| a.len() > 3) {
        return Err(PublishError::Packed(format!(
            "inner op {i} has more than 3 arguments; the kernel reads a0..a2 only"
        )));
    }
    if meta + total > ARG_WORDS {
        return Err(PublishError::Packed(format!(
            "{meta} metadata words + {total} argument words exceed the slot's 12 argument words"
        )));
    }
    let mut bytes = [0u8; 48];
    bytes[0] = ops.len() as u8;
    bytes[1] = total as u8;
    let mut words = [0u32; ARG_WORDS];
    let mut offset = 0usize;
    let mut warnings = Vec::new();
    for (i, (op, args)) in ops.iter().enumerate() {
        bytes[2 + 2 * i] = *op;
        bytes[3 + 2 * i] = offset as u8;
        if meta + offset + 3 > ARG_WORDS {
            warnings.push(format!(
                "inner op {i} starts at argument word {}; the kernel skips ops whose 3 arguments do not fit before word 12",
                meta + offset
            ));
        }
        for (j, a) in args.iter().enumerate() {
            words[meta + offset + j] = *a;
        }
        offset += args.len();
    }
    for (i, w) in words.iter_mut().enumerate().take(meta) {
        *w = u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"));
    }
    Ok(PackedEncoding {
        args: words,
        warnings,
    })
}

/// The result of [`encode_packed`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedEncoding {
    pub args: [u32; ARG_WORDS],
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_round_trips() {
        let s = Slot {
            status: 1,
            opcode: Opcode::ATOMIC_ADD,
            tenant: 3,
            priority: 2,
            args: std::array::from_fn(|i| i as u32 * 7),
        };
        assert_eq!(Slot::decode(&s.encode()), s);
        let mut ring = vec![0u32; 32];
        ring[16..32].copy_from_slice(&s.encode());
        assert_eq!(Slot::of_ring(&ring, 1), s);
        assert_eq!(Slot::of_ring(&ring, 5), Slot::default());
    }

    #[test]
    fn packed_encode_decode_matches_the_kernel_view() {
        let enc = encode_packed(&[(2, vec![1, 160]), (1, vec![9, 161, 0])]).unwrap();
        let v = PackedView::decode(&enc.args);
        assert_eq!(v.raw_count, 2);
        assert_eq!(v.total_words, 5);
        assert_eq!(v.meta_words, 2);
        assert_eq!(v.ops.len(), 2);
        assert_eq!(v.ops[0].opcode, Opcode::ATOMIC_ADD);
        assert_eq!(v.ops[0].args, Some([1, 160, 9]));
        assert_eq!(v.ops[1].args, Some([9, 161, 0]));
        assert!(enc.warnings.is_empty());
    }

    #[test]
    fn kernel_clamps_to_four_and_uses_clamped_metadata() {
        // 6 packed NOPs: raw count 6, the kernel runs 4 and reads from m = 3 words.
        let mut args = [0u32; 12];
        let mut bytes = [0u8; 48];
        bytes[0] = 6;
        for i in 0..6 {
            bytes[3 + 2 * i] = i as u8;
        }
        for i in 0..12 {
            args[i] = u32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap());
        }
        let v = PackedView::decode(&args);
        assert_eq!(v.ops.len(), 4);
        assert_eq!(v.meta_words, 3);
        assert_eq!(v.clamped_ops(), 2);
        assert_eq!(v.ops[0].base, 3);
    }

    #[test]
    fn ops_too_close_to_the_end_are_skipped() {
        let mut bytes = [0u8; 48];
        bytes[0] = 1;
        bytes[3] = 9; // base = 1 + 9 = 10, 10 + 3 > 12
        let mut args = [0u32; 12];
        args[0] = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
        let v = PackedView::decode(&args);
        assert_eq!(v.ops[0].base, 10);
        assert_eq!(v.ops[0].args, None);
    }

    #[test]
    fn encoder_refuses_what_the_kernel_cannot_run() {
        assert!(encode_packed(&[]).is_err());
        let five: Vec<(u8, Vec<u32>)> = (0..5).map(|_| (0u8, vec![])).collect();
        assert!(
            encode_packed(&five)
                .unwrap_err()
                .to_string()
                .contains("at most 4")
        );
        assert!(encode_packed(&[(1, vec![1, 2, 3, 4])]).is_err());
        let big: Vec<(u8, Vec<u32>)> = (0..4).map(|_| (1u8, vec![1, 2, 3])).collect();
        assert!(
            encode_packed(&big)
                .unwrap_err()
                .to_string()
                .contains("exceed")
        );
        // 3 ops of 3 args fit (2 + 9 = 11) but the third starts at word 8: fine; a 4th NOP
        // with no args starts at 3 + 9 = 12 and is skipped.
        let enc = encode_packed(&[
            (1, vec![1, 2, 3]),
            (1, vec![1, 2, 3]),
            (1, vec![1, 2, 3]),
            (0, vec![]),
        ])
        .unwrap();
        assert_eq!(enc.warnings.len(), 1);
    }
}
