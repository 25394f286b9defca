//! Turning logits into tokens for one sequence: the sampler, stop strings,
//! the thinking-budget state machine, and the generation loop that prefills
//! a prompt and feeds back one token at a time over the sequence's KV cache.
//!
//! Nothing here queues or batches requests: that is a scheduler's job, and
//! the [`crate::engine`] handle calls this loop once per request.

pub mod constraint;
pub mod generate;
pub mod grammar;
pub mod sampler;
pub mod speculate;
pub mod stop;
pub mod thinking;
