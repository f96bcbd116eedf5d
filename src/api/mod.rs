//! Public API wire types: byte-compatible with the formats clients already speak, converted
//! explicitly to and from the canonical types in `crate::llm`.

pub mod anthropic;
pub mod openai;
pub mod responses;
