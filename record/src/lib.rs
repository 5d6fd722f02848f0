//! megascope recordings (`.msrec`).
//!
//! A recording is the sequence of states of a vyre 0.7.2 megakernel's four resident buffers
//! (`control`, `ring`, `debug_log`, `io_queue`) after each step of a real program. A vyre program
//! writes one with a [`Recorder`] (a background thread diffs, compresses and appends frames, so the
//! program's own thread only copies); megascope reads it back with a [`Recording`].
//!
//! The file format is a versioned contract, described in `FORMAT.md` next to this crate's
//! `Cargo.toml`.
//!
//! ```no_run
//! use megascope_record::{Buffers, Fingerprint, Meta, Recorder, Recording, StepInfo};
//! # fn main() -> Result<(), megascope_record::RecordError> {
//! let (control, ring, debug_log, io_queue) = (vec![0u32; 224], vec![0u32; 16 * 64], vec![0u32; 257], vec![0u32; 512]);
//! let fp = Fingerprint::from_lengths(control.len(), ring.len(), debug_log.len(), io_queue.len(), 1);
//! let mut rec = Recorder::create("run.msrec", Meta::new(fp, "my program"))?;
//! let buffers = Buffers { control: &control, ring: &ring, debug_log: &debug_log, io_queue: &io_queue };
//! rec.record(StepInfo::host("init"), buffers)?;
//! rec.finish()?;
//! let recording = Recording::open("run.msrec")?;
//! let state = recording.state(0)?;
//! assert_eq!(state.ring, ring);
//! # Ok(()) }
//! ```

use std::ops::Range;

use serde::{Deserialize, Serialize};

mod error;
mod format;
mod reader;
#[cfg(feature = "vyre")]
pub mod vyre;
mod writer;

pub use error::RecordError;
pub use reader::{Recording, StepChange, StepCursor, Steps};
pub use writer::{RecordSummary, Recorder};

/// The version of the file format this crate writes (and the newest it reads).
pub const FORMAT_VERSION: u32 = 1;
/// The file extension of a recording (without the dot).
pub const EXTENSION: &str = "msrec";
/// Steps the writer thread may hold queued; a crash loses at most these.
pub const QUEUE_DEPTH: usize = 8;
/// Steps between keyframes unless [`Meta::keyframe_interval`] says otherwise.
pub const DEFAULT_KEYFRAME_INTERVAL: u32 = 64;
/// Words per block (4 KiB blocks): the unit of change tracking and of delta storage.
pub const BLOCK_WORDS: usize = 1024;
/// The zstd level frames are compressed with (speed matters more than ratio).
pub const ZSTD_LEVEL: i32 = 1;
/// The vyre version this crate's ABI fingerprint describes.
pub const VYRE_VERSION: &str = "0.7.2";
/// Words of the `control` buffer before the observable words (vyre 0.7.2 ABI).
pub const CONTROL_HEADER_WORDS: usize = 160;
/// Words per ring slot (vyre 0.7.2 ABI).
pub const SLOT_WORDS: usize = 16;
/// The largest buffer (in words) a reader accepts from a file's header (256 MiB).
pub const MAX_BUFFER_WORDS: usize = 1 << 26;

/// One of the four resident buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BufferKind {
    Control,
    Ring,
    DebugLog,
    IoQueue,
}

impl BufferKind {
    /// All four, in file order.
    pub const ALL: [BufferKind; 4] = [
        BufferKind::Control,
        BufferKind::Ring,
        BufferKind::DebugLog,
        BufferKind::IoQueue,
    ];

    /// `"control"`, `"ring"`, `"debug_log"` or `"io_queue"`.
    pub fn name(self) -> &'static str {
        match self {
            BufferKind::Control => "control",
            BufferKind::Ring => "ring",
            BufferKind::DebugLog => "debug_log",
            BufferKind::IoQueue => "io_queue",
        }
    }

    /// The position in [`BufferKind::ALL`] (and in the file).
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for BufferKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What must match for two states to be the same program's (the ABI fingerprint).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub control_words: u32,
    pub ring_words: u32,
    pub debug_log_words: u32,
    pub io_queue_words: u32,
    pub slot_count: u32,
    pub tenant_count: u32,
    pub observable_words: u32,
    /// e.g. "0.7.2"
    pub vyre_version: String,
}

fn word_count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Fingerprint {
    /// From buffer lengths; `slot_count = ring_words / 16`,
    /// `observable_words = control_words - 160` (saturating); `vyre_version` is "0.7.2".
    pub fn from_lengths(
        control_words: usize,
        ring_words: usize,
        debug_log_words: usize,
        io_queue_words: usize,
        tenant_count: u32,
    ) -> Fingerprint {
        Fingerprint {
            control_words: word_count(control_words),
            ring_words: word_count(ring_words),
            debug_log_words: word_count(debug_log_words),
            io_queue_words: word_count(io_queue_words),
            slot_count: word_count(ring_words / SLOT_WORDS),
            tenant_count,
            observable_words: word_count(control_words.saturating_sub(CONTROL_HEADER_WORDS)),
            vyre_version: VYRE_VERSION.to_string(),
        }
    }

    /// The length in words of buffer `kind`.
    pub fn words(&self, kind: BufferKind) -> usize {
        (match kind {
            BufferKind::Control => self.control_words,
            BufferKind::Ring => self.ring_words,
            BufferKind::DebugLog => self.debug_log_words,
            BufferKind::IoQueue => self.io_queue_words,
        }) as usize
    }
}

/// What a recording's header says about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub fingerprint: Fingerprint,
    /// Free text: which program recorded this.
    pub program: String,
    /// A keyframe (a full state) every this many steps; step 0 is always one. At least 1.
    pub keyframe_interval: u32,
    /// Anything else the producer wants kept (JSON object).
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Meta {
    /// A header with [`DEFAULT_KEYFRAME_INTERVAL`] and no extra fields.
    pub fn new(fingerprint: Fingerprint, program: impl Into<String>) -> Meta {
        Meta {
            fingerprint,
            program: program.into(),
            keyframe_interval: DEFAULT_KEYFRAME_INTERVAL,
            extra: serde_json::Map::new(),
        }
    }
}

/// What kind of step produced a state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepKind {
    /// The host changed the buffers.
    Host,
    /// One kernel dispatch.
    Dispatch {
        variant: String,
        workgroup_size: u32,
    },
}

/// What a step was. Non-finite times are stored as `null` (read back as `None`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepInfo {
    #[serde(flatten)]
    pub kind: StepKind,
    pub label: String,
    pub wall_ms: Option<f64>,
    pub device_ms: Option<f64>,
    /// Unknown fields a producer added (kept as metadata).
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl StepInfo {
    /// A host-side change.
    pub fn host(label: impl Into<String>) -> StepInfo {
        StepInfo {
            kind: StepKind::Host,
            label: label.into(),
            wall_ms: None,
            device_ms: None,
            extra: serde_json::Map::new(),
        }
    }

    /// One kernel dispatch.
    pub fn dispatch(
        variant: impl Into<String>,
        workgroup_size: u32,
        label: impl Into<String>,
    ) -> StepInfo {
        StepInfo {
            kind: StepKind::Dispatch {
                variant: variant.into(),
                workgroup_size,
            },
            label: label.into(),
            wall_ms: None,
            device_ms: None,
            extra: serde_json::Map::new(),
        }
    }
}

/// Borrowed views of the four buffers.
#[derive(Clone, Copy, Debug)]
pub struct Buffers<'a> {
    pub control: &'a [u32],
    pub ring: &'a [u32],
    pub debug_log: &'a [u32],
    pub io_queue: &'a [u32],
}

impl<'a> Buffers<'a> {
    /// The buffer `kind`.
    pub fn get(&self, kind: BufferKind) -> &'a [u32] {
        match kind {
            BufferKind::Control => self.control,
            BufferKind::Ring => self.ring,
            BufferKind::DebugLog => self.debug_log,
            BufferKind::IoQueue => self.io_queue,
        }
    }
}

/// An owned state of the four buffers.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct State {
    pub control: Vec<u32>,
    pub ring: Vec<u32>,
    pub debug_log: Vec<u32>,
    pub io_queue: Vec<u32>,
}

impl State {
    /// The buffer `kind`.
    pub fn get(&self, kind: BufferKind) -> &[u32] {
        match kind {
            BufferKind::Control => &self.control,
            BufferKind::Ring => &self.ring,
            BufferKind::DebugLog => &self.debug_log,
            BufferKind::IoQueue => &self.io_queue,
        }
    }

    /// The buffer `kind`, mutably.
    pub fn get_mut(&mut self, kind: BufferKind) -> &mut Vec<u32> {
        match kind {
            BufferKind::Control => &mut self.control,
            BufferKind::Ring => &mut self.ring,
            BufferKind::DebugLog => &mut self.debug_log,
            BufferKind::IoQueue => &mut self.io_queue,
        }
    }

    /// Borrowed views of the four buffers.
    pub fn as_buffers(&self) -> Buffers<'_> {
        Buffers {
            control: &self.control,
            ring: &self.ring,
            debug_log: &self.debug_log,
            io_queue: &self.io_queue,
        }
    }

    /// A state from four little-endian byte buffers, as vyre's `ResidentQueueReadback`
    /// (`control_bytes`, `ring_bytes`, `debug_log_bytes`, `io_queue_bytes`) holds them.
    pub fn from_le_bytes(
        control: &[u8],
        ring: &[u8],
        debug_log: &[u8],
        io_queue: &[u8],
    ) -> Result<State, RecordError> {
        let words = |kind: BufferKind, bytes: &[u8]| {
            if !bytes.len().is_multiple_of(4) {
                return Err(RecordError::ByteLength {
                    buffer: kind.name(),
                    bytes: bytes.len(),
                });
            }
            Ok(bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        };
        Ok(State {
            control: words(BufferKind::Control, control)?,
            ring: words(BufferKind::Ring, ring)?,
            debug_log: words(BufferKind::DebugLog, debug_log)?,
            io_queue: words(BufferKind::IoQueue, io_queue)?,
        })
    }

    /// Copies `buffers` into a new state.
    pub fn from_buffers(buffers: Buffers<'_>) -> State {
        State {
            control: buffers.control.to_vec(),
            ring: buffers.ring.to_vec(),
            debug_log: buffers.debug_log.to_vec(),
            io_queue: buffers.io_queue.to_vec(),
        }
    }
}

/// Which word ranges changed since the previous recorded step, per buffer (the caller usually
/// knows). Ranges may overlap and come in any order.
#[derive(Clone, Debug, Default)]
pub struct Changed {
    pub control: Vec<Range<usize>>,
    pub ring: Vec<Range<usize>>,
    pub debug_log: Vec<Range<usize>>,
    pub io_queue: Vec<Range<usize>>,
}

impl Changed {
    /// The ranges of buffer `kind`.
    pub fn get(&self, kind: BufferKind) -> &[Range<usize>] {
        match kind {
            BufferKind::Control => &self.control,
            BufferKind::Ring => &self.ring,
            BufferKind::DebugLog => &self.debug_log,
            BufferKind::IoQueue => &self.io_queue,
        }
    }

    /// The ranges of buffer `kind`, mutably.
    pub fn get_mut(&mut self, kind: BufferKind) -> &mut Vec<Range<usize>> {
        match kind {
            BufferKind::Control => &mut self.control,
            BufferKind::Ring => &mut self.ring,
            BufferKind::DebugLog => &mut self.debug_log,
            BufferKind::IoQueue => &mut self.io_queue,
        }
    }

    /// True when no buffer has a range.
    pub fn is_empty(&self) -> bool {
        BufferKind::ALL.iter().all(|&k| self.get(k).is_empty())
    }
}
