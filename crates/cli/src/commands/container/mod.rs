//! Container commands: one file per verb (or small family of verbs).

pub mod attach;
pub mod commit;
pub mod cp;
pub mod create;
pub mod device_opt;
pub mod exec;
pub mod logs;
pub mod mount_opt;
pub mod opts;
pub mod pause;
pub mod port;
pub mod ps;
pub mod rm;
pub mod run;
pub mod start;
pub mod stats;
pub mod stop;
pub mod stream;
pub mod top;
pub mod update;
pub mod wait;
