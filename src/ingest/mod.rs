//! Ingest: wire types, validation, keys, limits and the group-commit writer.

pub mod keys;
pub mod limits;
pub mod normalize;
pub mod pipeline;
pub mod rollup;
pub mod sentry;
pub mod wire;
