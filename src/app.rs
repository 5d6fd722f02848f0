//! The desktop app: eframe with the wgpu renderer. The GPU engine is built on eframe's own
//! device, so the megakernel, the ring grid and the UI share one device and the grid reads
//! the ring the kernel writes.

use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui_wgpu::{self, wgpu};

use crate::abi::opcode::Opcode;
use crate::debugger::action::{Action, Pattern};
use crate::debugger::expr::ArgExpr;
use crate::debugger::{Debugger, Geometry, Recording, RunConfig};
use crate::engine::gpu::GpuEngine;
use crate::engine::{Backend, Variant};
use crate::files::session::Panels;
use crate::ui::MegascopeApp;
use crate::ui::shell::FrameBench;

/// How the app starts.
#[derive(Debug, Clone, Default)]
pub struct LaunchOptions {
    /// A session or dump directory to open.
    pub file: Option<PathBuf>,
    /// Render this many frames while dispatching every frame, print frame-time statistics
    /// as JSON on stdout, and quit.
    pub bench_frames: Option<u32>,
    /// Without a file: a new state of this many slots (all published, for benchmarks).
    pub slots: Option<u32>,
    pub backend: Option<Backend>,
    pub variant: Option<Variant>,
    /// Tenants a dump directory given as `file` is taken to have.
    pub tenants: u32,
}

/// Preferences kept across launches (eframe storage): never state, only how the app looks.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Preferences {
    recent: Vec<PathBuf>,
    panels: Option<Panels>,
    colour_mode: Option<crate::files::session::ColourMode>,
}

const PREFERENCES_KEY: &str = "megascope.preferences";

struct App {
    app: MegascopeApp,
}

/// A state of `n` slots, every one PUBLISHED with ATOMIC_ADD (what the frame benchmark runs).
pub fn stress_debugger(n: u32, variant: Variant) -> Result<Debugger, String> {
    let mut d = Debugger::new(
        Geometry {
            slot_count: n,
            tenant_count: 1,
            observable_slots: 16,
        },
        RunConfig {
            variant,
            race_analysis: false,
            ..Default::default()
        },
        Backend::Cpu,
    )
    .map_err(|e| e.to_string())?;
    d.apply(Action::PublishPattern(Pattern {
        start: 0,
        end: n,
        step: 1,
        tenants: vec![0],
        opcodes: vec![Opcode::ATOMIC_ADD],
        priorities: vec![],
        args: vec![ArgExpr::literal(1), ArgExpr::parse("160 + slot % 16")?],
    }))
    .map_err(|e| e.to_string())?;
    Ok(d)
}

impl App {
    fn new(cc: &eframe::CreationContext, opts: LaunchOptions) -> Result<App, String> {
        let debugger = match opts.slots {
            Some(n) => stress_debugger(n, opts.variant.unwrap_or_default())?,
            None => Debugger::new(
                Geometry {
                    slot_count: 4096,
                    tenant_count: 2,
                    observable_slots: 16,
                },
                RunConfig {
                    variant: opts.variant.unwrap_or_default(),
                    ..Default::default()
                },
                Backend::Cpu,
            )
            .map_err(|e| e.to_string())?,
        };
        let mut app = MegascopeApp::new(debugger);
        if let Some(rs) = &cc.wgpu_render_state {
            if let Err(e) = crate::ui::grid::render::install(rs) {
                app.toasts
                    .error(format!("{e}; drawing the grid on the CPU instead"));
            }
            let info = rs.adapter.get_info();
            crate::ui::shell::tune_for_adapter(&cc.egui_ctx, info.device_type);
            let name = format!("{} ({:?})", info.name, info.backend);
            match GpuEngine::try_from_device(rs.device.clone(), rs.queue.clone(), name) {
                Ok(mut engine) => {
                    engine.set_software_adapter(info.device_type == eframe::wgpu::DeviceType::Cpu);
                    app.debugger.attach_gpu(engine)
                }
                Err(e) => app
                    .toasts
                    .error(format!("the GPU engine is unavailable: {e}")),
            }
        }
        if let Some(storage) = cc.storage
            && let Some(p) = eframe::get_value::<Preferences>(storage, PREFERENCES_KEY)
        {
            app.files.recent = p.recent.into_iter().filter(|r| r.exists()).collect();
            if let Some(panels) = p.panels {
                app.panels = panels;
            }
            if let Some(m) = p.colour_mode {
                app.grid.mode = m;
            }
        }
        // the bench measures the layout it starts with, never one a user rearranged
        if let Some(storage) = cc.storage
            && opts.bench_frames.is_none()
            && let Some(tree) = eframe::get_value(storage, crate::ui::shell::LAYOUT_KEY)
            && let Some(tree) = crate::ui::shell::checked_layout(tree)
        {
            app.layout = tree;
        }
        if let Some(b) = opts.backend
            && let Err(e) = app.debugger.set_backend(b)
        {
            app.toasts.error(e.to_string());
        }
        if let Some(frames) = opts.bench_frames {
            app.bench = Some(FrameBench::new(frames.max(1)));
            app.transport.running = true;
            app.transport.pause_at_fixed_point = false;
            app.debugger.set_recording(Recording::Aggregated);
        }
        if opts.file.is_some() {
            app.initial_backend = opts.backend;
        }
        if let Some(f) = opts.file {
            app.files.open_path_with(
                f,
                crate::files::OpenOptions {
                    tenants: opts.tenants,
                },
            );
        }
        Ok(App { app })
    }

    fn finish_bench(&mut self, ctx: &egui::Context) {
        let Some(b) = &self.app.bench else {
            return;
        };
        if !b.done {
            return;
        }
        let mut frames: Vec<f64> = b.samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        frames.sort_by(|a, b| a.total_cmp(b));
        let pick = |q: f64| {
            frames
                .get(((frames.len() - 1) as f64 * q).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        let mean = frames.iter().sum::<f64>() / frames.len().max(1) as f64;
        let mut disp = b.dispatch_ms.clone();
        disp.sort_by(|a, b| a.total_cmp(b));
        let d_med = disp.get(disp.len() / 2).copied().unwrap_or(0.0);
        let report = serde_json::json!({
            "frames": frames.len(),
            "slots": self.app.debugger.state().slot_count(),
            "backend": self.app.debugger.backend().name(),
            "adapter": self.app.debugger.gpu_adapter(),
            "variant": self.app.debugger.config().variant.name(),
            "dispatches": self.app.debugger.dispatches(),
            "frame_ms": { "mean": mean, "median": pick(0.5), "p95": pick(0.95), "p99": pick(0.99), "max": pick(1.0) },
            "fps_mean": 1000.0 / mean.max(1e-9),
            "fps_median": 1000.0 / pick(0.5).max(1e-9),
            "dispatch_ms_median": d_med,
            "wall_s": b.started.elapsed().as_secs_f64(),
        });
        println!("{report}");
        self.app.bench = None;
        // the benchmark's dispatches are not the user's work: quit without the
        // unsaved-changes prompt, which would otherwise keep the window open
        self.app.files.allow_close = true;
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }
}

impl eframe::App for App {
    fn clear_color(&self, visuals: &egui::Visuals) -> [f32; 4] {
        crate::ui::shell::background_colour(visuals)
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        if ctx.input(|i| i.viewport().close_requested())
            && self.app.is_dirty()
            && !self.app.files.allow_close
            && self.app.bench.is_none()
        {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.app.files.guard(
                crate::ui::files::PendingAfterPrompt::Quit,
                &mut self.app.new_dialog,
            );
        }
        let render = frame.wgpu_render_state().cloned();
        self.app.show(ui, render.as_ref());
        if self.app.files.allow_close {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        self.finish_bench(&ctx);
        if self.app.bench.is_some() {
            ctx.request_repaint();
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        let p = Preferences {
            recent: self.app.files.recent.clone(),
            panels: Some(self.app.panels),
            colour_mode: Some(self.app.grid.mode),
        };
        eframe::set_value(storage, PREFERENCES_KEY, &p);
        if self.app.bench.is_none() {
            eframe::set_value(storage, crate::ui::shell::LAYOUT_KEY, &self.app.layout);
        }
    }
}

/// Opens the app window.
pub fn launch(opts: LaunchOptions) -> Result<(), String> {
    let mut wgpu_options = egui_wgpu::WgpuConfiguration::default();
    if opts.bench_frames.is_some() {
        wgpu_options.surface.present_mode = wgpu::PresentMode::AutoNoVsync;
    }
    if let egui_wgpu::WgpuSetup::CreateNew(create) = &mut wgpu_options.wgpu_setup {
        // The megakernel needs storage buffers as large as the adapter allows (a 1M-slot
        // ring is 64 MiB), also on the GL backend whose defaults are WebGL2's.
        create.device_descriptor = Arc::new(|adapter: &wgpu::Adapter| {
            let mut limits = adapter.limits();
            limits.max_texture_dimension_2d = limits
                .max_texture_dimension_2d
                .max(8192)
                .min(adapter.limits().max_texture_dimension_2d);
            wgpu::DeviceDescriptor {
                label: Some("megascope device"),
                required_limits: limits,
                ..Default::default()
            }
        });
        create
            .instance_descriptor
            .flags
            .remove(wgpu::InstanceFlags::VALIDATION_INDIRECT_CALL);
    }
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("megascope")
            .with_inner_size([1600.0, 1000.0])
            .with_min_inner_size([900.0, 600.0])
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        wgpu_options,
        persist_window: opts.bench_frames.is_none(),
        ..Default::default()
    };
    eframe::run_native(
        "megascope",
        native,
        Box::new(move |cc| match App::new(cc, opts) {
            Ok(app) => Ok(Box::new(app) as Box<dyn eframe::App>),
            Err(e) => Err(e.into()),
        }),
    )
    .map_err(|e| format!("the window could not open: {e}; on Linux install libxkbcommon-x11-0 libxcursor1 libxi6 libxrandr2 libx11-xcb1 and a Vulkan driver (libvulkan1 mesa-vulkan-drivers)"))
}
