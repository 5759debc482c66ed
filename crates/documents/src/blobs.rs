//! Content-addressed blob storage: document contents stored once per organization under
//! `<organization>/<first two hex digits>/<sha256>`, on the local filesystem (the embedded
//! default) or an S3-compatible store, through `object_store`.
//!
//! Invariants:
//! - A blob's key is the SHA-256 of its bytes, computed as they arrive; a user-supplied name
//!   never reaches a storage path.
//! - The size cap holds while bytes arrive: the write fails on the first byte over the limit
//!   without reading further.
//! - A write that fails (too large, checksum or size mismatch, the client's stream broke) or
//!   is dropped leaves no content blob: bytes go to a staging object first and reach their
//!   content key only once complete and verified; failed staging uploads are aborted, and
//!   staging objects a dropped write left behind are removed by [`Blobs::sweep_staging`].
//! - Identical bytes written twice in one organization are stored once.

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, WriteMultipart};
use sha2::{Digest, Sha256};

/// Largest chunk a read yields.
pub const READ_CHUNK: usize = 1024 * 1024;
/// How many leading bytes the media type is sniffed from.
const SNIFF_BYTES: usize = 8 * 1024;
/// Where writes stage their bytes.
const STAGING: &str = "staging";

/// What can go wrong with a blob.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// More bytes than allowed.
    #[error("the content exceeds {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: u64,
    },
    /// The bytes' SHA-256 is not the one the client stated.
    #[error("checksum mismatch: expected {expected}, got {actual}")]
    ChecksumMismatch {
        /// Stated.
        expected: String,
        /// Computed.
        actual: String,
    },
    /// The byte count is not the one the client stated.
    #[error("size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// Stated.
        expected: u64,
        /// Received.
        actual: u64,
    },
    /// The client's stream failed (cancelled, broken).
    #[error("the upload stream failed: {0}")]
    Upload(String),
    /// No such blob.
    #[error("blob not found")]
    NotFound,
    /// The store failed.
    #[error("blob storage: {0}")]
    Storage(#[from] object_store::Error),
}

/// What a client said about the bytes it sends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expected {
    /// Total size, if stated.
    pub size: Option<u64>,
    /// SHA-256 in hex (any case), if stated.
    pub sha256: Option<String>,
}

/// A stored blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Media type sniffed from the leading bytes, when recognised.
    pub sniffed_content_type: Option<String>,
    /// False when the same bytes were already stored for the organization.
    pub created: bool,
}

/// Bytes received and verified but not yet at their content key.
#[derive(Debug)]
pub struct Staged {
    staging: Path,
    organization: String,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Media type sniffed from the leading bytes, when recognised.
    pub sniffed_content_type: Option<String>,
}

/// The blob store.
#[derive(Clone, Debug)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl Blobs {
    /// Over any object store (tests use `object_store::memory::InMemory`).
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    /// On the local filesystem under `directory` (created if missing).
    pub fn local(directory: &std::path::Path) -> Result<Self, BlobError> {
        std::fs::create_dir_all(directory).map_err(|error| {
            BlobError::Storage(object_store::Error::Generic {
                store: "LocalFileSystem",
                source: Box::new(error),
            })
        })?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(directory)?;
        Ok(Self::new(Arc::new(store)))
    }

    /// On an S3-compatible store at `url` (`s3://bucket/prefix`), with credentials and
    /// endpoint from the standard `AWS_*` environment variables and `options`
    /// (e.g. `("endpoint", "http://127.0.0.1:9000")`, `("allow_http", "true")`).
    pub fn s3(url: &str, options: &[(&str, &str)]) -> Result<Self, BlobError> {
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_url(url);
        for (key, value) in options {
            let key: object_store::aws::AmazonS3ConfigKey = key.parse()?;
            builder = builder.with_config(key, *value);
        }
        Ok(Self::new(Arc::new(builder.build()?)))
    }

    fn key(organization: &str, sha256: &str) -> Path {
        Path::from(format!("{organization}/{}/{sha256}", &sha256[..2]))
    }

    /// Stores the bytes of `chunks` for `organization`, at most `limit` of them, checked
    /// against `expected`: [`Blobs::stage`] then [`Blobs::place`].
    pub async fn write<S, E>(
        &self,
        organization: &str,
        chunks: S,
        limit: u64,
        expected: &Expected,
    ) -> Result<Stored, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Display,
    {
        let staged = self.stage(organization, chunks, limit, expected).await?;
        self.place(staged).await
    }

    /// Receives the bytes of `chunks` into a staging object, at most `limit` of them,
    /// hashing them and checking them against `expected`; nothing is left when this fails.
    pub async fn stage<S, E>(
        &self,
        organization: &str,
        mut chunks: S,
        limit: u64,
        expected: &Expected,
    ) -> Result<Staged, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Display,
    {
        if let Some(size) = expected.size
            && size > limit
        {
            return Err(BlobError::TooLarge { limit });
        }
        let staging = Path::from(format!("{STAGING}/{}", uuid::Uuid::now_v7()));
        let mut writer = WriteMultipart::new(self.store.put_multipart(&staging).await?);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        let received: Result<(), BlobError> = async {
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|error| BlobError::Upload(error.to_string()))?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(BlobError::TooLarge { limit });
                }
                let wanted = SNIFF_BYTES.saturating_sub(head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..wanted]);
                hasher.update(&chunk);
                writer.wait_for_capacity(4).await?;
                writer.put(chunk);
            }
            Ok(())
        }
        .await;
        let sha256 = hex(&hasher.finalize());
        let checked = received.and_then(|()| {
            if let Some(expected_size) = expected.size
                && expected_size != size
            {
                return Err(BlobError::SizeMismatch {
                    expected: expected_size,
                    actual: size,
                });
            }
            match &expected.sha256 {
                Some(stated) if !stated.eq_ignore_ascii_case(&sha256) => {
                    Err(BlobError::ChecksumMismatch {
                        expected: stated.to_ascii_lowercase(),
                        actual: sha256.clone(),
                    })
                }
                _ => Ok(()),
            }
        });
        if let Err(error) = checked {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(%abort, "cannot abort a failed upload; the staging sweep will remove it");
            }
            return Err(error);
        }
        writer.finish().await?;
        Ok(Staged {
            staging,
            organization: organization.to_string(),
            sha256,
            size_bytes: size,
            sniffed_content_type: infer::get(&head).map(|kind| kind.mime_type().to_string()),
        })
    }

    /// Moves staged bytes to their content key (unless the same content is already there)
    /// and removes the staging object.
    pub async fn place(&self, staged: Staged) -> Result<Stored, BlobError> {
        let Staged {
            staging,
            organization,
            sha256,
            size_bytes,
            sniffed_content_type,
        } = staged;
        let key = Self::key(&organization, &sha256);
        let placed = async {
            let exists = match self.store.head(&key).await {
                Ok(_) => true,
                Err(object_store::Error::NotFound { .. }) => false,
                Err(error) => return Err(BlobError::Storage(error)),
            };
            if !exists {
                // The key is the content's hash: a concurrent writer of the same bytes
                // writes the same object, so a plain copy is safe on every store.
                self.store.copy(&staging, &key).await?;
            }
            Ok(!exists)
        }
        .await;
        if let Err(error) = self.store.delete(&staging).await {
            tracing::warn!(%error, "cannot delete a staging object; the staging sweep will remove it");
        }
        Ok(Stored {
            sha256,
            size_bytes,
            sniffed_content_type,
            created: placed?,
        })
    }

    /// Removes staged bytes that will not be placed.
    pub async fn discard(&self, staged: Staged) {
        if let Err(error) = self.store.delete(&staged.staging).await {
            tracing::warn!(%error, "cannot delete a staging object; the staging sweep will remove it");
        }
    }

    /// The bytes of `sha256` for `organization`, in chunks of at most [`READ_CHUNK`].
    pub async fn read(
        &self,
        organization: &str,
        sha256: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        let result = match self.store.get(&Self::key(organization, sha256)).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Err(BlobError::NotFound),
            Err(error) => return Err(error.into()),
        };
        Ok(result
            .into_stream()
            .map_err(BlobError::from)
            .map_ok(|mut bytes| {
                let mut pieces = Vec::with_capacity(bytes.len() / READ_CHUNK + 1);
                while bytes.len() > READ_CHUNK {
                    pieces.push(Ok(bytes.split_to(READ_CHUNK)));
                }
                pieces.push(Ok(bytes));
                futures::stream::iter(pieces)
            })
            .try_flatten()
            .boxed())
    }

    /// Whether `sha256` is stored for `organization`.
    pub async fn exists(&self, organization: &str, sha256: &str) -> Result<bool, BlobError> {
        match self.store.head(&Self::key(organization, sha256)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Deletes `sha256` of `organization` (nothing when it is not stored).
    pub async fn delete(&self, organization: &str, sha256: &str) -> Result<(), BlobError> {
        match self.store.delete(&Self::key(organization, sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Deletes staging objects older than `age` (left by writes that were dropped half-way,
    /// e.g. a client that disconnected); returns how many.
    pub async fn sweep_staging(&self, age: Duration) -> Result<usize, BlobError> {
        let cutoff = std::time::SystemTime::now() - age;
        let stale: Vec<Path> = self
            .store
            .list(Some(&Path::from(STAGING)))
            .try_filter(|meta| futures::future::ready(system_time(meta) < cutoff))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await?;
        for path in &stale {
            match self.store.delete(path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(stale.len())
    }

    /// Every object key under `prefix` (tests check nothing is left behind).
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        let prefix = Path::from(prefix);
        Ok(self
            .store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await?)
    }
}

fn system_time(meta: &object_store::ObjectMeta) -> std::time::SystemTime {
    meta.last_modified.into()
}

#[async_trait::async_trait]
impl crate::store::ContentRemover for Blobs {
    async fn remove(&self, organization: &str, sha256: &str) -> Result<(), String> {
        self.delete(organization, sha256)
            .await
            .map_err(|error| error.to_string())
    }
}
