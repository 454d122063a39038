//! A lake's object store, as DataFusion addresses it: a local folder, or `s3://bucket/prefix`
//! with the `s3` feature (object_store's `aws`).

use duff_api::{BoxError, LakeUri};
use object_store::ObjectStore;
use object_store::path::Path as StorePath;
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
