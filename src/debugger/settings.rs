//! Edits to how the session runs and where it stops: breakpoints, the variant, the pass
//! budget and the backend. They change no buffer, so they are not timeline points, but a
//! session saves them: going through [`Debugger::edit`] is what makes each one count as an
//! unsaved change ([`Debugger::revision`]) instead of every caller remembering to say so.

use super::breakpoint::{Breakpoint, Condition};
use super::{Debugger, DebuggerError};
use crate::abi::error::PublishError;
use crate::engine::{Backend, Variant};

/// The most breakpoints one session holds (the session file refuses more).
pub use crate::files::session::MAX_BREAKPOINTS;

/// One edit of the session's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Edit {
    AddBreakpoint(Condition),
    RemoveBreakpoint(usize),
    EnableBreakpoint {
        index: usize,
        enabled: bool,
    },
    Variant(Variant),
    PassBudget(u32),
    Backend(Backend),
    /// Names the timeline point at the cursor.
    AddBookmark(String),
    RemoveBookmark(usize),
}

/// A named timeline point, saved in the session. `point` counts from the timeline's first
/// point ever (trimming older points does not move it), so it stays on its point.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bookmark {
    pub point: usize,
    pub name: String,
}

/// The longest bookmark name, in bytes.
pub const MAX_BOOKMARK_NAME: usize = 200;
/// The most bookmarks a session holds.
pub const MAX_BOOKMARKS: usize = 1_000;

impl Edit {
    /// A short label for toasts and the command palette.
    pub fn label(&self) -> String {
        match self {
            Edit::AddBreakpoint(c) => format!("add breakpoint {}", c.describe()),
            Edit::RemoveBreakpoint(i) => format!("remove breakpoint {}", i + 1),
            Edit::EnableBreakpoint { index, enabled } => format!(
                "{} breakpoint {}",
                if *enabled { "enable" } else { "disable" },
                index + 1
            ),
            Edit::Variant(v) => format!("variant {}", v.name()),
            Edit::PassBudget(b) => format!("pass budget {b}"),
            Edit::Backend(b) => format!("{} backend", b.name()),
            Edit::AddBookmark(n) => format!("bookmark \"{n}\""),
            Edit::RemoveBookmark(i) => format!("remove bookmark {}", i + 1),
        }
    }
}

impl Debugger {
    /// Applies a settings edit. Every successful edit counts as an unsaved change.
    pub fn edit(&mut self, edit: Edit) -> Result<(), DebuggerError> {
        let missing = |i: usize, n: usize| {
            DebuggerError::Publish(PublishError::Invalid(format!(
                "there is no breakpoint {} (the session has {n})",
                i + 1
            )))
        };
        match edit {
            Edit::AddBreakpoint(c) => {
                if self.breakpoints.len() >= MAX_BREAKPOINTS {
                    return Err(DebuggerError::Publish(PublishError::Invalid(format!(
                        "a session holds at most {MAX_BREAKPOINTS} breakpoints: remove one first"
                    ))));
                }
                c.check(&self.geometry)
                    .map_err(|e| DebuggerError::Publish(PublishError::Invalid(e)))?;
                self.breakpoints.push(Breakpoint::new(c));
            }
            Edit::RemoveBreakpoint(i) => {
                if i >= self.breakpoints.len() {
                    return Err(missing(i, self.breakpoints.len()));
                }
                self.breakpoints.remove(i);
                self.forget_breakpoint_hits(i);
            }
            Edit::EnableBreakpoint { index, enabled } => {
                let n = self.breakpoints.len();
                self.breakpoints
                    .get_mut(index)
                    .ok_or_else(|| missing(index, n))?
                    .enabled = enabled;
            }
            Edit::Variant(v) => {
                let mut c = self.config;
                c.variant = v;
                self.set_config(c)?;
            }
            Edit::PassBudget(b) => {
                let mut c = self.config;
                c.pass_budget = b;
                self.set_config(c)?;
            }
            Edit::Backend(b) => self.set_backend(b)?,
            Edit::AddBookmark(name) => {
                let name = name.trim().to_string();
                let invalid = |m: String| DebuggerError::Publish(PublishError::Invalid(m));
                if name.is_empty() {
                    return Err(invalid("give the bookmark a name".into()));
                }
                if name.len() > MAX_BOOKMARK_NAME {
                    return Err(invalid(format!(
                        "a bookmark name is at most {MAX_BOOKMARK_NAME} bytes"
                    )));
                }
                if self.bookmarks.len() >= MAX_BOOKMARKS {
                    return Err(invalid(format!(
                        "a session holds at most {MAX_BOOKMARKS} bookmarks: remove one first"
                    )));
                }
                let point = self.timeline.trimmed() as usize + self.timeline.cursor();
                self.bookmarks.push(Bookmark { point, name });
                self.bookmarks.sort_by_key(|b| b.point);
            }
            Edit::RemoveBookmark(i) => {
                if i >= self.bookmarks.len() {
                    return Err(DebuggerError::Publish(PublishError::Invalid(format!(
                        "there is no bookmark {} (the session has {})",
                        i + 1,
                        self.bookmarks.len()
                    ))));
                }
                self.bookmarks.remove(i);
            }
        }
        self.revision += 1;
        Ok(())
    }

    /// The bookmarks, by point.
    pub fn bookmarks(&self) -> &[Bookmark] {
        &self.bookmarks
    }

    /// The timeline index of a bookmark, or `None` when its point was trimmed away.
    pub fn bookmark_point(&self, b: &Bookmark) -> Option<usize> {
        b.point
            .checked_sub(self.timeline.trimmed() as usize)
            .filter(|&p| p < self.timeline.len())
    }

    /// Replaces the bookmarks (a session loading them).
    pub fn set_bookmarks(&mut self, mut b: Vec<Bookmark>) {
        b.sort_by_key(|b| b.point);
        self.bookmarks = b;
    }

    /// A counter that grows with every change a session would save: actions, dispatches,
    /// passes, moves in time and settings edits. The app compares it with the revision it
    /// last saved or opened, so "unsaved" cannot be forgotten by one of many callers.
    pub fn revision(&self) -> u64 {
        self.revision
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debugger::breakpoint::SlotSelector;

    fn debugger() -> Debugger {
        crate::debugger::test_debugger(32, 0)
    }

    #[test]
    fn every_successful_edit_is_an_unsaved_change_and_a_refused_one_is_not() {
        let mut d = debugger();
        let r0 = d.revision();
        let c = Condition::SlotEnters {
            slots: SlotSelector::One(3),
            status: crate::abi::status::SlotStatus::Done,
        };
        d.edit(Edit::AddBreakpoint(c.clone())).unwrap();
        assert_eq!(d.breakpoints().len(), 1);
        assert_eq!(d.revision(), r0 + 1);
        d.edit(Edit::EnableBreakpoint {
            index: 0,
            enabled: false,
        })
        .unwrap();
        assert!(!d.breakpoints()[0].enabled);
        d.edit(Edit::PassBudget(7)).unwrap();
        assert_eq!(d.config().pass_budget, 7);
        assert_eq!(d.revision(), r0 + 3);
        let before = d.revision();
        let e = d.edit(Edit::RemoveBreakpoint(4)).unwrap_err().to_string();
        assert!(e.contains("no breakpoint 5"), "{e}");
        assert!(d.edit(Edit::PassBudget(0)).is_err());
        let outside = Condition::SlotEnters {
            slots: SlotSelector::One(40),
            status: crate::abi::status::SlotStatus::Done,
        };
        assert!(d.edit(Edit::AddBreakpoint(outside)).is_err());
        assert_eq!(d.revision(), before);
        d.edit(Edit::RemoveBreakpoint(0)).unwrap();
        assert!(d.breakpoints().is_empty());
    }

    #[test]
    fn bookmarks_name_the_point_at_the_cursor_and_refuse_bad_names() {
        let mut d = debugger();
        d.apply(crate::debugger::action::Action::Dispatch { count: 3 })
            .unwrap();
        d.seek(1);
        d.edit(Edit::AddBookmark("  first dispatch ".into()))
            .unwrap();
        d.seek(3);
        d.edit(Edit::AddBookmark("end".into())).unwrap();
        let b = d.bookmarks();
        assert_eq!(b.len(), 2);
        assert_eq!((b[0].point, b[0].name.as_str()), (1, "first dispatch"));
        assert_eq!(d.bookmark_point(&b[1]), Some(3));
        assert!(d.edit(Edit::AddBookmark("  ".into())).is_err());
        assert!(d.edit(Edit::AddBookmark("x".repeat(201))).is_err());
        // acting from point 1 drops the points after it, and the bookmark on them
        d.seek(1);
        d.apply(crate::debugger::action::Action::Reset).unwrap();
        assert_eq!(d.bookmarks().len(), 1);
        // undo brings it back
        d.restore_future().unwrap();
        assert_eq!(d.bookmarks().len(), 2);
        d.edit(Edit::RemoveBookmark(0)).unwrap();
        assert_eq!(d.bookmarks()[0].name, "end");
        assert!(d.edit(Edit::RemoveBookmark(5)).is_err());
    }

    #[test]
    fn stepping_back_and_seeking_are_unsaved_changes() {
        let mut d = debugger();
        d.apply(crate::debugger::action::Action::Dispatch { count: 2 })
            .unwrap();
        let r = d.revision();
        assert!(d.step_back());
        assert!(d.revision() > r);
        let r = d.revision();
        d.seek(0);
        assert!(d.revision() > r);
    }
}
