//! taskmesh's public contracts: the generated protobuf messages, tonic servers and tonic
//! clients of every service, re-exported by package (`taskmesh::projects::v1::...`).
//!
//! The module tree mirrors the protobuf packages `taskmesh.<service>.v1`, so generated
//! cross-package references (`super::super::tenancy::v1::...`) resolve from the crate root.
//! Nothing here is hand-written logic: the sources of truth are the files under `proto/`.

#![allow(clippy::all, missing_docs, rustdoc::all)]

/// Declares `pub mod <service> { pub mod v1 { ... } }` for each generated package.
macro_rules! packages {
    ($($service:ident => $package:literal),* $(,)?) => {
        $(
            #[doc = concat!("Contracts of the `", $package, "` package.")]
            pub mod $service {
                #[doc = concat!("Version 1 of `", $package, "`.")]
                pub mod v1 {
                    tonic::include_proto!($package);
                }
            }
        )*
    };
}

packages! {
    identity => "taskmesh.identity.v1",
    tenancy => "taskmesh.tenancy.v1",
    projects => "taskmesh.projects.v1",
    documents => "taskmesh.documents.v1",
    notifications => "taskmesh.notifications.v1",
    links => "taskmesh.links.v1",
    analytics => "taskmesh.analytics.v1",
    events => "taskmesh.events.v1",
}

/// The encoded `FileDescriptorSet` of every taskmesh proto file and its imports, with source
/// info (comments), for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/taskmesh_descriptor.bin"));
