-- duff-etl views for Athena, generated from duff-api's catalog (duff-api/src/catalog.rs):
-- `DUFF_BLESS=1 cargo test -p duff-api --test it deploy` rewrites this file, and the tests
-- fail when it differs from the SQL the API runs. Create the tables first (tables.sql).
--
-- order_line_current is what the API's Athena engine queries; the report views are the
-- API's reports without filters, for analysts.

-- The latest version of every order line among published files.
CREATE OR REPLACE VIEW order_line_current AS
WITH files AS (
  SELECT file_id, ingest_date,
    CAST(ROW_NUMBER() OVER (ORDER BY ingested_at_micros, source, file_id) AS BIGINT) AS file_rank
  FROM manifests
  WHERE outcome = 'published'
),
versions AS (
  SELECT f.order_id, f.product_id, f.client_id, f.client_name, f.product_description, f.unit_price, f.units,
    f.unit_volume_l, f.channel, f.status, f.amount, f.volume_l, f.ingested_at, f.source, f.file_id, f.line,
    f.ingest_date, files.file_rank * 1099511627776 + f.line AS version
  FROM fact_order_line f
  JOIN files ON files.file_id = f.file_id AND files.ingest_date = f.ingest_date
),
latest AS (
  SELECT order_id, product_id, MAX(version) AS version, MIN(ingested_at) AS first_seen_at, COUNT(*) AS versions
  FROM versions
  GROUP BY order_id, product_id
)
-- One row per line even if an object of a committed file exists twice (a writer that lost a
-- commit race and crashed before removing its copy): the copies hold the same values.
SELECT v.order_id, v.product_id, MIN(v.client_id) AS client_id, MIN(v.client_name) AS client_name,
  MIN(v.product_description) AS product_description, MIN(v.unit_price) AS unit_price, MIN(v.units) AS units,
  MIN(v.unit_volume_l) AS unit_volume_l, MIN(v.channel) AS channel, MIN(v.status) AS status,
  MIN(v.amount) AS amount, MIN(v.volume_l) AS volume_l, MIN(v.ingested_at) AS updated_at,
  MIN(latest.first_seen_at) AS first_seen_at, MIN(latest.versions) AS versions, MIN(v.source) AS source,
  MIN(v.file_id) AS file_id, MIN(v.line) AS line, MIN(v.ingest_date) AS ingest_date, v.version
FROM versions v
JOIN latest ON latest.order_id = v.order_id AND latest.product_id = v.product_id AND latest.version = v.version
GROUP BY v.order_id, v.product_id, v.version;

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
SELECT g.product_id, d.product_description, g.orders, g.units, g.sales, g.volume_l
FROM (
  SELECT product_id, COUNT(DISTINCT order_id) AS orders, SUM(units) AS units, SUM(amount) AS sales,
    SUM(volume_l) AS volume_l, MAX(version) AS latest
  FROM order_line_current
  WHERE TRUE
  GROUP BY product_id
) g
JOIN order_line_current d ON d.product_id = g.product_id AND d.version = g.latest
ORDER BY g.product_id;

-- GET /reports/order-status without filters.
CREATE OR REPLACE VIEW order_status AS
SELECT status, COUNT(DISTINCT order_id) AS orders, SUM(units) AS units, SUM(amount) AS sales
FROM order_line_current
WHERE TRUE
GROUP BY status
ORDER BY CASE status WHEN 'created' THEN 1 WHEN 'delivered' THEN 2 WHEN 'broken' THEN 3 ELSE 4 END, status;

-- GET /reports/orders-by-client without filters.
CREATE OR REPLACE VIEW orders_by_client AS
SELECT g.client_id, d.client_name, g.orders, g.units, g.sales
FROM (
  SELECT client_id, COUNT(DISTINCT order_id) AS orders, SUM(units) AS units, SUM(amount) AS sales,
    MAX(version) AS latest
  FROM order_line_current
  WHERE TRUE
  GROUP BY client_id
) g
JOIN order_line_current d ON d.client_id = g.client_id AND d.version = g.latest
ORDER BY g.client_id;

-- GET /reports/sales-by-channel without filters.
CREATE OR REPLACE VIEW sales_by_channel AS
SELECT channel, COUNT(DISTINCT order_id) AS orders, SUM(units) AS units, SUM(amount) AS sales,
  SUM(volume_l) AS volume_l
FROM order_line_current
WHERE TRUE
GROUP BY channel
ORDER BY CASE channel WHEN 'Retail' THEN 1 WHEN 'Online' THEN 2 WHEN 'B2B' THEN 3 ELSE 4 END, channel;

-- GET /reports/broken-rate-by-product without filters.
CREATE OR REPLACE VIEW broken_rate_by_product AS
SELECT g.product_id, d.product_description, g.lines, g.broken_lines,
  CAST((g.broken_lines * 1000000) / g.lines
    + CASE WHEN 2 * ((g.broken_lines * 1000000) % g.lines) > g.lines
      OR (2 * ((g.broken_lines * 1000000) % g.lines) = g.lines AND ((g.broken_lines * 1000000) / g.lines) % 2 = 1)
      THEN 1 ELSE 0 END AS DECIMAL(18, 0)) * CAST('0.000001' AS DECIMAL(7, 6)) AS broken_rate
FROM (
  SELECT product_id, COUNT(*) AS lines, SUM(CASE WHEN status = 'broken' THEN 1 ELSE 0 END) AS broken_lines,
    MAX(version) AS latest
  FROM order_line_current
  WHERE TRUE
  GROUP BY product_id
) g
JOIN order_line_current d ON d.product_id = g.product_id AND d.version = g.latest
ORDER BY g.product_id;

-- GET /reports/broken-rate-by-channel without filters.
CREATE OR REPLACE VIEW broken_rate_by_channel AS
SELECT g.channel, g.lines, g.broken_lines,
  CAST((g.broken_lines * 1000000) / g.lines
    + CASE WHEN 2 * ((g.broken_lines * 1000000) % g.lines) > g.lines
      OR (2 * ((g.broken_lines * 1000000) % g.lines) = g.lines AND ((g.broken_lines * 1000000) / g.lines) % 2 = 1)
      THEN 1 ELSE 0 END AS DECIMAL(18, 0)) * CAST('0.000001' AS DECIMAL(7, 6)) AS broken_rate
FROM (
  SELECT channel, COUNT(*) AS lines, SUM(CASE WHEN status = 'broken' THEN 1 ELSE 0 END) AS broken_lines
  FROM order_line_current
  WHERE TRUE
  GROUP BY channel
) g
ORDER BY CASE g.channel WHEN 'Retail' THEN 1 WHEN 'Online' THEN 2 WHEN 'B2B' THEN 3 ELSE 4 END, g.channel;

-- GET /reports/client-value without filters.
CREATE OR REPLACE VIEW client_value AS
SELECT g.client_id, d.client_name, g.orders, g.lines, g.units, g.sales,
  CAST(g.sales_cents / g.orders
    + CASE WHEN 2 * (g.sales_cents % g.orders) > g.orders
      OR (2 * (g.sales_cents % g.orders) = g.orders AND (g.sales_cents / g.orders) % 2 = 1)
      THEN 1 ELSE 0 END AS DECIMAL(18, 0)) * CAST('0.01' AS DECIMAL(3, 2)) AS avg_order_value,
  g.first_seen_at, g.last_seen_at
FROM (
  SELECT client_id, COUNT(DISTINCT order_id) AS orders, COUNT(*) AS lines, SUM(units) AS units,
    SUM(amount) AS sales, CAST(SUM(amount) * 100 AS BIGINT) AS sales_cents, MIN(first_seen_at) AS first_seen_at,
    MAX(updated_at) AS last_seen_at, MAX(version) AS latest
  FROM order_line_current
  WHERE TRUE
  GROUP BY client_id
) g
JOIN order_line_current d ON d.client_id = g.client_id AND d.version = g.latest
ORDER BY g.client_id;

-- The mart mart_product_mix_by_channel (models.md), always current.
CREATE OR REPLACE VIEW mart_product_mix_by_channel AS
SELECT g.channel, g.product_id, g.units, g.sales, g.volume_l,
  CAST((g.sales_cents * 1000000) / NULLIF(c.channel_cents, 0)
    + CASE WHEN 2 * ((g.sales_cents * 1000000) % NULLIF(c.channel_cents, 0)) > c.channel_cents
      OR (2 * ((g.sales_cents * 1000000) % NULLIF(c.channel_cents, 0)) = c.channel_cents
        AND ((g.sales_cents * 1000000) / NULLIF(c.channel_cents, 0)) % 2 = 1)
      THEN 1 ELSE 0 END AS DECIMAL(18, 0)) * CAST('0.000001' AS DECIMAL(7, 6)) AS share_of_channel_sales
FROM (
  SELECT channel, product_id, SUM(units) AS units, SUM(amount) AS sales, SUM(volume_l) AS volume_l,
    CAST(SUM(amount) * 100 AS BIGINT) AS sales_cents
  FROM order_line_current
  GROUP BY channel, product_id
) g
JOIN (
  SELECT channel, CAST(SUM(amount) * 100 AS BIGINT) AS channel_cents
  FROM order_line_current
  GROUP BY channel
) c ON c.channel = g.channel
ORDER BY CASE g.channel WHEN 'Retail' THEN 1 WHEN 'Online' THEN 2 WHEN 'B2B' THEN 3 ELSE 4 END, g.channel, g.product_id;

-- The mart mart_sales_daily (models.md), always current.
CREATE OR REPLACE VIEW mart_sales_daily AS
SELECT d.day, d.channel, COUNT(DISTINCT d.order_id) AS orders, SUM(d.units) AS units,
  SUM(d.amount) AS sales, SUM(d.volume_l) AS volume_l
FROM (
  SELECT CAST(CAST(first_seen_at AS DATE) AS VARCHAR) AS day, channel, order_id, units, amount, volume_l
  FROM order_line_current
) d
GROUP BY d.day, d.channel
ORDER BY d.day, CASE d.channel WHEN 'Retail' THEN 1 WHEN 'Online' THEN 2 WHEN 'B2B' THEN 3 ELSE 4 END, d.channel;
