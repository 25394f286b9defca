//! Turning logits into tokens: sampling, stop conditions and the generation
//! loop over a sequence's KV cache.

pub mod engine;
pub mod generate;
pub mod prompt_cache;
pub mod sampler;
pub mod stop;
