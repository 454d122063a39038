//! The function's configuration, from the environment (docs/api.md, "Lambda").
//!
//! | variable | required | meaning |
//! |---|---|---|
//! | `DUFF_LAKE_URI` | yes | `s3://bucket/prefix` (or a local directory) |
//! | `DUFF_QUERY_ENGINE` | no | `serving` (default: the serving state, docs/serving.md), `athena` or `datafusion` |
//! | `DUFF_ATHENA_DATABASE` | with athena | the Glue database of `deploy/athena/` |
//! | `DUFF_ATHENA_WORKGROUP` | with athena | the workgroup (result location, limits) |
//! | `DUFF_QUERY_TIMEOUT_MS` | no | the deadline of one query, 1000 to 28000 (default 25000) |
//! | `DUFF_REFRESH_MS` | no | serving: how long the newest generation's number is trusted; datafusion: how long a listing of the manifests is trusted (default 1000) |
//! | `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL` | no | serving: a custom S3 endpoint (a local S3), addressed path-style |
//! | `DUFF_PAGING_SECRET` | no | the key of paging tokens (default: derived from `DUFF_LAKE_URI`) |

use duff_api::{LakeUri, TokenKey};
use duff_lake::LakeLocation;
use std::time::Duration;

/// Which engine answers the queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineChoice {
    /// The serving state (`duff_api::ServingEngine`), read from the lake's store: the default.
    Serving {
        /// `DUFF_REFRESH_MS`.
        refresh: Duration,
    },
    /// Athena, over the Glue database and workgroup.
    Athena {
        /// `DUFF_ATHENA_DATABASE`.
        database: String,
        /// `DUFF_ATHENA_WORKGROUP`.
        workgroup: String,
    },
    /// DataFusion, reading the lake directly.
    DataFusion {
        /// `DUFF_REFRESH_MS`.
        refresh: Duration,
    },
}

/// The configuration read at cold start.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DUFF_LAKE_URI`.
    pub lake: LakeLocation,
    /// `DUFF_QUERY_ENGINE` and its settings.
    pub engine: EngineChoice,
    /// `DUFF_QUERY_TIMEOUT_MS`.
    pub query_timeout: Duration,
    /// The key of paging tokens.
    pub tokens: TokenKey,
    /// `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`: a custom S3 endpoint for the serving
    /// engine's S3 client (path-style addressing); `None` is S3 itself.
    pub s3_endpoint: Option<String>,
}

/// A variable that is missing or invalid. The message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set (or empty).
    #[error("{0} is not set")]
    Missing(&'static str),
    /// A variable holds a value that cannot be used.
    #[error("{name} is invalid: {message}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Why.
        message: String,
    },
}

fn invalid(name: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { name, message: message.into() }
}

fn millis(name: &'static str, v: &str, range: std::ops::RangeInclusive<u64>) -> Result<Duration, ConfigError> {
    match v.trim().parse::<u64>() {
        Ok(ms) if range.contains(&ms) => Ok(Duration::from_millis(ms)),
        _ => Err(invalid(
            name,
            format!("`{v}` is not a whole number of milliseconds from {} to {}", range.start(), range.end()),
        )),
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    /// The first missing or invalid variable.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `var` (the environment, or a map in tests).
    ///
    /// # Errors
    /// The first missing or invalid variable.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &'static str| var(name).filter(|v| !v.trim().is_empty());
        let need = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));

        let lake_text = need("DUFF_LAKE_URI")?;
        let lake = LakeLocation::parse(&lake_text).map_err(|e| invalid("DUFF_LAKE_URI", e.to_string()))?;
        let refresh = || match get("DUFF_REFRESH_MS") {
            Some(v) => millis("DUFF_REFRESH_MS", &v, 0..=3_600_000),
            None => Ok(Duration::from_secs(1)),
        };
        let engine = match get("DUFF_QUERY_ENGINE").map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("serving") => EngineChoice::Serving { refresh: refresh()? },
            Some("athena") => {
                let database = need("DUFF_ATHENA_DATABASE")?;
                if !database.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') || database.len() > 255 {
                    return Err(invalid("DUFF_ATHENA_DATABASE", "letters, digits and `_` only"));
                }
                let workgroup = need("DUFF_ATHENA_WORKGROUP")?;
                if !workgroup.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) || workgroup.len() > 128
                {
                    return Err(invalid("DUFF_ATHENA_WORKGROUP", "letters, digits, `.`, `_` and `-` only"));
                }
                EngineChoice::Athena { database, workgroup }
            }
            Some("datafusion") => EngineChoice::DataFusion { refresh: refresh()? },
            Some(other) => {
                return Err(invalid(
                    "DUFF_QUERY_ENGINE",
                    format!("`{other}`: expected `serving`, `athena` or `datafusion`"),
                ));
            }
        };
        let query_timeout = match get("DUFF_QUERY_TIMEOUT_MS") {
            // API Gateway gives up at 29 s: the deadline and a stop must fit under it.
            Some(v) => millis("DUFF_QUERY_TIMEOUT_MS", &v, 1_000..=28_000)?,
            None => Duration::from_secs(25),
        };
        let tokens = match get("DUFF_PAGING_SECRET") {
            Some(s) => TokenKey::new(s),
            None => TokenKey::for_lake(&lake.to_string()),
        };
        let mut s3_endpoint = None;
        for name in ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"] {
            if let Some(v) = get(name) {
                if !(v.starts_with("http://") || v.starts_with("https://")) {
                    return Err(invalid(name, format!("`{v}` is not an http:// or https:// URL")));
                }
                s3_endpoint = Some(v);
                break;
            }
        }
        Ok(Config { lake, engine, query_timeout, tokens, s3_endpoint })
    }

    /// The lake as duff-api's DataFusion engine takes it.
    pub fn lake_uri(&self) -> LakeUri {
        match &self.lake {
            LakeLocation::S3 { bucket, prefix } => LakeUri::S3 { bucket: bucket.clone(), prefix: prefix.clone() },
            LakeLocation::Dir(dir) => LakeUri::Local(dir.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn serving_is_the_default() {
        let lake = ("DUFF_LAKE_URI", "s3://lake-bucket/lake");
        for vars in [&[lake][..], &[lake, ("DUFF_QUERY_ENGINE", " Serving ")][..]] {
            let c = read(vars).unwrap();
            assert_eq!(c.engine, EngineChoice::Serving { refresh: Duration::from_secs(1) });
            assert_eq!(c.s3_endpoint, None);
        }
        let c = read(&[lake, ("DUFF_REFRESH_MS", "250")]).unwrap();
        assert_eq!(c.engine, EngineChoice::Serving { refresh: Duration::from_millis(250) });
        let c = read(&[lake, ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"), ("AWS_ENDPOINT_URL_S3", "http://s3:1")])
            .unwrap();
        assert_eq!(c.s3_endpoint.as_deref(), Some("http://s3:1"), "the S3 endpoint first");
        let e = read(&[lake, ("DUFF_REFRESH_MS", "-1")]).unwrap_err();
        assert!(e.to_string().starts_with("DUFF_REFRESH_MS is invalid"), "{e}");
        let e = read(&[lake, ("AWS_ENDPOINT_URL", "127.0.0.1:5000")]).unwrap_err();
        assert!(e.to_string().starts_with("AWS_ENDPOINT_URL is invalid"), "{e}");
    }

    #[test]
    fn athena_needs_its_variables() {
        let lake = ("DUFF_LAKE_URI", "s3://lake-bucket/lake");
        let athena = ("DUFF_QUERY_ENGINE", "athena");
        let c = read(&[lake, athena, ("DUFF_ATHENA_DATABASE", "duff"), ("DUFF_ATHENA_WORKGROUP", "duff-api")]).unwrap();
        assert_eq!(c.engine, EngineChoice::Athena { database: "duff".into(), workgroup: "duff-api".into() });
        assert_eq!(c.query_timeout, Duration::from_secs(25));
        assert_eq!(c.lake_uri(), LakeUri::S3 { bucket: "lake-bucket".into(), prefix: "lake".into() });
        assert_eq!(c.lake_uri().to_string(), c.lake.to_string(), "the paging key's text is the same");
        assert_eq!(read(&[lake, athena]).unwrap_err(), ConfigError::Missing("DUFF_ATHENA_DATABASE"));
        assert_eq!(
            read(&[lake, athena, ("DUFF_ATHENA_DATABASE", "duff")]).unwrap_err(),
            ConfigError::Missing("DUFF_ATHENA_WORKGROUP")
        );
        let e =
            read(&[lake, athena, ("DUFF_ATHENA_DATABASE", "duff; drop"), ("DUFF_ATHENA_WORKGROUP", "w")]).unwrap_err();
        assert!(e.to_string().starts_with("DUFF_ATHENA_DATABASE is invalid"), "{e}");
    }

    #[test]
    fn every_problem_names_its_variable() {
        assert_eq!(read(&[]).unwrap_err(), ConfigError::Missing("DUFF_LAKE_URI"));
        assert_eq!(read(&[("DUFF_LAKE_URI", "  ")]).unwrap_err(), ConfigError::Missing("DUFF_LAKE_URI"));
        let e = read(&[("DUFF_LAKE_URI", "gs://b/x")]).unwrap_err();
        assert!(e.to_string().starts_with("DUFF_LAKE_URI is invalid"), "{e}");
        let e = read(&[("DUFF_LAKE_URI", "s3://Lake_Bucket/x")]).unwrap_err();
        assert!(e.to_string().starts_with("DUFF_LAKE_URI is invalid: `s3://Lake_Bucket/x`"), "{e}");
        let e = read(&[("DUFF_LAKE_URI", "/tmp/lake"), ("DUFF_QUERY_ENGINE", "duckdb")]).unwrap_err();
        assert!(e.to_string().starts_with("DUFF_QUERY_ENGINE is invalid"), "{e}");
        let e = read(&[
            ("DUFF_LAKE_URI", "/tmp/lake"),
            ("DUFF_QUERY_ENGINE", "datafusion"),
            ("DUFF_QUERY_TIMEOUT_MS", "60000"),
        ])
        .unwrap_err();
        assert!(e.to_string().starts_with("DUFF_QUERY_TIMEOUT_MS is invalid"), "{e}");
        let e =
            read(&[("DUFF_LAKE_URI", "/tmp/lake"), ("DUFF_QUERY_ENGINE", "datafusion"), ("DUFF_REFRESH_MS", "soon")])
                .unwrap_err();
        assert!(e.to_string().starts_with("DUFF_REFRESH_MS is invalid"), "{e}");
    }

    #[test]
    fn datafusion_reads_the_lake_directly() {
        let c = read(&[("DUFF_LAKE_URI", "/tmp/lake"), ("DUFF_QUERY_ENGINE", "DataFusion"), ("DUFF_REFRESH_MS", "0")])
            .unwrap();
        assert_eq!(c.engine, EngineChoice::DataFusion { refresh: Duration::ZERO });
        assert_eq!(c.lake, LakeLocation::Dir("/tmp/lake".into()));
        assert_eq!(c.lake_uri(), LakeUri::Local("/tmp/lake".into()));
    }
}
