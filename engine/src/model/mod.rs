//! Model formats and the one transformer implementation.

pub mod config;
pub mod gguf;
pub mod linear;
pub mod load;
pub mod transformer;
pub mod weights;
