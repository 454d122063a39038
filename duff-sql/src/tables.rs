//! The lake's tables in a DataFusion context, under their Athena names.

use crate::store::{OpenLake, ReadOnlyStore};
use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::DataFusionError;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::{SessionConfig, SessionContext};
use duff_api::catalog::{CURRENT_STATE, CURRENT_STATE_SQL, SERVING_TABLES, views};
use duff_api::{Dialect, EngineError};
use duff_core::serving::tables as serving;
use duff_core::{Manifest, Table};
use duff_lake::Generation;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use std::sync::Arc;

fn internal(e: DataFusionError) -> EngineError {
    EngineError::Internal(e.into())
}

fn lake_error(e: impl std::error::Error + Send + Sync + 'static) -> EngineError {
    EngineError::Lake(Box::new(e))
}

/// A failed execution: the lake's fault when an object could not be read (a generation
/// naming a removed or damaged object: 503), the query's otherwise.
pub(crate) fn execution_error(e: DataFusionError) -> EngineError {
    match e.find_root() {
        DataFusionError::ObjectStore(_) | DataFusionError::IoError(_) | DataFusionError::ParquetError(_) => {
            EngineError::Lake(e.into())
        }
        _ => EngineError::Failed(e.into()),
    }
}

/// A context reading the lake's store.
pub(crate) fn session(lake: &OpenLake, target_partitions: usize) -> Result<SessionContext, EngineError> {
    let config = SessionConfig::new().with_target_partitions(target_partitions.max(1)).with_information_schema(false);
    let ctx = SessionContext::new_with_config(config);
    if let Some(base) = &lake.register {
        let url = ObjectStoreUrl::parse(base).map_err(internal)?;
        ctx.register_object_store(url.as_ref(), lake.store.clone());
    }
    Ok(ctx)
}

/// The newest committed generation of the lake's serving state, read by `duff_lake`.
pub(crate) async fn serving_head(lake: &OpenLake) -> Result<Option<Generation>, EngineError> {
    let store = ReadOnlyStore::new(lake.clone(), tokio::runtime::Handle::current());
    let staging = std::env::temp_dir();
    tokio::task::spawn_blocking(move || duff_lake::Lake::new(store, staging).serving_head())
        .await
        .map_err(|e| EngineError::internal(format!("the generation reader failed: {e}")))?
        .map_err(lake_error)
}

/// The Arrow schema of a serving table, by its name in a generation's record.
fn serving_schema(table: &str) -> Option<SchemaRef> {
    Some(match table {
        "lines" => serving::lines_schema(),
        "cells_product" => serving::cells_product_schema(),
        "cells_client" => serving::cells_client_schema(),
        "cells_total" => serving::cells_total_schema(),
        "dim_client_current" => serving::dim_client_current_schema(),
        "dim_product_current" => serving::dim_product_current_schema(),
        "files" => serving::files_schema(),
        _ => return None,
    })
}

/// A Parquet table over the objects `keys` of the lake, read with `schema`.
fn parquet_objects(lake: &OpenLake, keys: &[&str], schema: SchemaRef) -> Result<ListingTable, EngineError> {
    let urls = keys
        .iter()
        .map(|k| ListingTableUrl::parse(format!("{}{k}", lake.url)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(internal)?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options).with_schema(schema);
    ListingTable::try_new(config).map_err(internal)
}

fn empty(schema: SchemaRef) -> Result<MemTable, EngineError> {
    MemTable::try_new(schema, vec![vec![]]).map_err(internal)
}

/// Registers the serving tables of generation `g` (empty ones without a generation) under
/// their Athena names, and the view `order_line_current` over them. `serving_lines` stays
/// in Parquet; the aggregate tables are read into memory.
pub(crate) async fn register_serving(
    ctx: &SessionContext,
    lake: &OpenLake,
    g: Option<&Generation>,
) -> Result<(), EngineError> {
    for (name, table) in SERVING_TABLES {
        let schema = serving_schema(table)
            .ok_or_else(|| EngineError::internal(format!("no schema for the serving table `{table}`")))?;
        let Some(g) = g else {
            ctx.register_table(name, Arc::new(empty(schema)?)).map_err(internal)?;
            continue;
        };
        if table == "lines" {
            let keys: Vec<&str> = g.runs.iter().map(|r| r.by_key.as_str()).collect();
            let source: Arc<dyn datafusion::catalog::TableProvider> = if keys.is_empty() {
                Arc::new(empty(schema)?)
            } else {
                Arc::new(parquet_objects(lake, &keys, schema)?)
            };
            ctx.register_table(name, source).map_err(internal)?;
            continue;
        }
        let key = g.tables.get(table).ok_or_else(|| {
            lake_error(duff_lake::Error::Serving {
                message: format!("generation {} has no table `{table}`", g.generation),
            })
        })?;
        let listing = parquet_objects(lake, &[key.as_str()], schema.clone())?;
        let batches = ctx.read_table(Arc::new(listing)).map_err(internal)?.collect().await.map_err(execution_error)?;
        let table = MemTable::try_new(schema, vec![batches]).map_err(internal)?;
        ctx.register_table(name, Arc::new(table)).map_err(internal)?;
    }
    ctx.sql(&format!("CREATE VIEW {CURRENT_STATE} AS {CURRENT_STATE_SQL}")).await.map_err(internal)?;
    Ok(())
}

/// A per-file table of the history (`fact_order_line`, `quarantine`): every object under
/// its folder, partition column `ingest_date`.
fn history_table(lake: &OpenLake, table: Table, schema: SchemaRef) -> Result<ListingTable, EngineError> {
    let url = ListingTableUrl::parse(format!("{}{}/", lake.url, table.name())).map_err(internal)?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![("ingest_date".to_owned(), DataType::Utf8)]);
    let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(schema);
    ListingTable::try_new(config).map_err(internal)
}

/// Whether the lake has a folder (DataFusion refuses to list one that does not exist).
async fn has_folder(lake: &OpenLake, folder: &str) -> Result<bool, EngineError> {
    let prefix = lake.root.clone().join(folder);
    match lake.store.list(Some(&prefix)).try_next().await {
        Ok(first) => Ok(first.is_some()),
        Err(object_store::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(lake_error(e)),
    }
}

/// Every manifest of the lake (`manifests/*.json`); unparsable ones are skipped with a
/// warning, as Athena's JSON SerDe skips them (`ignore.malformed.json`).
async fn read_manifests(lake: &OpenLake) -> Result<Vec<Manifest>, EngineError> {
    let prefix = lake.root.clone().join(duff_core::lake::MANIFESTS);
    let mut out = Vec::new();
    let mut stream = lake.store.list(Some(&prefix));
    loop {
        let meta = match stream.try_next().await {
            Ok(Some(meta)) => meta,
            Ok(None) | Err(object_store::Error::NotFound { .. }) => break,
            Err(e) => return Err(lake_error(e)),
        };
        if meta.location.extension() != Some("json") {
            continue;
        }
        let bytes = match lake.store.get(&meta.location).await {
            Ok(r) => r.bytes().await.map_err(lake_error)?,
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(lake_error(e)),
        };
        match Manifest::from_json(&bytes) {
            Ok(m) => out.push(m),
            Err(e) => {
                tracing::warn!(manifest = %meta.location, error = %e, "skipping a manifest that cannot be parsed")
            }
        }
    }
    out.sort_by(|a, b| a.file_id.cmp(&b.file_id));
    Ok(out)
}

/// The `manifests` table: the scalar columns of the Athena table `manifests`
/// (`deploy/athena/tables.sql`); the nested ones (`error`, `header`, `extra_columns`,
/// `quarantined_by_reason`, `totals`) are left out.
fn manifests_table(ms: &[Manifest]) -> Result<MemTable, EngineError> {
    let text = |n: &str| Field::new(n, DataType::Utf8, true);
    let int = |n: &str| Field::new(n, DataType::Int64, false);
    let schema = Arc::new(Schema::new(vec![
        int("manifest_version"),
        text("file_id"),
        text("source"),
        text("ingested_at"),
        int("ingested_at_micros"),
        text("ingest_date"),
        text("outcome"),
        text("message"),
        int("bytes"),
        text("delimiter"),
        int("rows_read"),
        int("rows_accepted"),
        int("rows_quarantined"),
        int("blank_lines"),
        text("reject_threshold"),
        text("quarantined_share"),
        text("writer"),
    ]));
    let s = |f: fn(&Manifest) -> &str| -> ArrayRef { Arc::new(StringArray::from_iter_values(ms.iter().map(f))) };
    let o = |f: fn(&Manifest) -> Option<&str>| -> ArrayRef { Arc::new(ms.iter().map(f).collect::<StringArray>()) };
    let i = |f: fn(&Manifest) -> i64| -> ArrayRef { Arc::new(Int64Array::from_iter_values(ms.iter().map(f))) };
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let cols: Vec<ArrayRef> = vec![
        i(|m| i64::from(m.manifest_version)),
        s(|m| &m.file_id),
        s(|m| &m.source),
        s(|m| &m.ingested_at),
        i(|m| m.ingested_at_micros),
        s(|m| &m.ingest_date),
        s(|m| m.outcome.as_str()),
        o(|m| m.message.as_deref()),
        Arc::new(Int64Array::from_iter_values(ms.iter().map(|m| n(m.bytes)))),
        o(|m| m.delimiter.as_deref()),
        Arc::new(Int64Array::from_iter_values(ms.iter().map(|m| n(m.rows_read)))),
        Arc::new(Int64Array::from_iter_values(ms.iter().map(|m| n(m.rows_accepted)))),
        Arc::new(Int64Array::from_iter_values(ms.iter().map(|m| n(m.rows_quarantined)))),
        Arc::new(Int64Array::from_iter_values(ms.iter().map(|m| n(m.blank_lines)))),
        s(|m| &m.reject_threshold),
        s(|m| &m.quarantined_share),
        s(|m| &m.writer),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols).map_err(|e| EngineError::Internal(e.into()))?;
    MemTable::try_new(schema, vec![vec![batch]]).map_err(internal)
}

/// A context holding every table and view of the lake's Athena database under its Athena
/// name: the history (`fact_order_line` and `quarantine`, partition column `ingest_date`;
/// `manifests`), the newest generation's serving tables and `order_line_current`, and the
/// views of `deploy/athena/views.sql` (`order_status_history`, the reports without filters,
/// the marts): the same SQL as Athena's, over the same objects.
///
/// For an analyst at a terminal (the `sql` example) and for the tests of the views: the API
/// never runs SQL text it did not take from the catalog.
///
/// # Errors
/// [`EngineError::Lake`] when the lake cannot be read, [`EngineError::Internal`] when a
/// table or view cannot be registered.
pub async fn lake_context(lake: &duff_api::LakeUri) -> Result<SessionContext, EngineError> {
    let lake = crate::store::open(lake).map_err(lake_error)?;
    let ctx = session(&lake, std::thread::available_parallelism().map_or(2, |n| n.get()))?;
    let with_ingest_date = |schema: SchemaRef| -> SchemaRef {
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new("ingest_date", DataType::Utf8, false));
        Arc::new(Schema::new(fields))
    };
    for (table, schema) in [
        (Table::FactOrderLine, duff_core::tables::fact_order_line_schema()),
        (Table::Quarantine, duff_core::tables::quarantine_schema()),
    ] {
        let source: Arc<dyn datafusion::catalog::TableProvider> = if has_folder(&lake, table.name()).await? {
            Arc::new(history_table(&lake, table, schema)?)
        } else {
            Arc::new(empty(with_ingest_date(schema))?)
        };
        ctx.register_table(table.name(), source).map_err(internal)?;
    }
    ctx.register_table("manifests", Arc::new(manifests_table(&read_manifests(&lake).await?)?)).map_err(internal)?;
    let head = serving_head(&lake).await?;
    register_serving(&ctx, &lake, head.as_ref()).await?;
    for v in views() {
        if v.name == CURRENT_STATE {
            continue;
        }
        ctx.sql(&format!("CREATE VIEW {} AS {}", v.name, v.query.sql_text(Dialect::DataFusion)))
            .await
            .map_err(internal)?;
    }
    Ok(ctx)
}
