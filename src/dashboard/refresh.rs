//! Brings the dashboard's date-partitioned facts (`sales_facts`, and from them the
//! per-customer months of `customer_months` and totals of `customer_lifetime`) up to
//! date, and counts the live units sold per product since its inventory snapshot
//! (`inventory_sold`): runs
//! `bigquery/scheduled/refresh_sales_facts.sql`, the same SQL that Terraform schedules
//! on BigQuery, with the run's time as `@run_time`. It re-derives the days from
//! `days` before today (in the reporting time zone) on, in one transaction; with
//! [`Days::All`], every day (after loading or appending history).

use std::time::Duration;

use chrono::{Datelike, NaiveDate, Utc};

use crate::model::{DataModel, ViewVars};
use crate::platform::error::{Error, Result};
use crate::platform::gcp::{BigQuery, Gcp, ParamValue, QueryJob};
use crate::platform::settings::TimeZone;

/// The refresh's SQL, beside the other scheduled queries.
pub(crate) const SQL_FILE: &str = "scheduled/refresh_sales_facts.sql";
/// The table it writes.
pub const TABLE: &str = "sales_facts";
/// The per-customer months it re-derives from [`TABLE`] in the same transaction.
pub const MONTHS_TABLE: &str = "customer_months";
/// The per-customer totals it keeps from [`MONTHS_TABLE`] in the same transaction.
pub(crate) const LIFETIME_TABLE: &str = "customer_lifetime";
/// Completed units per product and day, which the refresh keeps for the same days.
pub(crate) use crate::model::UNITS_TABLE;
/// The live units sold per product since its snapshot, rebuilt by the same run.
pub const SOLD_TABLE: &str = "inventory_sold";
/// How long before the run a live sale must have been written to count in
/// [`SOLD_TABLE`] (a row written just before a read may not be readable yet); the
/// stock's view adds the later ones from the recent partitions.
pub const DEFAULT_STOCK_SETTLE_SECS: u32 = 60;
/// The days a scheduled run re-derives by default: today and the three before (late
/// live sales and re-sends land within them).
pub const DEFAULT_DAYS: u32 = 3;

/// Which days a refresh re-derives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Days {
    /// Today and this many days before it.
    Last(u32),
    /// Every day.
    All,
}

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// The first day re-derived.
    pub since: NaiveDate,
    /// Rows the table holds from that day on.
    pub rows: u64,
    /// Days (partitions) with rows from that day on.
    pub days: u64,
    /// The first month of `customer_months` re-derived (the first day of `since`'s).
    pub since_month: NaiveDate,
    /// Customer-months `customer_months` holds from that month on.
    pub customer_months: u64,
    /// Products in `inventory_sold`, and the live units it counts over them.
    pub products: u64,
    /// The units sold live since the products' snapshots, as counted.
    pub sold_live: u64,
}

/// What a run takes besides its days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Which days it re-derives.
    pub days: Days,
    /// [`DEFAULT_STOCK_SETTLE_SECS`].
    pub stock_settle_secs: u32,
}

/// The SQL of one run: the template filled with the project, dataset, zone and days;
/// `all` (every day) rebuilds `customer_lifetime` instead of taking the difference.
pub fn sql(
    model_dir: &std::path::Path,
    project: &str,
    dataset: &str,
    zone: &TimeZone,
    days: u32,
    all: bool,
    stock_settle_secs: u32,
) -> Result<String> {
    let file = model_dir.join(SQL_FILE);
    let template = std::fs::read_to_string(&file).map_err(|e| Error::model(&file, format!("cannot be read: {e}")))?;
    let vars = ViewVars::in_zone(zone.clone());
    Ok(crate::model::render_with(&template, project, dataset, &vars)
        .replace("${refresh_days}", &days.to_string())
        .replace("${refresh_all}", if all { "TRUE" } else { "FALSE" })
        .replace("${stock_settle_seconds}", &stock_settle_secs.to_string()))
}

/// Emulator workaround (ARCHITECTURE.md): the days re-derived into `sales_facts` are
/// inserted in `sale_date` order. The emulator's DuckDB has no partitions, but it skips a
/// row group whose dates are outside a query's range when the rows are stored in date
/// order, which stands in for BigQuery's partition pruning, so that a page's time over a
/// range follows the range there too. On BigQuery the partitions do this; the scheduled
/// SQL is left as it is.
fn emulator_sorted(sql: &str, project: &str, dataset: &str) -> Result<String> {
    let insert = format!("FROM `{project}.{dataset}.v_sales_facts`\nWHERE sale_date >= since;");
    if sql.matches(&insert).count() != 1 {
        return Err(Error::model(
            SQL_FILE,
            format!("the refresh's insert into {TABLE} no longer ends with {insert:?}"),
        ));
    }
    Ok(sql.replace(&insert, &insert.replace(';', "\nORDER BY sale_date;")))
}

/// Runs the refresh of `options.days` in `dataset`, then counts what the tables hold for
/// them.
pub async fn refresh(
    gcp: &Gcp,
    model: &DataModel,
    model_dir: &std::path::Path,
    dataset: &str,
    zone: &TimeZone,
    options: Options,
) -> Result<Refreshed> {
    let days = options.days;
    let bq: BigQuery = gcp.bigquery().await?;
    let project = gcp.project.as_str();
    let emulator = gcp.endpoints.bigquery.is_emulator();
    for table in [TABLE, UNITS_TABLE, MONTHS_TABLE, LIFETIME_TABLE, SOLD_TABLE] {
        if model.table(table).is_none() {
            return Err(Error::model(model_dir, format!("the data model has no table {table}")));
        }
    }
    let now = Utc::now();
    let today = now.with_timezone(&zone.tz()).date_naive();
    let back = match days {
        Days::Last(n) => n,
        Days::All => {
            // Before any sale: the script reaches one month further back (for
            // customer_months), and DATE arithmetic stops at year 1.
            let first = NaiveDate::from_ymd_opt(1, 3, 1).expect("1 March of year 1");
            u32::try_from((today - first).num_days()).unwrap_or(u32::MAX)
        }
    };
    let since = today
        .checked_sub_days(chrono::Days::new(u64::from(back)))
        .unwrap_or(NaiveDate::MIN);
    let mut job = QueryJob {
        sql: sql(
            model_dir,
            project,
            dataset,
            zone,
            back,
            days == Days::All,
            options.stock_settle_secs,
        )?,
        params: vec![("run_time".into(), ParamValue::Timestamp(now))],
        max_bytes_billed: None,
    };
    if emulator {
        job.sql = emulator_sorted(&job.sql, project, dataset)?;
        // Emulator workaround (ARCHITECTURE.md): bqemulator binds no query parameter
        // inside a multi-statement script, so the run's time (our own clock, never
        // input) is written into the SQL, as microseconds: in some statements the
        // emulator's rewrite turns the fraction of a TIMESTAMP literal into a float
        // ('…11.128954e0+00:00'), which DuckDB then refuses.
        job.sql = job
            .sql
            .replace("@run_time", &format!("TIMESTAMP_MICROS({})", now.timestamp_micros()));
        job.params.clear();
    }
    let timeout = Duration::from_secs(600);
    bq.query_job(project, &job, timeout).await?;
    let since_month = since.with_day(1).expect("every month has a first day");
    let count = QueryJob {
        sql: format!(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT sale_date) AS d, \
             (SELECT COUNT(*) FROM `{project}.{dataset}.{MONTHS_TABLE}` WHERE month >= @since_month) AS m, \
             (SELECT COUNT(*) FROM `{project}.{dataset}.{SOLD_TABLE}`) AS p, \
             (SELECT COALESCE(SUM(sold_live), 0) FROM `{project}.{dataset}.{SOLD_TABLE}`) AS u \
             FROM `{project}.{dataset}.{TABLE}` WHERE sale_date >= @since"
        ),
        params: vec![
            ("since".into(), ParamValue::Date(since)),
            ("since_month".into(), ParamValue::Date(since_month)),
        ],
        max_bytes_billed: None,
    };
    let rows = bq.query_job(project, &count, timeout).await?;
    let cell = |i: usize| -> u64 {
        rows.rows
            .first()
            .and_then(|r| r.get(i).cloned().flatten())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Refreshed {
        since,
        rows: cell(0),
        days: cell(1),
        since_month,
        customer_months: cell(2),
        products: cell(3),
        sold_live: cell(4),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_emulator_inserts_the_days_in_date_order_and_only_there() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bigquery");
        let zone = TimeZone::default();
        let sql = sql(&dir, "p", "d", &zone, 3, false, 60).unwrap();
        assert!(!sql.contains("ORDER BY sale_date"), "the scheduled SQL is not sorted");
        let sorted = emulator_sorted(&sql, "p", "d").unwrap();
        assert_eq!(sorted.matches("ORDER BY sale_date;").count(), 1);
        assert!(sorted.contains("FROM `p.d.v_sales_facts`\nWHERE sale_date >= since\nORDER BY sale_date;"));
        // A changed insert is an error, not a silent loss of the sort.
        let changed = sql.replace("v_sales_facts`\nWHERE", "v_sales_facts`\n  WHERE");
        assert!(emulator_sorted(&changed, "p", "d").is_err());
    }
}
