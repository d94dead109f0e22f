//! Reflector's object storage and what moves recordings into it, for the application (recording
//! ingestion) and the transcription pipeline alike:
//!
//! - [`Storage`]: one interface over a local directory (the default, under `DATA_DIR`) or any
//!   S3-compatible store (endpoint URL, path style, region, keys), built on the `object_store`
//!   crate, which implements both behind its `ObjectStore` trait;
//! - [`Buckets`]: read access to the providers' own buckets with the same S3 connection settings
//!   (the "bucket override" of SPEC §1);
//! - [`download`]: streaming a remote object or URL into a staging file in bounded memory,
//!   resumed where it stopped, retried, and checked against the announced size;
//! - [`probe`]: whether a file has an audio stream (`ffprobe`);
//! - [`sqs`]: the two SQS calls the Whereby bucket's notifications need, and the S3 event
//!   notification format.

pub mod download;
pub mod probe;
pub mod sqs;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::{BackoffConfig, ObjectStore, RetryConfig, WriteMultipart};
use reflector_core::{ConfigError, Env};
use tokio::io::AsyncReadExt;

pub use object_store::path::Path as ObjectPath;

const BACKEND: &str = "TRANSCRIPT_STORAGE_BACKEND";
const BUCKET_NAME: &str = "TRANSCRIPT_STORAGE_AWS_BUCKET_NAME";
const REGION: &str = "TRANSCRIPT_STORAGE_AWS_REGION";
const ACCESS_KEY_ID: &str = "TRANSCRIPT_STORAGE_AWS_ACCESS_KEY_ID";
const SECRET_ACCESS_KEY: &str = "TRANSCRIPT_STORAGE_AWS_SECRET_ACCESS_KEY";
const ENDPOINT_URL: &str = "TRANSCRIPT_STORAGE_AWS_ENDPOINT_URL";
const DEFAULT_REGION: &str = "us-east-1";

/// Upload parts: S3's smallest allowed part, so that memory per upload stays small.
const PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts in flight per upload; with the one being filled, at most 3 parts are in memory.
const PARTS_IN_FLIGHT: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object {0} not found")]
    NotFound(String),
    #[error("storage error: {0}")]
    Store(#[from] object_store::Error),
    #[error("local file error: {0}")]
    Io(#[from] std::io::Error),
}

impl StorageError {
    fn from_object(key: &str, e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => Self::NotFound(key.to_owned()),
            e => Self::Store(e),
        }
    }
}

/// How to reach an S3-compatible service (`TRANSCRIPT_STORAGE_AWS_*`).
#[derive(Clone, Default)]
pub struct S3Connection {
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Another S3-compatible service than AWS (MinIO, moto, …): addressed path-style.
    pub endpoint: Option<String>,
}

impl std::fmt::Debug for S3Connection {
    // Keys are secrets: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Connection")
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Where our own objects go.
#[derive(Debug, Clone)]
pub enum Backend {
    /// `TRANSCRIPT_STORAGE_BACKEND=local`: files under this directory.
    Local(PathBuf),
    /// `TRANSCRIPT_STORAGE_BACKEND=aws`: this bucket.
    S3 { bucket: String },
}

/// The storage settings (SPEC §1), read once.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    pub backend: Backend,
    pub s3: S3Connection,
    /// Partial downloads, kept between attempts so they resume (`$DATA_DIR/tmp/recordings`).
    pub staging_dir: PathBuf,
}

impl StorageSettings {
    pub fn from_env(env: &Env, data_dir: &Path) -> Result<Self, ConfigError> {
        let endpoint = match env.get(ENDPOINT_URL) {
            Some(_) => Some(env.url_or(ENDPOINT_URL, "")?),
            None => None,
        };
        let access_key_id = env.get(ACCESS_KEY_ID).map(str::to_owned);
        let secret_access_key = env.get(SECRET_ACCESS_KEY).map(str::to_owned);
        if access_key_id.is_some() != secret_access_key.is_some() {
            let missing = if access_key_id.is_some() {
                SECRET_ACCESS_KEY
            } else {
                ACCESS_KEY_ID
            };
            return Err(ConfigError::new(
                missing,
                format!("set both {ACCESS_KEY_ID} and {SECRET_ACCESS_KEY}, or neither"),
            ));
        }
        let s3 = S3Connection {
            region: env.string_or(REGION, DEFAULT_REGION),
            access_key_id,
            secret_access_key,
            endpoint,
        };
        let backend = match env.string_or(BACKEND, "local").as_str() {
            "local" => Backend::Local(data_dir.join("storage")),
            "aws" => Backend::S3 {
                bucket: env.require(BUCKET_NAME)?.to_owned(),
            },
            other => {
                return Err(ConfigError::new(
                    BACKEND,
                    format!("{other:?} is not a storage backend; use local or aws"),
                ));
            }
        };
        Ok(Self {
            backend,
            s3,
            staging_dir: data_dir.join("tmp").join("recordings"),
        })
    }
}

/// A bucket to read, as a provider names it; what it leaves out comes from [`S3Connection`].
#[derive(Clone, Default)]
pub struct BucketAccess {
    pub bucket: String,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for BucketAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BucketAccess")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// Retries of storage calls inside `object_store`: a few quick ones; the jobs retry for longer.
fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            base: 2.0,
        },
        max_retries: 4,
        retry_timeout: Duration::from_secs(60),
    }
}

fn s3_store(
    connection: &S3Connection,
    access: &BucketAccess,
) -> Result<Arc<dyn ObjectStore>, StorageError> {
    Ok(Arc::new(s3_builder(connection, access)?))
}

fn s3_builder(
    connection: &S3Connection,
    access: &BucketAccess,
) -> Result<object_store::aws::AmazonS3, StorageError> {
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&access.bucket)
        .with_region(access.region.as_deref().unwrap_or(&connection.region))
        .with_retry(retry_config());
    let keys = match (&access.access_key_id, &access.secret_access_key) {
        (Some(id), Some(secret)) => Some((id, secret)),
        _ => connection
            .access_key_id
            .as_ref()
            .zip(connection.secret_access_key.as_ref()),
    };
    if let Some((id, secret)) = keys {
        builder = builder
            .with_access_key_id(id)
            .with_secret_access_key(secret);
    }
    if let Some(endpoint) = &connection.endpoint {
        builder = builder
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    Ok(builder.build()?)
}

/// Read access to buckets other than ours (the providers' recording buckets).
#[derive(Debug, Clone)]
pub struct Buckets {
    connection: S3Connection,
}

impl Buckets {
    pub fn new(connection: S3Connection) -> Self {
        Self { connection }
    }

    pub fn open(&self, access: &BucketAccess) -> Result<Arc<dyn ObjectStore>, StorageError> {
        s3_store(&self.connection, access)
    }
}

/// Our object storage: a local directory or an S3 bucket, behind one interface.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// S3 storage signs time-limited URLs (for services that fetch audio themselves).
    signer: Option<Arc<dyn object_store::signer::Signer>>,
    /// Where it is, for messages (`local:/…` or `s3://bucket`).
    location: String,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("location", &self.location)
            .finish()
    }
}

impl Storage {
    /// Opens the configured storage; a local directory is created if missing.
    pub fn open(settings: &StorageSettings) -> Result<Self, StorageError> {
        match &settings.backend {
            Backend::Local(dir) => {
                std::fs::create_dir_all(dir)?;
                Ok(Self {
                    store: Arc::new(LocalFileSystem::new_with_prefix(dir)?),
                    signer: None,
                    location: format!("local:{}", dir.display()),
                })
            }
            Backend::S3 { bucket } => {
                let s3 = Arc::new(s3_builder(
                    &settings.s3,
                    &BucketAccess {
                        bucket: bucket.clone(),
                        ..BucketAccess::default()
                    },
                )?);
                Ok(Self {
                    store: s3.clone(),
                    signer: Some(s3),
                    location: format!("s3://{bucket}"),
                })
            }
        }
    }

    pub fn location(&self) -> &str {
        &self.location
    }

    /// Whether [`Storage::presigned_get`] can give URLs (S3 storage; a local directory cannot).
    pub fn can_presign(&self) -> bool {
        self.signer.is_some()
    }

    /// A URL from which anyone holding it may `GET` `key` until `expires_in` has passed, or
    /// `None` for storage that cannot sign (a local directory).
    pub async fn presigned_get(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> Result<Option<String>, StorageError> {
        let Some(signer) = &self.signer else {
            return Ok(None);
        };
        let url = signer
            .signed_url(reqwest::Method::GET, &ObjectPath::from(key), expires_in)
            .await
            .map_err(|e| StorageError::from_object(key, e))?;
        Ok(Some(url.to_string()))
    }

    /// The underlying store, for streaming reads.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// Uploads a local file to `key` in parts, so memory stays bounded whatever its size.
    /// Returns the number of bytes stored.
    pub async fn put_file(&self, key: &str, file: &Path) -> Result<u64, StorageError> {
        let path = ObjectPath::from(key);
        let mut reader = tokio::fs::File::open(file).await?;
        let len = reader.metadata().await?.len();
        if len <= PART_SIZE as u64 {
            let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            reader.read_to_end(&mut bytes).await?;
            self.store
                .put(&path, bytes::Bytes::from(bytes).into())
                .await
                .map_err(|e| StorageError::from_object(key, e))?;
            return Ok(len);
        }
        let upload = self
            .store
            .put_multipart(&path)
            .await
            .map_err(|e| StorageError::from_object(key, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut buf = vec![0u8; 256 * 1024];
        let result: Result<(), StorageError> = async {
            loop {
                let n = reader.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                writer.write(&buf[..n]);
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                writer.finish().await?;
                Ok(len)
            }
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }

    pub async fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        self.store
            .put(&ObjectPath::from(key), bytes::Bytes::from(bytes).into())
            .await
            .map_err(|e| StorageError::from_object(key, e))?;
        Ok(())
    }

    /// The object's size, or `None` when there is none.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        match self.store.head(&ObjectPath::from(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The whole object (for small objects and tests; large ones are streamed by the caller).
    pub async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, StorageError> {
        let result = self
            .store
            .get(&ObjectPath::from(key))
            .await
            .map_err(|e| StorageError::from_object(key, e))?;
        Ok(result.bytes().await?.to_vec())
    }

    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The keys under `prefix`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let prefix = ObjectPath::from(prefix);
        let mut keys = Vec::new();
        let mut listing = self.store.list(Some(&prefix));
        while let Some(meta) = listing.next().await {
            keys.push(meta?.location.to_string());
        }
        keys.sort();
        Ok(keys)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_to_a_local_directory_and_name_bad_values() {
        let env = Env::from_pairs([("X", "y")]);
        let s = StorageSettings::from_env(&env, Path::new("/data")).unwrap();
        assert!(matches!(s.backend, Backend::Local(ref p) if p == Path::new("/data/storage")));
        assert_eq!(s.s3.region, "us-east-1");
        for (pairs, var) in [
            (vec![(BACKEND, "gcs")], BACKEND),
            (vec![(BACKEND, "aws")], BUCKET_NAME),
            (vec![(ACCESS_KEY_ID, "a")], SECRET_ACCESS_KEY),
            (vec![(ENDPOINT_URL, "localhost:9000")], ENDPOINT_URL),
        ] {
            let err = StorageSettings::from_env(&Env::from_pairs(pairs), Path::new("/d"))
                .err()
                .unwrap();
            assert_eq!(err.variable, var, "{err}");
        }
    }

    #[tokio::test]
    async fn local_storage_stores_large_files_in_parts() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(&StorageSettings {
            backend: Backend::Local(dir.path().join("s")),
            s3: S3Connection::default(),
            staging_dir: dir.path().join("t"),
        })
        .unwrap();
        let file = dir.path().join("big.bin");
        let data: Vec<u8> = (0..(PART_SIZE * 2 + 123))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&file, &data).unwrap();
        assert_eq!(
            storage.put_file("a/b.bin", &file).await.unwrap(),
            data.len() as u64
        );
        assert_eq!(storage.get_bytes("a/b.bin").await.unwrap(), data);
        assert_eq!(storage.list("a").await.unwrap(), ["a/b.bin"]);
        storage.delete("a/b.bin").await.unwrap();
        assert_eq!(storage.size("a/b.bin").await.unwrap(), None);
    }
}
