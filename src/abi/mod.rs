//! vyre's resident-megakernel ABI as typed Rust: buffer geometry, slot and status encodings,
//! opcodes, the control word map, the debug log and IO queue codecs, and validation.
//!
//! This layer knows bytes and rules only — no wgpu, egui or files — so every other layer can
//! trust it and tests can pin every number of ABI.md.

pub mod control;
pub mod debug_log;
pub mod error;
pub mod io_queue;
pub mod layout;
pub mod opcode;
pub mod slot;
pub mod status;
pub mod validate;

pub use control::ControlView;
pub use debug_log::{DebugLogView, DebugRecord};
pub use error::{AbiError, BufferKind, PublishError};
pub use io_queue::IoSlot;
pub use layout::*;
pub use opcode::{Opcode, Priority};
pub use slot::{PackedView, Slot};
pub use status::{SlotStatus, StatusCounts};
