//! GPU benchmark (filled in with the GPU engine).

use super::{BenchArgs, BenchReport};

pub fn section(_args: &BenchArgs, _report: &mut BenchReport) -> Result<(), String> {
    Err("the GPU section is not wired yet".into())
}
