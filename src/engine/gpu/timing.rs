//! The kernels' own time, from GPU timestamps where the device has them. A resident
//! dispatch's wall time includes a submission and a readback (about 0.1 ms on an H200, more
//! than the kernel at small slot counts), so DESIGN.md §5's "kernel within 2× of the memory
//! bound" needs the device's clock. The compute pass that holds a submission's kernels is
//! bracketed by two timestamps; with [`KernelTiming::PerKernel`] on a device that can write
//! timestamps inside a pass (`TIMESTAMP_QUERY_INSIDE_PASSES`, Vulkan and DX12) one more
//! follows every kernel, so the bench can say which kernel the time goes to. Timing costs a
//! resolve, a copy and one more mapped buffer per submission, so whoever measures latency
//! (the bench's resident rounds) switches it off.

use std::time::Duration;

use super::run_state::CHUNK_PASSES;

/// What a submission's timestamps measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KernelTiming {
    /// No timestamps: nothing to resolve or read back.
    Off,
    /// The whole compute pass of a submission ([`crate::engine::gpu::GpuEngine::last_kernel_time`]).
    #[default]
    Total,
    /// The whole pass and each kernel in it
    /// ([`crate::engine::gpu::GpuEngine::last_kernel_breakdown`]); on a device without
    /// timestamps inside passes, the same as [`KernelTiming::Total`].
    PerKernel,
}

/// Where the host's wall time of the last dispatch went, outside the device: a resident
/// dispatch at 4,096 slots is mostly this, so the bench reports it beside the kernel time.
/// The submissions that run passes count; the rare extra ones (the end scan of a `once`
/// pass that left slots waiting, the race analysis' readback) do not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostPhases {
    /// Copying an edited mirror into staging memory (a round trip's upload; zero when the
    /// device copy was current).
    pub upload: Duration,
    /// Writing the dispatch's parameters, run-state header and indirect arguments.
    pub begin: Duration,
    /// Encoding and submitting its command buffers (wgpu validation and the driver's submit).
    pub submit: Duration,
    /// Waiting for the device until the readbacks are mapped.
    pub wait: Duration,
    /// Copying the mapped readbacks out (and the status words into the host ring).
    pub read: Duration,
}

/// Timestamps one submission can hold: the pass's start and end, then one after each
/// kernel (every pass of a chunk is a megakernel and a gate, plus the end kernels).
const MAX_STAMPS: u32 = 2 + 2 * CHUNK_PASSES + 8;

/// The query set, its resolve buffer and a staging copy for the readback.
pub struct KernelTimer {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    pub stage: wgpu::Buffer,
    period_ns: f32,
    /// The device writes timestamps between the kernels of a pass.
    inside_passes: bool,
}

impl KernelTimer {
    /// `None` when the device was created without `TIMESTAMP_QUERY` (eframe's device, or an
    /// adapter without timestamps): the engine then reports no kernel time.
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> Option<KernelTimer> {
        let features = device.features();
        if !features.contains(wgpu::Features::TIMESTAMP_QUERY) {
            return None;
        }
        let bytes = MAX_STAMPS as u64 * 8;
        let buffer = |label, usage| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage,
                mapped_at_creation: false,
            })
        };
        Some(KernelTimer {
            set: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("kernel time"),
                ty: wgpu::QueryType::Timestamp,
                count: MAX_STAMPS,
            }),
            resolve: buffer(
                "kernel time resolve",
                wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            ),
            stage: buffer(
                "kernel time readback",
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            ),
            period_ns: queue.get_timestamp_period(),
            inside_passes: features.contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES),
        })
    }

    /// A recorder for one submission's compute pass.
    pub fn stamps(&self, timing: KernelTiming) -> Stamps<'_> {
        Stamps {
            timer: self,
            per_kernel: timing == KernelTiming::PerKernel && self.inside_passes,
            labels: Vec::new(),
        }
    }
}

/// The timestamps of one compute pass as it is encoded: the labels of the kernels stamped
/// so far, in order.
pub struct Stamps<'a> {
    timer: &'a KernelTimer,
    per_kernel: bool,
    labels: Vec<&'static str>,
}

impl<'a> Stamps<'a> {
    /// The timestamps the pass writes at its start (query 0) and end (query 1).
    pub fn writes(&self) -> wgpu::ComputePassTimestampWrites<'a> {
        let timer: &'a KernelTimer = self.timer;
        wgpu::ComputePassTimestampWrites {
            query_set: &timer.set,
            beginning_of_pass_write_index: Some(0),
            end_of_pass_write_index: Some(1),
        }
    }

    /// Marks the end of the kernel just encoded (`label` names it), when timing per kernel.
    pub fn after(&mut self, cp: &mut wgpu::ComputePass<'_>, label: &'static str) {
        let index = 2 + self.labels.len() as u32;
        if self.per_kernel && index < MAX_STAMPS {
            cp.write_timestamp(&self.timer.set, index);
            self.labels.push(label);
        }
    }

    /// The kernels after which a timestamp was written, in order.
    pub fn labels(&self) -> &[&'static str] {
        &self.labels
    }

    /// These stamps as if `labels` had been written: for commands encoded earlier with
    /// stamps of the same timer and timing, which write the same queries.
    pub fn with_labels(mut self, labels: Vec<&'static str>) -> Self {
        self.labels = labels;
        self
    }

    /// Bytes [`Stamps::resolve`] copies to the timer's stage.
    pub fn bytes(&self) -> u64 {
        (2 + self.labels.len() as u64) * 8
    }

    /// Resolves the pass's timestamps and copies them to [`KernelTimer::stage`].
    pub fn resolve(&self, enc: &mut wgpu::CommandEncoder) {
        let count = 2 + self.labels.len() as u32;
        enc.resolve_query_set(&self.timer.set, 0..count, &self.timer.resolve, 0);
        enc.copy_buffer_to_buffer(&self.timer.resolve, 0, &self.timer.stage, 0, self.bytes());
    }

    /// The pass's time and each labelled kernel's (summed over its dispatches, in the order
    /// each label first appears), from the timestamps read back from the stage.
    pub fn times(self, bytes: &[u8]) -> KernelTimes {
        let ticks: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        times_from_ticks(&ticks, &self.labels, self.timer.period_ns)
    }
}

/// A submission's GPU time, whole and per kernel.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KernelTimes {
    pub total: Option<Duration>,
    pub kernels: Vec<(&'static str, Duration)>,
}

/// Ticks `[start, end, after kernel 0, after kernel 1, …]` to times: kernel i runs from the
/// stamp before it (the pass's start for the first) to its own. A clock that went backwards
/// (some drivers reset it between submissions) or a short read gives no time.
fn times_from_ticks(ticks: &[u64], labels: &[&'static str], period_ns: f32) -> KernelTimes {
    let span = |a: u64, b: u64| {
        let ns = b.checked_sub(a)? as f64 * f64::from(period_ns);
        Some(Duration::from_nanos(ns.round() as u64))
    };
    let total = match ticks {
        [start, end, ..] => span(*start, *end),
        _ => None,
    };
    let mut kernels: Vec<(&'static str, Duration)> = Vec::new();
    if ticks.len() >= 2 + labels.len() && total.is_some() {
        let mut prev = ticks[0];
        for (i, label) in labels.iter().enumerate() {
            let t = ticks[2 + i];
            let Some(d) = span(prev, t) else {
                return KernelTimes {
                    total,
                    kernels: Vec::new(),
                };
            };
            prev = t;
            match kernels.iter_mut().find(|(l, _)| l == label) {
                Some((_, sum)) => *sum += d,
                None => kernels.push((label, d)),
            }
        }
    }
    KernelTimes { total, kernels }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_scale_by_the_period() {
        assert_eq!(
            times_from_ticks(&[100, 1100], &[], 1.0).total,
            Some(Duration::from_nanos(1000))
        );
        assert_eq!(
            times_from_ticks(&[0, 40], &[], 2.5).total,
            Some(Duration::from_nanos(100))
        );
    }

    #[test]
    fn backwards_or_short_reads_give_no_time() {
        assert_eq!(times_from_ticks(&[50, 10], &[], 1.0).total, None);
        assert_eq!(times_from_ticks(&[7], &[], 1.0), KernelTimes::default());
    }

    #[test]
    fn kernels_are_summed_per_label_in_first_seen_order() {
        // start 0, end 100; megakernel 0..30, gate 30..35, megakernel 35..60, gate 60..70
        let t = times_from_ticks(
            &[0, 100, 30, 35, 60, 70],
            &["megakernel", "pass gate", "megakernel", "pass gate"],
            1.0,
        );
        let ns = Duration::from_nanos;
        assert_eq!(t.total, Some(ns(100)));
        assert_eq!(
            t.kernels,
            vec![("megakernel", ns(55)), ("pass gate", ns(15))]
        );
    }

    #[test]
    fn a_stamp_going_backwards_drops_the_breakdown_not_the_total() {
        let t = times_from_ticks(&[0, 100, 30, 20], &["a", "b"], 1.0);
        assert_eq!(t.total, Some(Duration::from_nanos(100)));
        assert!(t.kernels.is_empty());
    }
}
