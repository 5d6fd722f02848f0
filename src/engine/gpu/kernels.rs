//! The three compute kernels and their bind-group layouts: the megakernel pass
//! (`shaders/engine/megakernel.wgsl`: entry point `pass_direct` for `once` and `persistent`,
//! `pass_priority` for the partition scan; one pipeline per entry point, workgroup size
//! (the `WG` override constant) and race analysis, built on first use and cached), the
//! one-thread pass gate
//! (`shaders/engine/pass_gate.wgsl`) and the end-of-dispatch status histogram
//! (`shaders/engine/status_histogram.wgsl`).

use std::collections::HashMap;

use super::device::scoped;
use super::run_state::{PARAMS_BYTES, shader_source};
use crate::engine::EngineError;

const MEGAKERNEL: &str = include_str!("../../../shaders/engine/megakernel.wgsl");
const PASS_GATE: &str = include_str!("../../../shaders/engine/pass_gate.wgsl");
const STATUS_HISTOGRAM: &str = include_str!("../../../shaders/engine/status_histogram.wgsl");
const RACE_TRACKING: &str = include_str!("../../../shaders/engine/race_tracking.wgsl");
/// The `race_*` hooks with analysis off: empty, with no bindings, so the kernel without
/// analysis is the one megascope had before it (the compiler drops the calls).
const RACE_OFF: &str = "fn race_read(slot: u32, w: u32) {}
fn race_add(slot: u32, w: u32, v: u32) {}
fn race_store(slot: u32, w: u32, v: u32) {}
fn race_threshold() {}
fn race_probe(slot: u32, lane: u32) {}
fn race_oob(kind: u32, slot: u32, word: u32, count: u32) {}
fn race_keyed(kind: u32, slot: u32, word: u32, extra: u32, count: u32) {}
fn race_flush_role(i: u32, min_inverted: u32, max: u32) {}
";

/// The direct passes' workgroup tallies on a hardware GPU: a lane whose slot only adds to the
/// control words it touches (NOP, ATOMIC_ADD, most STORE_U32s — and DONE_COUNT for every
/// slot, its last control access) adds into a small table in workgroup memory, and after one
/// barrier the table goes to `control` as one atomic per word (and a looping pass's claim
/// and execute counters to the run state as one atomic each). The race analysis' build
/// tallies too: its hooks record every add per slot, tallied or not, and its per-word
/// lowest and highest reader, adder and storer are kept per workgroup the same way. A million lanes then send a
/// few thousand atomics to METRICS, DONE_COUNT and the workload's counters instead of a
/// million, which the device serializes per address. The adds commute, and a slot that reads
/// or stores a word it added to never tallies, so every end state is one the lanes could
/// reach in some order. Off on a software driver, where the barrier makes every workgroup a
/// set of coroutines.
const AGG_ON: &str = "const AGG_TALLIES: bool = true;
const AGG_WORDS: u32 = 64u;
const AGG_PROBES: u32 = 8u;
// two tables of keys: control words added to, and the race analysis' summary pairs
const AGG_ADDS: u32 = 0u;
const AGG_ROLES: u32 = 1u;
var<workgroup> agg_keys: array<array<atomic<u32>, AGG_WORDS>, 2>;
var<workgroup> agg_vals: array<atomic<u32>, AGG_WORDS>;
var<workgroup> agg_role_min: array<atomic<u32>, AGG_WORDS>;
var<workgroup> agg_role_max: array<atomic<u32>, AGG_WORDS>;
var<workgroup> agg_claims: atomic<u32>;
var<private> agg_lane: bool;
var<private> agg_in_direct: bool;
fn agg_enter_direct() {
    agg_in_direct = true;
}
fn agg_claim() {
    atomicAdd(&agg_claims, 1u);
}
fn agg_begin(op: u32, a1: u32) {
    agg_lane = op == OP_NOP || op == OP_ATOMIC_ADD
        || (op == OP_STORE_U32 && a1 != METRICS + OP_STORE_U32);
}
// The entry of key `i` in table `t`, claimed if free, or AGG_WORDS when the probes find
// neither (the caller then goes to the device directly).
fn agg_find(t: u32, i: u32) -> u32 {
    let key = i + 1u;
    var k = i % AGG_WORDS;
    var probes = 0u;
    var found = AGG_WORDS;
    loop {
        var cur = atomicLoad(&agg_keys[t][k]);
        if (cur == 0u) {
            let r = atomicCompareExchangeWeak(&agg_keys[t][k], 0u, key);
            cur = select(r.old_value, key, r.exchanged);
        }
        if (cur == key) {
            found = k;
            break;
        }
        if (cur != 0u) {
            probes += 1u;
            if (probes >= AGG_PROBES) {
                break;
            }
            k = (k + 1u) % AGG_WORDS;
        }
    }
    return found;
}
// A lane's adds first go to its own three entries (a lane of a device workgroup that runs
// several of the dispatch's adds to the same words for each of its slots: METRICS[op],
// DONE_COUNT, an ATOMIC_ADD's target), and only one whose entries are taken goes to the
// workgroup table at once; `agg_flush` moves the entries there. The table's atomics on one
// word are serialized by the device, so this saves all but one per lane and word. Scalars,
// not an array, so they stay in registers. Only with PER > 1: a lane of one slot has nothing
// to gather, and the entries cost it registers (an H200 kernel of 0.084 ms for NOP with them,
// 0.071 without).
var<private> agg_k0: u32;
var<private> agg_v0: u32;
var<private> agg_k1: u32;
var<private> agg_v1: u32;
var<private> agg_k2: u32;
var<private> agg_v2: u32;
fn agg_table_add(i: u32, v: u32) -> bool {
    let k = agg_find(AGG_ADDS, i);
    if (k < AGG_WORDS) {
        atomicAdd(&agg_vals[k], v);
    }
    return k < AGG_WORDS;
}
fn agg_lane_add(key: u32, v: u32) -> bool {
    var done = true;
    if (agg_k0 == key) {
        agg_v0 += v;
    } else if (agg_k1 == key) {
        agg_v1 += v;
    } else if (agg_k2 == key) {
        agg_v2 += v;
    } else if (agg_k0 == 0u) {
        agg_k0 = key;
        agg_v0 = v;
    } else if (agg_k1 == 0u) {
        agg_k1 = key;
        agg_v1 = v;
    } else if (agg_k2 == 0u) {
        agg_k2 = key;
        agg_v2 = v;
    } else {
        done = false;
    }
    return done;
}
fn agg_lane_flush(key: u32, v: u32) {
    if (key != 0u && !agg_table_add(key - 1u, v)) {
        atomicAdd(&control[key - 1u], v);
    }
}
fn agg_add(i: u32, v: u32) -> bool {
    var done = false;
    if (agg_lane) {
        if (PER > 1u) {
            done = agg_lane_add(i + 1u, v);
        }
        if (!done) {
            done = agg_table_add(i, v);
        }
    }
    return done;
}
// The lowest and highest slot of a summary pair (the race words' index `i` of its minimum),
// kept for the workgroup: every lane of a pass reads the same few words, and the highest
// slot so far grows with every lane, so each would otherwise send the device an atomic.
fn agg_role(i: u32, slot: u32) -> bool {
    var k = AGG_WORDS;
    if (agg_in_direct) {
        k = agg_find(AGG_ROLES, i);
        if (k < AGG_WORDS) {
            atomicMax(&agg_role_min[k], ~slot);
            atomicMax(&agg_role_max[k], slot);
        }
    }
    return k < AGG_WORDS;
}
fn agg_flush(lid: u32, g: u32) {
    agg_lane_flush(agg_k0, agg_v0);
    agg_lane_flush(agg_k1, agg_v1);
    agg_lane_flush(agg_k2, agg_v2);
    workgroupBarrier();
    for (var k = lid; k < AGG_WORDS; k += WG) {
        let key = atomicLoad(&agg_keys[AGG_ADDS][k]);
        let v = atomicLoad(&agg_vals[k]);
        if (key != 0u && v != 0u) {
            atomicAdd(&control[key - 1u], v);
        }
        let role = atomicLoad(&agg_keys[AGG_ROLES][k]);
        if (role != 0u) {
            race_flush_role(role - 1u, atomicLoad(&agg_role_min[k]), atomicLoad(&agg_role_max[k]));
        }
    }
    let claims = atomicLoad(&agg_claims);
    if (lid == 0u && claims != 0u) {
        atomicAdd(&run[RS_PASS_CLAIMS + g % SHARDS], claims);
        atomicAdd(&run[RS_EXECUTED + g % SHARDS], claims);
    }
}
";
/// The tally hooks with aggregation off: every add goes straight to `control`, and the direct
/// pass has no barrier.
const AGG_OFF: &str = "const AGG_TALLIES: bool = false;
fn agg_claim() {}
fn agg_enter_direct() {}
fn agg_role(i: u32, slot: u32) -> bool { return false; }
fn agg_begin(op: u32, a1: u32) {}
fn agg_add(i: u32, v: u32) -> bool { return false; }
fn agg_flush(lid: u32, g: u32) {}
";

/// The snippets of which the host prepends one to the megakernel (for the shader-constant
/// test: a name every one of them defines needs no generated constant).
#[cfg(test)]
pub const PREPENDED: [&str; 2] = [AGG_ON, AGG_OFF];

/// The megakernel's second, non-atomic view of the ring (`ring_words`): opcode, tenant and
/// arguments never change during a dispatch, and a plain load is a gather on a software
/// driver where an atomic one runs lane by lane. After the race analysis' bindings 6 and 7.
pub const RING_WORDS_BINDING: u32 = 8;

fn storage(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

/// The parameters: one copy of a block picked per dispatch by a dynamic offset
/// ([`super::run_state::PARAMS_COPIES`]).
fn uniform(binding: u32) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: true,
            min_binding_size: wgpu::BufferSize::new(PARAMS_BYTES),
        },
        count: None,
    }
}

/// Which build of the megakernel a dispatch runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PassKey {
    pub workgroup_size: u32,
    /// The priority scan's entry point rather than the direct variants'.
    pub priority: bool,
    pub race: bool,
    /// Claims write the per-slot changed serials (the `MARK_CHANGED` override).
    pub marks_changed: bool,
    /// The handlers built in (the `OPS` override, [`super::run_state::HANDLED`] bits): the
    /// ring's opcodes on a software adapter, all of them on a GPU.
    pub handlers: u32,
    /// The direct pass tallies commutative adds per workgroup ([`AGG_ON`]); only ever set
    /// for the direct entry point (with race analysis or without: the analysis records
    /// every add per slot whether or not its atomic is tallied).
    pub aggregate: bool,
    /// The dispatch's workgroups one device workgroup of the direct pass runs (the `PER`
    /// override, [`super::run_state::groups_per_workgroup`]); 1 without the tallies.
    pub groups_per_workgroup: u32,
}

/// Layouts and pipelines, built once per device.
pub struct Kernels {
    module: wgpu::ShaderModule,
    /// The megakernel with workgroup tallies ([`AGG_ON`]).
    agg_module: wgpu::ShaderModule,
    pass_layout: wgpu::PipelineLayout,
    /// The megakernel with race analysis, and its layout.
    race_module: wgpu::ShaderModule,
    /// The megakernel with race analysis and workgroup tallies.
    race_agg_module: wgpu::ShaderModule,
    race_layout: wgpu::PipelineLayout,
    /// control, ring, debug log, run state, changed (all read-write), params (uniform), and
    /// the ring again at [`RING_WORDS_BINDING`].
    pub pass_bgl: wgpu::BindGroupLayout,
    /// `pass_bgl` plus the race words and the store log.
    pub race_bgl: wgpu::BindGroupLayout,
    /// control (read), run state, indirect arguments.
    pub gate_bgl: wgpu::BindGroupLayout,
    /// control (read), ring (read), run state, params, dense statuses.
    pub hist_bgl: wgpu::BindGroupLayout,
    pub gate: wgpu::ComputePipeline,
    pub histogram: wgpu::ComputePipeline,
    pub finalize: wgpu::ComputePipeline,
    /// Copies every slot's status word into the dense statuses buffer.
    pub gather: wgpu::ComputePipeline,
    /// Keyed by [`PassKey`].
    passes: HashMap<PassKey, wgpu::ComputePipeline>,
}

impl Kernels {
    pub fn new(device: &wgpu::Device) -> Result<Kernels, EngineError> {
        scoped(device, "building the megascope kernels", || {
            let pass_bgl = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("megakernel pass"),
                entries: &[
                    storage(0, false),
                    storage(1, false),
                    storage(2, false),
                    storage(3, false),
                    storage(4, false),
                    uniform(5),
                    storage(RING_WORDS_BINDING, false),
                ],
            });
            let race_bgl = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("megakernel pass with race analysis"),
                entries: &[
                    storage(0, false),
                    storage(1, false),
                    storage(2, false),
                    storage(3, false),
                    storage(4, false),
                    uniform(5),
                    storage(6, false),
                    storage(7, false),
                    storage(RING_WORDS_BINDING, false),
                ],
            });
            let gate_bgl = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("pass gate"),
                // control read-write though the gate only reads it: it shares a buffer with
                // the run state, and one buffer takes one usage in a dispatch
                entries: &[storage(0, false), storage(1, false), storage(2, false)],
            });
            let hist_bgl = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("status histogram"),
                entries: &[
                    storage(0, false),
                    storage(1, true),
                    storage(2, false),
                    uniform(3),
                    storage(4, false),
                ],
            });
            let layout = |label: &str, bgl: &wgpu::BindGroupLayout| {
                device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                    label: Some(label),
                    bind_group_layouts: &[Some(bgl)],
                    immediate_size: 0,
                })
            };
            let module = |label: &str, body: &str| {
                device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(label),
                    source: wgpu::ShaderSource::Wgsl(shader_source(body).into()),
                })
            };
            let pipeline = |label: &str,
                            layout: &wgpu::PipelineLayout,
                            module: &wgpu::ShaderModule,
                            entry: &str| {
                device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(label),
                    layout: Some(layout),
                    module,
                    entry_point: Some(entry),
                    compilation_options: Default::default(),
                    cache: None,
                })
            };
            let gate_module = module("engine/pass_gate.wgsl", PASS_GATE);
            let hist_module = module("status_histogram.wgsl", STATUS_HISTOGRAM);
            let gate_layout = layout("pass gate", &gate_bgl);
            let hist_layout = layout("status histogram", &hist_bgl);
            Ok(Kernels {
                module: module(
                    "engine/megakernel.wgsl",
                    &format!("{RACE_OFF}\n{AGG_OFF}\n{MEGAKERNEL}"),
                ),
                agg_module: module(
                    "engine/megakernel.wgsl with workgroup tallies",
                    &format!("{RACE_OFF}\n{AGG_ON}\n{MEGAKERNEL}"),
                ),
                pass_layout: layout("megakernel pass", &pass_bgl),
                race_module: module(
                    "engine/megakernel.wgsl with engine/race_tracking.wgsl",
                    &format!("{RACE_TRACKING}\n{AGG_OFF}\n{MEGAKERNEL}"),
                ),
                race_agg_module: module(
                    "engine/megakernel.wgsl with engine/race_tracking.wgsl and workgroup tallies",
                    &format!("{RACE_TRACKING}\n{AGG_ON}\n{MEGAKERNEL}"),
                ),
                race_layout: layout("megakernel pass with race analysis", &race_bgl),
                gate: pipeline("pass gate", &gate_layout, &gate_module, "pass_gate"),
                histogram: pipeline("status histogram", &hist_layout, &hist_module, "histogram"),
                finalize: pipeline("histogram finalize", &hist_layout, &hist_module, "finalize"),
                gather: pipeline(
                    "gather statuses",
                    &hist_layout,
                    &hist_module,
                    "gather_status",
                ),
                pass_bgl,
                race_bgl,
                gate_bgl,
                hist_bgl,
                passes: HashMap::new(),
            })
        })
    }

    /// The megakernel pipeline for `key` (workgroup size, the priority scan's or the direct
    /// variants', with or without race analysis and changed marks), built on first use.
    pub fn pass_pipeline(
        &mut self,
        device: &wgpu::Device,
        key: PassKey,
    ) -> Result<&wgpu::ComputePipeline, EngineError> {
        let PassKey {
            workgroup_size: wg,
            priority,
            race,
            marks_changed,
            handlers,
            aggregate,
            groups_per_workgroup: per,
        } = key;
        if !self.passes.contains_key(&key) {
            let entry = if priority {
                "pass_priority"
            } else {
                "pass_direct"
            };
            let p = scoped(
                device,
                &format!("building the megakernel ({entry}) for workgroup size {wg}"),
                || {
                    Ok(
                        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                            label: Some(entry),
                            layout: Some(if race {
                                &self.race_layout
                            } else {
                                &self.pass_layout
                            }),
                            module: match (race, aggregate) {
                                (true, true) => &self.race_agg_module,
                                (true, false) => &self.race_module,
                                (false, true) => &self.agg_module,
                                (false, false) => &self.module,
                            },
                            entry_point: Some(entry),
                            compilation_options: wgpu::PipelineCompilationOptions {
                                constants: &[
                                    ("WG", wg as f64),
                                    ("MARK_CHANGED", f64::from(u8::from(marks_changed))),
                                    ("OPS", f64::from(handlers)),
                                    ("PER", f64::from(per)),
                                ],
                                zero_initialize_workgroup_memory: true,
                            },
                            cache: None,
                        }),
                    )
                },
            )?;
            self.passes.insert(key, p);
        }
        self.passes
            .get(&key)
            .ok_or_else(|| EngineError::Gpu(format!("no megakernel for workgroup size {wg}")))
    }
}
