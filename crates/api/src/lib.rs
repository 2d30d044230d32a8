//! Docker Engine API: version constants, wire models and stream framing. No I/O.
//!
//! Wire models are bollard-stubs' (generated from moby's swagger), re-exported as [`models`] so
//! the daemon and the clients agree on one definition. This crate adds what the swagger models
//! do not cover: API version negotiation, the `filters` query parameter, and the multiplexed
//! stdout/stderr stream framing used by attach, logs and exec.

pub mod detach;
pub mod filters;
pub mod stream;
pub mod units;
pub mod version;

pub use bollard_stubs::models;
