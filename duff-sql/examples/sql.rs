//! Ad-hoc SQL over a lake, with the table and view names of its Athena database
//! (`deploy/athena/tables.sql`, `deploy/athena/views.sql`): the history tables
//! (`fact_order_line`, `quarantine`, `manifests`), the serving state's newest generation
//! (`serving_*`, `order_line_current`), and the views (`order_status_history`, the reports
//! without filters, the marts). Run by DataFusion in process (`duff_sql::lake_context`).
//!
//! ```text
//! cargo run -p duff-sql --example sql -- <lake folder or s3:// URI> "SELECT * FROM sales_by_channel"
//! echo "SELECT COUNT(*) FROM order_line_current" | cargo run -p duff-sql --example sql -- <lake>
//! ```
//!
//! Several statements may be given, separated by `;`; each result is printed as a table.

use datafusion::arrow::util::pretty::pretty_format_batches;
use duff_api::LakeUri;
use std::io::Read;
use std::process::ExitCode;

type BoxError = Box<dyn std::error::Error>;

async fn run(lake: &str, sql: &str) -> Result<(), BoxError> {
    let uri = LakeUri::parse(lake)?;
    let ctx = duff_sql::lake_context(&uri).await?;
    for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let batches = ctx.sql(statement).await?.collect().await?;
        println!("{}", pretty_format_batches(&batches)?);
    }
    Ok(())
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(lake) = args.next() else {
        eprintln!("usage: sql <lake folder or URI> [SQL]   (the SQL from stdin when not given)");
        return ExitCode::from(2);
    };
    let sql = match args.next() {
        Some(s) => s,
        None => {
            let mut s = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut s) {
                eprintln!("sql: reading stdin: {e}");
                return ExitCode::from(2);
            }
            s
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sql: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&lake, &sql)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sql: {e}");
            ExitCode::FAILURE
        }
    }
}
