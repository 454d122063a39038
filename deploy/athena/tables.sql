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
-- A file is committed when its manifest lands (manifests/<file_id>.json, written last):
-- queries read facts through the view order_line_current (views.sql), which keeps only the
-- objects of files whose manifest says `published`.

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
