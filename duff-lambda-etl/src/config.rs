//! Configuration from the environment (CONTRACT §5), parsed and validated once at cold start.

use crate::error::{Error, Result};
use duff_core::IngestConfig;
use std::env::VarError;
use std::path::PathBuf;

/// The lake's location (`DUFF_LAKE_URI`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeLocation {
    /// `s3://bucket/prefix`: objects under `prefix/` (no prefix: the whole bucket).
    S3 {
        /// The bucket.
        bucket: String,
        /// The key prefix without leading or trailing `/` (may be empty).
        prefix: String,
    },
    /// A local directory (for running the function on a laptop).
    Dir(PathBuf),
}

impl LakeLocation {
    /// Parses `s3://bucket[/prefix]` or a local path.
    ///
    /// # Errors
    /// [`Error::Config`] naming `DUFF_LAKE_URI`.
    pub fn parse(text: &str) -> Result<LakeLocation> {
        let bad = |message: String| Error::Config { name: "DUFF_LAKE_URI", message };
        let text = text.trim();
        if text.is_empty() {
            return Err(bad("is empty; expected s3://bucket/prefix or a local directory".into()));
        }
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let valid_bucket = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
                && !bucket.starts_with(['-', '.'])
                && !bucket.ends_with(['-', '.']);
            if !valid_bucket {
                return Err(bad(format!("'{text}': '{bucket}' is not a valid S3 bucket name")));
            }
            let prefix = prefix.trim_matches('/');
            if prefix.split('/').any(|seg| seg == "." || seg == "..") || prefix.contains("//") {
                return Err(bad(format!("'{text}': the prefix must not contain '.', '..' or empty segments")));
            }
            return Ok(LakeLocation::S3 { bucket: bucket.to_owned(), prefix: prefix.to_owned() });
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(bad(format!("'{text}': unsupported scheme '{scheme}' (use s3:// or a local directory)")));
        }
        Ok(LakeLocation::Dir(PathBuf::from(text)))
    }

    /// True when `bucket`/`key` lies inside the lake: the loop guard (the function must
    /// never ingest its own outputs, even if a notification is configured too broadly).
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

impl std::fmt::Display for LakeLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LakeLocation::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            LakeLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            LakeLocation::Dir(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Everything the function reads from its environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `DUFF_LAKE_URI`.
    pub lake: LakeLocation,
    /// `DUFF_REJECT_THRESHOLD` (default `0.05`) and the core's other defaults.
    pub ingest: IngestConfig,
    /// `DUFF_WORK_DIR` (default the system temporary folder, `/tmp` in Lambda): where the
    /// object is downloaded and the Parquet outputs are staged. Both are removed after each
    /// file; it needs room for about twice the largest CSV.
    pub work_dir: PathBuf,
    /// `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`: a custom S3 endpoint (a local
    /// S3-compatible server), addressed path-style.
    pub endpoint_url: Option<String>,
}

impl Config {
    /// Reads the process environment.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first missing or invalid variable.
    pub fn from_env() -> Result<Config> {
        Config::from_lookup(std::env::var)
    }

    /// Reads the variables through `get` (tests pass a map; editing the process environment
    /// is unsafe in edition 2024).
    ///
    /// # Errors
    /// [`Error::Config`] naming the first missing or invalid variable.
    pub fn from_lookup(get: impl Fn(&'static str) -> Result<String, VarError>) -> Result<Config> {
        let var = |name: &'static str| -> Result<Option<String>> {
            match get(name) {
                Ok(v) if v.trim().is_empty() => Ok(None),
                Ok(v) => Ok(Some(v)),
                Err(VarError::NotPresent) => Ok(None),
                Err(VarError::NotUnicode(_)) => Err(Error::Config { name, message: "is not valid UTF-8".into() }),
            }
        };
        let lake = match var("DUFF_LAKE_URI")? {
            Some(v) => LakeLocation::parse(&v)?,
            None => {
                return Err(Error::Config {
                    name: "DUFF_LAKE_URI",
                    message: "is not set; expected s3://bucket/prefix or a local directory".into(),
                });
            }
        };
        let mut ingest = IngestConfig::default();
        if let Some(v) = var("DUFF_REJECT_THRESHOLD")? {
            ingest.reject_threshold_ppm = IngestConfig::parse_reject_threshold(&v).map_err(|e| Error::Config {
                name: "DUFF_REJECT_THRESHOLD",
                message: match e.kind() {
                    duff_core::ErrorKind::Config { message, .. } => message.clone(),
                    _ => e.to_string(),
                },
            })?;
        }
        let work_dir = var("DUFF_WORK_DIR")?.map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let mut endpoint_url = None;
        for name in ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"] {
            if let Some(v) = var(name)? {
                if !(v.starts_with("http://") || v.starts_with("https://")) {
                    return Err(Error::Config { name, message: format!("'{v}' is not an http:// or https:// URL") });
                }
                endpoint_url = Some(v);
                break;
            }
        }
        Ok(Config { lake, ingest, work_dir, endpoint_url })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| map.get(name).cloned().ok_or(VarError::NotPresent))
    }

    fn message(r: Result<Config>) -> String {
        r.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn lake_uri_forms() {
        assert_eq!(
            LakeLocation::parse("s3://duff-lake/lake/").unwrap(),
            LakeLocation::S3 { bucket: "duff-lake".into(), prefix: "lake".into() }
        );
        assert_eq!(
            LakeLocation::parse("s3://duff-lake").unwrap(),
            LakeLocation::S3 { bucket: "duff-lake".into(), prefix: String::new() }
        );
        assert_eq!(LakeLocation::parse("/tmp/lake").unwrap(), LakeLocation::Dir("/tmp/lake".into()));
        assert!(LakeLocation::parse("s3://Bad_Bucket/x").is_err());
        assert!(LakeLocation::parse("s3:///x").is_err());
        assert!(LakeLocation::parse("s3://b-ok/a/../b").is_err());
        assert!(LakeLocation::parse("gs://bucket/x").is_err());
        assert_eq!(LakeLocation::parse("s3://duff-lake/a/b").unwrap().to_string(), "s3://duff-lake/a/b");
    }

    #[test]
    fn loop_guard() {
        let lake = LakeLocation::parse("s3://shared/lake").unwrap();
        assert!(lake.contains("shared", "lake/manifests/x.json"));
        assert!(lake.contains("shared", "lake/fact_order_line/x.csv"));
        assert!(!lake.contains("shared", "lake2/x.csv"));
        assert!(!lake.contains("shared", "incoming/x.csv"));
        assert!(!lake.contains("other", "lake/x.csv"));
        let whole = LakeLocation::parse("s3://lakebucket").unwrap();
        assert!(whole.contains("lakebucket", "anything.csv"));
        assert!(!LakeLocation::Dir("/l".into()).contains("b", "k"));
    }

    #[test]
    fn defaults_and_overrides() {
        let c = config(&[("DUFF_LAKE_URI", "s3://duff-lake/lake")]).unwrap();
        assert_eq!(c.ingest.reject_threshold_ppm, 50_000);
        assert_eq!(c.endpoint_url, None);
        assert_eq!(c.work_dir, std::env::temp_dir());
        let c = config(&[
            ("DUFF_LAKE_URI", "/data/lake"),
            ("DUFF_REJECT_THRESHOLD", "0.2"),
            ("DUFF_WORK_DIR", "/mnt/work"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ])
        .unwrap();
        assert_eq!(c.ingest.reject_threshold_ppm, 200_000);
        assert_eq!(c.work_dir, PathBuf::from("/mnt/work"));
        assert_eq!(c.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        let c = config(&[
            ("DUFF_LAKE_URI", "/l"),
            ("AWS_ENDPOINT_URL", "http://a:1"),
            ("AWS_ENDPOINT_URL_S3", "http://s3:2"),
        ])
        .unwrap();
        assert_eq!(c.endpoint_url.as_deref(), Some("http://s3:2"));
    }

    #[test]
    fn missing_or_invalid_variables_are_named() {
        assert!(message(config(&[])).starts_with("DUFF_LAKE_URI: is not set"));
        assert!(message(config(&[("DUFF_LAKE_URI", "  ")])).starts_with("DUFF_LAKE_URI"));
        let m = message(config(&[("DUFF_LAKE_URI", "/l"), ("DUFF_REJECT_THRESHOLD", "5%")]));
        assert!(m.starts_with("DUFF_REJECT_THRESHOLD: '5%' is not a fraction"), "{m}");
        assert!(message(config(&[("DUFF_LAKE_URI", "/l"), ("DUFF_REJECT_THRESHOLD", "1.5")])).contains("THRESHOLD"));
        let m = message(config(&[("DUFF_LAKE_URI", "/l"), ("AWS_ENDPOINT_URL", "localhost:5000")]));
        assert!(m.starts_with("AWS_ENDPOINT_URL: 'localhost:5000'"), "{m}");
        let bad_utf8 = Config::from_lookup(|name| {
            if name == "DUFF_LAKE_URI" { Err(VarError::NotUnicode("x".into())) } else { Err(VarError::NotPresent) }
        });
        assert_eq!(message(bad_utf8), "DUFF_LAKE_URI: is not valid UTF-8");
    }
}
