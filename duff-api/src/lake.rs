//! Where the lake lives: a local directory or `s3://bucket/prefix` (`DUFF_LAKE_URI`).

use object_store::ObjectStore;
use object_store::path::Path as StorePath;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// The location of a lake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeUri {
    /// A local directory (need not exist yet: then the lake is empty).
    Local(PathBuf),
    /// `s3://bucket/prefix` (the prefix may be empty).
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix, without leading or trailing `/`.
        prefix: String,
    },
}

/// A lake URI that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LakeUriError {
    /// Empty text.
    #[error("the lake URI is empty")]
    Empty,
    /// `s3://` without a bucket.
    #[error("`{0}` has no bucket name")]
    NoBucket(String),
    /// A scheme other than `s3://`.
    #[error("`{0}`: only `s3://bucket/prefix` or a local directory path are supported")]
    Scheme(String),
    /// `s3://` in a build without the `s3` feature.
    #[error("`{0}`: this build of duff-api reads local lakes only (enable the `s3` feature)")]
    S3NotBuilt(String),
    /// The object store could not be set up.
    #[error("the object store for `{uri}` could not be set up: {message}")]
    Store {
        /// The URI.
        uri: String,
        /// Why.
        message: String,
    },
}

impl LakeUri {
    /// Parses `s3://bucket[/prefix]` or a local path.
    ///
    /// # Errors
    /// Empty text, a missing bucket, or another scheme (`gs://`, `http://`...).
    pub fn parse(s: &str) -> Result<LakeUri, LakeUriError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(LakeUriError::Empty);
        }
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(LakeUriError::NoBucket(s.to_owned()));
            }
            return Ok(LakeUri::S3 { bucket: bucket.to_owned(), prefix: prefix.trim_matches('/').to_owned() });
        }
        if s.contains("://") {
            return Err(LakeUriError::Scheme(s.to_owned()));
        }
        Ok(LakeUri::Local(PathBuf::from(s)))
    }

    /// The object store holding the lake, the lake root in it, and the URL prefix under
    /// which DataFusion addresses it (`file:///abs/dir/` or `s3://bucket/prefix/`).
    pub(crate) fn open(&self) -> Result<OpenLake, LakeUriError> {
        match self {
            LakeUri::Local(dir) => {
                let abs = std::path::absolute(dir).map_err(|e| self.store_error(e))?;
                let root = StorePath::from_absolute_path(&abs).map_err(|e| self.store_error(e))?;
                let store: Arc<dyn ObjectStore> = Arc::new(object_store::local::LocalFileSystem::new());
                let mut url = abs.display().to_string();
                if !url.ends_with('/') {
                    url.push('/');
                }
                Ok(OpenLake { store, root, url, register: None })
            }
            LakeUri::S3 { bucket, prefix } => self.open_s3(bucket, prefix),
        }
    }

    #[cfg(feature = "s3")]
    fn open_s3(&self, bucket: &str, prefix: &str) -> Result<OpenLake, LakeUriError> {
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
        let store: Arc<dyn ObjectStore> = Arc::new(b.build().map_err(|e| self.store_error(e))?);
        let root = StorePath::from(prefix);
        let base = format!("s3://{bucket}");
        let url = if prefix.is_empty() { format!("{base}/") } else { format!("{base}/{prefix}/") };
        Ok(OpenLake { store, root, url, register: Some(base) })
    }

    #[cfg(not(feature = "s3"))]
    fn open_s3(&self, _bucket: &str, _prefix: &str) -> Result<OpenLake, LakeUriError> {
        Err(LakeUriError::S3NotBuilt(self.to_string()))
    }

    fn store_error(&self, e: impl fmt::Display) -> LakeUriError {
        LakeUriError::Store { uri: self.to_string(), message: e.to_string() }
    }
}

impl fmt::Display for LakeUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LakeUri::Local(p) => write!(f, "{}", p.display()),
            LakeUri::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            LakeUri::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_and_local() {
        assert_eq!(LakeUri::parse("s3://b/lake/").unwrap(), LakeUri::S3 { bucket: "b".into(), prefix: "lake".into() });
        assert_eq!(LakeUri::parse("s3://b").unwrap(), LakeUri::S3 { bucket: "b".into(), prefix: String::new() });
        assert_eq!(LakeUri::parse("./lake").unwrap(), LakeUri::Local("./lake".into()));
        assert_eq!(LakeUri::parse(" "), Err(LakeUriError::Empty));
        assert!(matches!(LakeUri::parse("s3:///x"), Err(LakeUriError::NoBucket(_))));
        assert!(matches!(LakeUri::parse("gs://b/x"), Err(LakeUriError::Scheme(_))));
        assert_eq!(LakeUri::parse("s3://b/a/b").unwrap().to_string(), "s3://b/a/b");
    }
}
