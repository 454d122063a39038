#!/usr/bin/env python3
"""The cost model of docs/cost.md, as code: prints its tables (markdown).

Three kinds of inputs, kept apart:
- MEASURED here (docs/cost.md says how): ingest throughput, Parquet bytes per row, bytes
  scanned per report per row, peak memory;
- PRICES: AWS list prices, us-east-1, as published when this was written (check the
  pricing pages before relying on them);
- ASSUMED: what cannot be measured without an AWS account (S3 throughput from Lambda,
  Graviton speed per core, per-file fixed overhead, query latency).

Usage: cost_model.py   (standard library only)
"""

from __future__ import annotations

MB = 1e6
GiB = 2**30
TB = 2**40

# ---- MEASURED (1M-row file, 91,317,926 bytes; docs/cost.md) ------------------------------
CSV_BYTES_PER_ROW = 91_317_926 / 1_000_000  # generator output, 0.1 % malformed rows
INGEST_MBPS_PER_CORE = 83.0  # pinned to one core (taskset -c 0), median of runs
LAKE_BYTES_PER_ROW = (11_374_682 + 41_066 + 93_219 + 7_432) / 1_000_000  # fact + quarantine + dims
REPORT_BYTES_PER_ROW = {  # compressed column chunks read per fact row (lake_bytes.py)
    "sales-by-product": 6.600,
    "order-status": 5.124,
    "orders-by-client": 8.130,
    "clients/{id}/orders": 10.937,
}

# ---- PRICES (USD, us-east-1) -------------------------------------------------------------
LAMBDA_ARM_GBS = 0.0000133334
LAMBDA_X86_GBS = 0.0000166667
LAMBDA_REQ = 0.20 / 1e6
SFN_STANDARD_TRANSITION = 0.025 / 1000
SFN_EXPRESS_REQ = 1.00 / 1e6
SFN_EXPRESS_GBS = 0.00001667  # per GB-second, 64 MB steps
S3_PUT = 0.005 / 1000
S3_GET = 0.0004 / 1000
S3_STD_GB_MONTH = 0.023
S3_GIR_GB_MONTH = 0.004
DDB_WRU = 0.625 / 1e6
LOGS_INGEST_GB = 0.50
ATHENA_TB = 5.00
ATHENA_MIN_BYTES = 10 * MB
APIGW_REST_REQ = 3.50 / 1e6
GLUE_DPU_HOUR = 0.44
KMS_KEY_MONTH = 1.00
ALARM_MONTH = 0.10

# ---- ASSUMED -----------------------------------------------------------------------------
ETL_MEMORY_GB = 3008 / 1024  # template.yaml
S3_DOWNLOAD_MBPS = 90.0  # one GET stream from Lambda; download then ingest, not overlapped
FIXED_SECONDS_PER_FILE = 0.25  # manifest check, ~6 PUTs, share of cold starts
SFN_TRANSITIONS_SMALL = 6  # DescribeObject, SizeCheck, IngestWholeFile, Outcome, RecordDone, Done
S3_PUTS_PER_FILE = 6  # 4 tables + manifest + a LIST
S3_GETS_PER_FILE = 3  # the CSV, the manifest check, a HEAD
DDB_WRU_PER_FILE = 2  # one ~2 KB item
LOG_BYTES_PER_FILE = 10_000  # execution history (Level ALL) + function logs
GLUE_DPU = 2
GLUE_MIN_SECONDS = 60
GLUE_SECONDS = 60  # a Spark job on 2 DPU reads <100 MB of CSV within its 1-minute minimum
API_FUNCTION_GB = 0.5
API_SECONDS = 1.5  # start, poll and read an Athena query
DAYS = 30


def etl_seconds(csv_bytes: float) -> float:
    per_mb = 1 / INGEST_MBPS_PER_CORE + 1 / S3_DOWNLOAD_MBPS
    return FIXED_SECONDS_PER_FILE + csv_bytes / MB * per_mb


def per_file(csv_bytes: float, arch_price: float = LAMBDA_ARM_GBS) -> dict[str, float]:
    return {
        "Lambda": ETL_MEMORY_GB * etl_seconds(csv_bytes) * arch_price + LAMBDA_REQ,
        "Step Functions": SFN_TRANSITIONS_SMALL * SFN_STANDARD_TRANSITION,
        "S3 requests": S3_PUTS_PER_FILE * S3_PUT + S3_GETS_PER_FILE * S3_GET,
        "DynamoDB": DDB_WRU_PER_FILE * DDB_WRU,
        "Logs": LOG_BYTES_PER_FILE / GiB * LOGS_INGEST_GB,
    }


def glue_per_file() -> float:
    return GLUE_DPU * max(GLUE_MIN_SECONDS, GLUE_SECONDS) / 3600 * GLUE_DPU_HOUR


def money(x: float) -> str:
    if x >= 100:
        return f"${x:,.0f}"
    if x >= 1:
        return f"${x:,.2f}"
    if x >= 0.01:
        return f"${x:.3f}"
    return f"${x:.5f}"


def main() -> None:
    print("### ETL function: GB-seconds per GB of CSV\n")
    s = etl_seconds(GiB) - FIXED_SECONDS_PER_FILE
    print(f"- {s:.1f} s per GiB of CSV ({INGEST_MBPS_PER_CORE:.0f} MB/s ingest, {S3_DOWNLOAD_MBPS:.0f} MB/s download),"
          f" x {ETL_MEMORY_GB:.2f} GB = **{s * ETL_MEMORY_GB:.0f} GB-s per GiB**"
          f" = {money(s * ETL_MEMORY_GB * LAMBDA_ARM_GBS)} on arm64"
          f" ({money(s * ETL_MEMORY_GB * LAMBDA_X86_GBS)} on x86_64)\n")

    sizes = {"1 MB (~11k rows)": 1 * MB, "91 MB (1M rows)": 91.3 * MB}
    print("### Per file\n")
    print("| file | Lambda | Step Functions | S3 requests | DynamoDB | logs | **total** | Glue job (2 DPU, 1 min) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, b in sizes.items():
        c = per_file(b)
        total = sum(c.values())
        print(f"| {label} | {money(c['Lambda'])} | {money(c['Step Functions'])} | {money(c['S3 requests'])} | "
              f"{money(c['DynamoDB'])} | {money(c['Logs'])} | **{money(total)}** | {money(glue_per_file())} |")

    print("\n### Per month (30 days): ingest only\n")
    print("| files/day | file | CSV/month | ETL compute: Lambda | ETL compute: Glue job | Glue / Lambda "
          "| Lambda design, total | Glue-job design, total | storage added/month |")
    print("|---|---|---|---|---|---|---|---|---|")
    fixed = KMS_KEY_MONTH + 7 * ALARM_MONTH
    for n in (1, 100, 10_000):
        for label, b in sizes.items():
            if n == 10_000 and b > 10 * MB:
                continue
            files = n * DAYS
            c = per_file(b)
            # The Glue design keeps the trigger, orchestration and bookkeeping; only the
            # compute changes.
            rest = c["Step Functions"] + c["S3 requests"] + c["DynamoDB"] + c["Logs"]
            lam_c, glue_c = files * c["Lambda"], files * glue_per_file()
            rows = b / CSV_BYTES_PER_ROW * files
            storage = (b * files / GiB) * S3_STD_GB_MONTH + rows * LAKE_BYTES_PER_ROW / GiB * S3_STD_GB_MONTH
            print(f"| {n:,} | {label} | {b * files / GiB:,.2f} GiB | {money(lam_c)} | {money(glue_c)} | "
                  f"{glue_c / lam_c:,.0f}x | {money(lam_c + files * rest + fixed)} | "
                  f"{money(glue_c + files * rest + fixed)} | +{money(storage)} |")
    print(f"\n(totals include {money(fixed)}/month fixed: the KMS key and 7 alarms; storage is billed every month after)")

    print("\n### Athena: bytes scanned and cost per report query\n")
    print("| lake (order-line versions) | " + " | ".join(REPORT_BYTES_PER_ROW) + " |")
    print("|---|" + "---|" * len(REPORT_BYTES_PER_ROW))
    for rows in (1e6, 1e7, 1e8, 1e9):
        cells = []
        for bpr in REPORT_BYTES_PER_ROW.values():
            scanned = rows * bpr
            billed = max(ATHENA_MIN_BYTES, scanned)
            cells.append(f"{scanned / MB:,.0f} MB, {money(billed / TB * ATHENA_TB)}")
        print(f"| {rows:,.0f} | " + " | ".join(cells) + " |")

    print("\n### API: 1,000 report calls a day (30,000/month)\n")
    calls = 30_000
    fixed_api = calls * (APIGW_REST_REQ + LAMBDA_REQ + API_FUNCTION_GB * API_SECONDS * LAMBDA_ARM_GBS)
    print("| lake | API Gateway + Lambda | Athena (mean of the 4 reports) | total/month |")
    print("|---|---|---|---|")
    mean_bpr = sum(REPORT_BYTES_PER_ROW.values()) / len(REPORT_BYTES_PER_ROW)
    for rows in (1e6, 1e8, 1e9):
        athena = calls * max(ATHENA_MIN_BYTES, rows * mean_bpr) / TB * ATHENA_TB
        print(f"| {rows:,.0f} rows | {money(fixed_api)} | {money(athena)} | {money(fixed_api + athena)} |")

    print("\n### Savings of the suggestions (figures above)\n")
    b = 1 * MB
    c = per_file(b)
    sfn_month = 10_000 * DAYS * c["Step Functions"]
    express = 10_000 * DAYS * (SFN_EXPRESS_REQ + SFN_EXPRESS_GBS * 0.064 * etl_seconds(b))
    print(f"- Express instead of Standard for the small-file path, 10,000 files/day: {money(sfn_month)} -> {money(express)}/month")
    lam_arm = ETL_MEMORY_GB * etl_seconds(91.3 * MB) * LAMBDA_ARM_GBS * 100 * DAYS
    lam_x86 = ETL_MEMORY_GB * etl_seconds(91.3 * MB) * LAMBDA_X86_GBS * 100 * DAYS
    print(f"- arm64 vs x86_64, ETL compute at 100 x 91 MB files/day: {money(lam_arm)} vs {money(lam_x86)}/month (-20 %)")
    csv_gb = 100 * DAYS * 91.3 * MB / GiB
    print(f"- Parquet+zstd vs keeping CSV for queries: 1 month of 100 x 91 MB files is {csv_gb:,.0f} GiB of CSV,"
          f" {csv_gb / (CSV_BYTES_PER_ROW / 11.39):,.0f} GiB of fact Parquet; a full CSV scan per query costs"
          f" {money(csv_gb * GiB / TB * ATHENA_TB)} vs {money(csv_gb * GiB / CSV_BYTES_PER_ROW * 6.6 / TB * ATHENA_TB)}")
    raw_year = 100 * 365 * 91.3 * MB / GiB
    print(f"- Glacier IR after 90 days for raw CSV (100 x 91 MB/day, after a year): {raw_year:,.0f} GiB,"
          f" {money(raw_year * S3_STD_GB_MONTH)} -> {money(raw_year * 90 / 365 * S3_STD_GB_MONTH + raw_year * 275 / 365 * S3_GIR_GB_MONTH)}/month")


if __name__ == "__main__":
    main()
