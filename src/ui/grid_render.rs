//! Draws the ring grid on the GPU with an egui_wgpu paint callback that reads the ring
//! storage buffer directly (`shaders/ring_grid.wgsl`). With the GPU backend that buffer is
//! the engine's own resident ring; with the CPU backend the mirror's ring is uploaded here
//! when it changes. Per frame only a small uniform block is written.

use bytemuck::{Pod, Zeroable};
use eframe::egui_wgpu::{self, wgpu};

use super::palette;

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
    pub _pad: u32,
    pub offsets: [u32; 8],
}

pub const FLAG_HIGHLIGHT: u32 = 1;
pub const FLAG_SRGB: u32 = 2;
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

/// The pipeline and buffers, kept in egui_wgpu's callback resources.
pub struct GridRenderer {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    uniforms: wgpu::Buffer,
    palette: wgpu::Buffer,
    /// The CPU backend's copy of the ring and of the changed-serial words.
    host_ring: Option<wgpu::Buffer>,
    host_changed: Option<wgpu::Buffer>,
    bind_group: Option<(wgpu::Buffer, wgpu::Buffer, wgpu::BindGroup)>,
    pub srgb_target: bool,
}

impl GridRenderer {
    pub fn new(device: &wgpu::Device, target_format: wgpu::TextureFormat) -> GridRenderer {
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("ring_grid.wgsl"),
            source: wgpu::ShaderSource::Wgsl(include_str!("../../shaders/ring_grid.wgsl").into()),
        });
        let entry = |binding: u32, ty: wgpu::BufferBindingType| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Buffer {
                ty,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("ring grid"),
            entries: &[
                entry(0, wgpu::BufferBindingType::Uniform),
                entry(1, wgpu::BufferBindingType::Uniform),
                entry(2, wgpu::BufferBindingType::Storage { read_only: true }),
                entry(3, wgpu::BufferBindingType::Storage { read_only: true }),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("ring grid"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("ring grid"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &shader,
                entry_point: Some("vs_main"),
                buffers: &[],
                compilation_options: Default::default(),
            },
            fragment: Some(wgpu::FragmentState {
                module: &shader,
                entry_point: Some("fs_main"),
                targets: &[Some(target_format.into())],
                compilation_options: Default::default(),
            }),
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            multiview_mask: None,
            cache: None,
        });
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
            pipeline,
            layout,
            uniforms,
            palette,
            host_ring: None,
            host_changed: None,
            bind_group: None,
            srgb_target: target_format.is_srgb(),
        }
    }

    /// Uploads the CPU backend's ring and changed words (only when they changed).
    pub fn upload_host(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        ring: &[u32],
        changed: &[u32],
    ) {
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
        put(
            device,
            queue,
            &mut self.host_ring,
            ring,
            "ring grid: host ring",
        );
        put(
            device,
            queue,
            &mut self.host_changed,
            changed,
            "ring grid: host changed",
        );
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
}

impl egui_wgpu::CallbackTrait for GridCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &egui_wgpu::ScreenDescriptor,
        _encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let Some(r) = resources.get_mut::<GridRenderer>() else {
            return Vec::new();
        };
        let Some((ring, changed)) = self.buffers.clone().or_else(|| r.host_buffers()) else {
            return Vec::new();
        };
        let mut u = self.uniforms;
        if r.srgb_target {
            u.flags |= FLAG_SRGB;
        }
        queue.write_buffer(&r.uniforms, 0, bytemuck::bytes_of(&u));
        let stale = r
            .bind_group
            .as_ref()
            .is_none_or(|(a, b, _)| *a != ring || *b != changed);
        if stale {
            let bg = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("ring grid"),
                layout: &r.layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: r.uniforms.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: r.palette.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 2,
                        resource: ring.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 3,
                        resource: changed.as_entire_binding(),
                    },
                ],
            });
            r.bind_group = Some((ring, changed, bg));
        }
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
        let Some((_, _, bg)) = &r.bind_group else {
            return;
        };
        pass.set_pipeline(&r.pipeline);
        pass.set_bind_group(0, bg, &[]);
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

    #[test]
    fn uniform_layouts_match_the_shader() {
        // struct Grid: 3 vec2 + 2 f32 + 8 u32 = 64 bytes, then two vec4<u32> = 96
        assert_eq!(std::mem::size_of::<GridUniforms>(), 96);
        // struct Palette: (9 + 14 + 12 + 6 + 4) vec4
        assert_eq!(std::mem::size_of::<PaletteUniforms>(), 45 * 16);
    }
}
