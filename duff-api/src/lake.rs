//! Where the lake lives: a local directory or `s3://bucket/prefix` (`DUFF_LAKE_URI`).
//! Opening it is the engine's business (`duff-sql` opens it with object_store).

use std::fmt;
use std::path::PathBuf;

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
