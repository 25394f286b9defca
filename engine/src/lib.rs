//! hearth's inference engine: GGUF models, the tokenizer, chat templates, CPU
//! kernels, the KV cache and sampling.
//!
//! The engine is a library: it never reads the environment and never exits the
//! process. The CLI passes configuration in and reports errors.

pub mod api;
pub mod cpu;
pub mod eval;
pub mod kv;
pub mod model;
pub mod sched;
pub mod template;
pub mod tokenizer;
