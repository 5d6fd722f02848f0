//! How a state is built and how dispatches run: the geometry, the run configuration, and
//! changing them (a settings change aborts a dispatch in progress).

use super::*;

/// The geometry a state is built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Geometry {
    pub slot_count: u32,
    #[serde(default = "one")]
    pub tenant_count: u32,
    #[serde(default)]
    pub observable_slots: u32,
}

fn one() -> u32 {
    1
}

impl Geometry {
    /// Checks the geometry against the ABI caps.
    pub fn check(&self) -> Result<(), AbiError> {
        check_slot_count(self.slot_count as u64)?;
        check_observable(self.observable_slots as u64)?;
        Ok(())
    }
}

/// How dispatches run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    pub variant: Variant,
    pub pass_budget: u32,
    pub workgroup_size: Option<u32>,
    pub once_checks_shutdown: bool,
    pub race_analysis: bool,
    pub starvation_passes: u32,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            variant: Variant::Once,
            pass_budget: DEFAULT_PASS_BUDGET,
            workgroup_size: None,
            once_checks_shutdown: false,
            race_analysis: true,
            starvation_passes: DEFAULT_STARVATION_PASSES,
        }
    }
}

impl RunConfig {
    pub fn options(&self, dispatch_index: u64) -> DispatchOptions {
        DispatchOptions {
            variant: self.variant,
            workgroup_size: self.workgroup_size,
            pass_budget: self.pass_budget,
            once_checks_shutdown: self.once_checks_shutdown,
            race_analysis: self.race_analysis,
            starvation_passes: self.starvation_passes,
            dispatch_index,
        }
    }
}
impl Debugger {
    pub fn set_config(&mut self, config: RunConfig) -> Result<(), DebuggerError> {
        config
            .options(0)
            .resolve_workgroup_size(self.state.slot_count())?;
        if config.pass_budget == 0 {
            return Err(DebuggerError::Publish(PublishError::Invalid(
                "the pass budget must be at least 1".into(),
            )));
        }
        self.abort_in_progress();
        self.config = config;
        Ok(())
    }

    pub fn set_backend(&mut self, backend: Backend) -> Result<(), DebuggerError> {
        if backend == Backend::Gpu && self.gpu.is_none() {
            return Err(DebuggerError::NoGpu(
                "no GPU engine is attached (no wgpu adapter, or the app runs without the wgpu renderer)".into(),
            ));
        }
        self.sync()?;
        self.abort_in_progress();
        self.backend = backend;
        Ok(())
    }
}
