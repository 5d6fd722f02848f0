// The pass gate: one thread run after every pass of `megakernel.wgsl`. It counts the pass and
// decides, as the CPU engine does after each pass, whether the dispatch has ended:
//   once: after its one pass; looping: SHUTDOWN set (or every workgroup returned), else a
//   pass that claimed nothing (settled), else the pass budget spent.
// Once ended it zeroes the megakernel's indirect arguments, so the passes the host encoded
// ahead cost an empty dispatch each, and arms the status histogram's indirect arguments.
// After the end it changes nothing (so `passes` counts only passes that ran).
// SHUTDOWN as the dispatch found it (the `shutdown_set` diagnostic; lanes of the first pass
// can see a SHUTDOWN that a slot of that same pass executed, so they cannot tell) is copied
// into the header by the host's first submission, a buffer copy rather than a kernel.

// read_write: it shares a buffer with the run state (one usage per buffer in a dispatch)
@group(0) @binding(0) var<storage, read_write> control: array<u32>;
@group(0) @binding(1) var<storage, read_write> run: array<u32>;
@group(0) @binding(2) var<storage, read_write> indirect: array<u32>;

@compute @workgroup_size(1)
fn pass_gate() {
    if (run[RS_END] != END_RUNNING) {
        return;
    }
    let passes = run[RS_PASSES] + 1u;
    run[RS_PASSES] = passes;
    var claims = 0u;
    for (var i = 0u; i < SHARDS; i++) {
        claims += run[RS_PASS_CLAIMS + i];
        run[RS_PASS_CLAIMS + i] = 0u;
    }
    run[RS_CLAIMED] += claims;
    // workgroups that ran this pass: those not returned by its end (a workgroup returns in
    // the pass where it first sees SHUTDOWN, without running)
    run[RS_LIVE_GROUP_PASSES] += run[RS_GROUPS] - min(run[RS_RETURNED], run[RS_GROUPS]);
    var end = END_RUNNING;
    if (run[RS_LOOPING] == 0u) {
        end = END_ONE_PASS;
    } else if (control[SHUTDOWN] != 0u || run[RS_RETURNED] >= run[RS_GROUPS]) {
        end = END_SHUTDOWN;
    } else if (claims == 0u) {
        end = END_SETTLED;
    } else if (passes >= run[RS_ALLOWED]) {
        end = END_PASS_BUDGET;
    }
    if (end != END_RUNNING) {
        run[RS_END] = end;
        indirect[IND_PASS + 0u] = 0u;
        indirect[IND_PASS + 1u] = 0u;
        indirect[IND_PASS + 2u] = 0u;
        indirect[IND_HIST + 0u] = run[RS_HIST_X];
        indirect[IND_HIST + 1u] = run[RS_HIST_Y];
        indirect[IND_HIST + 2u] = 1u;
    }
}
