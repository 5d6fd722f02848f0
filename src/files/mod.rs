//! Every file megascope opens — session files, dump directories and recordings — through one
//! [`open`] that the command line and the app share, so a file means the same thing wherever
//! it is opened.

pub mod csv;
pub mod dump;
pub mod recording;
pub mod session;

use std::path::Path;

use crate::files::dump::DumpError;
use crate::files::session::{LoadedSession, SessionError};
use crate::resident::ResidentBuffers;
use megascope_record::{RecordError, Recording};

/// What a path holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A session (`.ron`).
    Session,
    /// A dump directory (the four buffers).
    Dump,
    /// A recording (`.msrec`).
    Recording,
}

impl FileKind {
    /// Decides by what is on disk: a directory is a dump; a file is a recording when it
    /// starts with a recording's magic or is named `.msrec`, otherwise a session.
    pub fn of(path: &Path) -> FileKind {
        if path.is_dir() {
            return FileKind::Dump;
        }
        let named = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case(megascope_record::EXTENSION));
        if named || has_recording_magic(path) {
            FileKind::Recording
        } else {
            FileKind::Session
        }
    }
}

/// The first bytes of every recording (record/FORMAT.md).
const RECORDING_MAGIC: &[u8; 8] = b"MSREC\r\n\x1a";

/// Whether `path` is a regular file that starts like a recording.
fn has_recording_magic(path: &Path) -> bool {
    use std::io::Read;
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    let mut head = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == RECORDING_MAGIC)
}

/// How to open a file where the file itself does not say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenOptions {
    /// Tenants a dump is taken to have (a dump does not record it).
    pub tenants: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { tenants: 1 }
    }
}

/// An opened file.
pub enum Opened {
    Session(Box<LoadedSession>),
    /// A dump, with the tenant count the options gave it.
    Dump {
        state: ResidentBuffers,
        tenants: u32,
    },
    Recording(Recording),
}

/// Why a file could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Dump(#[from] DumpError),
    #[error(transparent)]
    Recording(#[from] RecordError),
}

impl OpenError {
    /// Every open error is bad input (exit code 2).
    pub fn exit_code(&self) -> i32 {
        2
    }
}

/// Opens a session, a dump directory or a recording.
pub fn open(path: &Path, options: OpenOptions) -> Result<Opened, OpenError> {
    Ok(match FileKind::of(path) {
        FileKind::Dump => Opened::Dump {
            state: crate::files::dump::read_dump(path)?,
            tenants: options.tenants,
        },
        FileKind::Recording => Opened::Recording(Recording::open(path)?),
        FileKind::Session => Opened::Session(Box::new(crate::files::session::load(path)?)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_what_is_on_disk() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(FileKind::of(d.path()), FileKind::Dump);
        let s = d.path().join("a.ron");
        std::fs::write(&s, "x").unwrap();
        assert_eq!(FileKind::of(&s), FileKind::Session);
        let r = d.path().join("a.msrec");
        assert_eq!(FileKind::of(&r), FileKind::Recording);
        // a recording renamed to anything is still recognised by its magic
        let m = d.path().join("renamed.bin");
        let fp = megascope_record::Fingerprint::from_lengths(160, 16, 257, 512, 1);
        let rec = megascope_record::Recorder::create(&m, megascope_record::Meta::new(fp, "test"))
            .unwrap();
        rec.finish().unwrap();
        assert_eq!(FileKind::of(&m), FileKind::Recording);
    }

    #[test]
    fn a_missing_session_is_bad_input() {
        let e = open(Path::new("/nonexistent/x.ron"), OpenOptions::default())
            .err()
            .unwrap();
        assert_eq!(e.exit_code(), 2);
    }
}
