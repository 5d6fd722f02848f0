//! The GPU side of the debugger: the attached engine, runs that stay on the device
//! (recorded as one timeline point when read back), and reading slots or the whole state
//! back when the UI or an action needs them.

use super::*;

/// How GPU dispatches reach the timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recording {
    /// Per dispatch up to [`GPU_RECORD_LIMIT`] slots (or when a slot breakpoint needs it),
    /// aggregated above.
    #[default]
    Auto,
    /// Read the whole state back after every GPU dispatch: a point per dispatch.
    EveryDispatch,
    /// Keep the ring on the GPU while running; the run becomes one point when it stops.
    Aggregated,
}

/// The GPU backend's side of the model.
pub(super) struct GpuSide {
    pub(super) engine: GpuEngine,
    /// Resident dispatches ran since the mirror's ring was last read back.
    pub(super) stale: bool,
    /// The state before the first dispatch not yet on the timeline, and its index.
    pub(super) unrecorded: Option<(Readback, u64)>,
}

/// Rings up to this many slots are read back after every GPU dispatch in `Auto` recording.
pub const GPU_RECORD_LIMIT: u32 = 65_536;

impl Debugger {
    /// Hands the debugger a GPU engine (the app's, on eframe's device; or a headless one).
    pub fn attach_gpu(&mut self, engine: GpuEngine) {
        self.gpu = Some(GpuSide {
            engine,
            stale: false,
            unrecorded: None,
        });
    }

    /// Takes the GPU engine back (to move it to another debugger), syncing first.
    pub fn take_gpu(&mut self) -> Option<GpuEngine> {
        let _ = self.sync();
        self.backend = Backend::Cpu;
        self.gpu.take().map(|g| g.engine)
    }

    pub fn has_gpu(&self) -> bool {
        self.gpu.is_some()
    }

    pub fn gpu_adapter(&self) -> Option<&str> {
        self.gpu.as_ref().map(|g| g.engine.adapter_name())
    }

    /// Whether the mirror's ring lags the GPU.
    pub fn is_stale(&self) -> bool {
        self.gpu.as_ref().is_some_and(|g| g.stale)
    }

    /// Device buffers (ring, changed serials) to draw the grid from, when the GPU backend
    /// holds the state.
    pub fn grid_device_buffers(&self) -> Option<(wgpu::Buffer, wgpu::Buffer)> {
        if self.backend != Backend::Gpu {
            return None;
        }
        let g = self.gpu.as_ref()?;
        if !g.engine.is_synced_with(&self.state) && !g.stale {
            return None;
        }
        Some((
            g.engine.ring_buffer()?.clone(),
            g.engine.changed_buffer()?.clone(),
        ))
    }

    /// The serial of the GPU's last dispatch (for highlighting changed cells).
    pub fn grid_serial(&self) -> u32 {
        self.gpu
            .as_ref()
            .map(|g| g.engine.dispatch_serial())
            .unwrap_or(0)
    }

    /// Reads slot `s` from the GPU into the mirror when the mirror lags.
    pub fn refresh_slot(&mut self, s: Option<u32>) -> Result<(), DebuggerError> {
        let (Some(s), Some(g)) = (s, self.gpu.as_mut()) else {
            return Ok(());
        };
        if !g.stale || s >= self.state.slot_count() {
            return Ok(());
        }
        let words = g.engine.read_ring_slots(s..s + 1)?;
        let b = self.state.buffers_mut();
        let at = s as usize * crate::abi::layout::SLOT_WORDS;
        b.ring[at..at + words.len()].copy_from_slice(&words);
        g.engine.adopt_version(&self.state);
        Ok(())
    }

    /// Brings the mirror up to date with the GPU and records any run kept on the device as
    /// one timeline point. Every action, seek and save calls this first.
    pub fn sync(&mut self) -> Result<(), DebuggerError> {
        let Some(g) = self.gpu.as_mut() else {
            return Ok(());
        };
        if !g.stale {
            return Ok(());
        }
        g.engine.download_into(&mut self.state)?;
        g.stale = false;
        if let Some((base, first)) = g.unrecorded.take() {
            let delta = Delta::between(&base, &self.state);
            let count = (self.dispatches - first) as u32;
            let label = format!(
                "dispatches {first}..{} on the GPU (one point)",
                self.dispatches
            );
            self.timeline.push(
                PointKind::Dispatch {
                    index: self.dispatches.saturating_sub(1),
                },
                Some(Action::Dispatch { count }),
                delta,
                self.dispatches,
                label,
            );
        }
        Ok(())
    }

    pub(super) fn records_each_gpu_dispatch(&self) -> bool {
        match self.recording {
            Recording::EveryDispatch => true,
            Recording::Aggregated => breakpoint::needs_ring(&self.breakpoints),
            Recording::Auto => {
                self.state.slot_count() <= GPU_RECORD_LIMIT
                    || breakpoint::needs_ring(&self.breakpoints)
            }
        }
    }

    /// A GPU dispatch that leaves the ring on the device (see [`Recording`]).
    pub(super) fn dispatch_resident(&mut self) -> Result<DispatchReport, DebuggerError> {
        let opts = self.config.options(self.dispatches);
        let dispatches = self.dispatches;
        let g = self
            .gpu
            .as_mut()
            .ok_or_else(|| DebuggerError::NoGpu("no GPU engine is attached".into()))?;
        if !g.stale && !g.engine.is_synced_with(&self.state) {
            g.engine.upload(&self.state)?;
        }
        if g.unrecorded.is_none() {
            g.unrecorded = Some((self.state.snapshot_readback(), dispatches));
        }
        let (report, control, debug_log) = g.engine.dispatch_resident(&opts)?;
        {
            let b = self.state.buffers_mut();
            *b.control = control;
            *b.debug_log = debug_log;
        }
        g.engine.adopt_version(&self.state);
        g.stale = true;
        self.truncate_future();
        self.dispatches += 1;
        let summary = DispatchSummary::new(&report, self.state.control(), self.state.debug_log());
        self.push_summary(summary);
        for d in &report.diagnostics {
            self.log_diagnostic(d.clone());
        }
        // control-word and debug-log breakpoints need no ring: check them now
        if !self.breakpoints.is_empty() {
            let before = self
                .gpu
                .as_ref()
                .and_then(|g| g.unrecorded.as_ref())
                .map(|(b, _)| b.clone());
            if let Some(before) = before {
                let delta = Delta::between(&before, &self.state);
                self.evaluate_breakpoints(
                    &before,
                    &delta,
                    &report.diagnostics,
                    report.passes,
                    dispatches,
                    None,
                );
            }
        }
        self.last_report = Some(report.clone());
        Ok(report)
    }
}
