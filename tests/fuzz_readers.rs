//! Property tests over the session and dump readers: whatever the bytes, they return a value
//! or an error with a message — never a panic. Bounded case counts keep CI time small.

use proptest::prelude::*;

const SESSION: &str = include_str!("../sessions/every_opcode.ron");

fn mutate(text: &str, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut b = text.as_bytes().to_vec();
    for &(pos, kind, byte) in edits {
        if b.is_empty() {
            b.push(byte);
            continue;
        }
        let i = pos % b.len();
        match kind % 4 {
            0 => b[i] = byte,
            1 => b.insert(i, byte),
            2 => {
                b.remove(i);
            }
            _ => b.truncate(i),
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn mutated_sessions_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)) {
        let bytes = mutate(SESSION, &edits);
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("fuzz.ron");
        std::fs::write(&p, &bytes).unwrap();
        match megascope::session::load(&p) {
            Ok(l) => prop_assert!(l.debugger.state().slot_count() > 0),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("fuzz.ron");
        std::fs::write(&p, &bytes).unwrap();
        if let Err(e) = megascope::session::load(&p) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn dumps_of_any_length_never_panic(
        lens in (0usize..800, 0usize..300, 0usize..1100, 0usize..2100),
        fill in any::<u8>(),
    ) {
        let t = tempfile::tempdir().unwrap();
        let (c, r, d, io) = lens;
        for (name, len) in [("control.bin", c * 4 + c % 3), ("ring.bin", r * 4), ("debug_log.bin", d), ("io_queue.bin", io)] {
            std::fs::write(t.path().join(name), vec![fill; len]).unwrap();
        }
        match megascope::dump::read_dump(t.path()) {
            Ok(m) => {
                // a dump that loads dispatches without a panic, whatever its words
                let mut m = m;
                let _ = m.dispatch(&mut megascope::engine::cpu::CpuEngine::new(), &Default::default());
            }
            Err(e) => prop_assert!(e.to_string().contains(".bin") || e.to_string().contains("dump")),
        }
    }

    #[test]
    fn garbage_states_dispatch_without_panics(
        words in proptest::collection::vec(any::<u32>(), 16 * 8),
        control in proptest::collection::vec(any::<u32>(), 168),
        variant in 0u8..3,
    ) {
        use megascope::resident::{Readback, ResidentBuffers};
        let mut debug = vec![0u32; 257];
        debug[0] = control[7];
        let mut m = ResidentBuffers::from_words(8, Readback { control, ring: words, debug_log: debug, io_queue: vec![0; 512] }).unwrap();
        let v = [megascope::engine::Variant::Once, megascope::engine::Variant::Persistent, megascope::engine::Variant::Priority][variant as usize];
        let opts = megascope::engine::DispatchOptions { variant: v, pass_budget: 8, ..Default::default() };
        prop_assert!(m.dispatch(&mut megascope::engine::cpu::CpuEngine::new(), &opts).is_ok());
    }
}
