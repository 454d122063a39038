-- duff-etl views for Athena, generated from duff-api's catalog (duff-api/src/catalog.rs):
-- `DUFF_BLESS=1 cargo test -p duff-api --test it deploy` rewrites this file, and the tests
-- fail when it differs from the SQL the API runs. Create the tables first (tables.sql).
--
-- order_line_current is what the API's Athena engine queries; the report views are the
-- API's reports without filters, for analysts.

-- The latest version of every order line among published files.
CREATE OR REPLACE VIEW order_line_current AS
SELECT order_id, product_id, client_id, client_name, product_description, unit_price, units, unit_volume_l, channel, status, amount, volume_l, ingested_at AS updated_at, first_seen_at, versions, source, file_id, line, ingest_date
FROM (
  SELECT f.order_id, f.product_id, f.client_id, f.client_name, f.product_description, f.unit_price, f.units,
    f.unit_volume_l, f.channel, f.status, f.amount, f.volume_l, f.ingested_at, f.source, f.file_id, f.line,
    f.ingest_date,
    ROW_NUMBER() OVER (PARTITION BY f.order_id, f.product_id
      ORDER BY f.ingested_at DESC, f.source DESC, f.file_id DESC, f.line DESC) AS version_rank,
    MIN(f.ingested_at) OVER (PARTITION BY f.order_id, f.product_id) AS first_seen_at,
    COUNT(*) OVER (PARTITION BY f.order_id, f.product_id) AS versions
  FROM fact_order_line f
  JOIN manifests m ON m.file_id = f.file_id AND m.ingest_date = f.ingest_date
  WHERE m.outcome = 'published'
) v
WHERE version_rank = 1;

-- Every first observation and change of status of every order line, in version order.
CREATE OR REPLACE VIEW order_status_history AS
SELECT order_id, product_id, from_status, to_status, changed_at, file_id, line
FROM (
  SELECT f.order_id, f.product_id,
    LAG(f.status) OVER (PARTITION BY f.order_id, f.product_id
      ORDER BY f.ingested_at, f.source, f.file_id, f.line) AS from_status,
    f.status AS to_status, f.ingested_at AS changed_at, f.file_id, f.line
  FROM fact_order_line f
  JOIN manifests m ON m.file_id = f.file_id AND m.ingest_date = f.ingest_date
  WHERE m.outcome = 'published'
) h
WHERE from_status IS NULL OR from_status <> to_status;

-- GET /reports/sales-by-product without filters.
CREATE OR REPLACE VIEW sales_by_product AS
SELECT product_id, MAX(latest_description) AS product_description, COUNT(DISTINCT order_id) AS orders,
  SUM(units) AS units, SUM(amount) AS sales, SUM(volume_l) AS volume_l
FROM (
  SELECT product_id, order_id, units, amount, volume_l,
    FIRST_VALUE(product_description) OVER (PARTITION BY product_id ORDER BY updated_at DESC, source DESC, file_id DESC, line DESC) AS latest_description
  FROM order_line_current
  WHERE TRUE
) t
GROUP BY product_id
ORDER BY product_id;

-- GET /reports/order-status without filters.
CREATE OR REPLACE VIEW order_status AS
SELECT status, COUNT(DISTINCT order_id) AS orders, SUM(units) AS units, SUM(amount) AS sales
FROM order_line_current
WHERE TRUE
GROUP BY status
ORDER BY CASE status WHEN 'created' THEN 1 WHEN 'delivered' THEN 2 WHEN 'broken' THEN 3 ELSE 4 END, status;

-- GET /reports/orders-by-client without filters.
CREATE OR REPLACE VIEW orders_by_client AS
SELECT client_id, MAX(latest_name) AS client_name, COUNT(DISTINCT order_id) AS orders,
  SUM(units) AS units, SUM(amount) AS sales
FROM (
  SELECT client_id, order_id, units, amount,
    FIRST_VALUE(client_name) OVER (PARTITION BY client_id ORDER BY updated_at DESC, source DESC, file_id DESC, line DESC) AS latest_name
  FROM order_line_current
  WHERE TRUE
) t
GROUP BY client_id
ORDER BY client_id;

-- GET /reports/sales-by-channel without filters.
CREATE OR REPLACE VIEW sales_by_channel AS
SELECT channel, COUNT(DISTINCT order_id) AS orders, SUM(units) AS units, SUM(amount) AS sales,
  SUM(volume_l) AS volume_l
FROM order_line_current
WHERE TRUE
GROUP BY channel
ORDER BY CASE channel WHEN 'Retail' THEN 1 WHEN 'Online' THEN 2 WHEN 'B2B' THEN 3 ELSE 4 END, channel;
