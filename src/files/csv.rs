//! CSV exports of what the app shows — the debug log, the diagnostics, a diff between two
//! timeline points, a word's history — so a user can take them to a spreadsheet or a
//! script. One header row, one row per item, numbers in decimal (hex is a column where the
//! app shows hex). Fields with commas, quotes or newlines are quoted (RFC 4180).

use std::fmt::Write;

use crate::abi::debug_log::DebugRecord;
use crate::debugger::who_wrote::WhoWrote;
use crate::engine::Diagnostic;

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// The debug log's records, in log order.
pub fn debug_log(records: &[DebugRecord]) -> String {
    let mut out = String::from("index,fmt_id,a1,a2,slot_base,slot\n");
    for (i, r) in records.iter().enumerate() {
        let _ = writeln!(
            out,
            "{i},{},{},{},{},{}",
            r.fmt_id,
            r.a1,
            r.a2,
            r.slot_base,
            opt(r.slot())
        );
    }
    out
}

/// Diagnostics as listed in the app.
pub fn diagnostics(list: &[Diagnostic]) -> String {
    let mut out = String::from("kind,dispatch,pass,slot,other_slot,scheduler,word,count,message\n");
    for d in list {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{}",
            d.kind.name(),
            d.dispatch,
            opt(d.pass),
            opt(d.slot),
            opt(d.slots.map(|s| s[1])),
            d.scheduler,
            opt(d.word),
            d.count,
            field(&d.message)
        );
    }
    out
}

/// A diff: the slots that differ and the control words that changed, as
/// `buffer,index,old,new` (a slot row gives the slot's status words).
pub fn diff(slots: &[(u32, u32, u32)], control: &[(u32, u32, u32)]) -> String {
    let mut out = String::from("buffer,index,old,new\n");
    for (s, a, b) in slots {
        let _ = writeln!(out, "ring_status,{s},{a},{b}");
    }
    for (w, a, b) in control {
        let _ = writeln!(out, "control,{w},{a},{b}");
    }
    out
}

/// A word's history: its first value, then each change with the point that made it.
pub fn word_history(w: &WhoWrote) -> String {
    let mut out = String::from("point,label,old,new,new_hex\n");
    let _ = writeln!(out, "0,start,,{},{:#x}", w.initial, w.initial);
    for c in &w.history {
        let _ = writeln!(
            out,
            "{},{},{},{},{:#x}",
            c.point,
            field(&c.label),
            c.old,
            c.new,
            c.new
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::debugger::who_wrote::{Change, WordRef};
    use crate::engine::DiagnosticKind;

    #[test]
    fn fields_with_commas_and_quotes_are_quoted() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a, b"), "\"a, b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn every_export_has_a_header_and_one_row_per_item() {
        let r = DebugRecord {
            fmt_id: 7,
            a1: 1,
            a2: 2,
            slot_base: 48,
        };
        assert_eq!(
            debug_log(&[r]),
            "index,fmt_id,a1,a2,slot_base,slot\n0,7,1,2,48,3\n"
        );
        let d = Diagnostic {
            kind: DiagnosticKind::Race,
            dispatch: 4,
            pass: None,
            slot: Some(2),
            word: Some(160),
            slots: Some([2, 9]),
            scheduler: false,
            count: 1,
            message: "slots 2 and 9 race on word 160, both store".into(),
        };
        let text = diagnostics(&[d]);
        let row = text.lines().nth(1).unwrap();
        assert!(
            row.starts_with("race,4,,2,9,false,160,1,\"slots 2"),
            "{row}"
        );
        assert_eq!(
            diff(&[(3, 1, 3)], &[(1, 0, 4)]),
            "buffer,index,old,new\nring_status,3,1,3\ncontrol,1,0,4\n"
        );
        let w = WhoWrote {
            word: WordRef::Control(1),
            initial: 0,
            history: vec![Change {
                point: 5,
                label: "dispatch 0: done (1 passes, 4 claimed)".into(),
                old: 0,
                new: 4,
            }],
            last: Some(0),
            writers: vec![],
        };
        assert_eq!(
            word_history(&w),
            "point,label,old,new,new_hex\n0,start,,0,0x0\n5,\"dispatch 0: done (1 passes, 4 claimed)\",0,4,0x4\n"
        );
    }
}
