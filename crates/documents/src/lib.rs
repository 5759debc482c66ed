//! The documents service, first parts: content-addressed blob storage ([`blobs`]) on the
//! local filesystem or an S3-compatible store, signed download tokens ([`download`]), and the store of documents and their
//! versions ([`store`], with the events it publishes, [`events`]). The DocumentService RPCs
//! and the edge's download route come next (issue 11); until then the binary does not mount
//! documents.

pub mod blobs;
pub mod download;
pub mod events;
pub mod store;

pub use store::sql::migrations;
