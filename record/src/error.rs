use std::io;
use std::ops::Range;
use std::path::PathBuf;

/// Everything that can go wrong writing or reading a recording. Every message is one line: what is
/// wrong, which file or step, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// An I/O operation on the file failed.
    #[error("cannot {action} {}: {source}; check the path, permissions and free disk space", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },

    /// The file does not start with the recording magic.
    #[error("{} is not a megascope recording (wrong magic bytes); open a .msrec file written by megascope-record", path.display())]
    NotARecording { path: PathBuf },

    /// The file was written by a newer format version.
    #[error("{} uses recording format version {version}, newer than this reader's {supported}; update megascope", path.display())]
    FutureVersion {
        path: PathBuf,
        version: u32,
        supported: u32,
    },

    /// The header is unreadable (truncated, bad checksum, bad JSON, impossible fingerprint).
    #[error("{}: the recording header is unreadable: {reason}; the file is damaged or was cut off before its first step, re-record it", path.display())]
    BadHeader { path: PathBuf, reason: String },

    /// A step frame could not be read; the steps before it are intact.
    #[error("{}: step {step} (frame at byte {offset}) is damaged: {reason}; steps 0..{step} are intact, re-record to get the rest", path.display())]
    Damaged {
        path: PathBuf,
        step: usize,
        offset: u64,
        reason: String,
    },

    /// A step asked of a recording that has fewer steps.
    #[error("{}: step {step} does not exist, the recording has {len} intact steps (0..{len})", path.display())]
    StepOutOfRange {
        path: PathBuf,
        step: usize,
        len: usize,
    },

    /// A buffer handed to the recorder (or to `apply_step`) does not have the fingerprint's length.
    #[error(
        "buffer {buffer} has {actual} words but the recording's fingerprint says {expected}; record buffers of the program the recording was created for (or create a new recording)"
    )]
    BufferLength {
        buffer: &'static str,
        expected: usize,
        actual: usize,
    },

    /// A byte buffer handed over is not a whole number of u32 words.
    #[error(
        "buffer {buffer} has {bytes} bytes, not a whole number of 4-byte words; pass the buffer's full readback"
    )]
    ByteLength { buffer: &'static str, bytes: usize },

    /// A changed range reaches past its buffer.
    #[error("changed range {}..{} of buffer {buffer} reaches past its {len} words; pass ranges inside the buffer", range.start, range.end)]
    RangeOutOfBounds {
        buffer: &'static str,
        range: Range<usize>,
        len: usize,
    },

    /// `record_changed` was called before any full step.
    #[error(
        "record_changed needs a previous full step: record the first step with record or record_owned"
    )]
    NoFullStep,

    /// The metadata handed to `Recorder::create` is unusable.
    #[error("invalid recording metadata: {0}")]
    BadMeta(String),

    /// The writer thread failed (disk full, ...); the recording ends at the last step it wrote.
    #[error("{}: the recorder's writer thread failed: {reason}; the file keeps the steps written before, free disk space and record again", path.display())]
    WriterFailed { path: PathBuf, reason: String },
}

impl RecordError {
    /// For [`RecordError::Damaged`], the first unreadable step.
    pub fn damaged_step(&self) -> Option<usize> {
        match self {
            RecordError::Damaged { step, .. } => Some(*step),
            _ => None,
        }
    }
}
