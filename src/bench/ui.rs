//! The app's frame rate without a window: the whole UI (every panel, the ring grid drawn by
//! its paint callback, the plots) laid out, tessellated and rendered by egui-wgpu into an
//! offscreen 1600×1000 BGRA texture each frame, while dispatching every frame — on any wgpu
//! adapter, so the same measurement runs on lavapipe here and on a datacenter GPU with no
//! display. Presentation to a screen is the one thing it leaves out; `megascope
//! --bench-frames N` measures a real window.

use std::iter::once;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui_wgpu::{self, wgpu};

use super::{BenchArgs, BenchReport, Stats};
use crate::abi::opcode::Opcode;
use crate::debugger::Recording;
use crate::debugger::action::{Action, Pattern};
use crate::debugger::expr::ArgExpr;
use crate::engine::Backend;
use crate::engine::gpu::GpuEngine;
use crate::ui::MegascopeApp;

pub const SIZE: [u32; 2] = [1600, 1000];

/// A render state on the best adapter, with the app's device limits.
pub fn render_state() -> Result<egui_wgpu::RenderState, String> {
    let mut setup = egui_wgpu::WgpuSetupCreateNew::without_display_handle();
    setup
        .instance_descriptor
        .flags
        .remove(wgpu::InstanceFlags::VALIDATION_INDIRECT_CALL);
    setup.device_descriptor = Arc::new(|adapter: &wgpu::Adapter| wgpu::DeviceDescriptor {
        label: Some("megascope bench device"),
        required_limits: adapter.limits(),
        ..Default::default()
    });
    let setup = egui_wgpu::WgpuSetup::CreateNew(setup);
    let instance = pollster::block_on(setup.new_instance());
    let options = egui_wgpu::RendererOptions::default();
    let mut rs = pollster::block_on(egui_wgpu::RenderState::create(
        &egui_wgpu::WgpuConfiguration {
            wgpu_setup: setup,
            ..Default::default()
        },
        &instance,
        None,
        options,
    ))
    .map_err(|e| format!("no wgpu device for the UI benchmark: {e}"))?;
    // Without a surface egui-wgpu renders RGBA; for lavapipe's X11 window it picks BGRA,
    // which a software rasterizer writes at a different speed. Measure that.
    rs.target_format = TARGET_FORMAT;
    rs.renderer = Arc::new(egui::mutex::RwLock::new(egui_wgpu::Renderer::new(
        &rs.device,
        TARGET_FORMAT,
        options,
    )));
    Ok(rs)
}

/// The format of the window's frames on lavapipe under X11 (`Bgra8Unorm`).
pub const TARGET_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Bgra8Unorm;

/// Frame times, and of each frame the part spent in the app itself (its actions and
/// dispatches, layout, uploads): the rest is tessellating and rendering, which on a
/// software adapter dwarfs the app.
#[derive(Default)]
pub struct FrameTimes {
    pub frame: Vec<Duration>,
    pub app: Vec<Duration>,
}

/// Renders `frames` frames of `app` offscreen, calling `before_frame` at the start of each
/// (inside the frame's time); returns the frame times.
pub fn run_frames(
    app: &mut MegascopeApp,
    rs: &egui_wgpu::RenderState,
    frames: u32,
    warmup: u32,
    before_frame: &mut dyn FnMut(&mut MegascopeApp) -> Result<(), String>,
) -> Result<FrameTimes, String> {
    let ctx = egui::Context::default();
    crate::ui::shell::tune_for_adapter(&ctx, rs.adapter.get_info().device_type);
    let texture = rs.device.create_texture(&wgpu::TextureDescriptor {
        label: Some("bench frame"),
        size: wgpu::Extent3d {
            width: SIZE[0],
            height: SIZE[1],
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: rs.target_format,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
        view_formats: &[],
    });
    let view = texture.create_view(&Default::default());
    let start = Instant::now();
    let mut out = FrameTimes::default();
    for frame in 0..frames + warmup {
        let t = Instant::now();
        before_frame(app)?;
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::Pos2::ZERO,
                egui::vec2(SIZE[0] as f32, SIZE[1] as f32),
            )),
            time: Some(start.elapsed().as_secs_f64()),
            max_texture_side: Some(rs.device.limits().max_texture_dimension_2d as usize),
            ..Default::default()
        };
        let output = ctx.run_ui(input, |ui| app.show(ui, Some(rs)));
        let app_time = t.elapsed();
        // what eframe clears the window to (the panels leave their fill to it)
        let [r, g, b, a] =
            crate::ui::shell::background_colour(&ctx.global_style().visuals).map(f64::from);
        let clear = wgpu::Color { r, g, b, a };
        let screen = egui_wgpu::ScreenDescriptor {
            size_in_pixels: SIZE,
            pixels_per_point: output.pixels_per_point,
        };
        let prims = ctx.tessellate(output.shapes, output.pixels_per_point);
        let mut textures = output.textures_delta;
        let mut renderer = rs.renderer.write();
        for (id, deltas) in &textures.set {
            for delta in deltas {
                renderer.update_texture(&rs.device, &rs.queue, *id, delta);
            }
        }
        let mut encoder = rs.device.create_command_encoder(&Default::default());
        let user = renderer.update_buffers(&rs.device, &rs.queue, &mut encoder, &prims, &screen);
        {
            let mut pass = encoder
                .begin_render_pass(&wgpu::RenderPassDescriptor {
                    label: Some("bench frame"),
                    color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                        view: &view,
                        resolve_target: None,
                        ops: wgpu::Operations {
                            load: wgpu::LoadOp::Clear(clear),
                            store: wgpu::StoreOp::Store,
                        },
                        depth_slice: None,
                    })],
                    ..Default::default()
                })
                .forget_lifetime();
            renderer.render(&mut pass, &prims, &screen);
        }
        rs.queue
            .submit(user.into_iter().chain(once(encoder.finish())));
        for id in &textures.free {
            renderer.free_texture(id);
        }
        // applied above (epaint checks that no delta is dropped unapplied)
        textures.clear();
        drop(renderer);
        rs.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| format!("waiting for the frame: {e}"))?;
        if let Some(e) = app.toasts.last_error() {
            return Err(format!("the app reported an error while benchmarking: {e}"));
        }
        if frame >= warmup {
            out.frame.push(t.elapsed());
            out.app.push(app_time);
        }
    }
    Ok(out)
}

/// What the measured frames dispatch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// Every slot published once (ATOMIC_ADD); the first dispatch runs them all (in the
    /// warm-up), later ones find nothing to claim.
    Once,
    /// After that, each frame publishes the next sixteenth of the ring again and the
    /// frame's dispatch runs it: a host that keeps feeding the kernel.
    Stream,
}

pub fn section(args: &BenchArgs, report: &mut BenchReport) -> Result<(), String> {
    // The stream runs on the CPU backend only: with the GPU backend each host publish reads
    // the ring back from the device first, which is the GPU engine's part.
    let cases = [
        (Backend::Cpu, Workload::Once),
        (Backend::Gpu, Workload::Once),
        (Backend::Cpu, Workload::Stream),
    ];
    for &slots in &args.slots {
        for (backend, workload) in cases {
            let rs = render_state()?;
            crate::ui::grid::render::install(&rs)?;
            let info = rs.adapter.get_info();
            let adapter = format!("{} ({:?})", info.name, info.backend);
            let mut app = MegascopeApp::new(crate::app::stress_debugger(
                slots,
                crate::engine::Variant::Once,
            )?);
            let mut engine =
                GpuEngine::try_from_device(rs.device.clone(), rs.queue.clone(), adapter.clone())
                    .map_err(|e| e.to_string())?;
            engine.set_software_adapter(
                rs.adapter.get_info().device_type == eframe::wgpu::DeviceType::Cpu,
            );
            app.debugger.attach_gpu(engine);
            app.debugger
                .set_backend(backend)
                .map_err(|e| e.to_string())?;
            app.debugger.set_recording(Recording::Aggregated);
            let window = (slots / 16).max(1);
            let mut next = 0u32;
            let mut publish = |app: &mut MegascopeApp| -> Result<(), String> {
                let start = next;
                let end = (start + window).min(slots);
                next = if end >= slots { 0 } else { end };
                app.debugger
                    .apply(Action::PublishPattern(Pattern {
                        start,
                        end,
                        step: 1,
                        tenants: vec![0],
                        opcodes: vec![Opcode::ATOMIC_ADD],
                        priorities: vec![],
                        args: vec![ArgExpr::literal(1), ArgExpr::literal(160)],
                    }))
                    .map_err(|e| format!("publishing the stream's next slots: {e}"))
            };
            let published = match workload {
                Workload::Once => 0,
                Workload::Stream => {
                    app.debugger.dispatch().map_err(|e| e.to_string())?;
                    window
                }
            };
            app.transport.running = true;
            app.transport.pause_at_fixed_point = false;
            let mut times =
                run_frames(
                    &mut app,
                    &rs,
                    args.rounds.max(30),
                    5,
                    &mut |app| match workload {
                        Workload::Once => Ok(()),
                        Workload::Stream => publish(app),
                    },
                )?;
            let dispatches = app.debugger.dispatches();
            let claimed = app.debugger.last_report().map_or(0, |r| r.claimed);
            let stats = Stats::of(&mut times.frame);
            report.ui.push(serde_json::json!({
                "slots": slots,
                "backend": backend.name(),
                "workload": match workload {
                    Workload::Once => "once",
                    Workload::Stream => "stream",
                },
                "published_per_frame": published,
                "last_dispatch_claimed": claimed,
                "adapter": adapter,
                "window": SIZE,
                "frames": times.frame.len(),
                "dispatches": dispatches,
                "frame": stats,
                "app": Stats::of(&mut times.app),
                "fps_median": 1000.0 / stats.median_ms.max(1e-9),
                "target_fps": if slots >= 1 << 20 { 60 } else { 30 },
            }));
        }
    }
    Ok(())
}
