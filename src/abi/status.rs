//! Slot status values (ABI.md §3.2). The status word can hold anything a dump or a STORE put
//! there, so decoding never fails: unknown values stay visible as `Other`.

use std::fmt;

pub const EMPTY: u32 = 0;
pub const PUBLISHED: u32 = 1;
pub const CLAIMED: u32 = 2;
pub const DONE: u32 = 3;
pub const WAIT_IO: u32 = 4;
pub const YIELD: u32 = 5;
pub const REQUEUE: u32 = 6;
pub const FAULT: u32 = 7;

/// A decoded status word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SlotStatus {
    Empty,
    Published,
    Claimed,
    Done,
    WaitIo,
    Yield,
    Requeue,
    Fault,
    /// A value no ABI rule produces (a dump, or a raw write).
    Other(u32),
}

impl SlotStatus {
    /// The eight named statuses, in value order.
    pub const NAMED: [SlotStatus; 8] = [
        SlotStatus::Empty,
        SlotStatus::Published,
        SlotStatus::Claimed,
        SlotStatus::Done,
        SlotStatus::WaitIo,
        SlotStatus::Yield,
        SlotStatus::Requeue,
        SlotStatus::Fault,
    ];

    pub fn from_word(w: u32) -> SlotStatus {
        match w {
            EMPTY => SlotStatus::Empty,
            PUBLISHED => SlotStatus::Published,
            CLAIMED => SlotStatus::Claimed,
            DONE => SlotStatus::Done,
            WAIT_IO => SlotStatus::WaitIo,
            YIELD => SlotStatus::Yield,
            REQUEUE => SlotStatus::Requeue,
            FAULT => SlotStatus::Fault,
            other => SlotStatus::Other(other),
        }
    }

    pub fn word(self) -> u32 {
        match self {
            SlotStatus::Empty => EMPTY,
            SlotStatus::Published => PUBLISHED,
            SlotStatus::Claimed => CLAIMED,
            SlotStatus::Done => DONE,
            SlotStatus::WaitIo => WAIT_IO,
            SlotStatus::Yield => YIELD,
            SlotStatus::Requeue => REQUEUE,
            SlotStatus::Fault => FAULT,
            SlotStatus::Other(w) => w,
        }
    }

    /// Upper-case ABI name (`PUBLISHED`), or `INVALID(0x…)`.
    pub fn name(self) -> String {
        match self {
            SlotStatus::Other(w) => format!("INVALID({w:#x})"),
            s => s.lower_name().to_ascii_uppercase(),
        }
    }

    /// Lower-case name as used in JSON (`"done"`); every unnamed value is `"invalid"`.
    pub fn lower_name(self) -> &'static str {
        match self {
            SlotStatus::Empty => "empty",
            SlotStatus::Published => "published",
            SlotStatus::Claimed => "claimed",
            SlotStatus::Done => "done",
            SlotStatus::WaitIo => "wait_io",
            SlotStatus::Yield => "yield",
            SlotStatus::Requeue => "requeue",
            SlotStatus::Fault => "fault",
            SlotStatus::Other(_) => "invalid",
        }
    }

    /// Parses a status by name (any case) or number.
    pub fn parse(text: &str) -> Option<SlotStatus> {
        let t = text.trim();
        if let Some(s) = SlotStatus::NAMED
            .iter()
            .find(|s| s.lower_name().eq_ignore_ascii_case(t))
        {
            return Some(*s);
        }
        super::opcode::parse_u32(t).map(SlotStatus::from_word)
    }

    /// The host may publish only over EMPTY or DONE.
    pub fn is_publishable_over(self) -> bool {
        matches!(self, SlotStatus::Empty | SlotStatus::Done)
    }

    /// Statuses the priority variant claims (PUBLISHED, YIELD, REQUEUE).
    pub fn is_priority_schedulable(self) -> bool {
        matches!(
            self,
            SlotStatus::Published | SlotStatus::Yield | SlotStatus::Requeue
        )
    }

    /// Index into a per-status histogram: the eight named statuses, then one bucket for the rest.
    pub fn histogram_index(self) -> usize {
        match self {
            SlotStatus::Other(_) => 8,
            s => s.word() as usize,
        }
    }
}

impl fmt::Display for SlotStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Slot counts per status: index = [`SlotStatus::histogram_index`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusCounts(pub [u64; 9]);

impl StatusCounts {
    /// Counts the statuses of every slot of a ring.
    pub fn of_ring(ring: &[u32]) -> StatusCounts {
        let mut c = [0u64; 9];
        for slot in ring.chunks_exact(super::layout::SLOT_WORDS) {
            let w = slot[0];
            c[if w < 8 { w as usize } else { 8 }] += 1;
        }
        StatusCounts(c)
    }

    pub fn get(&self, s: SlotStatus) -> u64 {
        self.0[s.histogram_index()]
    }

    /// `(lower-case name, count)` for every bucket, including zero ones.
    pub fn named(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        SlotStatus::NAMED
            .iter()
            .map(|s| s.lower_name())
            .chain(std::iter::once("invalid"))
            .zip(self.0.iter().copied())
    }
}

/// Statuses are stored by lower-case name (`"published"`); numbers are accepted on input.
impl serde::Serialize for SlotStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SlotStatus::Other(w) => s.serialize_u32(*w),
            st => s.serialize_str(st.lower_name()),
        }
    }
}

impl<'de> serde::Deserialize<'de> for SlotStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SlotStatus, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = SlotStatus;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a status name (empty, published, claimed, done, wait_io, yield, requeue, fault) or a number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SlotStatus, E> {
                SlotStatus::parse(v).ok_or_else(|| E::custom(format!("`{v}` is not a slot status; use empty, published, claimed, done, wait_io, yield, requeue or fault")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SlotStatus, E> {
                u32::try_from(v)
                    .map(SlotStatus::from_word)
                    .map_err(|_| E::custom("status does not fit in 32 bits"))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SlotStatus, E> {
                u32::try_from(v)
                    .map(SlotStatus::from_word)
                    .map_err(|_| E::custom("status must be a 32-bit unsigned value"))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_unknown_values_stay_visible() {
        for w in 0..20 {
            assert_eq!(SlotStatus::from_word(w).word(), w);
        }
        assert_eq!(SlotStatus::from_word(9), SlotStatus::Other(9));
        assert_eq!(SlotStatus::from_word(9).name(), "INVALID(0x9)");
        assert_eq!(SlotStatus::Published.name(), "PUBLISHED");
        assert_eq!(SlotStatus::WaitIo.lower_name(), "wait_io");
    }

    #[test]
    fn parse_accepts_names_and_numbers() {
        assert_eq!(SlotStatus::parse("done"), Some(SlotStatus::Done));
        assert_eq!(SlotStatus::parse("PUBLISHED"), Some(SlotStatus::Published));
        assert_eq!(SlotStatus::parse("5"), Some(SlotStatus::Yield));
        assert_eq!(SlotStatus::parse("0x7"), Some(SlotStatus::Fault));
        assert_eq!(SlotStatus::parse("nonsense"), None);
    }

    #[test]
    fn publish_allowed_only_over_empty_or_done() {
        for s in SlotStatus::NAMED {
            assert_eq!(
                s.is_publishable_over(),
                matches!(s, SlotStatus::Empty | SlotStatus::Done),
                "{s}"
            );
        }
    }

    #[test]
    fn histogram_counts_every_slot() {
        let mut ring = vec![0u32; 16 * 5];
        ring[16] = 1;
        ring[32] = 3;
        ring[48] = 3;
        ring[64] = 42;
        let c = StatusCounts::of_ring(&ring);
        assert_eq!(c.get(SlotStatus::Empty), 1);
        assert_eq!(c.get(SlotStatus::Published), 1);
        assert_eq!(c.get(SlotStatus::Done), 2);
        assert_eq!(c.get(SlotStatus::Other(42)), 1);
        assert_eq!(c.named().map(|(_, n)| n).sum::<u64>(), 5);
    }
}
