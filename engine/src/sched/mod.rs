//! Turning logits into tokens: sampling, stop conditions and the generation
//! loop over a sequence's KV cache.

pub mod engine;
pub mod generate;
pub mod sampler;
pub mod stop;
