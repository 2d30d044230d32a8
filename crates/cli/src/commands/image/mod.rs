//! Image commands.

pub mod import;
pub mod ls;
pub mod pull;
pub mod rm;
pub mod tag;
