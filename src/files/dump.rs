//! The dump directory (DESIGN.md §3, a contract): `control.bin`, `ring.bin`,
//! `debug_log.bin`, `io_queue.bin`, the four resident buffers byte for byte as the GPU holds
//! them (little-endian u32 words). `slot_count = len(ring.bin) / 64`. This is how state moves
//! between megascope and a real vyre program (`ResidentQueueReadback` is the same four byte
//! vectors).
//!
//! Reading validates exactly as `from_parts` does and names the file, what was expected and
//! how to fix it; lengths are checked from metadata before a byte is read, and only regular
//! files are read. Writing replaces the whole directory as one unit (see [`write_dump`]), so
//! a crash never leaves a torn buffer or a mix of old and new buffers behind.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::abi::error::{AbiError, BufferKind};
use crate::abi::layout::SLOT_BYTES;
use crate::abi::validate::{PartLengths, check_slot_count, validate_parts};
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
    #[error(
        "{path} is {what}, not a regular file; it should be the {buffer} buffer as raw little-endian bytes"
    )]
    NotAFile {
        path: PathBuf,
        buffer: BufferKind,
        what: &'static str,
    },
    #[error("cannot read {path}: {source}{}", read_hint(.source))]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "{path} changed while it was read ({expected} bytes when checked, {found} when read); dump it again once no program is writing it"
    )]
    Changed {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error(
        "{path} is {len} bytes, not a multiple of 64 (one slot is 64 bytes); the ring is truncated or is not a ring dump"
    )]
    RingNotWholeSlots { path: PathBuf, len: u64 },
    #[error("{path}: {source}")]
    Invalid { path: PathBuf, source: AbiError },
    #[error("cannot write {path}: {}", write_cause(.source))]
    Write { path: PathBuf, source: io::Error },
    #[error(
        "cannot write the dump to {path}: it is {what}, not a directory; give a new directory name or an existing dump directory"
    )]
    OutNotADirectory { path: PathBuf, what: &'static str },
    #[error(
        "cannot write the dump to {path}: it holds `{example}`, which is not part of a dump, and writing replaces the whole directory; give a new directory name or an existing dump directory"
    )]
    OutNotADump { path: PathBuf, example: String },
}

impl DumpError {
    /// The exit code the CLI uses: 1 when writing fails on the way (out of space, a
    /// permission, a file-size limit: the run itself was fine), 2 for bad input.
    pub fn exit_code(&self) -> i32 {
        match self {
            DumpError::Write { .. } => 1,
            _ => 2,
        }
    }
}

/// What to add to a read error so it names the fix.
fn read_hint(e: &io::Error) -> &'static str {
    #[cfg(target_os = "linux")]
    if e.raw_os_error() == Some(libc::ELOOP) {
        return "; a symbolic link on the way points back at itself, fix or remove it";
    }
    match e.kind() {
        io::ErrorKind::PermissionDenied => "; check the file's permissions",
        io::ErrorKind::OutOfMemory => "; there is not enough memory to read it",
        io::ErrorKind::NotADirectory => "; a part of the path is a file, not a directory",
        _ => "",
    }
}

/// What went wrong while writing, in the user's words, with the fix.
pub fn write_cause(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::StorageFull => {
            "no space left on device; free some space or write elsewhere".into()
        }
        io::ErrorKind::QuotaExceeded => {
            "the disk quota is exceeded; free some space or write elsewhere".into()
        }
        io::ErrorKind::FileTooLarge => {
            "the file is larger than this process may write (the file-size limit, `ulimit -f`); raise the limit or write elsewhere".into()
        }
        io::ErrorKind::PermissionDenied => {
            "permission denied; check that this user may write to the directory".into()
        }
        io::ErrorKind::ReadOnlyFilesystem => {
            "the file system is read-only; write elsewhere".into()
        }
        io::ErrorKind::NotFound => {
            format!("{e}; check that the directory exists")
        }
        io::ErrorKind::NotADirectory => {
            format!("{e}; a part of the path is a file, not a directory")
        }
        _ => e.to_string(),
    }
}

/// Names a file type that is not a regular file.
pub fn file_kind(ft: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    if ft.is_dir() {
        "a directory"
    } else if ft.is_file() {
        "a regular file"
    } else {
        "not a plain file"
    }
}

/// Reads a regular file of at most `max` bytes, checking its type and length before reading
/// a byte: a FIFO or a device never blocks or streams, a huge file costs nothing. Returns
/// `Err(Ok(len))` when the file is longer than `max`.
pub fn read_regular_file(path: &Path, max: u64) -> Result<Result<Vec<u8>, u64>, ReadFileError> {
    let meta = fs::metadata(path).map_err(ReadFileError::Io)?;
    if !meta.is_file() {
        return Err(ReadFileError::NotRegular(file_kind(&meta.file_type())));
    }
    if meta.len() > max {
        return Ok(Err(meta.len()));
    }
    read_exactly(path, meta.len()).map(Ok)
}

/// Why [`read_regular_file`] failed.
#[derive(Debug)]
pub enum ReadFileError {
    Io(io::Error),
    /// What the path is instead of a regular file.
    NotRegular(&'static str),
    /// The file's length changed between the check and the read.
    Changed {
        expected: u64,
        found: u64,
    },
}

/// Reads `len` bytes, refusing a file that is no longer a regular file or no longer `len`
/// bytes long.
fn read_exactly(path: &Path, len: u64) -> Result<Vec<u8>, ReadFileError> {
    use std::io::Read;
    let f = fs::File::open(path).map_err(ReadFileError::Io)?;
    let meta = f.metadata().map_err(ReadFileError::Io)?;
    if !meta.is_file() {
        return Err(ReadFileError::NotRegular(file_kind(&meta.file_type())));
    }
    let mut out = Vec::new();
    out.try_reserve_exact(len as usize)
        .map_err(|_| ReadFileError::Io(io::ErrorKind::OutOfMemory.into()))?;
    f.take(len + 1)
        .read_to_end(&mut out)
        .map_err(ReadFileError::Io)?;
    if out.len() as u64 != len {
        return Err(ReadFileError::Changed {
            expected: len,
            found: out.len() as u64,
        });
    }
    Ok(out)
}

fn buffer_path(dir: &Path, kind: BufferKind) -> PathBuf {
    dir.join(kind.file_name())
}

/// The length of one buffer file from its metadata, refusing anything but a regular file.
fn buffer_len(dir: &Path, kind: BufferKind) -> Result<u64, DumpError> {
    let path = buffer_path(dir, kind);
    match fs::metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(DumpError::Missing { path }),
        Err(source) => Err(DumpError::Read { path, source }),
        Ok(m) if !m.is_file() => Err(DumpError::NotAFile {
            path,
            buffer: kind,
            what: file_kind(&m.file_type()),
        }),
        Ok(m) => Ok(m.len()),
    }
}

fn read_buffer(dir: &Path, kind: BufferKind, len: u64) -> Result<Vec<u8>, DumpError> {
    let path = buffer_path(dir, kind);
    read_exactly(&path, len).map_err(|e| match e {
        ReadFileError::Io(source) => DumpError::Read { path, source },
        ReadFileError::NotRegular(what) => DumpError::NotAFile {
            path,
            buffer: kind,
            what,
        },
        ReadFileError::Changed { expected, found } => DumpError::Changed {
            path,
            expected,
            found,
        },
    })
}

/// Reads and validates a dump directory. Every length is checked from the files' metadata
/// before anything is read, so a wrong or huge file is refused at no cost.
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
    // The ring's length decides the slot count everything else is checked against.
    let ring_path = buffer_path(dir, BufferKind::Ring);
    let ring_len = buffer_len(dir, BufferKind::Ring)?;
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
    let control_len = buffer_len(dir, BufferKind::Control)?;
    let debug_len = buffer_len(dir, BufferKind::DebugLog)?;
    let io_len = buffer_len(dir, BufferKind::IoQueue)?;
    let invalid = |source: AbiError| {
        let path = match &source {
            AbiError::BufferLength { buffer, .. } => buffer_path(dir, *buffer),
            _ => dir.to_path_buf(),
        };
        DumpError::Invalid { path, source }
    };
    // a length past usize cannot be valid: saturate so the check names it
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    validate_parts(
        slot_count,
        PartLengths {
            control: size(control_len),
            ring: size(ring_len),
            debug_log: size(debug_len),
            io_queue: size(io_len),
        },
    )
    .map_err(invalid)?;
    let control = read_buffer(dir, BufferKind::Control, control_len)?;
    let debug = read_buffer(dir, BufferKind::DebugLog, debug_len)?;
    let io = read_buffer(dir, BufferKind::IoQueue, io_len)?;
    let ring = read_buffer(dir, BufferKind::Ring, ring_len)?;
    ResidentBuffers::from_parts(slot_count, &control, &ring, &debug, &io).map_err(invalid)
}

/// A name unique to this process and moment, for temporary siblings.
fn unique_suffix() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|t| t.as_nanos())
            .unwrap_or(0)
    )
}

/// Whether a temporary sibling named `…-PID-…` (or `…-PID`) belongs to a process that no
/// longer runs, so it is a leftover of a killed run and safe to remove.
fn leftover_of_dead_process(suffix: &str) -> bool {
    let Some(pid) = suffix.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
        return true;
    };
    if pid == std::process::id() {
        return false;
    }
    let proc = Path::new("/proc");
    // without /proc nothing tells a live writer apart: leave it
    proc.is_dir() && !proc.join(pid.to_string()).exists()
}

/// Removes the leftovers (`.NAME.tmp-*`, `.NAME.old-*`) that killed writers of `name` left
/// in `parent`.
fn remove_leftovers(parent: &Path, name: &str) {
    let prefixes = [format!(".{name}.tmp-"), format!(".{name}.old-")];
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().to_string();
        for prefix in &prefixes {
            if let Some(suffix) = file.strip_prefix(prefix.as_str())
                && leftover_of_dead_process(suffix)
            {
                let p = e.path();
                let _ = if p.is_dir() && !p.is_symlink() {
                    fs::remove_dir_all(&p)
                } else {
                    fs::remove_file(&p)
                };
            }
        }
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// A path's directory (`.` for a bare name) and file name.
pub(crate) fn split_parent(path: &Path) -> (&Path, String) {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    (parent, name)
}

/// A fresh temporary sibling of `path` (`.NAME.tmp-PID-…`) for a writer that builds a file
/// and then renames it into place, after removing the siblings killed writers left.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let (dir, name) = split_parent(path);
    remove_leftovers(dir, &name);
    dir.join(format!(".{name}.tmp-{}", unique_suffix()))
}

/// Renames a finished (and fsynced) temporary sibling over `path` and syncs the directory:
/// the commit point, after which `path` is wholly the new file.
pub fn commit_sibling(tmp: &Path, path: &Path) -> io::Result<()> {
    fs::rename(tmp, path)?;
    sync_dir(split_parent(path).0)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename,
/// fsync of the directory. Temporary files of killed writers are removed first.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DumpError> {
    let (dir, name) = split_parent(path);
    remove_leftovers(dir, &name);
    let tmp = dir.join(format!(".{name}.tmp-{}", unique_suffix()));
    let mut failed_at = tmp.clone();
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        failed_at = path.to_path_buf();
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|source| DumpError::Write {
        path: if failed_at == tmp {
            path.to_path_buf()
        } else {
            failed_at
        },
        source,
    })
}

/// Swaps two directory entries in one step (Linux `renameat2(RENAME_EXCHANGE)`). `Ok(false)`
/// when the file system cannot.
fn exchange(a: &Path, b: &Path) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &Path| {
            std::ffi::CString::new(p.as_os_str().as_bytes())
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
        };
        let (ca, cb) = (c(a)?, c(b)?);
        // SAFETY: both are valid NUL-terminated paths that outlive the call.
        let r = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                ca.as_ptr(),
                libc::AT_FDCWD,
                cb.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if r == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP) => Ok(false),
            _ => Err(e),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (a, b);
        Ok(false)
    }
}

/// The four file names of a dump.
const DUMP_FILES: [BufferKind; 4] = [
    BufferKind::Control,
    BufferKind::Ring,
    BufferKind::DebugLog,
    BufferKind::IoQueue,
];

/// Writes the four buffers as the dump directory `dir`, as one unit: they go to a fresh
/// sibling directory `.NAME.tmp-*`, are fsynced, and the sibling is then exchanged with `dir`
/// in one step (or renamed into place when `dir` does not exist yet). A kill, a full disk or a
/// failing write at any moment leaves `dir` wholly the old dump or wholly the new one, never
/// a mix; the leftovers of a killed run are removed by the next write. `dir` stays a plain
/// directory of four files.
///
/// Because the whole directory is replaced, an existing `dir` must be empty or a dump (only
/// the four buffer files): anything else is refused, never deleted.
pub fn write_dump(dir: &Path, state: &ResidentBuffers) -> Result<(), DumpError> {
    // Work on the real directory: a symlink stays a symlink to the new dump.
    let target = match fs::canonicalize(dir) {
        Ok(real) => real,
        Err(_) => dir.to_path_buf(),
    };
    let write_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DumpError::Write { path, source }
    };
    let (parent, name) = split_parent(&target);
    let parent = parent.to_path_buf();
    if name.is_empty() || name == ".." {
        return Err(DumpError::Write {
            path: dir.to_path_buf(),
            source: io::Error::new(
                io::ErrorKind::InvalidInput,
                "give the dump directory a name",
            ),
        });
    }
    let exists = match fs::symlink_metadata(&target) {
        Ok(m) if m.is_dir() => {
            check_replaceable(&target)?;
            true
        }
        Ok(m) => {
            return Err(DumpError::OutNotADirectory {
                path: dir.to_path_buf(),
                what: file_kind(&m.file_type()),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(source) => {
            return Err(DumpError::Write {
                path: target,
                source,
            });
        }
    };
    fs::create_dir_all(&parent).map_err(write_err(&parent))?;
    remove_leftovers(&parent, &name);
    let suffix = unique_suffix();
    let tmp = parent.join(format!(".{name}.tmp-{suffix}"));
    let result = (|| -> Result<(), DumpError> {
        fs::create_dir(&tmp).map_err(write_err(&tmp))?;
        for kind in DUMP_FILES {
            let words = match kind {
                BufferKind::Control => state.control(),
                BufferKind::Ring => state.ring(),
                BufferKind::DebugLog => state.debug_log(),
                BufferKind::IoQueue => state.io_queue(),
            };
            // errors name the file the user asked for, not the temporary one
            let shown = target.join(kind.file_name());
            let mut f = fs::File::create(tmp.join(kind.file_name())).map_err(write_err(&shown))?;
            f.write_all(&le_bytes_from_words(words))
                .and_then(|_| f.sync_all())
                .map_err(write_err(&shown))?;
        }
        sync_dir(&tmp).map_err(write_err(&tmp))?;
        if !exists {
            fs::rename(&tmp, &target).map_err(write_err(&target))?;
        } else if exchange(&tmp, &target).map_err(write_err(&target))? {
            // `tmp` now holds the old dump
            let _ = fs::remove_dir_all(&tmp);
        } else {
            // No exchange on this file system: move the old one aside first. A crash between
            // the two renames leaves the old dump whole in `.NAME.old-*`.
            let old = parent.join(format!(".{name}.old-{suffix}"));
            fs::rename(&target, &old).map_err(write_err(&target))?;
            if let Err(source) = fs::rename(&tmp, &target) {
                let _ = fs::rename(&old, &target);
                return Err(DumpError::Write {
                    path: target.clone(),
                    source,
                });
            }
            let _ = fs::remove_dir_all(&old);
        }
        sync_dir(&parent).map_err(write_err(&parent))
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

/// Refuses to replace a directory that holds anything but dump files.
fn check_replaceable(dir: &Path) -> Result<(), DumpError> {
    let entries = fs::read_dir(dir).map_err(|source| DumpError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    for e in entries {
        let e = e.map_err(|source| DumpError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let name = e.file_name().to_string_lossy().to_string();
        let is_buffer = DUMP_FILES.iter().any(|k| k.file_name() == name);
        let plain = e.file_type().map(|t| t.is_file()).unwrap_or(false);
        if !(is_buffer && plain) {
            return Err(DumpError::OutNotADump {
                path: dir.to_path_buf(),
                example: name,
            });
        }
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
    fn only_regular_files_are_read() {
        // a FIFO would block the reader forever and /dev/zero would stream without end
        let e = err_after(|p| {
            fs::remove_file(p.join("control.bin")).unwrap();
            let ok = std::process::Command::new("mkfifo")
                .arg(p.join("control.bin"))
                .status()
                .unwrap();
            assert!(ok.success());
        });
        assert!(
            e.contains("control.bin is a FIFO (named pipe), not a regular file"),
            "{e}"
        );
        let e = err_after(|p| {
            fs::remove_file(p.join("debug_log.bin")).unwrap();
            std::os::unix::fs::symlink("/dev/zero", p.join("debug_log.bin")).unwrap();
        });
        assert!(
            e.contains("is a character device, not a regular file"),
            "{e}"
        );
    }

    #[test]
    fn lengths_are_checked_before_reading() {
        // a sparse 1 GiB control buffer: refused from its metadata, instantly
        let t = std::time::Instant::now();
        let e = err_after(|p| {
            fs::File::create(p.join("control.bin"))
                .unwrap()
                .set_len(1 << 30)
                .unwrap();
        });
        assert!(
            e.contains("control.bin") && e.contains("1073741824 bytes"),
            "{e}"
        );
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn read_errors_name_the_cause_not_permissions() {
        let e = err_after(|p| {
            let f = p.join("io_queue.bin");
            fs::remove_file(&f).unwrap();
            std::os::unix::fs::symlink(&f, &f).unwrap();
        });
        assert!(
            !e.contains("permissions") && e.contains("symbolic link"),
            "{e}"
        );
    }

    #[test]
    fn a_dump_is_replaced_as_one_unit() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        write_dump(&out, &sample()).unwrap();
        let mut bigger = ResidentBuffers::new(32, 1, 0).unwrap();
        bigger.publish_slot(31, 0, Opcode::NOP, &[]).unwrap();
        write_dump(&out, &bigger).unwrap();
        assert_eq!(read_dump(&out).unwrap(), bigger);
        let names: Vec<String> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(names, ["out"], "no sibling is left behind");
        assert_eq!(fs::read_dir(&out).unwrap().count(), 4);
    }

    #[test]
    fn leftovers_of_a_killed_writer_are_removed() {
        let d = tempfile::tempdir().unwrap();
        // pid 0 never names a live writer
        for stale in [".out.tmp-0-1", ".out.old-0-2"] {
            fs::create_dir(d.path().join(stale)).unwrap();
            fs::write(d.path().join(stale).join("ring.bin"), [0u8; 64]).unwrap();
        }
        write_dump(&d.path().join("out"), &sample()).unwrap();
        let mut names: Vec<String> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["out"]);
    }

    #[test]
    fn a_directory_with_other_files_is_never_replaced() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("notes.txt"), b"keep me").unwrap();
        let e = write_dump(d.path(), &sample()).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("notes.txt"), "{e}");
        assert_eq!(fs::read(d.path().join("notes.txt")).unwrap(), b"keep me");
        let f = d.path().join("notes.txt");
        let e = write_dump(&f, &sample()).unwrap_err().to_string();
        assert!(e.contains("a regular file, not a directory"), "{e}");
    }

    #[test]
    fn write_failures_say_what_happened_and_are_runtime_errors() {
        for (kind, says) in [
            (io::ErrorKind::StorageFull, "no space left on device"),
            (io::ErrorKind::PermissionDenied, "permission denied"),
            (io::ErrorKind::FileTooLarge, "file-size limit"),
            (io::ErrorKind::ReadOnlyFilesystem, "read-only"),
        ] {
            let e = DumpError::Write {
                path: "out/ring.bin".into(),
                source: kind.into(),
            };
            assert_eq!(e.exit_code(), 1);
            let m = e.to_string();
            assert!(
                m.contains(says) && m.contains("out/ring.bin") && !m.contains("exists"),
                "{m}"
            );
        }
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
