//! Containers: the persisted record ([`model`]), and the lifecycle verbs, one file each.

pub mod archive;
pub mod commit;
pub mod create;
pub mod exec;
pub mod image_archive;
pub mod image_prune;
pub mod images;
pub mod io;
pub mod model;
pub mod monitor;
pub mod mounts;
pub mod netmodes;
pub mod pause;
pub mod prune;
pub mod remove;
pub mod restart;
pub mod start;
pub mod stats;
pub mod stop;
pub mod update;
pub mod wait;
