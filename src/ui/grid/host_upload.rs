//! Which slots the grid's GPU copy of the CPU backend's ring must take this frame: the slots
//! the debugger's steps changed since the copy was made, and the slots a new highlight marks.
//! Copying only those keeps a frame's host-to-GPU traffic to what changed (DESIGN.md §5)
//! instead of every slot's words, 12 MiB a frame at 1M slots.

use crate::debugger::Debugger;
use crate::ui::grid::render::ContentVersion;

/// The slots whose ring words or changed mark differ between the copy at `held` and the
/// state at `now`, or `None` to copy everything. `marked` are the slots that carry the
/// serial of `now`: marks of older serials draw alike whatever their value, so when the
/// serial moves only the new ones need to go up.
pub fn slots_to_upload(
    held: Option<ContentVersion>,
    now: ContentVersion,
    debugger: &mut Debugger,
    marked: &[u32],
) -> Option<Vec<u32>> {
    // asked every frame, so the debugger's list always starts at the copy's version
    let since = held.map_or((u64::MAX, u64::MAX), |(id, generation, _)| (id, generation));
    let mut slots = debugger.take_ring_changes_since(since)?;
    let (_, _, held_serial) = held?;
    let serial = now.2;
    if serial != held_serial {
        if serial < held_serial {
            // the serial wrapped: an old mark could equal the new serial
            return None;
        }
        slots.extend_from_slice(marked);
    }
    Some(slots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::opcode::Opcode;
    use crate::debugger::action::Action;
    use crate::debugger::{Geometry, RunConfig};
    use crate::engine::Backend;

    fn held(d: &Debugger, serial: u32) -> ContentVersion {
        let (id, generation) = d.state().version();
        (id, generation, serial)
    }

    fn sorted(v: Option<Vec<u32>>) -> Option<Vec<u32>> {
        v.map(|mut v| {
            v.sort_unstable();
            v.dedup();
            v
        })
    }

    #[test]
    fn steps_list_the_slots_they_changed_and_a_new_serial_its_marks() {
        let g = Geometry {
            slot_count: 64,
            tenant_count: 1,
            observable_slots: 0,
        };
        let mut d = Debugger::new(g, RunConfig::default(), Backend::Cpu).unwrap();
        let first = held(&d, 0);
        assert_eq!(
            slots_to_upload(None, first, &mut d, &[]),
            None,
            "no copy yet"
        );
        for slot in [5, 6] {
            d.apply(Action::Publish {
                slot,
                tenant: 0,
                opcode: Opcode::NOP,
                args: vec![],
                priority: None,
            })
            .unwrap();
        }
        let published = held(&d, 0);
        assert_eq!(
            sorted(slots_to_upload(Some(first), published, &mut d, &[])),
            Some(vec![5, 6])
        );
        d.dispatch().unwrap();
        let ran = held(&d, 1);
        assert_eq!(
            sorted(slots_to_upload(Some(published), ran, &mut d, &[5, 6])),
            Some(vec![5, 6]),
            "the claimed slots, and the marks of the new serial"
        );
        d.dispatch().unwrap();
        let idle = held(&d, 1);
        assert_eq!(
            slots_to_upload(Some(ran), idle, &mut d, &[5, 6]),
            Some(vec![]),
            "a dispatch that claimed nothing, same serial: nothing to copy"
        );
        d.step_back();
        d.step_back();
        let back = held(&d, 2);
        assert_eq!(
            sorted(slots_to_upload(Some(idle), back, &mut d, &[])),
            Some(vec![5, 6]),
            "stepping back over the dispatch that ran them"
        );
        assert_eq!(
            slots_to_upload(Some((back.0, back.1, 9)), back, &mut d, &[]),
            None,
            "the serial went back: copy everything"
        );
        assert_eq!(
            slots_to_upload(Some((back.0 + 1, back.1, 2)), back, &mut d, &[]),
            None,
            "another mirror"
        );
    }
}
