#!/usr/bin/env python3
"""Measures a local lake for docs/cost.md: bytes per table and row, Parquet column-chunk
sizes of fact_order_line, and the bytes Athena would scan per report.

Athena bills the compressed bytes of the column chunks a query reads (plus the JSON
manifests, a few KiB per file). Each report goes through the view order_line_current, whose
ROW_NUMBER() ranks every version of every order line: the ranking columns (ingested_at,
source, file_id, line) and the key are read for every row, whatever the filter; then each
report reads only its own columns (duff-api/src/catalog.rs). Partition projection prunes
ingest_date only when a query filters on it (the reports do not).

Needs pyarrow (not part of CI): python3 -m venv /tmp/pa && /tmp/pa/bin/pip install pyarrow
Usage: lake_bytes.py LAKE_DIR [CSV_BYTES]
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq

RANKING = ["order_id", "product_id", "ingested_at", "source", "file_id", "line"]
REPORTS = {
    "sales-by-product": ["product_description", "units", "amount", "volume_l"],
    "order-status": ["status", "units", "amount"],
    "orders-by-client": ["client_id", "client_name", "units", "amount"],
    "clients/{id}/orders": ["client_id", "client_name", "product_description", "unit_price", "units",
                            "amount", "volume_l", "channel", "status"],
}


def main() -> int:
    lake = Path(sys.argv[1])
    csv_bytes = int(sys.argv[2]) if len(sys.argv) > 2 else None
    rows_total: dict[str, int] = defaultdict(int)
    bytes_total: dict[str, int] = defaultdict(int)
    col_bytes: dict[str, int] = defaultdict(int)
    for f in sorted(lake.rglob("*")):
        if not f.is_file() or any(p.startswith(".") for p in f.relative_to(lake).parts):
            continue
        table = f.relative_to(lake).parts[0]
        bytes_total[table] += f.stat().st_size
        if f.suffix == ".parquet":
            md = pq.ParquetFile(f).metadata
            rows_total[table] += md.num_rows
            if table == "fact_order_line":
                for rg in range(md.num_row_groups):
                    g = md.row_group(rg)
                    for c in range(g.num_columns):
                        col = g.column(c)
                        col_bytes[col.path_in_schema] += col.total_compressed_size
        else:
            rows_total[table] += sum(1 for _ in f.open("rb"))

    print(f"{'table':<18}{'rows':>12}{'bytes':>14}{'bytes/row':>11}")
    for t in sorted(bytes_total):
        r = rows_total[t]
        print(f"{t:<18}{r:>12,}{bytes_total[t]:>14,}{(bytes_total[t] / r if r else 0):>11.2f}")
    facts = rows_total["fact_order_line"]
    if csv_bytes:
        print(f"\nCSV {csv_bytes:,} bytes -> fact_order_line {bytes_total['fact_order_line']:,} bytes "
              f"({csv_bytes / bytes_total['fact_order_line']:.1f}x smaller)")
    print(f"\nfact_order_line column chunks ({facts:,} rows):")
    for c, b in sorted(col_bytes.items(), key=lambda kv: -kv[1]):
        print(f"  {c:<22}{b:>12,} bytes  {b / facts:6.3f} B/row")
    print("\nbytes scanned per report (ranking columns + the report's own):")
    manifests = bytes_total.get("manifests", 0)
    for name, cols in REPORTS.items():
        read = sorted(set(RANKING) | set(cols))
        b = sum(col_bytes[c] for c in read) + manifests
        print(f"  {name:<22}{b:>12,} bytes  {b / facts:6.3f} B/row  ({len(read)} columns)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
