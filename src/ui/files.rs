//! Files in the app: open, save, save as, recent files, dump import/export, drag and drop,
//! and the unsaved-changes prompt. Dialogs and loading run off the UI thread; a path field
//! sits beside every "Browse…" so the app works where no file-dialog portal is installed.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use crate::debugger::{Debugger, RunConfig};
use crate::engine::Backend;
use crate::files::session::{self, SaveMode, SaveRequest, ViewState};

/// What the user wanted to do when the unsaved-changes prompt interrupted.
#[derive(Debug, Clone, PartialEq)]
pub enum PendingAfterPrompt {
    New,
    Open,
    OpenPath(PathBuf),
    ImportDump,
    Quit,
}

/// What a file operation produced, for the shell to apply.
pub enum FileOutcome {
    Loaded {
        debugger: Box<Debugger>,
        view: Option<ViewState>,
        path: PathBuf,
    },
    Saved(PathBuf),
    Error(String),
    NewRequested,
    SaveRequested {
        path: PathBuf,
        snapshot: bool,
    },
    ExportTo(PathBuf),
    /// Write an export (CSV, PNG) to this path.
    ExportFile {
        path: PathBuf,
        what: super::export::Export,
    },
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PromptKind {
    Open,
    ImportDump,
    SaveAs { snapshot: bool },
    ExportDump,
    Export(super::export::Export),
}

struct PathPrompt {
    kind: PromptKind,
    text: String,
    /// Tenants of a dump being imported (a dump does not record it).
    tenants: u32,
    browse: Option<mpsc::Receiver<Option<PathBuf>>>,
}

/// What a background load hands back.
pub struct LoadedFile {
    pub debugger: Debugger,
    pub view: Option<ViewState>,
    pub path: PathBuf,
    pub kind: crate::files::FileKind,
    /// A session's opening comment lines, kept above the RON when it is saved.
    pub header: Option<String>,
}

type LoadResult = Result<LoadedFile, String>;

/// File state of the app.
#[derive(Default)]
pub struct FileOps {
    /// The session file being edited.
    pub path: Option<PathBuf>,
    /// Whether there are unsaved changes: set by the app each frame from the debugger's
    /// revision (see `MegascopeApp::is_dirty`); read here to guard New, Open and Quit.
    pub dirty: bool,
    /// What the last save or open means for "unsaved": `Some(true)` the state shown is
    /// now saved, `Some(false)` it is new and unsaved (an imported dump). Taken by the app.
    clean_event: Option<bool>,
    pub recent: Vec<PathBuf>,
    prompt: Option<PathPrompt>,
    unsaved: Option<PendingAfterPrompt>,
    loading: Option<(PathBuf, mpsc::Receiver<LoadResult>)>,
    /// Steps loaded and in all, while a recording loads (its dispatches are checked then).
    load_progress: std::sync::Arc<LoadProgress>,
    queued: Vec<FileOutcome>,
    /// Set once the user agreed to quit with unsaved changes.
    pub allow_close: bool,
    /// What to do once the save the unsaved-changes prompt asked for succeeds.
    after_save: Option<PendingAfterPrompt>,
    /// The comment lines of the session opened, kept above the RON when it is saved.
    header: Option<String>,
}

/// How far a load on the worker thread has come (recordings report it per step).
#[derive(Debug, Default)]
pub struct LoadProgress {
    done: std::sync::atomic::AtomicUsize,
    total: std::sync::atomic::AtomicUsize,
}

impl LoadProgress {
    fn set(&self, done: usize, total: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        self.total.store(total, Relaxed);
        self.done.store(done, Relaxed);
    }

    /// `(done, total)`; total is 0 until the loader knows it.
    pub fn get(&self) -> (usize, usize) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.done.load(Relaxed), self.total.load(Relaxed))
    }
}

/// The most recent files kept.
pub const RECENT_MAX: usize = 10;

/// Loads a session, a dump directory or a recording (runs on a worker thread), through the
/// same [`files::open`](crate::files::open) as the command line.
pub fn load_path(path: &Path) -> LoadResult {
    load_path_with(
        path,
        &LoadProgress::default(),
        crate::files::OpenOptions::default(),
    )
}

/// [`load_path`], reporting a recording's steps into `progress` as they load.
pub fn load_path_with(
    path: &Path,
    progress: &LoadProgress,
    options: crate::files::OpenOptions,
) -> LoadResult {
    use crate::files::{FileKind, Opened, open};
    let loaded = |debugger, view, kind, header| LoadedFile {
        debugger,
        view,
        path: path.to_path_buf(),
        kind,
        header,
    };
    Ok(match open(path, options).map_err(|e| e.to_string())? {
        Opened::Dump { state, tenants } => loaded(
            Debugger::from_state(state, tenants, RunConfig::default(), Backend::Cpu),
            None,
            FileKind::Dump,
            None,
        ),
        Opened::Session(l) => loaded(
            l.debugger,
            Some(l.file.view),
            FileKind::Session,
            Some(l.header).filter(|h| !h.is_empty()),
        ),
        Opened::Recording(rec) => loaded(
            Debugger::from_recording(rec, &mut |done, total| progress.set(done, total))?,
            None,
            FileKind::Recording,
            None,
        ),
    })
}

impl FileOps {
    pub fn title(&self) -> String {
        match &self.path {
            Some(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| p.display().to_string()),
            None => "untitled".into(),
        }
    }

    pub fn new_session(&mut self) {
        self.path = None;
        self.header = None;
        self.mark_clean(true);
    }

    /// Records that the state shown is now saved (`true`) or needs saving (`false`).
    pub fn mark_clean(&mut self, clean: bool) {
        self.dirty = !clean;
        self.clean_event = Some(clean);
    }

    /// The last [`FileOps::mark_clean`], taken.
    pub fn take_clean_event(&mut self) -> Option<bool> {
        self.clean_event.take()
    }

    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    /// What is loading and how far it has come: `(path, done, total)`, total 0 when unknown.
    pub fn loading_progress(&self) -> Option<(&Path, usize, usize)> {
        let (path, _) = self.loading.as_ref()?;
        let (done, total) = self.load_progress.get();
        Some((path, done, total))
    }

    fn remember(&mut self, p: &Path) {
        let p = p.to_path_buf();
        self.recent.retain(|r| *r != p);
        self.recent.insert(0, p);
        self.recent.truncate(RECENT_MAX);
    }

    /// Runs `what` now, or first asks about unsaved changes.
    pub fn guard(
        &mut self,
        what: PendingAfterPrompt,
        _new_dialog: &mut Option<super::new_dialog::NewDialog>,
    ) {
        if self.dirty {
            self.unsaved = Some(what);
        } else {
            self.proceed(what);
        }
    }

    fn proceed(&mut self, what: PendingAfterPrompt) {
        match what {
            PendingAfterPrompt::New => self.queued.push(FileOutcome::NewRequested),
            PendingAfterPrompt::Open => self.open_prompt(PromptKind::Open),
            PendingAfterPrompt::OpenPath(p) => self.open_path(p),
            PendingAfterPrompt::ImportDump => self.open_prompt(PromptKind::ImportDump),
            PendingAfterPrompt::Quit => {
                self.allow_close = true;
                self.queued.push(FileOutcome::Quit);
            }
        }
    }

    fn open_prompt(&mut self, kind: PromptKind) {
        let text = match (&self.path, kind) {
            (Some(p), PromptKind::SaveAs { .. }) => free_sibling(p).display().to_string(),
            _ => String::new(),
        };
        self.prompt = Some(PathPrompt {
            kind,
            text,
            tenants: 1,
            browse: None,
        });
    }

    /// Starts loading a session or dump in the background.
    pub fn open_path(&mut self, path: PathBuf) {
        self.open_path_with(path, crate::files::OpenOptions::default());
    }

    /// Starts loading in the background with `options` (a dump's tenant count), the same
    /// `files::open` the command line uses.
    pub fn open_path_with(&mut self, path: PathBuf, options: crate::files::OpenOptions) {
        let (tx, rx) = mpsc::channel();
        let p = path.clone();
        let progress = std::sync::Arc::new(LoadProgress::default());
        self.load_progress = progress.clone();
        std::thread::spawn(move || {
            let _ = tx.send(load_path_with(&p, &progress, options));
        });
        self.loading = Some((path, rx));
    }

    pub fn save(&mut self, snapshot: bool) {
        match self.path.clone() {
            Some(p) if !snapshot => self
                .queued
                .push(FileOutcome::SaveRequested { path: p, snapshot }),
            _ => self.save_as(snapshot),
        }
    }

    pub fn save_as(&mut self, snapshot: bool) {
        self.open_prompt(PromptKind::SaveAs { snapshot });
    }

    pub fn export_dump(&mut self) {
        self.open_prompt(PromptKind::ExportDump);
    }

    /// Asks where to write an export, suggesting a name beside the session.
    pub fn export_file(&mut self, what: super::export::Export) {
        self.open_prompt(PromptKind::Export(what));
        if let Some(p) = &mut self.prompt {
            let dir = self
                .path
                .as_ref()
                .and_then(|p| p.parent())
                .map(|d| d.to_path_buf())
                .unwrap_or_default();
            p.text = dir.join(what.file_name()).display().to_string();
        }
    }

    /// Writes the session (atomically) and remembers it.
    pub fn save_to(&mut self, path: &Path, debugger: &Debugger, view: &ViewState, snapshot: bool) {
        let mode = if snapshot {
            SaveMode::Snapshot
        } else {
            SaveMode::Script
        };
        let path = if path.extension().is_none() {
            path.with_extension("ron")
        } else {
            path.to_path_buf()
        };
        match session::save(
            &path,
            &SaveRequest {
                debugger,
                breakpoints: debugger.breakpoints(),
                view,
                mode,
                header: self.header.as_deref(),
            },
        ) {
            Ok(_) => {
                self.path = Some(path.clone());
                self.mark_clean(true);
                self.remember(&path);
                self.queued.push(FileOutcome::Saved(path));
                if let Some(next) = self.after_save.take() {
                    self.proceed(next);
                }
            }
            Err(e) => self.queued.push(FileOutcome::Error(e.to_string())),
        }
    }

    /// Collects finished background work.
    pub fn poll(&mut self, _debugger: &mut Debugger, ctx: &egui::Context) -> Vec<FileOutcome> {
        if let Some((path, rx)) = &self.loading {
            match rx.try_recv() {
                Ok(Ok(LoadedFile {
                    debugger,
                    view,
                    path: p,
                    kind,
                    header,
                })) => {
                    // Only a session is saved back to where it came from: a dump or a
                    // recording opens as an untitled state, so Save never overwrites it.
                    self.path = (kind == crate::files::FileKind::Session).then(|| p.clone());
                    self.mark_clean(kind != crate::files::FileKind::Dump);
                    self.header = header;
                    self.remember(&p);
                    self.queued.push(FileOutcome::Loaded {
                        debugger: Box::new(debugger),
                        view,
                        path: p,
                    });
                    self.loading = None;
                }
                Ok(Err(e)) => {
                    self.queued.push(FileOutcome::Error(format!(
                        "cannot open {}: {e}",
                        path.display()
                    )));
                    self.recent.retain(|r| r != path);
                    self.loading = None;
                }
                Err(mpsc::TryRecvError::Empty) => {
                    ctx.request_repaint_after(std::time::Duration::from_millis(50))
                }
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.queued.push(FileOutcome::Error(format!(
                        "loading {} failed unexpectedly",
                        path.display()
                    )));
                    self.loading = None;
                }
            }
        }
        if let Some(p) = &mut self.prompt
            && let Some(rx) = &p.browse
        {
            match rx.try_recv() {
                Ok(Some(path)) => {
                    p.text = path.display().to_string();
                    p.browse = None;
                }
                Ok(None) | Err(mpsc::TryRecvError::Disconnected) => p.browse = None,
                Err(mpsc::TryRecvError::Empty) => {
                    ctx.request_repaint_after(std::time::Duration::from_millis(100))
                }
            }
        }
        std::mem::take(&mut self.queued)
    }

    fn browse(kind: PromptKind) -> mpsc::Receiver<Option<PathBuf>> {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let d = rfd::FileDialog::new();
            let picked = match kind {
                PromptKind::Open => d
                    .add_filter("megascope session or recording", &["ron", "msrec"])
                    .pick_file(),
                PromptKind::ImportDump | PromptKind::ExportDump => d.pick_folder(),
                PromptKind::SaveAs { .. } => {
                    d.add_filter("megascope session", &["ron"]).save_file()
                }
                PromptKind::Export(what) => d
                    .add_filter(what.extension(), &[what.extension()])
                    .save_file(),
            };
            let _ = tx.send(picked);
        });
        rx
    }

    /// Draws the path prompt and the unsaved-changes prompt.
    pub fn prompt_ui(&mut self, ctx: &egui::Context) -> Option<FileOutcome> {
        let mut out = None;
        if let Some(what) = self.unsaved.clone() {
            egui::Modal::new(egui::Id::unique("unsaved")).show(ctx, |ui| {
                ui.heading("Unsaved changes");
                ui.label(format!("{} has changes that are not saved.", self.title()));
                ui.horizontal(|ui| {
                    if ui.button("Save").clicked() {
                        self.unsaved = None;
                        self.after_save = Some(what.clone());
                        match self.path.clone() {
                            Some(p) => {
                                out = Some(FileOutcome::SaveRequested {
                                    path: p,
                                    snapshot: false,
                                })
                            }
                            None => self.save_as(false),
                        }
                    }
                    if ui.button("Discard").clicked() {
                        self.unsaved = None;
                        self.dirty = false;
                        self.clean_event = None;
                        self.proceed(what.clone());
                    }
                    if ui.button("Cancel").clicked()
                        || ui.input(|i| i.key_pressed(egui::Key::Escape))
                    {
                        self.unsaved = None;
                    }
                });
            });
            if out.is_some() {
                return out;
            }
        }
        let Some(p) = &mut self.prompt else {
            return out;
        };
        let (title, hint) = match p.kind {
            PromptKind::Open => (
                "Open a session or dump",
                "path to a .ron session or a dump directory",
            ),
            PromptKind::ImportDump => (
                "Import a dump directory",
                "directory with control.bin, ring.bin, debug_log.bin, io_queue.bin",
            ),
            PromptKind::SaveAs { snapshot: false } => ("Save session as", "path of the .ron file"),
            PromptKind::SaveAs { snapshot: true } => (
                "Save state snapshot as",
                "path of the .ron file (a .snapshot directory goes beside it)",
            ),
            PromptKind::ExportDump => (
                "Export a dump directory",
                "directory to write the four .bin files into",
            ),
            PromptKind::Export(what) => (what.title(), "path of the file to write"),
        };
        let mut close = false;
        let mut confirm = false;
        egui::Modal::new(egui::Id::unique("path prompt")).show(ctx, |ui| {
            ui.heading(title);
            ui.horizontal(|ui| {
                let l = ui.label("path");
                let r = ui
                    .add(
                        egui::TextEdit::singleline(&mut p.text)
                            .desired_width(420.0)
                            .hint_text(hint),
                    )
                    .labelled_by(l.id);
                if r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                    confirm = true;
                }
                if ui
                    .add_enabled(p.browse.is_none(), egui::Button::new("Browse…"))
                    .clicked()
                {
                    p.browse = Some(Self::browse(p.kind));
                }
            });
            if p.kind == PromptKind::ImportDump {
                ui.horizontal(|ui| {
                    let l = ui.label("tenants");
                    ui.add(egui::DragValue::new(&mut p.tenants).range(1..=u32::MAX))
                        .labelled_by(l.id)
                        .on_hover_text(
                            "how many tenants Reset re-encodes: a dump does not record it",
                        );
                });
            }
            if p.browse.is_some() {
                ui.label(egui::RichText::new("waiting for the file dialog…").weak());
            }
            let path = PathBuf::from(p.text.trim());
            let problem = check_prompt_path(p.kind, &path);
            if let Some(e) = &problem
                && !p.text.trim().is_empty()
            {
                ui.colored_label(crate::ui::theme::ERROR, e);
            }
            ui.horizontal(|ui| {
                let ok_label = match p.kind {
                    PromptKind::Open | PromptKind::ImportDump => "Open",
                    PromptKind::SaveAs { .. } => "Save",
                    PromptKind::ExportDump | PromptKind::Export(_) => "Export",
                };
                if ui
                    .add_enabled(problem.is_none(), egui::Button::new(ok_label))
                    .clicked()
                {
                    confirm = true;
                }
                if ui.button("Cancel").clicked() || ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                    close = true;
                }
            });
            if confirm && problem.is_some() {
                confirm = false;
            }
        });
        if confirm {
            let kind = p.kind;
            let tenants = p.tenants;
            let path = PathBuf::from(p.text.trim());
            self.prompt = None;
            match kind {
                PromptKind::Open => self.open_path(path),
                PromptKind::ImportDump => {
                    self.open_path_with(path, crate::files::OpenOptions { tenants })
                }
                PromptKind::SaveAs { snapshot } => {
                    out = Some(FileOutcome::SaveRequested { path, snapshot })
                }
                PromptKind::ExportDump => out = Some(FileOutcome::ExportTo(path)),
                PromptKind::Export(what) => out = Some(FileOutcome::ExportFile { path, what }),
            }
        } else if close {
            // cancelling a "save as" that the unsaved-changes prompt opened cancels what
            // was waiting for it too
            self.prompt = None;
            self.after_save = None;
        }
        out
    }
}

/// Why a path typed in a prompt will not do, if it will not.
/// `name-2.ron`, `name-3.ron`, … beside `p`: the first that does not exist. Save As starts
/// there, so pressing Enter never overwrites the file that was opened (an example session).
pub fn free_sibling(p: &Path) -> PathBuf {
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "session".into());
    let ext = p
        .extension()
        .map(|e| e.to_string_lossy().to_string())
        .unwrap_or_else(|| "ron".into());
    (2..)
        .map(|i| p.with_file_name(format!("{stem}-{i}.{ext}")))
        .find(|c| !c.exists())
        .unwrap_or_else(|| p.to_path_buf())
}

fn check_prompt_path(kind: PromptKind, path: &Path) -> Option<String> {
    if path.as_os_str().is_empty() {
        return Some("give a path".into());
    }
    match kind {
        PromptKind::Open => (!path.exists()).then(|| format!("{} does not exist", path.display())),
        PromptKind::ImportDump => {
            if !path.is_dir() {
                Some(format!("{} is not a directory", path.display()))
            } else if !crate::files::dump::is_dump_dir(path) {
                Some(format!(
                    "{} holds no ring.bin; a dump needs control.bin, ring.bin, debug_log.bin, io_queue.bin",
                    path.display()
                ))
            } else {
                None
            }
        }
        PromptKind::SaveAs { .. } | PromptKind::Export(_) => {
            if path.is_dir() {
                Some(format!(
                    "{} is a directory; give a file name such as {}",
                    path.display(),
                    match kind {
                        PromptKind::Export(what) => what.file_name(),
                        _ => "session.ron".to_string(),
                    }
                ))
            } else {
                let parent = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                (!parent.is_dir())
                    .then(|| format!("the folder {} does not exist", parent.display()))
            }
        }
        PromptKind::ExportDump => path
            .is_file()
            .then(|| format!("{} is a file; give a directory", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_as_suggests_a_new_name_beside_the_file() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("races.ron");
        std::fs::write(&p, "x").unwrap();
        assert_eq!(free_sibling(&p), t.path().join("races-2.ron"));
        std::fs::write(t.path().join("races-2.ron"), "x").unwrap();
        assert_eq!(free_sibling(&p), t.path().join("races-3.ron"));
    }

    #[test]
    fn prompt_paths_are_checked() {
        let t = tempfile::tempdir().unwrap();
        assert!(check_prompt_path(PromptKind::Open, Path::new("")).is_some());
        assert!(
            check_prompt_path(PromptKind::Open, &t.path().join("nope.ron"))
                .unwrap()
                .contains("does not exist")
        );
        assert!(
            check_prompt_path(PromptKind::ImportDump, t.path())
                .unwrap()
                .contains("no ring.bin")
        );
        assert!(
            check_prompt_path(PromptKind::SaveAs { snapshot: false }, t.path())
                .unwrap()
                .contains("directory")
        );
        let export = PromptKind::Export(crate::ui::export::Export::DebugLog);
        assert!(
            check_prompt_path(export, t.path())
                .unwrap()
                .contains("give a file name such as debug_log.csv")
        );
        assert!(
            check_prompt_path(export, &t.path().join("x/log.csv"))
                .unwrap()
                .contains("does not exist")
        );
        assert!(check_prompt_path(export, &t.path().join("log.csv")).is_none());
        assert!(
            check_prompt_path(
                PromptKind::SaveAs { snapshot: false },
                &t.path().join("a.ron")
            )
            .is_none()
        );
        assert!(
            check_prompt_path(
                PromptKind::SaveAs { snapshot: false },
                &t.path().join("x/a.ron")
            )
            .unwrap()
            .contains("does not exist")
        );
    }

    #[test]
    fn recent_files_are_deduplicated_and_capped() {
        let mut f = FileOps::default();
        for i in 0..15 {
            f.remember(Path::new(&format!("/tmp/{i}.ron")));
        }
        f.remember(Path::new("/tmp/3.ron"));
        assert_eq!(f.recent.len(), RECENT_MAX);
        assert_eq!(f.recent[0], PathBuf::from("/tmp/3.ron"));
        assert_eq!(
            f.recent
                .iter()
                .filter(|p| p.as_path() == Path::new("/tmp/3.ron"))
                .count(),
            1
        );
    }

    #[test]
    fn loading_reports_errors() {
        let e = load_path(Path::new("/nonexistent.ron")).err().unwrap();
        assert!(e.contains("cannot read"), "{e}");
    }
}
