//! Identifiers of every stored row.

/// A new row id: a UUIDv7, so ids sort by creation time (and index well).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
