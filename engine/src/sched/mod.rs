//! Turning logits into tokens: sampling, stop conditions and the generation
//! loop over a sequence's KV cache.

pub mod engine;
pub mod generate;
mod message;
pub mod prompt_cache;
pub mod sampler;
pub mod stop;
pub mod thinking;
