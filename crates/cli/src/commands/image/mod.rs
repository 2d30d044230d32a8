//! Image commands.

pub mod archive;
pub mod cred_helpers;
pub mod credentials;
pub mod history;
pub mod import;
pub mod login;
pub mod ls;
pub mod progress;
pub mod pull;
pub mod push;
pub mod rm;
pub mod search;
pub mod tag;
