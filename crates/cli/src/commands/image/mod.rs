//! Image commands.

pub mod archive;
pub mod history;
pub mod import;
pub mod ls;
pub mod pull;
pub mod rm;
pub mod tag;
