//! The documents service, first part: content-addressed blob storage ([`blobs`]) on the
//! local filesystem or an S3-compatible store. The DocumentService RPCs, their store and
//! the edge's download route come next (issue 11); until then the binary does not mount
//! documents.

pub mod blobs;
