//! Recordings of a real program's run (`.msrec`, written by the `megascope-record` crate):
//! importing a step directory, exporting a step as a dump or the whole run as a trace,
//! summarising, and verifying every recorded dispatch against the CPU engine.

pub mod export;
pub mod import;
pub mod info;
pub mod perfetto;
pub mod verify;

use megascope_record::{Recording, State};

use crate::abi::error::AbiError;
use crate::resident::{Readback, ResidentBuffers};

/// Why a recording command failed, with the exit code it means.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// Bad input: a file, a step directory, a value (exit 2).
    #[error("{0}")]
    Input(String),
    /// Something failed while doing the work: a write, the engine (exit 1).
    #[error("{0}")]
    Runtime(String),
}

impl RecordingError {
    pub fn exit_code(&self) -> i32 {
        match self {
            RecordingError::Input(_) => 2,
            RecordingError::Runtime(_) => 1,
        }
    }
}

impl From<megascope_record::RecordError> for RecordingError {
    fn from(e: megascope_record::RecordError) -> Self {
        RecordingError::Input(e.to_string())
    }
}

/// A recorded state as a mirror the engines and the dump writer take, moving its buffers
/// (no copy; only their lengths are checked).
pub fn to_resident(slot_count: u32, state: State) -> Result<ResidentBuffers, AbiError> {
    ResidentBuffers::from_words(
        slot_count,
        Readback {
            control: state.control,
            ring: state.ring,
            debug_log: state.debug_log,
            io_queue: state.io_queue,
        },
    )
}

/// The state after `step`, or an error that says which steps there are.
pub fn state_at(rec: &Recording, step: usize) -> Result<State, RecordingError> {
    if step >= rec.len() {
        let mut msg = if rec.is_empty() {
            format!(
                "step {step} does not exist: {} holds no intact step",
                rec.path().display()
            )
        } else {
            format!(
                "step {step} does not exist: {} holds steps 0 to {} (--step counts from 0)",
                rec.path().display(),
                rec.len() - 1
            )
        };
        if let Some(d) = rec.damage() {
            msg.push_str(&format!("; the file is damaged after that: {d}"));
        }
        return Err(RecordingError::Input(msg));
    }
    Ok(rec.state(step)?)
}
