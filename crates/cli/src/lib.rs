//! The `taskmesh` binary's wiring, as a library so integration tests boot the same mesh the
//! binary runs: [`services`] says what is implemented, [`runtime`] assembles and serves it,
//! [`bench`] measures it.

pub mod bench;
pub mod runtime;
pub mod services;
