//! System commands.

pub mod events;
pub mod info;
pub mod prune;
pub mod version;
pub mod df;
