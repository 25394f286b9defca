//! CPU kernels: quantized dot products, matrix products, and the small
//! element-wise operations of a transformer layer.
//!
//! The kernels know the file format's tensor types
//! ([`crate::model::gguf::types`]) and nothing else of the model: the model
//! calls them, never the other way round.

pub mod attention;
pub mod huge;
pub mod matmul;
pub mod ops;
pub mod quant;
mod tiles;
#[cfg(target_arch = "x86_64")]
mod vector_math;

/// Sets the number of worker threads the engine's kernels use. Must be
/// called before the first model runs; later calls fail.
pub fn set_threads(n: usize) -> Result<(), String> {
    if n == 0 {
        return Err("--threads must be at least 1".to_string());
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .map_err(|e| format!("cannot set the thread count to {n}: {e}"))
}
