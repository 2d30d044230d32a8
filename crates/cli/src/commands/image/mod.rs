//! Image commands.

pub mod archive;
pub mod history;
pub mod import;
pub mod ls;
pub mod pull;
pub mod rm;
pub mod tag;
pub mod credentials;
pub mod login;
pub mod progress;
pub mod push;
pub mod search;
