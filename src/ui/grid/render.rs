//! Draws the ring grid on the GPU with an egui_wgpu paint callback, from the ring storage
//! buffer itself: with the GPU backend that is the engine's own resident ring; with the CPU
//! backend the mirror's ring is uploaded here when it changes. Per frame only a small
//! uniform block is written.
//!
//! Two stages. A compute pass (`shaders/grid/colour.wgsl`) turns each slot into a texel of
//! a columns × rows cell texture, and only when the ring, the colour mode or the highlighted
//! dispatch changed; the fragment stage (`shaders/grid/draw.wgsl`) then does one texture
//! load per pixel. Decoding the ring per pixel instead made the grid most of a frame's cost
//! on a software rasterizer, where every pixel of every cell repeated the decode.

use bytemuck::{Pod, Zeroable};
use eframe::egui_wgpu::{self, wgpu};

use crate::ui::grid::colours as palette;

/// Mirrors `struct Grid` of the shader.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable, PartialEq)]
pub struct GridUniforms {
    pub origin: [f32; 2],
    pub size: [f32; 2],
    pub pan: [f32; 2],
    pub cell: f32,
    pub gap: f32,
    pub columns: u32,
    pub slot_count: u32,
    pub mode: u32,
    pub selected: u32,
    pub hovered: u32,
    pub serial: u32,
    pub flags: u32,
    /// Words per slot in the ring buffer the colour pass reads (set by `prepare`).
    pub ring_stride: u32,
    pub offsets: [u32; 8],
}

pub const FLAG_HIGHLIGHT: u32 = 1;
pub const NONE: u32 = u32::MAX;

/// Mirrors `struct Palette` of the shader.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct PaletteUniforms {
    status: [[f32; 4]; 9],
    opcode: [[f32; 4]; 14],
    tenant: [[f32; 4]; 12],
    priority: [[f32; 4]; 6],
    background: [f32; 4],
    gap: [f32; 4],
    changed: [f32; 4],
    selected: [f32; 4],
}

fn palette_uniforms() -> PaletteUniforms {
    let conv = |cs: &[egui::Color32]| -> Vec<[f32; 4]> {
        cs.iter().map(|c| palette::to_f32(*c)).collect()
    };
    PaletteUniforms {
        status: conv(&palette::STATUS).try_into().expect("9"),
        opcode: conv(&palette::OPCODE).try_into().expect("14"),
        tenant: conv(&palette::TENANT).try_into().expect("12"),
        priority: conv(&palette::PRIORITY).try_into().expect("6"),
        background: palette::to_f32(palette::BACKGROUND),
        gap: palette::to_f32(palette::GAP),
        changed: palette::to_f32(palette::CHANGED),
        selected: palette::to_f32(palette::SELECTED),
    }
}

/// The WGSL both stages start with.
const COMMON_WGSL: &str = include_str!("../../../shaders/grid/common.wgsl");

/// Words per slot in the engine's ring buffer (ABI.md: 64-byte slots).
pub const RING_STRIDE: u32 = 16;

/// Words per slot in the CPU backend's host copy: status, opcode, tenant.
pub const HOST_RING_STRIDE: u32 = 3;

/// Colour modes the colour pass knows (status, opcode, tenant, priority partition).
const MODES: u32 = 4;

/// Changed slots this close together go up in one write with the slots between them.
const SLOT_WRITE_GAP: u32 = 256;
/// More separate writes than this become one write spanning them.
const MAX_SLOT_WRITES: usize = 256;

/// The level of detail for cells of `cell_px` pixels, the shaders' `DETAIL`: 0 below a
/// pixel (each pixel shows the most important of the slots it covers), 1 for small cells
/// (flat colour), 2 from `DETAILED_CELL_PX` (gaps and change borders). `grid/colour.wgsl`
/// tests the same bounds.
pub fn detail_for(cell_px: f32) -> u32 {
    if cell_px < 1.0 {
        0
    } else if cell_px < DETAILED_CELL_PX {
        1
    } else {
        2
    }
}

pub const DETAILED_CELL_PX: f32 = 6.0;

/// Which specialisation of the colour pass a frame needs (its pipeline constants).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ColourPipelineKey {
    mode: u32,
    highlight: bool,
}

impl ColourPipelineKey {
    fn of(u: &GridUniforms) -> ColourPipelineKey {
        ColourPipelineKey {
            mode: u.mode.min(MODES - 1),
            highlight: u.flags & FLAG_HIGHLIGHT != 0,
        }
    }

    /// Position in `GridRenderer::colour_pipelines`.
    fn index(self) -> usize {
        self.mode as usize * 2 + usize::from(self.highlight)
    }
}

/// Everything the cell texture's content depends on; the colour pass runs when it changes.
#[derive(Clone, Debug, PartialEq)]
struct CellsKey {
    ring: wgpu::Buffer,
    changed: wgpu::Buffer,
    content: ContentVersion,
    pipeline: ColourPipelineKey,
    /// The colour pass bakes the change lift into small cells.
    detail: u32,
    serial: u32,
    columns: u32,
    slot_count: u32,
    offsets: [u32; 8],
}

/// Identifies what the ring and changed buffers hold: the mirror's version (id,
/// generation) and the serial of the last dispatch, so a dispatch on the GPU, which leaves
/// the mirror alone, still counts as a change.
pub type ContentVersion = (u64, u64, u32);

/// The cell texture and the bind groups that use it.
struct Cells {
    texture: wgpu::Texture,
    render_group: wgpu::BindGroup,
    /// The colour pass's bind group and the ring/changed buffers it binds.
    colour_group: Option<(wgpu::Buffer, wgpu::Buffer, wgpu::BindGroup)>,
}

/// The pipelines and buffers, kept in egui_wgpu's callback resources.
pub struct GridRenderer {
    /// One per `ColourPipelineKey::index`.
    colour_pipelines: Vec<wgpu::ComputePipeline>,
    /// One per level of detail (see `detail_for`).
    draw_pipelines: [wgpu::RenderPipeline; 3],
    colour_layout: wgpu::BindGroupLayout,
    draw_layout: wgpu::BindGroupLayout,
    uniforms: wgpu::Buffer,
    palette: wgpu::Buffer,
    cells: Option<Cells>,
    /// What the cell texture was last coloured from.
    coloured: Option<CellsKey>,
    /// The CPU backend's copy of the ring (`HOST_RING_STRIDE` words a slot) and of the
    /// changed-serial words, and the host-side staging of the former.
    host_ring: Option<wgpu::Buffer>,
    host_words: Vec<u32>,
    /// What the host copy holds.
    host_content: Option<ContentVersion>,
    /// Moves whenever the host copy's bytes do: the colour pass keys on it rather than on
    /// the mirror's generation, which moves on every dispatch, even one that changed no slot.
    host_revision: u64,
    host_changed: Option<wgpu::Buffer>,
    /// How many times the colour pass ran (tests check that unchanged frames skip it).
    pub colour_passes: u64,
    pub srgb_target: bool,
}

fn layout_entry(
    binding: u32,
    visibility: wgpu::ShaderStages,
    ty: wgpu::BindingType,
) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility,
        ty,
        count: None,
    }
}

fn buffer_entry(
    binding: u32,
    visibility: wgpu::ShaderStages,
    ty: wgpu::BufferBindingType,
) -> wgpu::BindGroupLayoutEntry {
    layout_entry(
        binding,
        visibility,
        wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
    )
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

impl GridRenderer {
    pub fn new(device: &wgpu::Device, target_format: wgpu::TextureFormat) -> GridRenderer {
        let module = |label: &str, source: &str| {
            device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(format!("{COMMON_WGSL}\n{source}").into()),
            })
        };
        let colour_shader = module(
            "grid/colour.wgsl",
            include_str!("../../../shaders/grid/colour.wgsl"),
        );
        let draw_shader = module(
            "grid/draw.wgsl",
            include_str!("../../../shaders/grid/draw.wgsl"),
        );
        let compute = wgpu::ShaderStages::COMPUTE;
        let fragment = wgpu::ShaderStages::FRAGMENT;
        let uniform = wgpu::BufferBindingType::Uniform;
        let storage = wgpu::BufferBindingType::Storage { read_only: true };
        let colour_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("ring grid: colour pass"),
            entries: &[
                buffer_entry(0, compute, uniform),
                buffer_entry(1, compute, uniform),
                buffer_entry(2, compute, storage),
                buffer_entry(3, compute, storage),
                layout_entry(
                    4,
                    compute,
                    wgpu::BindingType::StorageTexture {
                        access: wgpu::StorageTextureAccess::WriteOnly,
                        format: wgpu::TextureFormat::Rgba8Unorm,
                        view_dimension: wgpu::TextureViewDimension::D2,
                    },
                ),
            ],
        });
        let draw_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("ring grid: draw"),
            entries: &[
                buffer_entry(0, fragment, uniform),
                buffer_entry(1, fragment, uniform),
                layout_entry(
                    2,
                    fragment,
                    wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: false },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                ),
            ],
        });
        let pipeline_layout = |label: &str, layout: &wgpu::BindGroupLayout| {
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(label),
                bind_group_layouts: &[Some(layout)],
                immediate_size: 0,
            })
        };
        let colour_pipeline_layout = pipeline_layout("ring grid: colour pass", &colour_layout);
        let draw_pipeline_layout = pipeline_layout("ring grid: draw", &draw_layout);
        let colour_pipelines = (0..MODES * 2)
            .map(|i| {
                let key = ColourPipelineKey {
                    mode: i / 2,
                    highlight: i % 2 == 1,
                };
                debug_assert_eq!(key.index(), i as usize);
                let constants = [
                    ("MODE", f64::from(key.mode)),
                    ("HIGHLIGHT", flag(key.highlight)),
                ];
                device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some("ring grid: colour pass"),
                    layout: Some(&colour_pipeline_layout),
                    module: &colour_shader,
                    entry_point: Some("cs_main"),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants: &constants,
                        ..Default::default()
                    },
                    cache: None,
                })
            })
            .collect();
        let srgb = target_format.is_srgb();
        let draw_pipeline = |detail: u32| {
            let constants = [("DETAIL", f64::from(detail)), ("SRGB_OUT", flag(srgb))];
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some("ring grid: draw"),
                layout: Some(&draw_pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &draw_shader,
                    entry_point: Some("vs_main"),
                    buffers: &[],
                    compilation_options: Default::default(),
                },
                fragment: Some(wgpu::FragmentState {
                    module: &draw_shader,
                    entry_point: Some("fs_main"),
                    targets: &[Some(target_format.into())],
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants: &constants,
                        ..Default::default()
                    },
                }),
                primitive: wgpu::PrimitiveState::default(),
                depth_stencil: None,
                multisample: wgpu::MultisampleState::default(),
                multiview_mask: None,
                cache: None,
            })
        };
        let uniforms = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("ring grid uniforms"),
            size: std::mem::size_of::<GridUniforms>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let palette = wgpu::util::DeviceExt::create_buffer_init(
            device,
            &wgpu::util::BufferInitDescriptor {
                label: Some("ring grid palette"),
                contents: bytemuck::bytes_of(&palette_uniforms()),
                usage: wgpu::BufferUsages::UNIFORM,
            },
        );
        GridRenderer {
            colour_pipelines,
            draw_pipelines: [draw_pipeline(0), draw_pipeline(1), draw_pipeline(2)],
            colour_layout,
            draw_layout,
            uniforms,
            palette,
            cells: None,
            coloured: None,
            host_ring: None,
            host_words: Vec::new(),
            host_content: None,
            host_revision: 0,
            host_changed: None,
            colour_passes: 0,
            srgb_target: srgb,
        }
    }

    /// What the host copy holds (`None` before the first upload).
    pub fn host_content(&self) -> Option<ContentVersion> {
        self.host_content
    }

    /// Uploads the CPU backend's ring and changed words, unless the host copy already holds
    /// `content`. Of the ring only what the colour pass reads goes up, `HOST_RING_STRIDE`
    /// words a slot: 12 of every 64 bytes. `slots`, when given, are the only slots whose
    /// ring words or changed mark differ from what the host copy holds: only they go up, so
    /// a dispatch that changed a few slots of a million copies a few slots' words (gathering
    /// every slot's three words read every slot's 64-byte line, ~7 ms a frame at 1M slots).
    pub fn upload_host(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        content: ContentVersion,
        ring: &[u32],
        changed: &[u32],
        slots: Option<&[u32]>,
    ) {
        if self.host_content == Some(content) {
            return;
        }
        self.host_content = Some(content);
        let n = ring.len() / RING_STRIDE as usize;
        let sized = |b: &Option<wgpu::Buffer>, words: usize| {
            b.as_ref()
                .is_some_and(|b| b.size() == (words.max(4) * 4) as u64)
        };
        let in_place = sized(&self.host_ring, n * HOST_RING_STRIDE as usize)
            && sized(&self.host_changed, changed.len());
        if let (Some(slots), true) = (slots, in_place) {
            if !slots.is_empty() {
                self.upload_slots(queue, ring, changed, slots);
                self.host_revision += 1;
            }
            return;
        }
        self.host_revision += 1;
        fn put(
            device: &wgpu::Device,
            queue: &wgpu::Queue,
            slot: &mut Option<wgpu::Buffer>,
            words: &[u32],
            label: &str,
        ) {
            let bytes = (words.len().max(4) * 4) as u64;
            if slot.as_ref().is_none_or(|b| b.size() != bytes) {
                *slot = Some(device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size: bytes,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }));
            }
            if !words.is_empty() {
                queue.write_buffer(
                    slot.as_ref().expect("created"),
                    0,
                    bytemuck::cast_slice(words),
                );
            }
        }
        self.host_words.clear();
        for slot in ring.chunks_exact(RING_STRIDE as usize) {
            self.host_words
                .extend_from_slice(&slot[..HOST_RING_STRIDE as usize]);
        }
        put(
            device,
            queue,
            &mut self.host_ring,
            &self.host_words,
            "ring grid: host ring (status, opcode, tenant)",
        );
        put(
            device,
            queue,
            &mut self.host_changed,
            changed,
            "ring grid: host changed",
        );
    }

    /// Writes the words of `slots` into the host copy: runs of nearby slots as one write
    /// each (a write costs more than the few unchanged slots between two changed ones), and
    /// past `MAX_SLOT_WRITES` runs, one write spanning them all.
    fn upload_slots(&mut self, queue: &wgpu::Queue, ring: &[u32], changed: &[u32], slots: &[u32]) {
        let n = (ring.len() / RING_STRIDE as usize).min(changed.len()) as u32;
        let mut sorted = slots.to_vec();
        sorted.sort_unstable();
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for s in sorted.into_iter().filter(|&s| s < n) {
            match runs.last_mut() {
                Some((_, end)) if s <= *end + SLOT_WRITE_GAP => *end = (*end).max(s + 1),
                _ => runs.push((s, s + 1)),
            }
        }
        if runs.len() > MAX_SLOT_WRITES {
            runs = vec![(runs[0].0, runs[runs.len() - 1].1)];
        }
        let (Some(ring_copy), Some(changed_copy)) = (&self.host_ring, &self.host_changed) else {
            return;
        };
        let stride = HOST_RING_STRIDE as usize;
        for (a, b) in runs {
            let (a, b) = (a as usize, b as usize);
            self.host_words.clear();
            for slot in ring[a * RING_STRIDE as usize..b * RING_STRIDE as usize]
                .chunks_exact(RING_STRIDE as usize)
            {
                self.host_words.extend_from_slice(&slot[..stride]);
            }
            queue.write_buffer(
                ring_copy,
                (a * stride * 4) as u64,
                bytemuck::cast_slice(&self.host_words),
            );
            queue.write_buffer(
                changed_copy,
                (a * 4) as u64,
                bytemuck::cast_slice(&changed[a..b]),
            );
        }
    }

    pub fn host_buffers(&self) -> Option<(wgpu::Buffer, wgpu::Buffer)> {
        Some((self.host_ring.clone()?, self.host_changed.clone()?))
    }
}

/// One frame's grid draw.
pub struct GridCallback {
    pub uniforms: GridUniforms,
    /// Ring and changed buffers to read; `None` = the renderer's host copies.
    pub buffers: Option<(wgpu::Buffer, wgpu::Buffer)>,
    /// What those buffers hold, so an unchanged ring is not coloured again.
    pub content: ContentVersion,
}

impl GridRenderer {
    /// A bind group of `layout`: the uniforms and the palette at bindings 0 and 1 (both
    /// stages declare them in grid/common.wgsl), then `rest` from binding 2 on.
    fn bind_group<const N: usize>(
        &self,
        device: &wgpu::Device,
        label: &str,
        layout: &wgpu::BindGroupLayout,
        rest: [wgpu::BindingResource<'_>; N],
    ) -> wgpu::BindGroup {
        let shared = [
            self.uniforms.as_entire_binding(),
            self.palette.as_entire_binding(),
        ];
        let entries: Vec<wgpu::BindGroupEntry> = shared
            .into_iter()
            .chain(rest)
            .enumerate()
            .map(|(binding, resource)| wgpu::BindGroupEntry {
                binding: binding as u32,
                resource,
            })
            .collect();
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout,
            entries: &entries,
        })
    }

    /// Makes the cell texture `columns × rows` (and the draw bind group that reads it).
    fn ensure_cells(&mut self, device: &wgpu::Device, columns: u32, rows: u32) {
        let size = wgpu::Extent3d {
            width: columns.max(1),
            height: rows.max(1),
            depth_or_array_layers: 1,
        };
        if self
            .cells
            .as_ref()
            .is_some_and(|c| c.texture.size() == size)
        {
            return;
        }
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("ring grid cells"),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::STORAGE_BINDING | wgpu::TextureUsages::TEXTURE_BINDING,
            view_formats: &[],
        });
        let view = texture.create_view(&Default::default());
        let render_group = self.bind_group(
            device,
            "ring grid: draw",
            &self.draw_layout,
            [wgpu::BindingResource::TextureView(&view)],
        );
        self.cells = Some(Cells {
            texture,
            render_group,
            colour_group: None,
        });
        self.coloured = None;
    }

    /// Records the colour pass into `encoder` when the cells' inputs changed.
    fn colour_cells(
        &mut self,
        device: &wgpu::Device,
        encoder: &mut wgpu::CommandEncoder,
        key: CellsKey,
    ) {
        if self.coloured.as_ref() == Some(&key) {
            return;
        }
        let Some(cells) = &self.cells else {
            return;
        };
        let stale = cells
            .colour_group
            .as_ref()
            .is_none_or(|(r, c, _)| *r != key.ring || *c != key.changed);
        if stale {
            let view = cells.texture.create_view(&Default::default());
            let group = self.bind_group(
                device,
                "ring grid: colour pass",
                &self.colour_layout,
                [
                    key.ring.as_entire_binding(),
                    key.changed.as_entire_binding(),
                    wgpu::BindingResource::TextureView(&view),
                ],
            );
            let cells = self.cells.as_mut().expect("checked above");
            cells.colour_group = Some((key.ring.clone(), key.changed.clone(), group));
        }
        let cells = self.cells.as_ref().expect("checked above");
        let (_, _, group) = cells.colour_group.as_ref().expect("made above");
        let size = cells.texture.size();
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("ring grid: colour pass"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&self.colour_pipelines[key.pipeline.index()]);
        pass.set_bind_group(0, group, &[]);
        pass.dispatch_workgroups(size.width.div_ceil(8), size.height.div_ceil(8), 1);
        drop(pass);
        self.colour_passes += 1;
        self.coloured = Some(key);
    }
}

impl egui_wgpu::CallbackTrait for GridCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &egui_wgpu::ScreenDescriptor,
        encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let Some(r) = resources.get_mut::<GridRenderer>() else {
            return Vec::new();
        };
        let Some((ring, changed)) = self.buffers.clone().or_else(|| r.host_buffers()) else {
            return Vec::new();
        };
        let mut u = self.uniforms;
        u.ring_stride = if self.buffers.is_some() {
            RING_STRIDE
        } else {
            HOST_RING_STRIDE
        };
        queue.write_buffer(&r.uniforms, 0, bytemuck::bytes_of(&u));
        let columns = u.columns.max(1);
        r.ensure_cells(device, columns, u.slot_count.div_ceil(columns));
        let content = match self.buffers {
            Some(_) => self.content,
            None => (0, r.host_revision, self.content.2),
        };
        let key = CellsKey {
            detail: detail_for(u.cell),
            ring,
            changed,
            content,
            pipeline: ColourPipelineKey::of(&u),
            serial: u.serial,
            columns,
            slot_count: u.slot_count,
            offsets: u.offsets,
        };
        r.colour_cells(device, encoder, key);
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        let Some(r) = resources.get::<GridRenderer>() else {
            return;
        };
        let Some(cells) = &r.cells else {
            return;
        };
        if r.coloured.is_none() {
            return;
        }
        let detail = detail_for(self.uniforms.cell);
        pass.set_pipeline(&r.draw_pipelines[detail as usize]);
        pass.set_bind_group(0, &cells.render_group, &[]);
        pass.draw(0..3, 0..1);
    }
}

/// Builds the renderer inside a validation error scope, so a device that cannot run the
/// shader gives an error (and the app falls back to the CPU picture) instead of a panic.
pub fn try_new(
    device: &wgpu::Device,
    target_format: wgpu::TextureFormat,
) -> Result<GridRenderer, String> {
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let renderer = GridRenderer::new(device, target_format);
    match pollster::block_on(scope.pop()) {
        None => Ok(renderer),
        Some(e) => Err(format!("the ring grid's GPU renderer failed to build: {e}")),
    }
}

/// Installs the renderer into eframe's wgpu render state.
pub fn install(render_state: &egui_wgpu::RenderState) -> Result<(), String> {
    let renderer = try_new(&render_state.device, render_state.target_format)?;
    render_state
        .renderer
        .write()
        .callback_resources
        .insert(renderer);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_pipeline_builds_on_a_real_device() {
        let engine =
            crate::engine::gpu::GpuEngine::new_headless().expect("a wgpu adapter (lavapipe in CI)");
        for format in [
            wgpu::TextureFormat::Bgra8Unorm,
            wgpu::TextureFormat::Rgba8UnormSrgb,
        ] {
            let r = try_new(engine.device(), format).unwrap();
            assert_eq!(r.srgb_target, format.is_srgb());
        }
    }

    /// Renders the grid for `u` into a `w × h` RGBA texture on a headless device (lavapipe
    /// in CI) the way egui-wgpu does (prepare, then paint into a render pass) and reads the
    /// pixels back.
    struct Picture {
        engine: crate::engine::gpu::GpuEngine,
        resources: egui_wgpu::CallbackResources,
    }

    impl Picture {
        fn new(ring: &[u32], changed: &[u32]) -> Picture {
            let engine = crate::engine::gpu::GpuEngine::new_headless()
                .expect("a wgpu adapter (lavapipe in CI)");
            let mut r = try_new(engine.device(), wgpu::TextureFormat::Rgba8Unorm).unwrap();
            r.upload_host(
                engine.device(),
                engine.queue(),
                (1, 1, 7),
                ring,
                changed,
                None,
            );
            let mut resources = egui_wgpu::CallbackResources::default();
            resources.insert(r);
            Picture { engine, resources }
        }

        fn renderer(&self) -> &GridRenderer {
            self.resources.get::<GridRenderer>().unwrap()
        }

        fn draw(
            &mut self,
            u: GridUniforms,
            content: ContentVersion,
            size: [u32; 2],
        ) -> Vec<[u8; 4]> {
            self.draw_from(None, u, content, size)
        }

        /// Draws from `buffers` (a whole ring, as the GPU engine binds it) or, for `None`,
        /// from the host copy `new` uploaded.
        fn draw_from(
            &mut self,
            buffers: Option<(wgpu::Buffer, wgpu::Buffer)>,
            u: GridUniforms,
            content: ContentVersion,
            [w, h]: [u32; 2],
        ) -> Vec<[u8; 4]> {
            let (device, queue) = (self.engine.device(), self.engine.queue());
            let target = device.create_texture(&wgpu::TextureDescriptor {
                label: None,
                size: wgpu::Extent3d {
                    width: w,
                    height: h,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba8Unorm,
                usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
                view_formats: &[],
            });
            let view = target.create_view(&Default::default());
            let callback = GridCallback {
                uniforms: u,
                buffers,
                content,
            };
            let screen = egui_wgpu::ScreenDescriptor {
                size_in_pixels: [w, h],
                pixels_per_point: 1.0,
            };
            let mut encoder = device.create_command_encoder(&Default::default());
            let extra = egui_wgpu::CallbackTrait::prepare(
                &callback,
                device,
                queue,
                &screen,
                &mut encoder,
                &mut self.resources,
            );
            assert!(extra.is_empty());
            {
                let mut pass = encoder
                    .begin_render_pass(&wgpu::RenderPassDescriptor {
                        label: None,
                        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                            view: &view,
                            resolve_target: None,
                            ops: wgpu::Operations {
                                load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                                store: wgpu::StoreOp::Store,
                            },
                            depth_slice: None,
                        })],
                        ..Default::default()
                    })
                    .forget_lifetime();
                let rect =
                    egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(w as f32, h as f32));
                let info = egui::PaintCallbackInfo {
                    viewport: rect,
                    clip_rect: rect,
                    pixels_per_point: 1.0,
                    screen_size_px: [w, h],
                };
                egui_wgpu::CallbackTrait::paint(&callback, info, &mut pass, &self.resources);
            }
            let row = (w * 4).next_multiple_of(256);
            let readback = device.create_buffer(&wgpu::BufferDescriptor {
                label: None,
                size: u64::from(row * h),
                usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
                mapped_at_creation: false,
            });
            encoder.copy_texture_to_buffer(
                target.as_image_copy(),
                wgpu::TexelCopyBufferInfo {
                    buffer: &readback,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(row),
                        rows_per_image: None,
                    },
                },
                wgpu::Extent3d {
                    width: w,
                    height: h,
                    depth_or_array_layers: 1,
                },
            );
            queue.submit([encoder.finish()]);
            readback
                .slice(..)
                .map_async(wgpu::MapMode::Read, |r| r.unwrap());
            device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
            let bytes = readback.slice(..).get_mapped_range().expect("mapped above");
            (0..h)
                .flat_map(|y| (0..w).map(move |x| (y, x)))
                .map(|(y, x)| {
                    let i = (y * row + x * 4) as usize;
                    [bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]
                })
                .collect()
        }
    }

    fn uniforms(
        cell: f32,
        columns: u32,
        slot_count: u32,
        mode: u32,
        highlight: bool,
    ) -> GridUniforms {
        GridUniforms {
            origin: [0.0, 0.0],
            size: [0.0, 0.0],
            pan: [0.0, 0.0],
            cell,
            gap: if cell >= DETAILED_CELL_PX { 1.0 } else { 0.0 },
            columns,
            slot_count,
            mode,
            selected: NONE,
            hovered: NONE,
            serial: 7,
            flags: if highlight { FLAG_HIGHLIGHT } else { 0 },
            ring_stride: RING_STRIDE,
            offsets: [0; 8],
        }
    }

    fn rgba(c: egui::Color32) -> [u8; 4] {
        [c.r(), c.g(), c.b(), 255]
    }

    fn close(a: [u8; 4], b: [u8; 4]) -> bool {
        a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 1)
    }

    /// 64 slots in 8 columns: slot 3 PUBLISHED, 10 DONE (changed by dispatch 7), 20 FAULT
    /// with opcode ATOMIC_ADD, the rest EMPTY.
    fn sample_ring() -> (Vec<u32>, Vec<u32>) {
        let mut ring = vec![0u32; 64 * 16];
        ring[3 * 16] = 1;
        ring[10 * 16] = 3;
        ring[20 * 16] = 7;
        ring[20 * 16 + 1] = 1;
        let mut changed = vec![0u32; 64];
        changed[10] = 7;
        (ring, changed)
    }

    #[test]
    fn small_cells_show_each_slot_in_its_colour_and_lift_changed_ones() {
        let (ring, changed) = sample_ring();
        let mut p = Picture::new(&ring, &changed);
        // 4-pixel cells: 8 columns × 8 rows in a 40 × 40 target
        let px = p.draw(uniforms(4.0, 8, 64, 0, true), (1, 1, 7), [40, 40]);
        let at = |s: u32| px[((s / 8) * 4 + 2) as usize * 40 + ((s % 8) * 4 + 2) as usize];
        assert!(close(at(3), rgba(palette::STATUS[1])), "{:?}", at(3));
        assert!(close(at(20), rgba(palette::STATUS[7])), "{:?}", at(20));
        assert!(close(at(0), rgba(palette::STATUS[0])), "{:?}", at(0));
        let lifted = palette::STATUS[3].lerp_to_gamma(palette::CHANGED, 0.3);
        assert!(close(at(10), rgba(lifted)), "{:?} vs {:?}", at(10), lifted);
        // right of the 8 columns: background
        assert!(
            close(px[2 * 40 + 35], rgba(palette::BACKGROUND)),
            "{:?}",
            px[2 * 40 + 35]
        );
        // the same frame again does not colour the cells again; a new dispatch does
        assert_eq!(p.renderer().colour_passes, 1);
        p.draw(uniforms(4.0, 8, 64, 0, true), (1, 1, 7), [40, 40]);
        assert_eq!(p.renderer().colour_passes, 1);
        p.draw(uniforms(4.0, 8, 64, 0, true), (1, 1, 8), [40, 40]);
        assert_eq!(p.renderer().colour_passes, 2);
    }

    #[test]
    fn colour_modes_and_highlight_switch_are_pipeline_constants_that_take_effect() {
        let (ring, changed) = sample_ring();
        let mut p = Picture::new(&ring, &changed);
        let at = |px: &[[u8; 4]], s: u32| {
            px[((s / 8) * 4 + 2) as usize * 40 + ((s % 8) * 4 + 2) as usize]
        };
        let opcode = p.draw(uniforms(4.0, 8, 64, 1, false), (1, 1, 7), [40, 40]);
        assert!(
            close(at(&opcode, 20), rgba(palette::OPCODE[1])),
            "{:?}",
            at(&opcode, 20)
        );
        // highlight off: the changed DONE slot shows plain DONE
        let plain = p.draw(uniforms(4.0, 8, 64, 0, false), (1, 1, 7), [40, 40]);
        assert!(
            close(at(&plain, 10), rgba(palette::STATUS[3])),
            "{:?}",
            at(&plain, 10)
        );
        assert_eq!(p.renderer().colour_passes, 2);
    }

    #[test]
    fn big_cells_have_gaps_and_sub_pixel_cells_keep_the_rarest_status() {
        let (ring, changed) = sample_ring();
        let mut p = Picture::new(&ring, &changed);
        // 10-pixel cells: a one-pixel gap at each cell's top-left, colour in the middle
        // (FAULT slot 20 is row 2, column 4: pixels 40-49, 20-29)
        let big = p.draw(uniforms(10.0, 8, 64, 0, false), (1, 1, 7), [80, 80]);
        assert!(
            close(big[25 * 80 + 45], rgba(palette::STATUS[7])),
            "{:?}",
            big[25 * 80 + 45]
        );
        assert!(
            close(big[20 * 80 + 30], rgba(palette::GAP)),
            "{:?}",
            big[20 * 80 + 30]
        );
        // quarter-pixel cells: a pixel covers 4 × 4 slots. Pixel (0, 0) has columns 0-3 of
        // rows 0-3: PUBLISHED slot 3 outranks DONE slot 10. Pixel (1, 0) has FAULT slot 20
        // (row 2, column 4). Pixel (0, 1), rows 4-7, is all EMPTY.
        let small = p.draw(uniforms(0.25, 8, 64, 0, false), (1, 1, 7), [2, 2]);
        assert!(close(small[0], rgba(palette::STATUS[1])), "{:?}", small[0]);
        assert!(close(small[1], rgba(palette::STATUS[7])), "{:?}", small[1]);
        assert!(close(small[2], rgba(palette::STATUS[0])), "{:?}", small[2]);
    }

    #[test]
    fn the_engine_ring_and_the_host_copy_draw_the_same_picture() {
        // the host copy keeps 3 words a slot, the engine's ring 16: same cells either way
        let (ring, changed) = sample_ring();
        let mut p = Picture::new(&ring, &changed);
        let device = p.engine.device().clone();
        let storage = |words: &[u32]| {
            wgpu::util::DeviceExt::create_buffer_init(
                &device,
                &wgpu::util::BufferInitDescriptor {
                    label: None,
                    contents: bytemuck::cast_slice(words),
                    usage: wgpu::BufferUsages::STORAGE,
                },
            )
        };
        let engine = Some((storage(&ring), storage(&changed)));
        for mode in 0..MODES {
            let u = uniforms(4.0, 8, 64, mode, true);
            let host = p.draw(u, (1, 1, 7), [40, 40]);
            let device = p.draw_from(engine.clone(), u, (1, 1, 7), [40, 40]);
            assert_eq!(host, device, "mode {mode}");
        }
        assert_eq!(
            p.renderer().host_words.len(),
            64 * HOST_RING_STRIDE as usize
        );
    }

    #[test]
    fn the_host_copy_is_uploaded_only_when_its_content_version_moves() {
        let (mut ring, changed) = sample_ring();
        let mut p = Picture::new(&ring, &changed);
        ring[3 * 16] = 7; // slot 3 becomes FAULT
        let engine = &p.engine;
        let r = p.resources.get_mut::<GridRenderer>().unwrap();
        r.upload_host(
            engine.device(),
            engine.queue(),
            (1, 1, 7),
            &ring,
            &changed,
            None,
        );
        assert_eq!(
            r.host_words[3 * HOST_RING_STRIDE as usize],
            1,
            "same version: kept"
        );
        r.upload_host(
            engine.device(),
            engine.queue(),
            (1, 2, 7),
            &ring,
            &changed,
            None,
        );
        assert_eq!(
            r.host_words[3 * HOST_RING_STRIDE as usize],
            7,
            "new version: uploaded"
        );
    }

    #[test]
    fn a_listed_upload_moves_only_the_listed_slots_and_an_empty_one_keeps_the_cells() {
        let (ring, changed) = sample_ring();
        let mut p = Picture::new(&ring, &changed);
        let u = uniforms(4.0, 8, 64, 0, true);
        p.draw(u, (1, 1, 7), [40, 40]);
        let (mut ring2, mut changed2) = (ring.clone(), changed.clone());
        ring2[3 * 16] = 7; // slot 3 faults
        ring2[30 * 16] = 3; // slot 30 finishes and is marked
        changed2[30] = 7;
        ring2[50 * 16] = 1; // slot 50 is published, but not listed
        let engine = &p.engine;
        let r = p.resources.get_mut::<GridRenderer>().unwrap();
        let (device, queue) = (engine.device().clone(), engine.queue().clone());
        r.upload_host(
            &device,
            &queue,
            (1, 2, 7),
            &ring2,
            &changed2,
            Some(&[30, 3]),
        );
        let px = p.draw(u, (1, 2, 7), [40, 40]);
        let at = |s: u32| px[((s / 8) * 4 + 2) as usize * 40 + ((s % 8) * 4 + 2) as usize];
        assert!(close(at(3), rgba(palette::STATUS[7])), "{:?}", at(3));
        let lifted = palette::STATUS[3].lerp_to_gamma(palette::CHANGED, 0.3);
        assert!(close(at(30), rgba(lifted)), "{:?}", at(30));
        assert!(
            close(at(50), rgba(palette::STATUS[0])),
            "not listed: {:?}",
            at(50)
        );
        assert!(
            close(at(20), rgba(palette::STATUS[7])),
            "kept: {:?}",
            at(20)
        );
        // a step that changed no slot: a new version, nothing to copy, no colour pass
        let passes = p.renderer().colour_passes;
        let r = p.resources.get_mut::<GridRenderer>().unwrap();
        r.upload_host(&device, &queue, (1, 3, 7), &ring2, &changed2, Some(&[]));
        p.draw(u, (1, 3, 7), [40, 40]);
        assert_eq!(p.renderer().colour_passes, passes);
        // unknown changes: everything goes up
        let r = p.resources.get_mut::<GridRenderer>().unwrap();
        r.upload_host(&device, &queue, (1, 4, 7), &ring2, &changed2, None);
        let px = p.draw(u, (1, 4, 7), [40, 40]);
        let at = |s: u32| px[((s / 8) * 4 + 2) as usize * 40 + ((s % 8) * 4 + 2) as usize];
        assert!(close(at(50), rgba(palette::STATUS[1])), "{:?}", at(50));
    }

    #[test]
    fn uniform_layouts_match_the_shader() {
        // struct Grid: 3 vec2 + 2 f32 + 8 u32 = 64 bytes, then two vec4<u32> = 96
        assert_eq!(std::mem::size_of::<GridUniforms>(), 96);
        // struct Palette: (9 + 14 + 12 + 6 + 4) vec4
        assert_eq!(std::mem::size_of::<PaletteUniforms>(), 45 * 16);
    }
}
