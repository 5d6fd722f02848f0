//! Moving along the timeline: the state becomes exactly what it was at a point.

use super::*;

impl Debugger {
    /// Moves to timeline point `target`: the state becomes exactly what it was there. A
    /// dispatch in progress is abandoned; stepping on from a mid-dispatch point starts a new
    /// dispatch.
    pub fn seek(&mut self, target: usize) {
        if let Err(e) = self.sync() {
            self.log_diagnostic(Diagnostic {
                kind: DiagnosticKind::IoUnserviced,
                dispatch: self.dispatches,
                pass: None,
                slot: None,
                word: None,
                slots: None,
                scheduler: false,
                count: 1,
                message: format!("could not read the GPU state back before moving in time: {e}"),
            });
            return;
        }
        self.abort_in_progress();
        self.revision += 1;
        let (version, from) = (self.state.version(), self.timeline.cursor());
        self.timeline.seek(&mut self.state, target);
        self.note_seek(version, from);
        self.dispatches = self.timeline.current().dispatches;
        self.stuck.clear();
        self.hit = None;
    }

    /// One point back. Returns false at the start.
    pub fn step_back(&mut self) -> bool {
        let _ = self.sync();
        let c = self.timeline.cursor();
        if c == 0 {
            return false;
        }
        self.seek(c - 1);
        true
    }

    /// One point forward along a kept future. Returns false at the end.
    pub fn step_forward(&mut self) -> bool {
        let _ = self.sync();
        if self.timeline.at_end() {
            return false;
        }
        self.seek(self.timeline.cursor() + 1);
        true
    }
}
