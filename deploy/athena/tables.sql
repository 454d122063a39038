-- duff-etl lake tables for Athena (Glue catalog). Run each statement in the Athena console or
-- with `aws athena start-query-execution`, after replacing s3://LAKE_BUCKET/LAKE_PREFIX with the
-- lake's DUFF_LAKE_URI. deploy/template.yaml creates the same tables with CloudFormation.
--
-- Per-file tables are partitioned by ingest_date (a Hive partition in the key) with
-- partition projection: no crawler, no MSCK REPAIR, no ALTER TABLE ADD PARTITION; a new
-- file is queryable as soon as its objects land. Set projection.ingest_date.range's start to
-- the first ingest day; filter on ingest_date to scan fewer days.
--
-- Parquet: ZSTD, decimals DECIMAL(18,2) (money) and DECIMAL(18,6) (litres), timestamps in
-- microseconds UTC. Checked against duff-core's Arrow schemas by duff-api's tests.
--
-- A file is committed when its manifest lands (manifests/<file_id>.json, written last). The
-- reports do not read these per-file tables: they read the serving state (the serving_*
-- tables at the end of this file, the current lines and the report cells); the history
-- views (order_status_history) read fact_order_line, keeping only the objects of files whose
-- manifest says `published`.

-- Accepted order-line versions: every file's view of every line, with its lineage.
CREATE EXTERNAL TABLE IF NOT EXISTS fact_order_line (
  order_id            bigint,
  product_id          bigint,
  client_id           bigint,
  client_name         string,
  product_description string,
  unit_price          decimal(18,2),
  units               bigint,
  unit_volume_l       decimal(18,6),
  channel             string,
  status              string,
  amount              decimal(18,2),
  volume_l            decimal(18,6),
  line                bigint,
  file_id             string,
  source              string,
  ingested_at         timestamp
)
PARTITIONED BY (ingest_date string)
STORED AS PARQUET
LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/fact_order_line/'
TBLPROPERTIES (
  'parquet.compression' = 'ZSTD',
  'projection.enabled' = 'true',
  'projection.ingest_date.type' = 'date',
  'projection.ingest_date.format' = 'yyyy-MM-dd',
  'projection.ingest_date.range' = '2026-01-01,NOW',
  'projection.ingest_date.interval' = '1',
  'projection.ingest_date.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://LAKE_BUCKET/LAKE_PREFIX/fact_order_line/ingest_date=${ingest_date}/'
);

-- Refused rows: position, raw text (at most 64 KiB) and every reason.
CREATE EXTERNAL TABLE IF NOT EXISTS quarantine (
  line          bigint,
  record        bigint,
  byte          bigint,
  raw           string,
  raw_truncated boolean,
  reason_codes  string,
  reasons       string,
  file_id       string,
  source        string,
  ingested_at   timestamp
)
PARTITIONED BY (ingest_date string)
STORED AS PARQUET
LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/quarantine/'
TBLPROPERTIES (
  'parquet.compression' = 'ZSTD',
  'projection.enabled' = 'true',
  'projection.ingest_date.type' = 'date',
  'projection.ingest_date.format' = 'yyyy-MM-dd',
  'projection.ingest_date.range' = '2026-01-01,NOW',
  'projection.ingest_date.interval' = '1',
  'projection.ingest_date.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://LAKE_BUCKET/LAKE_PREFIX/quarantine/ingest_date=${ingest_date}/'
);

-- Each file's view of each client (the name on its last line in the file).
CREATE EXTERNAL TABLE IF NOT EXISTS dim_client (
  client_id   bigint,
  client_name string,
  lines       bigint,
  first_line  bigint,
  last_line   bigint,
  file_id     string,
  source      string,
  ingested_at timestamp
)
PARTITIONED BY (ingest_date string)
STORED AS PARQUET
LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/dim_client/'
TBLPROPERTIES (
  'parquet.compression' = 'ZSTD',
  'projection.enabled' = 'true',
  'projection.ingest_date.type' = 'date',
  'projection.ingest_date.format' = 'yyyy-MM-dd',
  'projection.ingest_date.range' = '2026-01-01,NOW',
  'projection.ingest_date.interval' = '1',
  'projection.ingest_date.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://LAKE_BUCKET/LAKE_PREFIX/dim_client/ingest_date=${ingest_date}/'
);

-- Each file's view of each product (the values on its last line in the file).
CREATE EXTERNAL TABLE IF NOT EXISTS dim_product (
  product_id          bigint,
  product_description string,
  unit_price          decimal(18,2),
  unit_volume_l       decimal(18,6),
  lines               bigint,
  first_line          bigint,
  last_line           bigint,
  file_id             string,
  source              string,
  ingested_at         timestamp
)
PARTITIONED BY (ingest_date string)
STORED AS PARQUET
LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/dim_product/'
TBLPROPERTIES (
  'parquet.compression' = 'ZSTD',
  'projection.enabled' = 'true',
  'projection.ingest_date.type' = 'date',
  'projection.ingest_date.format' = 'yyyy-MM-dd',
  'projection.ingest_date.range' = '2026-01-01,NOW',
  'projection.ingest_date.interval' = '1',
  'projection.ingest_date.interval.unit' = 'DAYS',
  'storage.location.template' = 's3://LAKE_BUCKET/LAKE_PREFIX/dim_product/ingest_date=${ingest_date}/'
);

-- Static: the channels and their report order.
CREATE EXTERNAL TABLE IF NOT EXISTS dim_channel (
  channel    string,
  sort_order bigint
)
STORED AS PARQUET
LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/dim_channel/'
TBLPROPERTIES ('parquet.compression' = 'ZSTD');

-- Static: the statuses, their report order, whether final, and their meaning.
CREATE EXTERNAL TABLE IF NOT EXISTS dim_status (
  status      string,
  sort_order  bigint,
  is_final    boolean,
  description string
)
STORED AS PARQUET
LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/dim_status/'
TBLPROPERTIES ('parquet.compression' = 'ZSTD');

-- One JSON line per ingested file: the commit record (outcome published, rejected or failed),
-- the reconciliation (rows read = accepted + quarantined, per reason) and exact totals as
-- decimal strings. `outputs` and `sample_problems` are left out (nested lists the reports do
-- not need; read them from the objects themselves).
CREATE EXTERNAL TABLE IF NOT EXISTS manifests (
  manifest_version      int,
  file_id               string,
  source                string,
  ingested_at           string,
  ingested_at_micros    bigint,
  ingest_date           string,
  outcome               string,
  message               string,
  error                 struct<code:string,message:string,line:bigint,byte:bigint>,
  bytes                 bigint,
  delimiter             string,
  header                array<string>,
  extra_columns         array<string>,
  rows_read             bigint,
  rows_accepted         bigint,
  rows_quarantined      bigint,
  quarantined_by_reason map<string,bigint>,
  blank_lines           bigint,
  totals                struct<units:string,amount:string,volume_l:string>,
  reject_threshold      string,
  quarantined_share     string,
  writer                string
)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true')
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/manifests/';

-- Analytics models built by Rust (duff_lake::Lake::refresh_models: the same code locally and
-- in the ETL function's `refresh_models` action), one Parquet object per table under
-- models/<name>/, replaced whole at each rebuild: they are as fresh as the last rebuild
-- (models/_build.json names the files they reflect). The aggregates and marts are views over
-- order_line_current instead (views.sql), always current. Checked against duff-core's
-- builders by duff-api's tests.

-- Client versions: a new one whenever the name changes (valid_to NULL while current).
CREATE EXTERNAL TABLE IF NOT EXISTS dim_client_scd2 (
  client_key         bigint,
  client_version_key bigint,
  client_id          bigint,
  client_name        string,
  valid_from         timestamp,
  valid_to           timestamp,
  is_current         boolean,
  version            bigint,
  file_id            string
)
STORED AS PARQUET
LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/models/dim_client_scd2/'
TBLPROPERTIES ('parquet.compression' = 'ZSTD');

-- Product versions: a new one whenever description, unit price or volume changes.
CREATE EXTERNAL TABLE IF NOT EXISTS dim_product_scd2 (
  product_key         bigint,
  product_version_key bigint,
  product_id          bigint,
  product_description string,
  unit_price          decimal(18,2),
  unit_volume_l       decimal(18,6),
  valid_from          timestamp,
  valid_to            timestamp,
  is_current          boolean,
  version             bigint,
  file_id             string
)
STORED AS PARQUET
LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/models/dim_product_scd2/'
TBLPROPERTIES ('parquet.compression' = 'ZSTD');

-- Status changes: from_status NULL on first sight (the view order_status_history is the same, live).
CREATE EXTERNAL TABLE IF NOT EXISTS fact_order_status_event (
  order_id    bigint,
  product_id  bigint,
  from_status string,
  to_status   string,
  changed_at  timestamp,
  file_id     string,
  line        bigint
)
STORED AS PARQUET
LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/models/fact_order_status_event/'
TBLPROPERTIES ('parquet.compression' = 'ZSTD');

-- One row per order line: first created/delivered/broken sightings, lags in seconds, illegal transitions.
CREATE EXTERNAL TABLE IF NOT EXISTS fact_order_lifecycle (
  order_id                     bigint,
  product_id                   bigint,
  client_id                    bigint,
  channel                      string,
  current_status               string,
  first_seen_at                timestamp,
  created_at                   timestamp,
  delivered_at                 timestamp,
  broken_at                    timestamp,
  seconds_created_to_delivered bigint,
  seconds_created_to_broken    bigint,
  transitions                  bigint,
  illegal_transition           boolean,
  illegal_detail               string
)
STORED AS PARQUET
LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/models/fact_order_lifecycle/'
TBLPROPERTIES ('parquet.compression' = 'ZSTD');

-- The serving state (docs/serving.md, docs/athena.md): the lake's current content, folded
-- file by file by duff_lake::Lake::update_serving. Each table is a symlink table: its
-- location holds one object, `manifest`, listing the Parquet objects of the newest committed
-- generation (one s3:// URI per line), rewritten with one PUT after the generation is
-- committed (its objects are all written before). Checked against the Parquet the code
-- writes by duff-sql's tests, and against duff-core's schemas by duff-api's.

-- Current order lines: every run of the newest generation (a key's newest run holds its current version; the view order_line_current picks it).
CREATE EXTERNAL TABLE IF NOT EXISTS serving_lines (
  order_id            bigint,
  product_id          bigint,
  client_id           bigint,
  client_name         string,
  product_description string,
  unit_price          decimal(18,2),
  units               bigint,
  unit_volume_l       decimal(18,6),
  channel             string,
  status              string,
  amount              decimal(18,2),
  volume_l            decimal(18,6),
  updated_at          timestamp,
  first_seen_at       timestamp,
  file_id             string,
  line                bigint,
  file_seq            bigint,
  generation          bigint
)
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/serving/_athena/serving_lines/';

-- Report cells per (product, channel, status): distinct orders, lines, units, sales, litres.
CREATE EXTERNAL TABLE IF NOT EXISTS serving_cells_product (
  product_id bigint,
  channel    string,
  status     string,
  orders     bigint,
  lines      bigint,
  units      bigint,
  sales      decimal(38,2),
  volume_l   decimal(38,6)
)
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/serving/_athena/serving_cells_product/';

-- Report cells per (client, channel or NULL for all, status or NULL for all).
CREATE EXTERNAL TABLE IF NOT EXISTS serving_cells_client (
  client_id bigint,
  channel   string,
  status    string,
  orders    bigint,
  lines     bigint,
  units     bigint,
  sales     decimal(38,2),
  volume_l  decimal(38,6)
)
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/serving/_athena/serving_cells_client/';

-- Report cells per (channel or NULL for all, status or NULL for all).
CREATE EXTERNAL TABLE IF NOT EXISTS serving_cells_total (
  channel  string,
  status   string,
  orders   bigint,
  lines    bigint,
  units    bigint,
  sales    decimal(38,2),
  volume_l decimal(38,6)
)
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/serving/_athena/serving_cells_total/';

-- Each client's current row: the name of its latest line version, its first and last sightings.
CREATE EXTERNAL TABLE IF NOT EXISTS serving_dim_client_current (
  client_id     bigint,
  client_name   string,
  first_seen_at timestamp,
  last_seen_at  timestamp,
  file_seq      bigint,
  line          bigint
)
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/serving/_athena/serving_dim_client_current/';

-- Each product's current row: the description of its latest line version.
CREATE EXTERNAL TABLE IF NOT EXISTS serving_dim_product_current (
  product_id          bigint,
  product_description string,
  file_seq            bigint,
  line                bigint
)
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/serving/_athena/serving_dim_product_current/';

-- Every folded file, with its rank in version order (oldest 0).
CREATE EXTERNAL TABLE IF NOT EXISTS serving_files (
  file_seq    bigint,
  file_id     string,
  source      string,
  ingested_at timestamp,
  rank        bigint
)
ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'
STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://LAKE_BUCKET/LAKE_PREFIX/serving/_athena/serving_files/';
