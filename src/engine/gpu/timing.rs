//! The kernels' own time, from GPU timestamps where the device has them. A resident
//! dispatch's wall time includes a submission and a readback (about 0.15 ms on an H200,
//! more than the kernel at small slot counts), so DESIGN.md §5's "kernel within 2× of the
//! memory bound" needs the device's clock: the compute pass that holds every pass of a
//! submission is bracketed by two timestamps.

use std::time::Duration;

/// Two timestamps, their resolve buffer and a staging copy for the readback.
pub struct KernelTimer {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    pub stage: wgpu::Buffer,
    period_ns: f32,
}

/// Bytes the two resolved timestamps take.
pub const TIMER_BYTES: u64 = 16;

impl KernelTimer {
    /// `None` when the device was created without `TIMESTAMP_QUERY` (eframe's device, or an
    /// adapter without timestamps): the engine then reports no kernel time.
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> Option<KernelTimer> {
        if !device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return None;
        }
        let buffer = |label, usage| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: TIMER_BYTES,
                usage,
                mapped_at_creation: false,
            })
        };
        Some(KernelTimer {
            set: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("kernel time"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
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
        })
    }

    /// The timestamps a compute pass writes at its start and end.
    pub fn writes(&self) -> wgpu::ComputePassTimestampWrites<'_> {
        wgpu::ComputePassTimestampWrites {
            query_set: &self.set,
            beginning_of_pass_write_index: Some(0),
            end_of_pass_write_index: Some(1),
        }
    }

    /// Resolves both timestamps and copies them to [`KernelTimer::stage`].
    pub fn resolve(&self, enc: &mut wgpu::CommandEncoder) {
        enc.resolve_query_set(&self.set, 0..2, &self.resolve, 0);
        enc.copy_buffer_to_buffer(&self.resolve, 0, &self.stage, 0, TIMER_BYTES);
    }

    /// The time between the two timestamps read back from the stage.
    pub fn elapsed(&self, bytes: &[u8]) -> Option<Duration> {
        ticks_to_duration(bytes, self.period_ns)
    }
}

/// Two little-endian u64 ticks to the time between them; `None` for a short read or a clock
/// that went backwards (some drivers reset it between submissions).
fn ticks_to_duration(bytes: &[u8], period_ns: f32) -> Option<Duration> {
    let tick = |i: usize| {
        Some(u64::from_le_bytes(
            bytes.get(i * 8..i * 8 + 8)?.try_into().ok()?,
        ))
    };
    let (start, end) = (tick(0)?, tick(1)?);
    let ns = end.checked_sub(start)? as f64 * f64::from(period_ns);
    Some(Duration::from_nanos(ns.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticks(a: u64, b: u64) -> Vec<u8> {
        [a.to_le_bytes(), b.to_le_bytes()].concat()
    }

    #[test]
    fn ticks_scale_by_the_period() {
        assert_eq!(
            ticks_to_duration(&ticks(100, 1100), 1.0),
            Some(Duration::from_nanos(1000))
        );
        assert_eq!(
            ticks_to_duration(&ticks(0, 40), 2.5),
            Some(Duration::from_nanos(100))
        );
    }

    #[test]
    fn backwards_or_short_reads_give_no_time() {
        assert_eq!(ticks_to_duration(&ticks(50, 10), 1.0), None);
        assert_eq!(ticks_to_duration(&[0u8; 12], 1.0), None);
    }
}
