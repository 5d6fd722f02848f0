//! The session file (DESIGN.md §3, a contract): RON, versioned and forward-checked.
//!
//! A session is a recipe: a geometry (or a snapshot of the four buffers to start from), the
//! run configuration, and a script of actions replayed on load — then the timeline position
//! to seek to, so a saved session reopens exactly where it was, its "future" included. The
//! snapshot is a side-car dump directory next to the RON (`NAME.snapshot-<id>/`, the four
//! raw `.bin` files): raw bytes are the fastest thing to write and read, and any tool that
//! reads dumps reads it.
//!
//! Saving is atomic: the snapshot goes to a fresh directory first, then the RON is written to
//! a temporary file, fsynced and renamed over the old one (the commit point); only then are
//! older snapshot directories removed. A crash at any moment leaves the previous session
//! intact.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::debugger::action::Action;
use crate::debugger::breakpoint::Breakpoint;
use crate::debugger::{Debugger, DebuggerError, Geometry, RunConfig};
use crate::engine::Backend;
use crate::files::dump::{self, DumpError};

/// The session format version this build writes and the newest it reads. Version 2 added
/// `bookmarks`; a version-1 file reads as one without bookmarks.
pub const SESSION_VERSION: u32 = 2;

/// The largest session file read, in bytes. A session is a recipe (its bulk state lives in
/// the snapshot directory), so this is far more than any real one needs.
pub const MAX_SESSION_BYTES: u64 = 16 << 20;

/// The most actions a session script may hold.
pub const MAX_SCRIPT_ACTIONS: usize = 100_000;

/// The most dispatches (and passes) a session script may run in all. Each is a point on the
/// timeline; longer runs belong to `megascope run --dispatches N`, which reports progress.
pub const MAX_SCRIPT_DISPATCHES: u64 = 100_000;

/// The most slot operations a script may ask for in all: a dispatch, a pass or a reset counts
/// the ring's slots, a pattern its slots, other actions one. About a minute of the CPU
/// engine: a 1,048,576-slot session may script 1,024 dispatches, a 65,536-slot one 16,384.
pub const MAX_SCRIPT_SLOT_WORK: u64 = 1 << 30;

/// The most breakpoints a session may hold.
pub const MAX_BREAKPOINTS: usize = 1_000;

/// How deep RON may nest in a session (the deepest real session nests 6 levels).
const RON_RECURSION_LIMIT: usize = 64;

/// How the ring grid colours its cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColourMode {
    #[default]
    Status,
    Opcode,
    Tenant,
    Priority,
}

impl ColourMode {
    pub const ALL: [ColourMode; 4] = [
        ColourMode::Status,
        ColourMode::Opcode,
        ColourMode::Tenant,
        ColourMode::Priority,
    ];
    pub fn name(self) -> &'static str {
        match self {
            ColourMode::Status => "status",
            ColourMode::Opcode => "opcode",
            ColourMode::Tenant => "tenant",
            ColourMode::Priority => "priority partition",
        }
    }
}

fn yes() -> bool {
    true
}

/// Which panels are open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Panels {
    pub publish: bool,
    pub inspector: bool,
    pub plots: bool,
    pub debug_log: bool,
    pub diagnostics: bool,
    pub timeline: bool,
}

impl Default for Panels {
    fn default() -> Self {
        Panels {
            publish: true,
            inspector: true,
            plots: true,
            debug_log: true,
            diagnostics: true,
            timeline: true,
        }
    }
}

/// What the user was looking at.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ViewState {
    pub colour_mode: ColourMode,
    /// Cell size in points.
    pub zoom: f32,
    /// Scroll offset of the grid in points.
    pub pan: [f32; 2],
    pub panels: Panels,
    pub selection: Option<u32>,
    #[serde(default = "yes")]
    pub highlight_changes: bool,
}

impl Default for ViewState {
    fn default() -> Self {
        ViewState {
            colour_mode: ColourMode::Status,
            zoom: 0.0,
            pan: [0.0, 0.0],
            panels: Panels::default(),
            selection: None,
            highlight_changes: true,
        }
    }
}

/// Where the snapshot lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Snapshot {
    /// A dump directory, relative to the session file.
    Dump(String),
}

/// The session file's top-level struct.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionFile {
    pub version: u32,
    pub geometry: Geometry,
    #[serde(default)]
    pub run: RunConfig,
    #[serde(default)]
    pub backend: Backend,
    #[serde(default)]
    pub script: Vec<Action>,
    #[serde(default)]
    pub breakpoints: Vec<Breakpoint>,
    #[serde(default)]
    pub view: ViewState,
    /// The state the script starts from; absent = a fresh state of `geometry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Snapshot>,
    /// The timeline point to seek to after replaying the script; absent = the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline_position: Option<usize>,
    /// Named timeline points (version 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bookmarks: Vec<crate::debugger::settings::Bookmark>,
}

/// Why a session could not be read, replayed or saved.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot read {path}: {source}{}", read_hint(.source))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is a directory; open a .ron session file, or open the directory as a dump")]
    IsDirectory { path: PathBuf },
    #[error("{path} is {what}, not a regular file; a session is a .ron text file")]
    NotAFile { path: PathBuf, what: &'static str },
    #[error(
        "{path} is {len} bytes, more than a session may be ({MAX_SESSION_BYTES} bytes); a session keeps its state in a snapshot directory, not in the .ron"
    )]
    TooLarge { path: PathBuf, len: u64 },
    #[error(
        "{path} is not UTF-8 text (invalid byte at offset {offset}); a session is a RON text file"
    )]
    NotUtf8 { path: PathBuf, offset: usize },
    #[error(
        "{path} has no `version` field{detail}; a session file starts with `(version: {SESSION_VERSION}, …`"
    )]
    NoVersion { path: PathBuf, detail: String },
    #[error(
        "{path} is session format version {found}, newer than this megascope reads (up to {SESSION_VERSION}); upgrade megascope to open it"
    )]
    FutureVersion { path: PathBuf, found: u64 },
    #[error("{path}:{line}:{col}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: snapshot {dir}: {source}")]
    Snapshot {
        path: PathBuf,
        dir: PathBuf,
        source: Box<DumpError>,
    },
    #[error("{path}: script action {index} ({label}): {source}")]
    Script {
        path: PathBuf,
        index: usize,
        label: String,
        source: Box<DebuggerError>,
    },
    #[error("cannot save {path}: {message}; the previous file is untouched")]
    Save { path: PathBuf, message: String },
}

fn read_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => "; check the path",
        std::io::ErrorKind::PermissionDenied => "; check the file's permissions",
        _ => "",
    }
}

impl SessionError {
    /// The CLI exit code: 2 for bad input.
    pub fn exit_code(&self) -> i32 {
        2
    }
}

/// A session loaded and replayed.
pub struct LoadedSession {
    pub debugger: Debugger,
    pub file: SessionFile,
    pub path: PathBuf,
    /// The comment lines the file opens with ([`header_of`]), kept for a save.
    pub header: String,
}

impl std::fmt::Debug for LoadedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedSession")
            .field("path", &self.path)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// Reads only `version` (everything else is skipped), so a future file's unknown fields
/// cannot hide the real reason it does not load.
#[derive(Deserialize)]
struct VersionProbe {
    #[serde(default, deserialize_with = "present")]
    version: Option<u64>,
}

/// A field that is there (`None` is left to `default`, when it is missing).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    u64::deserialize(d).map(Some)
}

fn ron_options() -> ron::Options {
    ron::Options::default().with_recursion_limit(RON_RECURSION_LIMIT)
}

/// A RON error in the user's words: no RON internals, the fix where there is one.
fn describe_ron_error(e: &ron::error::SpannedError) -> String {
    use ron::error::Error as E;
    match &e.code {
        E::ExceededRecursionLimit => format!(
            "the file nests deeper than {RON_RECURSION_LIMIT} levels of brackets; a session never needs that many"
        ),
        E::InvalidValueForType { expected, found } if found == "a unit value" => {
            format!(
                "expected {expected} but found a bare name; names of statuses and opcodes are written in quotes, e.g. `\"done\"`, `\"NOP\"`"
            )
        }
        E::InvalidValueForType { expected, found } => {
            format!("expected {expected} but found {found}")
        }
        E::ExpectedStructLike if e.span.start.line == 1 && e.span.start.col == 1 => {
            "expected `(`: a session starts with `(version: 1, …`".into()
        }
        E::ExpectedStructLike => {
            "expected `(`: write the fields in parentheses, e.g. `Dispatch(count: 1)`".into()
        }
        other => other.to_string(),
    }
}

/// Parses the text of a session file (no snapshot or script is touched).
pub fn parse(path: &Path, text: &str) -> Result<SessionFile, SessionError> {
    // A byte-order mark is not text: editors on Windows add one.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // The version decides how to read the rest, so probe it alone first: a future file may
    // carry fields this build does not know.
    match ron_options().from_str::<VersionProbe>(text) {
        Ok(VersionProbe { version: None }) => {
            return Err(SessionError::NoVersion {
                path: path.into(),
                detail: String::new(),
            });
        }
        Ok(VersionProbe { version: Some(v) }) if v > SESSION_VERSION as u64 => {
            return Err(SessionError::FutureVersion {
                path: path.into(),
                found: v,
            });
        }
        Ok(VersionProbe { version: Some(0) }) => {
            return Err(SessionError::Invalid {
                path: path.into(),
                message: format!(
                    "version 0 is not a session format version; use {SESSION_VERSION}"
                ),
            });
        }
        _ => {}
    }
    let file: SessionFile = ron_options()
        .from_str(text)
        .map_err(|e| SessionError::Syntax {
            path: path.into(),
            line: e.span.start.line,
            col: e.span.start.col,
            message: describe_ron_error(&e),
        })?;
    validate(path, &file)?;
    Ok(file)
}

fn validate(path: &Path, f: &SessionFile) -> Result<(), SessionError> {
    let invalid = |message: String| SessionError::Invalid {
        path: path.into(),
        message,
    };
    f.geometry
        .check()
        .map_err(|e| invalid(format!("geometry: {e}")))?;
    f.run
        .options(0)
        .resolve_workgroup_size(f.geometry.slot_count)
        .map_err(|e| invalid(format!("run: {e}")))?;
    if f.run.pass_budget == 0 {
        return Err(invalid("run: pass_budget must be at least 1".into()));
    }
    if let Some(sel) = f.view.selection
        && sel >= f.geometry.slot_count
    {
        return Err(invalid(format!(
            "view: selection {sel} is past the {} slots of the geometry",
            f.geometry.slot_count
        )));
    }
    if !(f.view.zoom.is_finite() && f.view.zoom >= 0.0 && f.view.zoom <= 1000.0) {
        return Err(invalid(format!(
            "view: zoom {} must be between 0 (fit) and 1000",
            f.view.zoom
        )));
    }
    if !f.view.pan.iter().all(|p| p.is_finite()) {
        return Err(invalid("view: pan must be finite numbers".into()));
    }
    check_script(&f.script, f.geometry.slot_count).map_err(invalid)?;
    if f.breakpoints.len() > MAX_BREAKPOINTS {
        return Err(invalid(format!(
            "{} breakpoints, more than a session may hold ({MAX_BREAKPOINTS})",
            f.breakpoints.len()
        )));
    }
    for (i, bp) in f.breakpoints.iter().enumerate() {
        bp.condition
            .check(&f.geometry)
            .map_err(|e| invalid(format!("breakpoint {i} ({}): {e}", bp.condition.describe())))?;
    }
    if let Some(Snapshot::Dump(rel)) = &f.snapshot {
        check_snapshot_name(rel).map_err(invalid)?;
    }
    {
        use crate::debugger::settings::{MAX_BOOKMARK_NAME, MAX_BOOKMARKS};
        if f.bookmarks.len() > MAX_BOOKMARKS {
            return Err(invalid(format!(
                "{} bookmarks, more than a session may hold ({MAX_BOOKMARKS})",
                f.bookmarks.len()
            )));
        }
        if let Some(b) = f
            .bookmarks
            .iter()
            .find(|b| b.name.trim().is_empty() || b.name.len() > MAX_BOOKMARK_NAME)
        {
            return Err(invalid(format!(
                "bookmark on point {}: a name is 1 to {MAX_BOOKMARK_NAME} bytes",
                b.point
            )));
        }
    }
    Ok(())
}

/// Bounds the work a script asks for, so loading a session can neither run for hours nor
/// grow without bound.
fn check_script(script: &[Action], slot_count: u32) -> Result<(), String> {
    if script.len() > MAX_SCRIPT_ACTIONS {
        return Err(format!(
            "the script has {} actions, more than a session may hold ({MAX_SCRIPT_ACTIONS})",
            script.len()
        ));
    }
    let mut dispatches = 0u64;
    let mut work = 0u64;
    let ring = slot_count.max(1) as u64;
    for (i, a) in script.iter().enumerate() {
        dispatches += match a {
            Action::Dispatch { count } => *count as u64,
            Action::Pass => 1,
            _ => 0,
        };
        work += match a {
            Action::Dispatch { count } => *count as u64 * ring,
            Action::Pass | Action::Reset => ring,
            Action::PublishPattern(p) => p.len() as u64,
            _ => 1,
        };
        if dispatches > MAX_SCRIPT_DISPATCHES {
            return Err(format!(
                "script action {i} ({}) brings the script to {dispatches} dispatches, more than a session script may run ({MAX_SCRIPT_DISPATCHES}); run longer with `megascope run SESSION --dispatches N`",
                a.label()
            ));
        }
        if work > MAX_SCRIPT_SLOT_WORK {
            return Err(format!(
                "script action {i} ({}) brings the script to {work} slot operations (a dispatch counts the ring's {slot_count} slots), more than a session script may ask for ({MAX_SCRIPT_SLOT_WORK}, about a minute); run longer with `megascope run SESSION --dispatches N`",
                a.label()
            ));
        }
    }
    Ok(())
}

/// A snapshot must be a directory inside the session's own directory: a plain relative path
/// with no `..`, so a shared session cannot make megascope read elsewhere.
fn check_snapshot_name(rel: &str) -> Result<(), String> {
    use std::path::Component;
    let p = Path::new(rel);
    let inside = !rel.is_empty()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        && p.components().any(|c| matches!(c, Component::Normal(_)));
    if inside {
        Ok(())
    } else {
        Err(format!(
            "snapshot `{rel}` is not inside the session's directory; a snapshot is a directory next to the .ron, named relative to it (e.g. `NAME.snapshot-1`), with no `..` or absolute path"
        ))
    }
}

/// Reads, validates and replays a session file. Only a regular file of at most
/// [`MAX_SESSION_BYTES`] is read; its type and size are checked before a byte is.
pub fn load(path: &Path) -> Result<LoadedSession, SessionError> {
    use crate::files::dump::ReadFileError;
    let bytes = match crate::files::dump::read_regular_file(path, MAX_SESSION_BYTES) {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(len)) => {
            return Err(SessionError::TooLarge {
                path: path.into(),
                len,
            });
        }
        Err(ReadFileError::NotRegular("a directory")) => {
            return Err(SessionError::IsDirectory { path: path.into() });
        }
        Err(ReadFileError::NotRegular(what)) => {
            return Err(SessionError::NotAFile {
                path: path.into(),
                what,
            });
        }
        Err(ReadFileError::Io(source)) => {
            return Err(SessionError::Read {
                path: path.into(),
                source,
            });
        }
        Err(ReadFileError::Changed { .. }) => {
            return Err(SessionError::Invalid {
                path: path.into(),
                message: "the file changed while it was read; open it again".into(),
            });
        }
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| SessionError::NotUtf8 {
        path: path.into(),
        offset: e.valid_up_to(),
    })?;
    let file = parse(path, text)?;
    let debugger = build(path, &file)?;
    Ok(LoadedSession {
        debugger,
        file,
        path: path.into(),
        header: header_of(text),
    })
}

/// Where a session's snapshot directory is, refusing one that resolves outside the
/// session's directory (through a symbolic link, say).
fn resolve_snapshot(path: &Path, rel: &str) -> Result<PathBuf, SessionError> {
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    check_snapshot_name(rel).map_err(|message| SessionError::Invalid {
        path: path.into(),
        message,
    })?;
    let dir = base.join(rel);
    if let (Ok(real_base), Ok(real_dir)) = (fs::canonicalize(base), fs::canonicalize(&dir))
        && !real_dir.starts_with(&real_base)
    {
        return Err(SessionError::Invalid {
            path: path.into(),
            message: format!(
                "snapshot `{rel}` resolves to {}, outside the session's directory {}; copy the snapshot next to the session",
                real_dir.display(),
                real_base.display()
            ),
        });
    }
    Ok(dir)
}

/// Builds the debugger a session describes: the base state, the replayed script, the
/// timeline position.
pub fn build(path: &Path, file: &SessionFile) -> Result<Debugger, SessionError> {
    let g = file.geometry;
    let mut debugger = match &file.snapshot {
        None => Debugger::new(g, file.run, Backend::Cpu).map_err(|e| SessionError::Invalid {
            path: path.into(),
            message: e.to_string(),
        })?,
        Some(Snapshot::Dump(rel)) => {
            let dir = resolve_snapshot(path, rel)?;
            let state = dump::read_dump(&dir).map_err(|source| SessionError::Snapshot {
                path: path.into(),
                dir: dir.clone(),
                source: Box::new(source),
            })?;
            if state.slot_count() != g.slot_count || state.observable_count() != g.observable_slots
            {
                return Err(SessionError::Invalid {
                    path: path.into(),
                    message: format!(
                        "the snapshot holds {} slots and {} observable words but the geometry says {} and {}; fix the geometry or the snapshot",
                        state.slot_count(),
                        state.observable_count(),
                        g.slot_count,
                        g.observable_slots
                    ),
                });
            }
            let mut d =
                Debugger::from_state(state, g.tenant_count, RunConfig::default(), Backend::Cpu);
            d.set_config(file.run).map_err(|e| SessionError::Invalid {
                path: path.into(),
                message: e.to_string(),
            })?;
            d
        }
    };
    for (index, action) in file.script.iter().enumerate() {
        let label = action.label();
        debugger
            .apply(action.clone())
            .map_err(|source| SessionError::Script {
                path: path.into(),
                index,
                label,
                source: Box::new(source),
            })?;
    }
    // breakpoints go in after the replay, so replaying counts no hits
    *debugger.breakpoints_mut() = file.breakpoints.clone();
    if let Some(b) = file
        .bookmarks
        .iter()
        .find(|b| b.point >= debugger.timeline().len())
    {
        return Err(SessionError::Invalid {
            path: path.into(),
            message: format!(
                "bookmark \"{}\" is on point {}, past the script's last point ({})",
                b.name,
                b.point,
                debugger.timeline().len() - 1
            ),
        });
    }
    debugger.set_bookmarks(file.bookmarks.clone());
    if let Some(pos) = file.timeline_position {
        if pos >= debugger.timeline().len() {
            return Err(SessionError::Invalid {
                path: path.into(),
                message: format!(
                    "timeline_position {pos} is past the {} points the script makes",
                    debugger.timeline().len()
                ),
            });
        }
        debugger.seek(pos);
    }
    Ok(debugger)
}

/// Renders a session file as RON text.
pub fn to_ron(file: &SessionFile) -> Result<String, String> {
    let cfg = ron::ser::PrettyConfig::new()
        .depth_limit(4)
        .struct_names(false);
    ron::ser::to_string_pretty(file, cfg).map_err(|e| e.to_string())
}

/// How to save.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaveMode {
    /// The base (fresh or the loaded snapshot) plus the whole script and the position: the
    /// timeline comes back on load.
    Script,
    /// The current state as a snapshot and no script: exact even after a racy GPU run, and
    /// instant to open.
    Snapshot,
}

/// Describes what to save.
pub struct SaveRequest<'a> {
    pub debugger: &'a Debugger,
    pub breakpoints: &'a [Breakpoint],
    pub view: &'a ViewState,
    pub mode: SaveMode,
    /// Comment lines to keep above the RON (the explanation an example session opens with).
    pub header: Option<&'a str>,
}

/// The comment lines a session file opens with (blank lines and `//` lines before the
/// first other line), so a save keeps a session's explanation.
pub fn header_of(text: &str) -> String {
    let mut out = String::new();
    for line in text.strip_prefix('\u{feff}').unwrap_or(text).lines() {
        let t = line.trim();
        if t.starts_with("//") || t.is_empty() {
            out.push_str(line.trim_end());
            out.push('\n');
        } else {
            break;
        }
    }
    if out.trim().is_empty() {
        String::new()
    } else {
        out
    }
}

/// Saves a session atomically (see the module docs).
pub fn save(path: &Path, req: &SaveRequest) -> Result<SessionFile, SessionError> {
    save_with(path, req, &mut |p, bytes| {
        dump::write_atomic(p, bytes).map_err(|e| e.to_string())
    })
}

/// Writes one file of a save (tests inject failures).
pub type WriteFile<'a> = dyn FnMut(&Path, &[u8]) -> Result<(), String> + 'a;

/// [`save`] with an injectable file writer (tests inject failures).
pub fn save_with(
    path: &Path,
    req: &SaveRequest,
    write: &mut WriteFile,
) -> Result<SessionFile, SessionError> {
    let err = |message: String| SessionError::Save {
        path: path.into(),
        message,
    };
    let (dir, _) = dump::split_parent(path);
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "session".into());
    let d = req.debugger;
    let unique = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|t| t.as_nanos())
            .unwrap_or(0)
    );
    let (snapshot_dir, script, position) = match req.mode {
        SaveMode::Snapshot => {
            let name = format!("{stem}.snapshot-{unique}");
            let target = dir.join(&name);
            write_snapshot(&target, d.state(), write).map_err(&err)?;
            (Some(name), Vec::new(), None)
        }
        SaveMode::Script => {
            let base = d
                .base_state()
                .ok_or_else(|| err("the oldest history was trimmed to stay within the memory budget, so the script no longer starts from a known state; save with a snapshot instead".into()))?;
            let g = d.geometry();
            let fresh = crate::resident::ResidentBuffers::new(
                g.slot_count,
                g.tenant_count,
                g.observable_slots,
            )
            .map_err(|e| err(e.to_string()))?;
            let snap = if base == fresh {
                None
            } else {
                let name = format!("{stem}.snapshot-{unique}");
                write_snapshot(&dir.join(&name), &base, write).map_err(&err)?;
                Some(name)
            };
            let at_end = d.timeline().at_end();
            (snap, d.script(), (!at_end).then(|| d.timeline().cursor()))
        }
    };
    let file = SessionFile {
        version: SESSION_VERSION,
        geometry: d.geometry(),
        run: d.config(),
        backend: d.backend(),
        script,
        breakpoints: req.breakpoints.to_vec(),
        view: req.view.clone(),
        snapshot: snapshot_dir.clone().map(Snapshot::Dump),
        timeline_position: position,
        bookmarks: match req.mode {
            SaveMode::Script => d.bookmarks().to_vec(),
            // a snapshot is one point: the bookmarks on the point shown name it
            SaveMode::Snapshot => d
                .bookmarks()
                .iter()
                .filter(|b| d.bookmark_point(b) == Some(d.timeline().cursor()))
                .map(|b| crate::debugger::settings::Bookmark {
                    point: 0,
                    name: b.name.clone(),
                })
                .collect(),
        },
    };
    let mut text = to_ron(&file).map_err(&err)?;
    if let Some(h) = req.header.filter(|h| !h.trim().is_empty()) {
        // only comment lines go above the RON: anything else would change what it means
        text = header_of(h) + &text;
    }
    if let Err(m) = write(path, text.as_bytes()) {
        if let Some(name) = &snapshot_dir {
            let _ = fs::remove_dir_all(dir.join(name));
        }
        return Err(err(m));
    }
    // The RON now points at the new snapshot: older snapshot directories of this session
    // are garbage.
    remove_stale_snapshots(dir, &stem, snapshot_dir.as_deref());
    Ok(file)
}

fn write_snapshot(
    target: &Path,
    state: &crate::resident::ResidentBuffers,
    write: &mut WriteFile,
) -> Result<(), String> {
    fs::create_dir_all(target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
    let result = (|| {
        for (kind, words) in [
            (crate::abi::BufferKind::Control, state.control()),
            (crate::abi::BufferKind::Ring, state.ring()),
            (crate::abi::BufferKind::DebugLog, state.debug_log()),
            (crate::abi::BufferKind::IoQueue, state.io_queue()),
        ] {
            write(
                &target.join(kind.file_name()),
                &crate::resident::le_bytes_from_words(words),
            )?;
        }
        // the snapshot's entries, and the snapshot's own entry in the session's directory,
        // must be on disk before the RON that points at it is renamed into place
        let sync = |dir: &Path| {
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| format!("cannot sync {}: {e}", dir.display()))
        };
        sync(target)?;
        sync(
            target
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        )
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(target);
    }
    result
}

fn remove_stale_snapshots(dir: &Path, stem: &str, keep: Option<&str>) {
    let prefix = format!("{stem}.snapshot-");
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with(&prefix) && Some(name.as_str()) != keep && e.path().is_dir() {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

/// The snapshot directory a loaded session refers to, as a path usable for reading.
pub fn snapshot_path(session_path: &Path, file: &SessionFile) -> Option<PathBuf> {
    file.snapshot
        .as_ref()
        .map(|Snapshot::Dump(rel)| session_path.parent().unwrap_or(Path::new(".")).join(rel))
}

#[cfg(test)]
mod tests;
