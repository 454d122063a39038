//! Configuration from the environment (duff-lambda-etl/README.md, "Configuration"), parsed and validated once at cold start.

use crate::error::{Error, Result};
use duff_core::IngestConfig;
use duff_lake::LakeLocation;
use std::env::VarError;
use std::path::PathBuf;

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
            Some(v) => {
                LakeLocation::parse(&v).map_err(|e| Error::Config { name: "DUFF_LAKE_URI", message: e.to_string() })?
            }
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
        let m = message(config(&[("DUFF_LAKE_URI", "s3://Bad_Bucket/lake")]));
        assert!(
            m.starts_with("DUFF_LAKE_URI: `s3://Bad_Bucket/lake`: `Bad_Bucket` is not a valid S3 bucket name"),
            "{m}"
        );
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
