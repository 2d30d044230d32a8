//! Containers: the persisted record ([`model`]), and the lifecycle verbs, one file each.

pub mod create;
pub mod exec;
pub mod images;
pub mod io;
pub mod model;
pub mod monitor;
pub mod pause;
pub mod remove;
pub mod start;
pub mod stop;
pub mod wait;
