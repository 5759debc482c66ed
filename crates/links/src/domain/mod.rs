//! Links' rules, free of transport and storage.

pub mod slugs;
pub mod visitors;
