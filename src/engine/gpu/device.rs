//! Getting a device (headless, for the CLI and tests) and talking to it: error scopes that
//! turn wgpu validation and out-of-memory errors into [`EngineError::Gpu`], and blocking
//! readbacks of staging buffers.

use std::sync::mpsc;

use crate::engine::EngineError;

/// Creates a device with no window: the first hardware adapter, else any adapter (lavapipe,
/// the Vulkan software driver, on a machine without a GPU).
pub fn headless() -> Result<(wgpu::Device, wgpu::Queue, String, wgpu::DeviceType), EngineError> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    // Our indirect arguments are written by our own kernels and always within the limits,
    // so wgpu's extra validation dispatch per indirect call buys nothing.
    desc.flags
        .remove(wgpu::InstanceFlags::VALIDATION_INDIRECT_CALL);
    let instance = wgpu::Instance::new(desc);
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        force_fallback_adapter: false,
        compatible_surface: None,
        apply_limit_buckets: false,
    }))
    .or_else(|_| {
        pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::None,
            force_fallback_adapter: true,
            compatible_surface: None,
            apply_limit_buckets: false,
        }))
    })
    .map_err(|e| {
        EngineError::Gpu(format!(
            "no GPU adapter found ({e}); install a Vulkan driver — on a machine without a GPU, \
             the software driver lavapipe (Debian/Ubuntu: `apt-get install libvulkan1 \
             mesa-vulkan-drivers`) — and make sure XDG_RUNTIME_DIR is set, or use the CPU backend"
        ))
    })?;
    let info = adapter.get_info();
    let name = format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type);
    let limits = wanted_limits(&adapter.limits());
    // timestamps time the kernels apart from submission and readback (bench), inside a pass
    // too where the adapter can (one per kernel); all optional
    let features = adapter.features()
        & (wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES);
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("megascope headless device"),
        required_features: features,
        required_limits: limits,
        experimental_features: wgpu::ExperimentalFeatures::disabled(),
        memory_hints: wgpu::MemoryHints::Performance,
        trace: wgpu::Trace::Off,
    }))
    .map_err(|e| {
        EngineError::Gpu(format!(
            "the adapter {name} refused a device ({e}); update the graphics driver or use the CPU backend"
        ))
    })?;
    Ok((device, queue, name, info.device_type))
}

/// WebGPU's default limits, with storage buffers as large as the adapter allows (a
/// 1,048,576-slot ring is 64 MiB).
fn wanted_limits(adapter: &wgpu::Limits) -> wgpu::Limits {
    wgpu::Limits {
        max_storage_buffer_binding_size: adapter.max_storage_buffer_binding_size,
        max_buffer_size: adapter.max_buffer_size,
        max_compute_workgroups_per_dimension: adapter.max_compute_workgroups_per_dimension,
        ..wgpu::Limits::default()
    }
}

/// Runs `f` inside validation and out-of-memory error scopes; a captured error becomes
/// [`EngineError::Gpu`] naming `what`.
pub fn scoped<T>(
    device: &wgpu::Device,
    what: &str,
    f: impl FnOnce() -> Result<T, EngineError>,
) -> Result<T, EngineError> {
    let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let out = f();
    let v = pollster::block_on(validation.pop());
    let o = pollster::block_on(oom.pop());
    if let Some(e) = o {
        return Err(EngineError::Gpu(format!(
            "{what}: the device ran out of memory ({e}); use fewer slots or observable words"
        )));
    }
    if let Some(e) = v {
        return Err(EngineError::Gpu(format!(
            "{what}: wgpu rejected the work ({e}); this is a megascope bug, please report it with the state that caused it"
        )));
    }
    out
}

/// A mapping that failed or never completed: the device is most likely gone.
pub(super) fn device_lost(what: &str) -> EngineError {
    EngineError::Gpu(format!(
        "{what}; the device may have been lost — restart megascope or switch to the CPU backend"
    ))
}

/// Waits until the device has done everything submitted (and mapping callbacks have run).
pub(super) fn wait_all(device: &wgpu::Device) -> Result<(), EngineError> {
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map(drop)
        .map_err(|e| EngineError::Gpu(format!("waiting for the GPU failed: {e}")))
}

/// How long a readback polls the device before it blocks: a blocking wait sleeps in the
/// driver and wakes up late (on an H200 a submit-and-read of a few words took about 0.1 ms
/// blocking), while polling sees the fence the moment it signals. Past this the work is long
/// enough that a late wake-up does not matter, and the thread sleeps.
const SPIN_LIMIT: std::time::Duration = std::time::Duration::from_micros(500);

/// How a readback waits for the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Sleep until the device is done (a software adapter: polling would take a core from
    /// the threads that run the kernels).
    Block,
    /// Poll for up to [`SPIN_LIMIT`], then sleep.
    SpinThenBlock,
}

impl Wait {
    /// Polling on a GPU, blocking on a CPU adapter (lavapipe), whose kernels run on the
    /// same cores as the polling thread.
    pub fn for_adapter(device_type: wgpu::DeviceType) -> Wait {
        match device_type {
            wgpu::DeviceType::Cpu => Wait::Block,
            _ => Wait::SpinThenBlock,
        }
    }
}

/// Maps the first `bytes` of each staging buffer (all were copied into by work already
/// submitted), waits as `wait` says, and hands each mapped range to `read` in order.
/// Returns how long it waited for the mappings (the rest is `read`'s own time).
pub fn read_mapped(
    device: &wgpu::Device,
    staging: &[(&wgpu::Buffer, u64)],
    wait: Wait,
    mut read: impl FnMut(usize, &[u8]),
) -> Result<std::time::Duration, EngineError> {
    let t0 = std::time::Instant::now();
    let (tx, rx) = mpsc::channel();
    let mut pending = 0;
    for (i, (buf, bytes)) in staging.iter().enumerate() {
        if *bytes == 0 {
            continue;
        }
        let tx = tx.clone();
        buf.slice(..*bytes)
            .map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send((i, r));
            });
        pending += 1;
    }
    drop(tx);
    let mut results = std::collections::VecDeque::with_capacity(pending);
    if wait == Wait::SpinThenBlock {
        let t0 = std::time::Instant::now();
        while results.len() < pending && t0.elapsed() < SPIN_LIMIT {
            device
                .poll(wgpu::PollType::Poll)
                .map_err(|e| EngineError::Gpu(format!("polling the GPU failed: {e}")))?;
            results.extend(rx.try_iter());
            std::hint::spin_loop();
        }
    }
    if results.len() < pending {
        wait_all(device)?;
    }
    let mut failed = None;
    for _ in 0..pending {
        let got = match results.pop_front() {
            Some(r) => Ok(r),
            None => rx.recv(),
        };
        match got {
            Ok((_, Ok(()))) => {}
            Ok((i, Err(e))) => failed = Some(format!("mapping readback buffer {i} failed: {e}")),
            Err(_) => failed = Some("a readback never completed".to_string()),
        }
    }
    if let Some(msg) = failed {
        for (buf, _) in staging {
            buf.unmap();
        }
        return Err(device_lost(&msg));
    }
    let waited = t0.elapsed();
    for (i, (buf, bytes)) in staging.iter().enumerate() {
        if *bytes == 0 {
            read(i, &[]);
            continue;
        }
        {
            let view = buf.slice(..*bytes).get_mapped_range().map_err(|e| {
                EngineError::Gpu(format!("reading mapped buffer {i} failed: {e:?}"))
            })?;
            read(i, &view);
        }
        buf.unmap();
    }
    Ok(waited)
}

/// Little-endian bytes as words: borrowed when the bytes are aligned, as mapped ranges are,
/// decoded into a copy otherwise.
pub fn words(bytes: &[u8]) -> std::borrow::Cow<'_, [u32]> {
    match bytemuck::try_cast_slice::<u8, u32>(bytes) {
        Ok(words) if cfg!(target_endian = "little") => std::borrow::Cow::Borrowed(words),
        _ => std::borrow::Cow::Owned(
            bytes
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
    }
}

/// Little-endian bytes into `out` (cleared first, capacity kept).
pub fn words_into(bytes: &[u8], out: &mut Vec<u32>) {
    out.clear();
    out.extend_from_slice(&words(bytes));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_decode_little_endian_aligned_or_not() {
        let words = [1u32.to_le(), 256u32.to_le(), u32::MAX];
        let aligned: &[u8] = bytemuck::cast_slice(&words);
        let mut v = vec![9];
        words_into(aligned, &mut v);
        assert_eq!(v, vec![1, 256, u32::MAX]);
        let mut shifted = [0u8; 13];
        shifted[1..].copy_from_slice(aligned);
        words_into(&shifted[1..], &mut v);
        assert_eq!(v, vec![1, 256, u32::MAX]);
    }

    #[test]
    fn only_a_cpu_adapter_blocks_at_once() {
        assert_eq!(Wait::for_adapter(wgpu::DeviceType::Cpu), Wait::Block);
        for t in [
            wgpu::DeviceType::DiscreteGpu,
            wgpu::DeviceType::IntegratedGpu,
            wgpu::DeviceType::VirtualGpu,
            wgpu::DeviceType::Other,
        ] {
            assert_eq!(Wait::for_adapter(t), Wait::SpinThenBlock, "{t:?}");
        }
    }

    #[test]
    fn limits_keep_webgpu_defaults_but_allow_big_storage() {
        let adapter = wgpu::Limits {
            max_storage_buffer_binding_size: 1 << 30,
            ..wgpu::Limits::default()
        };
        let l = wanted_limits(&adapter);
        assert_eq!(l.max_storage_buffer_binding_size, 1 << 30);
        assert_eq!(
            l.max_compute_invocations_per_workgroup,
            wgpu::Limits::default().max_compute_invocations_per_workgroup
        );
    }
}
