//! Errors of the ABI layer. Each message says what was wrong and how to fix it, because these
//! reach the user verbatim (CLI, dump loader, publish form).

use std::fmt;

use super::opcode::Opcode;
use super::status::SlotStatus;

/// One of the four resident buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BufferKind {
    Control,
    Ring,
    DebugLog,
    IoQueue,
}

impl BufferKind {
    pub const ALL: [BufferKind; 4] = [
        BufferKind::Control,
        BufferKind::Ring,
        BufferKind::DebugLog,
        BufferKind::IoQueue,
    ];

    /// The file name of this buffer in a dump directory.
    pub fn file_name(self) -> &'static str {
        match self {
            BufferKind::Control => "control.bin",
            BufferKind::Ring => "ring.bin",
            BufferKind::DebugLog => "debug_log.bin",
            BufferKind::IoQueue => "io_queue.bin",
        }
    }

    /// The buffer's name as vyre's kernel binds it.
    pub fn name(self) -> &'static str {
        match self {
            BufferKind::Control => "control",
            BufferKind::Ring => "ring",
            BufferKind::DebugLog => "debug_log",
            BufferKind::IoQueue => "io_queue",
        }
    }
}

impl fmt::Display for BufferKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a geometry or a buffer does not fit the ABI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbiError {
    #[error("the {what} length for {count} elements overflows; use fewer")]
    LengthOverflow { what: &'static str, count: u64 },

    #[error("{what} = {requested} exceeds the ABI cap of {cap}; use at most {cap} {what}")]
    OverCap {
        what: &'static str,
        requested: u64,
        cap: u64,
    },

    #[error(
        "workgroup size {workgroup_size} does not fit {slot_count} slots: it must be between 1 and 256 and divide the slot count"
    )]
    BadWorkgroupSize {
        workgroup_size: u32,
        slot_count: u32,
    },

    #[error("{buffer} ({file}) is {actual} bytes, expected {expected}; {fix}", file = buffer.file_name())]
    BufferLength {
        buffer: BufferKind,
        expected: String,
        actual: usize,
        fix: String,
    },

    #[error(
        "could not allocate {bytes} bytes for the {what}: {reason}; use fewer slots or observable words"
    )]
    Allocation {
        what: &'static str,
        bytes: usize,
        reason: String,
    },
}

/// Why a publish was refused (ABI.md §8, checked in this order).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("the ring is {bytes} bytes, not a multiple of 64; reload the state")]
    RingMisaligned { bytes: usize },

    #[error("slot {slot} is out of range: the ring has {slot_count} slots (0..{slot_count})")]
    SlotOutOfRange { slot: u64, slot_count: u32 },

    #[error("{count} arguments given, a slot holds at most 12")]
    TooManyArgs { count: usize },

    #[error("opcode {opcode} cannot be published: {reason}")]
    NotPublishable {
        opcode: Opcode,
        reason: &'static str,
    },

    #[error(
        "slot {slot} is in flight ({status}); only EMPTY or DONE slots can be published — run a dispatch or reset the slot first"
    )]
    InFlight { slot: u32, status: SlotStatus },

    #[error("slots {start}..{end} run past the ring's {slot_count} slots")]
    WindowOutOfRange {
        start: u64,
        end: u64,
        slot_count: u32,
    },

    #[error(
        "control[{word}] is past the {len}-word control buffer (160 control words + {} observable); use a word below {len}", len - 160
    )]
    ControlWordOutOfRange { word: u64, len: usize },

    #[error("packed slot: {0}")]
    Packed(String),

    /// Any other refused input, said in full.
    #[error("{0}")]
    Invalid(String),
}
