//! The debug log (ABI.md §6): a cursor word and 4-word records. Decoding clamps instead of
//! failing like vyre's strict decoder, because an overflowing log is exactly what a debugger
//! must show.

use super::layout::{DEBUG_LOG_WORDS, DEBUG_RECORD_WORDS, SLOT_WORDS};

/// One PRINTF record: `[fmt_id, a1, a2, slot_base]`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct DebugRecord {
    pub fmt_id: u32,
    pub a1: u32,
    pub a2: u32,
    /// 16 × the slot index (the kernel writes `slot_base`, not the index).
    pub slot_base: u32,
}

impl DebugRecord {
    pub fn from_words(w: &[u32]) -> DebugRecord {
        let g = |i: usize| w.get(i).copied().unwrap_or(0);
        DebugRecord {
            fmt_id: g(0),
            a1: g(1),
            a2: g(2),
            slot_base: g(3),
        }
    }
    /// The slot that printed it, when `slot_base` is a multiple of 16.
    pub fn slot(&self) -> Option<u32> {
        self.slot_base
            .is_multiple_of(SLOT_WORDS as u32)
            .then_some(self.slot_base / SLOT_WORDS as u32)
    }
}

/// A decoded debug log.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DebugLogView {
    /// Words reserved so far (word 0).
    pub cursor: u32,
    /// The records the buffer holds: `min(cursor, capacity) / 4` of them, in buffer order.
    pub records: Vec<DebugRecord>,
    /// Records reserved past the capacity and dropped by the kernel.
    pub dropped: u32,
    /// The cursor is not a multiple of 4 (a raw write or a torn dump).
    pub misaligned: bool,
}

impl DebugLogView {
    pub fn decode(words: &[u32]) -> DebugLogView {
        let cursor = words.first().copied().unwrap_or(0);
        // The kernel's bound is the compile-time 257 words; a shorter buffer holds fewer.
        let capacity_words = (DEBUG_LOG_WORDS.min(words.len()).saturating_sub(1)) as u32;
        let held = cursor.min(capacity_words) as usize / DEBUG_RECORD_WORDS;
        let records = (0..held)
            .map(|i| DebugRecord::from_words(&words[1 + DEBUG_RECORD_WORDS * i..]))
            .collect();
        DebugLogView {
            cursor,
            records,
            dropped: record_count(cursor).saturating_sub(held as u32),
            misaligned: !cursor.is_multiple_of(DEBUG_RECORD_WORDS as u32),
        }
    }

    /// Records reserved in total (held + dropped).
    pub fn reserved(&self) -> u32 {
        record_count(self.cursor)
    }
}

/// Records a cursor value stands for.
pub fn record_count(cursor: u32) -> u32 {
    cursor / DEBUG_RECORD_WORDS as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(cursor: u32, records: u32) -> Vec<u32> {
        let mut w = vec![0u32; DEBUG_LOG_WORDS];
        w[0] = cursor;
        for r in 0..records.min(64) as usize {
            w[1 + 4 * r..5 + 4 * r].copy_from_slice(&[r as u32, 10, 20, 16 * r as u32]);
        }
        w
    }

    #[test]
    fn decodes_records_in_buffer_order() {
        let v = DebugLogView::decode(&log_with(12, 3));
        assert_eq!(v.records.len(), 3);
        assert_eq!(v.records[2].fmt_id, 2);
        assert_eq!(v.records[2].slot(), Some(2));
        assert_eq!(v.dropped, 0);
        assert!(!v.misaligned);
    }

    #[test]
    fn overflow_clamps_and_reports_dropped() {
        // 70 PRINTFs: cursor 280, records 0..63 intact, 6 dropped (ABI.md §6).
        let v = DebugLogView::decode(&log_with(280, 70));
        assert_eq!(v.records.len(), 64);
        assert_eq!(v.dropped, 6);
        assert_eq!(v.reserved(), 70);
    }

    #[test]
    fn odd_cursor_and_short_buffer_never_panic() {
        let v = DebugLogView::decode(&[7, 1, 2, 3, 4]);
        assert!(v.misaligned);
        assert_eq!(v.records.len(), 1);
        assert_eq!(DebugLogView::decode(&[]).records.len(), 0);
        let v = DebugLogView::decode(&[u32::MAX]);
        assert_eq!(v.records.len(), 0);
        assert_eq!(v.dropped, u32::MAX / 4);
    }

    #[test]
    fn slot_of_unaligned_base_is_none() {
        assert_eq!(DebugRecord::from_words(&[0, 0, 0, 17]).slot(), None);
    }
}
