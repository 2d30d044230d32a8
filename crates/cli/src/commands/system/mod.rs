//! System commands.

pub mod info;
pub mod version;
