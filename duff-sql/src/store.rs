//! A lake's object store, as DataFusion addresses it: a local folder, or `s3://bucket/prefix`
//! with the `s3` feature (object_store's `aws`).

use duff_api::{BoxError, LakeUri};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use std::sync::Arc;

/// A lake that cannot be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// `s3://` in a build without the `s3` feature.
    #[error("`{0}`: this build of duff-sql reads local lakes only (enable the `s3` feature)")]
    S3NotBuilt(String),
    /// The object store could not be set up.
    #[error("the object store for `{uri}` could not be set up")]
    Store {
        /// The URI.
        uri: String,
        /// Why.
        #[source]
        source: BoxError,
    },
}

/// An opened lake.
#[derive(Debug, Clone)]
pub(crate) struct OpenLake {
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// The lake's root in the store.
    pub root: StorePath,
    /// The root as a URL prefix (ends with `/`).
    pub url: String,
    /// The URL (`s3://bucket`) under which to register `store` with DataFusion; `None` for
    /// the local file system, which DataFusion knows already.
    pub register: Option<String>,
}

/// The object store holding the lake, the lake root in it, and the URL prefix under which
/// DataFusion addresses it (`/abs/dir/` or `s3://bucket/prefix/`).
pub(crate) fn open(uri: &LakeUri) -> Result<OpenLake, OpenError> {
    match uri {
        LakeUri::Local(dir) => {
            let abs = std::path::absolute(dir).map_err(|e| store_error(uri, e))?;
            let root = StorePath::from_absolute_path(&abs).map_err(|e| store_error(uri, e))?;
            let store: Arc<dyn ObjectStore> = Arc::new(object_store::local::LocalFileSystem::new());
            let mut url = abs.display().to_string();
            if !url.ends_with('/') {
                url.push('/');
            }
            Ok(OpenLake { store, root, url, register: None })
        }
        LakeUri::S3 { bucket, prefix } => open_s3(uri, bucket, prefix),
    }
}

fn store_error(uri: &LakeUri, e: impl std::error::Error + Send + Sync + 'static) -> OpenError {
    OpenError::Store { uri: uri.to_string(), source: Box::new(e) }
}

#[cfg(feature = "s3")]
fn open_s3(uri: &LakeUri, bucket: &str, prefix: &str) -> Result<OpenLake, OpenError> {
    use object_store::aws::AmazonS3Builder;
    let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
    // AWS_ENDPOINT_URL: a local S3-compatible server, addressed path-style.
    if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL")
        && !endpoint.is_empty()
    {
        b = b
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false);
    }
    let store: Arc<dyn ObjectStore> = Arc::new(b.build().map_err(|e| store_error(uri, e))?);
    let root = StorePath::from(prefix);
    let base = format!("s3://{bucket}");
    let url = if prefix.is_empty() { format!("{base}/") } else { format!("{base}/{prefix}/") };
    Ok(OpenLake { store, root, url, register: Some(base) })
}

#[cfg(not(feature = "s3"))]
fn open_s3(uri: &LakeUri, _bucket: &str, _prefix: &str) -> Result<OpenLake, OpenError> {
    Err(OpenError::S3NotBuilt(uri.to_string()))
}

/// The lake's objects as a read-only [`duff_lake::Store`], so that the serving state's
/// records are read by `duff_lake`'s own reader ([`duff_lake::Lake::serving_head`]) rather
/// than by a second implementation of its protocol. Its methods block on `handle`: call them
/// from a blocking thread (`tokio::task::spawn_blocking`), never from a task.
pub(crate) struct ReadOnlyStore {
    lake: OpenLake,
    handle: tokio::runtime::Handle,
}

impl ReadOnlyStore {
    pub(crate) fn new(lake: OpenLake, handle: tokio::runtime::Handle) -> ReadOnlyStore {
        ReadOnlyStore { lake, handle }
    }

    fn path(&self, key: &str) -> StorePath {
        key.split('/').filter(|s| !s.is_empty()).fold(self.lake.root.clone(), |p, s| p.join(s))
    }

    fn failed(action: &'static str, key: &str, e: object_store::Error) -> duff_lake::Error {
        duff_lake::Error::Store { action, key: key.to_owned(), source: Box::new(e), retryable: false }
    }

    fn refused(key: &str) -> duff_lake::Error {
        let e = std::io::Error::new(std::io::ErrorKind::Unsupported, "duff-sql reads the lake, it never writes it");
        duff_lake::Error::Store { action: "writing", key: key.to_owned(), source: Box::new(e), retryable: false }
    }
}

impl duff_lake::Store for ReadOnlyStore {
    fn get(&self, key: &str) -> duff_lake::Result<Option<Vec<u8>>> {
        let path = self.path(key);
        self.handle.block_on(async {
            match self.lake.store.get(&path).await {
                Ok(r) => r.bytes().await.map(|b| Some(b.to_vec())).map_err(|e| Self::failed("reading", key, e)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(Self::failed("reading", key, e)),
            }
        })
    }

    fn list(&self, prefix: &str) -> duff_lake::Result<Vec<String>> {
        use futures::TryStreamExt;
        // object_store lists whole path segments: list the folder, keep the keys that start
        // with the prefix.
        let folder = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
        let path = self.path(folder);
        let root = self.lake.root.as_ref().to_owned();
        self.handle.block_on(async {
            let mut keys = Vec::new();
            let mut stream = self.lake.store.list(Some(&path));
            loop {
                match stream.try_next().await {
                    Ok(Some(meta)) => {
                        let full = meta.location.as_ref();
                        let key = if root.is_empty() {
                            full
                        } else {
                            full.strip_prefix(root.as_str()).map_or(full, |k| k.trim_start_matches('/'))
                        };
                        if key.starts_with(prefix) {
                            keys.push(key.to_owned());
                        }
                    }
                    Ok(None) => break,
                    Err(object_store::Error::NotFound { .. }) => break,
                    Err(e) => return Err(Self::failed("listing", prefix, e)),
                }
            }
            keys.sort();
            Ok(keys)
        })
    }

    fn put_file(&self, key: &str, _path: &std::path::Path) -> duff_lake::Result<()> {
        Err(Self::refused(key))
    }

    fn put_bytes(&self, key: &str, _bytes: &[u8]) -> duff_lake::Result<()> {
        Err(Self::refused(key))
    }

    fn put_if_absent(&self, key: &str, _bytes: &[u8]) -> duff_lake::Result<bool> {
        Err(Self::refused(key))
    }

    fn delete(&self, key: &str) -> duff_lake::Result<()> {
        Err(Self::refused(key))
    }

    fn location(&self) -> String {
        self.lake.url.trim_end_matches('/').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_lake_is_addressed_by_its_absolute_path() {
        let lake = open(&LakeUri::Local("some/lake".into())).unwrap();
        assert!(lake.url.ends_with("/some/lake/") && std::path::Path::new(&lake.url).is_absolute(), "{}", lake.url);
        assert_eq!(lake.register, None);
        assert!(lake.root.as_ref().ends_with("some/lake"), "{}", lake.root);
    }
}
