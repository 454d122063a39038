-- duff-etl views for Athena, generated from duff-api's catalog (duff-api/src/catalog.rs):
-- `DUFF_BLESS=1 cargo test -p duff-api --test it deploy` rewrites this file, and the tests
-- fail when it differs from the SQL the API runs. Create the tables first (tables.sql).
--
-- order_line_current and the report views read the serving state's tables (serving_*, the
-- newest generation's objects through their symlink manifests); order_status_history reads
-- the history (fact_order_line, manifests). The report views are the API's reports without
-- filters, for analysts.

-- The current order lines: the newest version of each, from the serving state.
CREATE OR REPLACE VIEW order_line_current AS
SELECT l.order_id, l.product_id, l.client_id, l.client_name, l.product_description, l.unit_price,
  l.units, l.unit_volume_l, l.channel, l.status, l.amount, l.volume_l, l.updated_at, l.first_seen_at, l.file_id,
  l.line, l.file_seq, l.generation
FROM serving_lines l
LEFT JOIN serving_lines n
  ON n.order_id = l.order_id AND n.product_id = l.product_id AND n.generation > l.generation
WHERE n.order_id IS NULL;

-- Every first observation and change of status of every order line, in version order.
CREATE OR REPLACE VIEW order_status_history AS
SELECT order_id, product_id, from_status, to_status, changed_at, file_id, line
FROM (
  SELECT f.order_id, f.product_id,
    LAG(f.status) OVER (PARTITION BY f.order_id, f.product_id ORDER BY s.rank, f.line) AS from_status,
    f.status AS to_status, f.ingested_at AS changed_at, f.file_id, f.line
  FROM fact_order_line f
  JOIN serving_files s ON s.file_id = f.file_id AND s.ingested_at = f.ingested_at
) h
WHERE from_status IS NULL OR from_status <> to_status;

-- GET /reports/sales-by-product without filters.
CREATE OR REPLACE VIEW sales_by_product AS
SELECT g.product_id, COALESCE(d.product_description, '') AS product_description, g.orders, g.units,
  g.sales, g.volume_l
FROM (
  SELECT product_id, SUM(orders) AS orders, SUM(units) AS units, SUM(sales) AS sales, SUM(volume_l) AS volume_l
  FROM serving_cells_product
  WHERE TRUE
  GROUP BY product_id
) g
LEFT JOIN serving_dim_product_current d ON d.product_id = g.product_id
ORDER BY g.product_id;

-- GET /reports/order-status without filters.
CREATE OR REPLACE VIEW order_status AS
SELECT status, orders, units, sales
FROM serving_cells_total
WHERE status IS NOT NULL AND channel IS NULL
ORDER BY CASE status WHEN 'created' THEN 1 WHEN 'delivered' THEN 2 WHEN 'broken' THEN 3 ELSE 4 END, status;

-- GET /reports/orders-by-client without filters.
CREATE OR REPLACE VIEW orders_by_client AS
SELECT c.client_id, COALESCE(d.client_name, '') AS client_name, c.orders, c.units, c.sales
FROM (
  SELECT client_id, orders, units, sales
  FROM serving_cells_client
  WHERE TRUE AND channel IS NULL AND status IS NULL
) c
LEFT JOIN serving_dim_client_current d ON d.client_id = c.client_id
ORDER BY c.client_id;

-- GET /reports/sales-by-channel without filters.
CREATE OR REPLACE VIEW sales_by_channel AS
SELECT channel, orders, units, sales, volume_l
FROM serving_cells_total
WHERE channel IS NOT NULL AND status IS NULL
ORDER BY CASE channel WHEN 'Retail' THEN 1 WHEN 'Online' THEN 2 WHEN 'B2B' THEN 3 ELSE 4 END, channel;

-- GET /reports/broken-rate-by-product without filters.
CREATE OR REPLACE VIEW broken_rate_by_product AS
SELECT g.product_id, COALESCE(d.product_description, '') AS product_description, g.lines,
  g.broken_lines, CAST((g.broken_lines * 1000000) / g.lines
    + CASE WHEN 2 * ((g.broken_lines * 1000000) % g.lines) > g.lines
      OR (2 * ((g.broken_lines * 1000000) % g.lines) = g.lines AND ((g.broken_lines * 1000000) / g.lines) % 2 = 1)
      THEN 1 ELSE 0 END AS DECIMAL(18, 0)) * CAST('0.000001' AS DECIMAL(7, 6)) AS broken_rate
FROM (
  SELECT product_id, SUM(lines) AS lines, SUM(CASE WHEN status = 'broken' THEN lines ELSE 0 END) AS broken_lines
  FROM serving_cells_product
  WHERE TRUE
  GROUP BY product_id
) g
LEFT JOIN serving_dim_product_current d ON d.product_id = g.product_id
ORDER BY g.product_id;

-- GET /reports/broken-rate-by-channel without filters.
CREATE OR REPLACE VIEW broken_rate_by_channel AS
SELECT g.channel, g.lines, g.broken_lines, CAST((g.broken_lines * 1000000) / g.lines
    + CASE WHEN 2 * ((g.broken_lines * 1000000) % g.lines) > g.lines
      OR (2 * ((g.broken_lines * 1000000) % g.lines) = g.lines AND ((g.broken_lines * 1000000) / g.lines) % 2 = 1)
      THEN 1 ELSE 0 END AS DECIMAL(18, 0)) * CAST('0.000001' AS DECIMAL(7, 6)) AS broken_rate
FROM (
  SELECT channel, SUM(lines) AS lines, SUM(CASE WHEN status = 'broken' THEN lines ELSE 0 END) AS broken_lines
  FROM serving_cells_product
  WHERE TRUE
  GROUP BY channel
) g
ORDER BY CASE g.channel WHEN 'Retail' THEN 1 WHEN 'Online' THEN 2 WHEN 'B2B' THEN 3 ELSE 4 END, g.channel;

-- GET /reports/client-value without filters.
CREATE OR REPLACE VIEW client_value AS
SELECT g.client_id, COALESCE(d.client_name, '') AS client_name, g.orders, g.lines, g.units, g.sales,
  CAST(g.sales_cents / g.orders
    + CASE WHEN 2 * (g.sales_cents % g.orders) > g.orders
      OR (2 * (g.sales_cents % g.orders) = g.orders AND (g.sales_cents / g.orders) % 2 = 1)
      THEN 1 ELSE 0 END AS DECIMAL(18, 0)) * CAST('0.01' AS DECIMAL(3, 2)) AS avg_order_value,
  d.first_seen_at, d.last_seen_at
FROM (
  SELECT client_id, orders, lines, units, sales, CAST(sales * 100 AS BIGINT) AS sales_cents
  FROM serving_cells_client
  WHERE TRUE AND channel IS NULL AND status IS NULL
) g
LEFT JOIN serving_dim_client_current d ON d.client_id = g.client_id
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
