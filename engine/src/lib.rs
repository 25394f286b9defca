//! hearth's inference engine: GGUF models, the tokenizer, chat templates, CPU
//! kernels, the KV cache and sampling.
//!
//! The engine is a library: it never reads the environment and never exits the
//! process. The CLI passes configuration in and reports errors.

pub mod api;
pub mod bench;
pub mod cpu;
pub mod engine;
pub mod eval;
pub mod generation;
pub mod kv;
pub mod model;
pub mod rng;
pub mod schedule;
pub mod template;
pub mod tokenizer;
