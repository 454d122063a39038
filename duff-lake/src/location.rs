//! Where a lake is: `s3://bucket/prefix` or a local directory (the `DUFF_LAKE_URI` of both
//! Lambdas and of the API), parsed in one place.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The location of a lake.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LakeLocation {
    /// `s3://bucket/prefix`: objects under `prefix/` (no prefix: the whole bucket).
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix, without leading or trailing `/` (may be empty).
        prefix: String,
    },
    /// A local directory (it need not exist yet).
    Dir(PathBuf),
}

/// Why a text is not a lake location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocationError {
    /// Empty (or blank) text.
    #[error("the lake location is empty; expected s3://bucket/prefix or a local directory")]
    Empty,
    /// `s3://` without a bucket name.
    #[error("`{uri}` has no bucket name")]
    NoBucket {
        /// The text.
        uri: String,
    },
    /// A bucket name S3 does not allow (3 to 63 lowercase letters, digits, `-` and `.`,
    /// starting and ending with a letter or digit).
    #[error("`{uri}`: `{bucket}` is not a valid S3 bucket name")]
    Bucket {
        /// The text.
        uri: String,
        /// The bucket name found.
        bucket: String,
    },
    /// A prefix with `.`, `..` or empty segments (`a//b`).
    #[error("`{uri}`: the prefix must not contain `.`, `..` or empty segments")]
    Prefix {
        /// The text.
        uri: String,
    },
    /// A scheme other than `s3://`.
    #[error("`{uri}`: unsupported scheme `{scheme}` (use s3://bucket/prefix or a local directory)")]
    Scheme {
        /// The text.
        uri: String,
        /// The scheme found.
        scheme: String,
    },
}

impl LakeLocation {
    /// Parses `s3://bucket[/prefix]` or a local path (surrounding blanks are ignored).
    ///
    /// # Errors
    /// Empty text, a missing or invalid bucket name, a prefix with `.`, `..` or empty
    /// segments, or another scheme (`gs://`, `http://`...).
    pub fn parse(text: &str) -> Result<LakeLocation, LocationError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(LocationError::Empty);
        }
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(LocationError::NoBucket { uri: text.to_owned() });
            }
            let valid_bucket = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
                && !bucket.starts_with(['-', '.'])
                && !bucket.ends_with(['-', '.']);
            if !valid_bucket {
                return Err(LocationError::Bucket { uri: text.to_owned(), bucket: bucket.to_owned() });
            }
            let prefix = prefix.trim_matches('/');
            if prefix.split('/').any(|seg| seg == "." || seg == "..") || prefix.contains("//") {
                return Err(LocationError::Prefix { uri: text.to_owned() });
            }
            return Ok(LakeLocation::S3 { bucket: bucket.to_owned(), prefix: prefix.to_owned() });
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(LocationError::Scheme { uri: text.to_owned(), scheme: scheme.to_owned() });
        }
        Ok(LakeLocation::Dir(PathBuf::from(text)))
    }

    /// The local directory, for a local lake.
    pub fn dir(&self) -> Option<&Path> {
        match self {
            LakeLocation::Dir(p) => Some(p),
            LakeLocation::S3 { .. } => None,
        }
    }

    /// The same location with a local directory made absolute (against the current
    /// directory, without touching the file system); an S3 location unchanged.
    ///
    /// # Errors
    /// When the current directory cannot be read (for a relative directory).
    pub fn absolute(&self) -> std::io::Result<LakeLocation> {
        match self {
            LakeLocation::Dir(p) => Ok(LakeLocation::Dir(std::path::absolute(p)?)),
            s3 @ LakeLocation::S3 { .. } => Ok(s3.clone()),
        }
    }

    /// The lake's root as a URL prefix ending in `/`, as a query engine addresses its
    /// objects: `s3://bucket/prefix/` (`s3://bucket/` without a prefix), or the directory's
    /// path followed by `/` (make it [`absolute`](Self::absolute) first where that matters).
    pub fn root_url(&self) -> String {
        match self {
            LakeLocation::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}/"),
            LakeLocation::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}/"),
            LakeLocation::Dir(p) => {
                let mut url = p.display().to_string();
                if !url.ends_with('/') {
                    url.push('/');
                }
                url
            }
        }
    }

    /// `s3://bucket`, the URL an object store for the bucket is registered under; `None`
    /// for a local directory.
    pub fn bucket_url(&self) -> Option<String> {
        match self {
            LakeLocation::S3 { bucket, .. } => Some(format!("s3://{bucket}")),
            LakeLocation::Dir(_) => None,
        }
    }

    /// True when the object `bucket`/`key` lies inside the lake: the loop guard (the ETL
    /// must never ingest the lake's own objects, even if a notification is configured too
    /// broadly). Never for a local lake.
    pub fn contains(&self, bucket: &str, key: &str) -> bool {
        match self {
            LakeLocation::S3 { bucket: b, prefix } => {
                b == bucket
                    && (prefix.is_empty() || key.strip_prefix(prefix.as_str()).is_some_and(|r| r.starts_with('/')))
            }
            LakeLocation::Dir(_) => false,
        }
    }
}

impl FromStr for LakeLocation {
    type Err = LocationError;

    fn from_str(s: &str) -> Result<LakeLocation, LocationError> {
        LakeLocation::parse(s)
    }
}

/// `s3://bucket/prefix` (`s3://bucket` without a prefix), or the directory as given: the
/// text [`LakeLocation::parse`] reads back.
impl fmt::Display for LakeLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LakeLocation::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            LakeLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            LakeLocation::Dir(p) => write!(f, "{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(bucket: &str, prefix: &str) -> LakeLocation {
        LakeLocation::S3 { bucket: bucket.into(), prefix: prefix.into() }
    }

    #[test]
    fn parses_s3_and_local_directories() {
        assert_eq!(LakeLocation::parse("s3://duff-lake/lake/").unwrap(), s3("duff-lake", "lake"));
        assert_eq!(LakeLocation::parse(" s3://duff-lake ").unwrap(), s3("duff-lake", ""));
        assert_eq!(LakeLocation::parse("s3://duff-lake/a/b").unwrap(), s3("duff-lake", "a/b"));
        assert_eq!(LakeLocation::parse("/tmp/lake").unwrap(), LakeLocation::Dir("/tmp/lake".into()));
        assert_eq!("./lake".parse::<LakeLocation>().unwrap(), LakeLocation::Dir("./lake".into()));
    }

    #[test]
    fn each_problem_has_its_error() {
        assert_eq!(LakeLocation::parse("  "), Err(LocationError::Empty));
        assert_eq!(LakeLocation::parse("s3:///x"), Err(LocationError::NoBucket { uri: "s3:///x".into() }));
        for bad in ["s3://Bad_Bucket/x", "s3://ab", "s3://-lake", "s3://lake./x"] {
            assert!(matches!(LakeLocation::parse(bad), Err(LocationError::Bucket { .. })), "{bad}");
        }
        for bad in ["s3://b-ok/a/../b", "s3://b-ok/./b", "s3://b-ok/a//b"] {
            assert_eq!(LakeLocation::parse(bad), Err(LocationError::Prefix { uri: bad.into() }), "{bad}");
        }
        let e = LakeLocation::parse("gs://bucket/x").unwrap_err();
        assert_eq!(e, LocationError::Scheme { uri: "gs://bucket/x".into(), scheme: "gs".into() });
        assert_eq!(
            e.to_string(),
            "`gs://bucket/x`: unsupported scheme `gs` (use s3://bucket/prefix or a local directory)"
        );
    }

    #[test]
    fn display_reads_back() {
        for text in ["s3://duff-lake/a/b", "s3://duff-lake", "/tmp/lake", "lake"] {
            let l = LakeLocation::parse(text).unwrap();
            assert_eq!(l.to_string(), text);
            assert_eq!(LakeLocation::parse(&l.to_string()).unwrap(), l);
        }
    }

    #[test]
    fn urls_and_directories() {
        assert_eq!(s3("duff-lake", "lake").root_url(), "s3://duff-lake/lake/");
        assert_eq!(s3("duff-lake", "").root_url(), "s3://duff-lake/");
        assert_eq!(s3("duff-lake", "lake").bucket_url().as_deref(), Some("s3://duff-lake"));
        let dir = LakeLocation::Dir("/data/lake".into());
        assert_eq!(dir.root_url(), "/data/lake/");
        assert_eq!(LakeLocation::Dir("/data/lake/".into()).root_url(), "/data/lake/");
        assert_eq!(dir.bucket_url(), None);
        assert_eq!(dir.dir(), Some(Path::new("/data/lake")));
        assert_eq!(s3("duff-lake", "").dir(), None);
        let rel = LakeLocation::Dir("lake".into()).absolute().unwrap();
        assert!(rel.dir().is_some_and(|p| p.is_absolute() && p.ends_with("lake")), "{rel:?}");
        assert_eq!(s3("duff-lake", "x").absolute().unwrap(), s3("duff-lake", "x"));
    }

    #[test]
    fn loop_guard() {
        let lake = s3("shared", "lake");
        assert!(lake.contains("shared", "lake/manifests/x.json"));
        assert!(lake.contains("shared", "lake/fact_order_line/x.csv"));
        assert!(!lake.contains("shared", "lake2/x.csv"));
        assert!(!lake.contains("shared", "incoming/x.csv"));
        assert!(!lake.contains("other", "lake/x.csv"));
        assert!(s3("lakebucket", "").contains("lakebucket", "anything.csv"));
        assert!(!LakeLocation::Dir("/l".into()).contains("b", "k"));
    }
}
