//! The dump directory (DESIGN.md §3, a contract): `control.bin`, `ring.bin`,
//! `debug_log.bin`, `io_queue.bin`, the four resident buffers byte for byte as the GPU holds
//! them (little-endian u32 words). `slot_count = len(ring.bin) / 64`. This is how state moves
//! between megascope and a real vyre program (`ResidentQueueReadback` is the same four byte
//! vectors).
//!
//! Reading validates exactly as `from_parts` does and names the file, what was expected and
//! how to fix it. Writing replaces each file atomically (temporary file, fsync, rename), so a
//! crash never leaves a torn buffer behind.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::abi::error::{AbiError, BufferKind};
use crate::abi::layout::SLOT_BYTES;
use crate::abi::validate::check_slot_count;
use crate::resident::{ResidentBuffers, le_bytes_from_words};

/// Why a dump could not be read or written. Every message is one line with the fix.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error(
        "dump directory {0} does not exist; give a directory holding control.bin, ring.bin, debug_log.bin and io_queue.bin"
    )]
    NoDirectory(PathBuf),
    #[error(
        "{0} is a file, not a dump directory; give the directory that holds control.bin, ring.bin, debug_log.bin and io_queue.bin"
    )]
    NotADirectory(PathBuf),
    #[error(
        "{path} is missing; a dump needs all four buffers (control.bin, ring.bin, debug_log.bin, io_queue.bin)"
    )]
    Missing { path: PathBuf },
    #[error("{path} is a directory; it should be the {buffer} buffer as raw little-endian bytes")]
    NotAFile { path: PathBuf, buffer: BufferKind },
    #[error("cannot read {path}: {source}; check the file's permissions")]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "{path} is {len} bytes, not a multiple of 64 (one slot is 64 bytes); the ring is truncated or is not a ring dump"
    )]
    RingNotWholeSlots { path: PathBuf, len: u64 },
    #[error("{path}: {source}")]
    Invalid { path: PathBuf, source: AbiError },
    #[error("cannot write {path}: {source}; check that the directory exists and is writable")]
    Write { path: PathBuf, source: io::Error },
}

impl DumpError {
    /// The exit code the CLI uses: every dump error is bad input.
    pub fn exit_code(&self) -> i32 {
        2
    }
}

fn buffer_path(dir: &Path, kind: BufferKind) -> PathBuf {
    dir.join(kind.file_name())
}

fn read_buffer(dir: &Path, kind: BufferKind) -> Result<Vec<u8>, DumpError> {
    let path = buffer_path(dir, kind);
    match fs::metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(DumpError::Missing { path }),
        Err(source) => return Err(DumpError::Read { path, source }),
        Ok(m) if m.is_dir() => return Err(DumpError::NotAFile { path, buffer: kind }),
        Ok(_) => {}
    }
    fs::read(&path).map_err(|source| DumpError::Read { path, source })
}

/// Reads and validates a dump directory.
pub fn read_dump(dir: &Path) -> Result<ResidentBuffers, DumpError> {
    match fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(DumpError::NoDirectory(dir.to_path_buf()));
        }
        Err(source) => {
            return Err(DumpError::Read {
                path: dir.to_path_buf(),
                source,
            });
        }
        Ok(m) if !m.is_dir() => return Err(DumpError::NotADirectory(dir.to_path_buf())),
        Ok(_) => {}
    }
    // Check the ring's length first: it decides the slot count everything else is checked
    // against, and its size is known without reading 64 MiB.
    let ring_path = buffer_path(dir, BufferKind::Ring);
    let ring_len = match fs::metadata(&ring_path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(DumpError::Missing { path: ring_path });
        }
        Err(source) => {
            return Err(DumpError::Read {
                path: ring_path,
                source,
            });
        }
        Ok(m) if m.is_dir() => {
            return Err(DumpError::NotAFile {
                path: ring_path,
                buffer: BufferKind::Ring,
            });
        }
        Ok(m) => m.len(),
    };
    if ring_len % SLOT_BYTES as u64 != 0 {
        return Err(DumpError::RingNotWholeSlots {
            path: ring_path,
            len: ring_len,
        });
    }
    let slot_count =
        check_slot_count(ring_len / SLOT_BYTES as u64).map_err(|source| DumpError::Invalid {
            path: ring_path.clone(),
            source,
        })?;
    let control = read_buffer(dir, BufferKind::Control)?;
    let debug = read_buffer(dir, BufferKind::DebugLog)?;
    let io = read_buffer(dir, BufferKind::IoQueue)?;
    let ring = read_buffer(dir, BufferKind::Ring)?;
    ResidentBuffers::from_parts(slot_count, &control, &ring, &debug, &io).map_err(|source| {
        let path = match &source {
            AbiError::BufferLength { buffer, .. } => buffer_path(dir, *buffer),
            _ => dir.to_path_buf(),
        };
        DumpError::Invalid { path, source }
    })
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DumpError> {
    let err = |source| DumpError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err)
}

/// Writes the four buffers into `dir` (created if missing), each file replaced atomically.
pub fn write_dump(dir: &Path, state: &ResidentBuffers) -> Result<(), DumpError> {
    fs::create_dir_all(dir).map_err(|source| DumpError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    for (kind, words) in [
        (BufferKind::Control, state.control()),
        (BufferKind::Ring, state.ring()),
        (BufferKind::DebugLog, state.debug_log()),
        (BufferKind::IoQueue, state.io_queue()),
    ] {
        write_atomic(&buffer_path(dir, kind), &le_bytes_from_words(words))?;
    }
    Ok(())
}

/// Whether `path` looks like a dump directory (holds a ring.bin).
pub fn is_dump_dir(path: &Path) -> bool {
    path.is_dir() && path.join(BufferKind::Ring.file_name()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::opcode::Opcode;

    fn sample() -> ResidentBuffers {
        let mut m = ResidentBuffers::new(8, 2, 4).unwrap();
        m.publish_slot(3, 1, Opcode::ATOMIC_ADD, &[5, 161]).unwrap();
        m.write_control(162, 0xDEAD_BEEF).unwrap();
        m
    }

    fn dumped() -> (tempfile::TempDir, ResidentBuffers) {
        let d = tempfile::tempdir().unwrap();
        let m = sample();
        write_dump(d.path(), &m).unwrap();
        (d, m)
    }

    #[test]
    fn round_trips_byte_for_byte_little_endian() {
        let (d, m) = dumped();
        let control = fs::read(d.path().join("control.bin")).unwrap();
        assert_eq!(control.len(), 164 * 4);
        assert_eq!(&control[162 * 4..163 * 4], &[0xEF, 0xBE, 0xAD, 0xDE]);
        assert_eq!(read_dump(d.path()).unwrap(), m);
        assert!(is_dump_dir(d.path()));
    }

    fn err_after(f: impl FnOnce(&Path)) -> String {
        let (d, _) = dumped();
        f(d.path());
        read_dump(d.path()).unwrap_err().to_string()
    }

    #[test]
    fn missing_directory() {
        let e = read_dump(Path::new("/nonexistent/dump"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn a_file_instead_of_a_directory() {
        let (d, _) = dumped();
        let e = read_dump(&d.path().join("ring.bin"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a file, not a dump directory"), "{e}");
    }

    #[test]
    fn missing_file_is_named() {
        for f in ["control.bin", "ring.bin", "debug_log.bin", "io_queue.bin"] {
            let e = err_after(|p| fs::remove_file(p.join(f)).unwrap());
            assert!(e.contains(f) && e.contains("missing"), "{e}");
        }
    }

    #[test]
    fn ring_not_a_multiple_of_64() {
        let e = err_after(|p| fs::write(p.join("ring.bin"), vec![0u8; 100]).unwrap());
        assert!(
            e.contains("ring.bin is 100 bytes, not a multiple of 64"),
            "{e}"
        );
    }

    #[test]
    fn control_shorter_than_160_words() {
        let e = err_after(|p| fs::write(p.join("control.bin"), vec![0u8; 400]).unwrap());
        assert!(
            e.contains("control.bin") && e.contains("400 bytes") && e.contains("640"),
            "{e}"
        );
    }

    #[test]
    fn control_not_whole_words() {
        let e = err_after(|p| fs::write(p.join("control.bin"), vec![0u8; 643]).unwrap());
        assert!(
            e.contains("control.bin") && e.contains("multiple of 4"),
            "{e}"
        );
    }

    #[test]
    fn debug_log_of_the_wrong_size() {
        let e = err_after(|p| fs::write(p.join("debug_log.bin"), vec![0u8; 1024]).unwrap());
        assert!(
            e.contains("debug_log.bin") && e.contains("exactly 1028"),
            "{e}"
        );
    }

    #[test]
    fn io_queue_of_the_wrong_size() {
        let e = err_after(|p| fs::write(p.join("io_queue.bin"), vec![0u8; 40]).unwrap());
        assert!(e.contains("io_queue.bin"), "{e}");
    }

    #[test]
    fn a_directory_where_a_file_was_expected() {
        let e = err_after(|p| {
            fs::remove_file(p.join("debug_log.bin")).unwrap();
            fs::create_dir(p.join("debug_log.bin")).unwrap();
        });
        assert!(e.contains("debug_log.bin is a directory"), "{e}");
    }

    #[test]
    fn too_many_slots() {
        let e = err_after(|p| {
            let f = fs::File::create(p.join("ring.bin")).unwrap();
            f.set_len(64 * ((1 << 20) + 1)).unwrap();
        });
        assert!(e.contains("ring.bin") && e.contains("cap"), "{e}");
    }

    #[test]
    fn unreadable_file() {
        // a symlink loop cannot be read even by root
        let e = err_after(|p| {
            let f = p.join("io_queue.bin");
            fs::remove_file(&f).unwrap();
            std::os::unix::fs::symlink(&f, &f).unwrap();
        });
        assert!(
            e.contains("cannot read") && e.contains("io_queue.bin"),
            "{e}"
        );
    }

    #[test]
    fn atomic_write_leaves_no_temporary_files() {
        let (d, _) = dumped();
        let names: Vec<String> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(names.len(), 4, "{names:?}");
    }

    #[test]
    fn failed_write_reports_the_path() {
        let d = tempfile::tempdir().unwrap();
        let blocker = d.path().join("blocker");
        fs::write(&blocker, b"x").unwrap();
        let e = write_dump(&blocker.join("sub"), &sample())
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot write"), "{e}");
    }
}
