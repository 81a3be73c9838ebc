//! `forecast`: the demand forecast per product, for the stock that looks ahead
//! (`v_inventory_forecast`: days of cover, stock-out date, reorder quantity).
//!
//! One run reads the daily units of each product's completed sales (both sources, by
//! `sale_date` in the reporting time zone) over the last `history_days` days before today
//! from `product_daily_units` (the refresh keeps it from `sales_facts`: a row per product
//! and day), in one query over those partitions; fits each product's series on
//! the cores ([`forecast_series`]): MSTL with a weekly period and an ETS trend (the
//! `augurs` crate), ETS alone for a series under two weeks, and under `min_history_days`
//! the 28-day average; and writes `horizon` days from tomorrow, with an 80% interval, to
//! `forecast_demand` under the run's day. The rows go in through load jobs into a staging
//! table and one transaction that deletes the day's earlier run and inserts this one, so
//! a second run of a day replaces the first and nothing doubles. The same transaction
//! deletes what earlier runs said of the days ahead, which this run supersedes: the
//! table keeps, for each day gone by, the forecast of the last run before it, and for the
//! days ahead only the latest run's, so that the views read one run's rows, not every
//! run's (a page's bytes on BigQuery).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use augurs::ets::AutoETS;
use augurs::mstl::MSTLModel;
use augurs::{Fit, Predict};
use chrono::{NaiveDate, Utc};
use rayon::prelude::*;
use serde_json::json;

use crate::model::DataModel;
use crate::platform::error::{Error, Result};
use crate::platform::gcp::{BIGQUERY, Gcp, ParamValue, QueryJob};
use crate::platform::progress::Progress;
use crate::platform::settings::TimeZone;

/// The table a run writes.
pub const TABLE: &str = "forecast_demand";
/// The same table from BigQuery ML (ARIMA_PLUS), an option for a scheduled query on
/// Google Cloud; the emulator cannot run it.
#[cfg(test)]
pub(crate) const ARIMA_SQL_FILE: &str = "scheduled/forecast_demand_arima.sql";
/// The daily units it reads (kept by the refresh from `sales_facts`).
pub(crate) const SOURCE_TABLE: &str = crate::model::UNITS_TABLE;
/// Days forecast, from tomorrow.
pub const DEFAULT_HORIZON: u32 = 28;
/// Days of history read, up to yesterday.
pub const DEFAULT_HISTORY_DAYS: u32 = 365;
/// Below this many days since a product's first sale, its forecast is the 28-day
/// average.
pub const DEFAULT_MIN_HISTORY_DAYS: u32 = 28;
/// The days averaged by [`Method::Mean28d`].
pub(crate) const MEAN_DAYS: usize = 28;
/// The weekly period of the seasonal model, in days.
pub(crate) const WEEK: usize = 7;
/// The prediction interval's level (`lower` and `upper`).
pub(crate) const LEVEL: f64 = 0.8;
/// Decimals of the forecast values written.
pub(crate) const UNITS_DECIMALS: usize = 3;
/// The most bytes of data one load job uploads (the rows of a run go in several).
const LOAD_CHUNK_BYTES: usize = 8 << 20;
const QUERY_TIMEOUT: Duration = Duration::from_secs(300);

/// How a product's forecast was made (`method` of `forecast_demand`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    /// MSTL, weekly period, with an AutoETS trend.
    MstlEts,
    /// AutoETS alone (a series under two weeks).
    Ets,
    /// The average of the last 28 days (a series under the minimum history, or one no
    /// model could fit).
    Mean28d,
}

impl Method {
    /// As the table stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::MstlEts => "mstl_ets",
            Method::Ets => "ets",
            Method::Mean28d => "mean_28d",
        }
    }
}

/// A run's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// [`DEFAULT_HORIZON`].
    pub horizon: u32,
    /// [`DEFAULT_HISTORY_DAYS`].
    pub history_days: u32,
    /// [`DEFAULT_MIN_HISTORY_DAYS`].
    pub min_history_days: u32,
    /// The dataset of the staging table (default: the run's dataset). On Google Cloud,
    /// Terraform gives the job a dataset of its own for it, so that the job may create
    /// and drop tables there and nowhere else.
    pub staging_dataset: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            horizon: DEFAULT_HORIZON,
            history_days: DEFAULT_HISTORY_DAYS,
            min_history_days: DEFAULT_MIN_HISTORY_DAYS,
            staging_dataset: None,
        }
    }
}

impl Options {
    /// Refuses settings that make no forecast, in one sentence naming the flag.
    pub fn check(&self) -> std::result::Result<(), String> {
        if !(1..=366).contains(&self.horizon) {
            return Err(format!("--horizon must be from 1 to 366 days, got {}", self.horizon));
        }
        if !(7..=3660).contains(&self.history_days) {
            return Err(format!(
                "--history-days must be from 7 to 3660, got {}",
                self.history_days
            ));
        }
        if self.min_history_days == 0 || self.min_history_days > self.history_days {
            return Err(format!(
                "--min-history-days must be from 1 to --history-days ({}), got {}",
                self.history_days, self.min_history_days
            ));
        }
        Ok(())
    }
}

/// One product's forecast, a value per day of the horizon.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductForecast {
    /// How it was made.
    pub method: Method,
    /// Forecast units per day, never below zero.
    pub units: Vec<f64>,
    /// The interval's lower bound per day (none for [`Method::Mean28d`]), never below zero.
    pub lower: Vec<Option<f64>>,
    /// The interval's upper bound per day.
    pub upper: Vec<Option<f64>>,
    /// Why a model was not used, when one could have been.
    pub fallback: Option<String>,
}

/// The forecast of one daily series, `horizon` days from the day after its last: `y`
/// holds the units of each day from the product's first sale on (zeros on days without
/// sales). MSTL with a weekly period and
/// an AutoETS trend from two weeks of history, AutoETS alone under that, and the
/// average of the last 28 days under `min_history` days or where no model fits.
pub(crate) fn forecast_series(y: &[f64], horizon: usize, min_history: usize) -> ProductForecast {
    let mean = |fallback: Option<String>| {
        let last = &y[y.len().saturating_sub(MEAN_DAYS)..];
        let avg = last.iter().sum::<f64>() / MEAN_DAYS as f64;
        ProductForecast {
            method: Method::Mean28d,
            units: vec![avg.max(0.0); horizon],
            lower: vec![None; horizon],
            upper: vec![None; horizon],
            fallback,
        }
    };
    if y.len() < min_history.max(1) {
        return mean(None);
    }
    let fitted: std::result::Result<(Method, augurs::Forecast), String> = if y.len() >= 2 * WEEK {
        MSTLModel::new(vec![WEEK], AutoETS::non_seasonal().into_trend_model())
            .fit(y)
            .map_err(|e| e.to_string())
            .and_then(|m| m.predict(horizon, LEVEL).map_err(|e| e.to_string()))
            .map(|f| (Method::MstlEts, f))
    } else {
        AutoETS::non_seasonal()
            .fit(y)
            .map_err(|e| e.to_string())
            .and_then(|m| m.predict(horizon, LEVEL).map_err(|e| e.to_string()))
            .map(|f| (Method::Ets, f))
    };
    match fitted {
        Ok((method, f)) if f.point.len() == horizon && f.point.iter().all(|v| v.is_finite()) => {
            let bound = |v: Option<&Vec<f64>>| -> Vec<Option<f64>> {
                (0..horizon)
                    .map(|i| v.and_then(|v| v.get(i)).filter(|x| x.is_finite()).map(|x| x.max(0.0)))
                    .collect()
            };
            ProductForecast {
                method,
                lower: bound(f.intervals.as_ref().map(|i| &i.lower)),
                upper: bound(f.intervals.as_ref().map(|i| &i.upper)),
                units: f.point.iter().map(|v| v.max(0.0)).collect(),
                fallback: None,
            }
        }
        Ok((method, _)) => mean(Some(format!("{} gave no finite forecast", method.as_str()))),
        Err(e) => mean(Some(e)),
    }
}

/// The daily series of each product from rows of (product, day, units): from its first
/// day with sales to `last`, zeros on the days between without.
pub fn series(rows: impl IntoIterator<Item = (String, NaiveDate, f64)>, last: NaiveDate) -> BTreeMap<String, Vec<f64>> {
    let mut days: BTreeMap<String, BTreeMap<NaiveDate, f64>> = BTreeMap::new();
    for (product, day, units) in rows {
        if day <= last {
            *days.entry(product).or_default().entry(day).or_default() += units;
        }
    }
    days.into_iter()
        .filter_map(|(product, by_day)| {
            let first = *by_day.keys().next()?;
            let n = (last - first).num_days() as usize + 1;
            let mut y = vec![0.0; n];
            for (day, units) in by_day {
                y[(day - first).num_days() as usize] = units;
            }
            Some((product, y))
        })
        .collect()
}

/// A forecast value as `forecast_demand` stores it: NUMERIC, to [`UNITS_DECIMALS`]
/// decimals (the model's float rounded once, so that every sum and every comparison
/// with the stock is exact, and the same in every reader).
pub(crate) fn units_text(v: f64) -> String {
    format!("{:.*}", UNITS_DECIMALS, v.max(0.0))
}

/// Every product's forecast, `opts.horizon` days from tomorrow: each series ends
/// yesterday, so its first step ahead is today, which `forecast_demand` does not hold;
/// it is forecast and dropped. On rayon's pool, a product a task; the caller waits (a
/// run has nothing else to do meanwhile). `progress` hears every 64th product.
pub fn forecast_all(
    series: BTreeMap<String, Vec<f64>>,
    opts: &Options,
    progress: &Progress,
) -> Vec<(String, ProductForecast)> {
    let horizon = opts.horizon as usize;
    let min_history = opts.min_history_days as usize;
    let done = AtomicU64::new(0);
    series
        .into_par_iter()
        .map(|(product, y)| {
            let mut f = forecast_series(&y, horizon + 1, min_history);
            for v in [&mut f.lower, &mut f.upper] {
                v.remove(0);
            }
            f.units.remove(0);
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_multiple_of(64) {
                progress.set(n, &product);
            }
            (product, f)
        })
        .collect()
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Ran {
    /// The run's day (today in the reporting time zone): `run_date` of its rows.
    pub run_date: NaiveDate,
    /// The history read, first and last day.
    pub history: (NaiveDate, NaiveDate),
    /// Products forecast, by method.
    pub by_method: BTreeMap<&'static str, u64>,
    /// Rows written.
    pub rows: u64,
    /// Rows of an earlier run of the same day that these replaced.
    pub replaced: u64,
    /// Rows of earlier days' runs for the days ahead, which this run superseded.
    pub superseded: u64,
}

impl Ran {
    /// Products forecast.
    pub fn products(&self) -> u64 {
        self.by_method.values().sum()
    }
}

/// One run: reads the history, forecasts every product with sales in it, and replaces
/// the day's run in `forecast_demand`.
pub async fn run(
    gcp: &Gcp,
    model: &DataModel,
    dataset: &str,
    zone: &TimeZone,
    opts: &Options,
    max_bytes_billed: Option<u64>,
) -> Result<Ran> {
    let now = Utc::now();
    let today = now.with_timezone(&zone.tz()).date_naive();
    let last = today.pred_opt().expect("a date has a day before it");
    let first = today - chrono::Duration::days(i64::from(opts.history_days));
    let bq = gcp.bigquery().await?;
    let p = &gcp.project;
    let table = model
        .table(TABLE)
        .ok_or_else(|| Error::model(DataModel::default_dir().join("schemas"), format!("has no {TABLE}.json")))?;

    let job = QueryJob {
        sql: format!(
            "SELECT product_id, CAST(sale_date AS STRING) AS day, units\n\
             FROM `{p}.{dataset}.{SOURCE_TABLE}`\n\
             WHERE sale_date BETWEEN @first AND @last"
        ),
        params: vec![
            ("first".into(), ParamValue::Date(first)),
            ("last".into(), ParamValue::Date(last)),
        ],
        max_bytes_billed,
    };
    let rows = bq.query_job(p, &job, QUERY_TIMEOUT).await?;
    let bad = |what: &str| {
        Error::api(
            BIGQUERY,
            "read",
            format!("{dataset}.{SOURCE_TABLE}"),
            format!("unreadable {what}"),
        )
    };
    let mut daily = Vec::with_capacity(rows.rows.len());
    for r in rows.rows {
        let [Some(product), Some(day), Some(units)] = <[Option<String>; 3]>::try_from(r).map_err(|_| bad("row"))?
        else {
            continue;
        };
        let day = NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|_| bad("sale_date"))?;
        let units: f64 = units.parse().map_err(|_| bad("units"))?;
        daily.push((product, day, units));
    }
    let series = series(daily, last);

    let horizon = opts.horizon as usize;
    let progress = Progress::new("forecast", "products", Some(series.len() as u64));
    let forecasts = forecast_all(series, opts, &progress);
    progress.finish(forecasts.len() as u64);

    let mut by_method = BTreeMap::new();
    let mut chunks: Vec<Vec<u8>> = vec![Vec::new()];
    let mut n_rows = 0u64;
    for (product, f) in &forecasts {
        *by_method.entry(f.method.as_str()).or_insert(0) += 1;
        if let Some(why) = &f.fallback {
            tracing::info!(message = "28-day average used", product_id = %product, reason = %why);
        }
        for i in 0..horizon {
            let day = today + chrono::Duration::days(i as i64 + 1);
            let row = json!({
                "run_date": today.to_string(),
                "product_id": product,
                "forecast_date": day.to_string(),
                "forecast_units": units_text(f.units[i]),
                "lower": f.lower[i].map(units_text),
                "upper": f.upper[i].map(units_text),
                "method": f.method.as_str(),
                "run_at": now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            });
            if chunks.last().is_some_and(|c| c.len() > LOAD_CHUNK_BYTES) {
                chunks.push(Vec::new());
            }
            let chunk = chunks.last_mut().expect("one chunk at least");
            serde_json::to_writer(&mut *chunk, &row).expect("a row always serialises");
            chunk.push(b'\n');
            n_rows += 1;
        }
    }

    let t = format!("`{p}.{dataset}.{TABLE}`");
    let day = vec![("run_date".to_string(), ParamValue::Date(today))];
    let earlier = bq
        .query_job(
            p,
            &QueryJob {
                sql: format!(
                    "SELECT COUNTIF(run_date = @run_date) AS same_day, COUNTIF(run_date < @run_date) AS earlier \
                     FROM {t} WHERE forecast_date > @run_date AND run_date <= @run_date"
                ),
                params: day,
                max_bytes_billed,
            },
            QUERY_TIMEOUT,
        )
        .await?;
    let counted = |i: usize| -> u64 {
        earlier
            .rows
            .first()
            .and_then(|r| r.get(i).cloned().flatten())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let (replaced, superseded) = (counted(0), counted(1));

    let (t, bq) = (&t, &bq);
    let staging_dataset = opts.staging_dataset.as_deref().unwrap_or(dataset);
    bq.with_staging_table(p, staging_dataset, TABLE, &table.columns, |staging| async move {
        for chunk in chunks.iter().filter(|c| !c.is_empty()) {
            let load = json!({
                "jobReference": {"projectId": p, "jobId": format!("instashop_forecast_{}", uuid::Uuid::new_v4().simple())},
                "configuration": {"load": {
                    "destinationTable": {"projectId": p, "datasetId": staging_dataset, "tableId": staging},
                    "schema": {"fields": table.columns},
                    "sourceFormat": "NEWLINE_DELIMITED_JSON",
                    "writeDisposition": "WRITE_APPEND",
                    "createDisposition": "CREATE_NEVER",
                }},
            });
            bq.run_job(
                p,
                "load",
                &format!("{staging_dataset}.{staging}"),
                &load,
                Some((chunk, "application/octet-stream")),
                QUERY_TIMEOUT,
            )
            .await?;
        }
        // The run's day is the one value, and the run computed it (a NaiveDate, never
        // text from outside), so it is a DATE literal here: the emulator takes no query
        // parameters in a multi-statement script.
        let s = format!("`{p}.{staging_dataset}.{staging}`");
        let sql = format!(
            "BEGIN TRANSACTION;\n\
             DELETE FROM {t} WHERE forecast_date > DATE '{today}' AND run_date <= DATE '{today}';\n\
             INSERT INTO {t} SELECT * FROM {s};\n\
             COMMIT TRANSACTION;"
        );
        bq.query(p, &sql, QUERY_TIMEOUT).await.map(|_| ())
    })
    .await?;
    Ok(Ran {
        run_date: today,
        history: (first, last),
        by_method,
        rows: n_rows,
        replaced,
        superseded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_steady_product_is_forecast_at_its_rate() {
        let y = vec![10.0; 56];
        let f = forecast_series(&y, 28, 28);
        assert_eq!(f.method, Method::MstlEts, "{:?}", f.fallback);
        assert_eq!(f.units.len(), 28);
        for u in &f.units {
            assert!((u - 10.0).abs() < 1.0, "{:?}", f.units);
        }
        assert!(f.lower.iter().zip(&f.upper).all(|(l, u)| l.unwrap() <= u.unwrap()));
    }

    #[test]
    fn a_weekly_pattern_is_kept_in_the_forecast() {
        // Day 0 is a Monday; Saturdays (5 mod 7) sell three times the other days.
        let y: Vec<f64> = (0..84).map(|i| if i % 7 == 5 { 30.0 } else { 10.0 }).collect();
        let f = forecast_series(&y, 14, 28);
        assert_eq!(f.method, Method::MstlEts);
        // The first forecast day follows day 83, so it is day 84 (a Monday).
        let saturday = f.units[5];
        let tuesday = f.units[1];
        assert!(
            saturday >= 2.0 * tuesday,
            "Saturday {saturday}, Tuesday {tuesday}: {:?}",
            f.units
        );
    }

    #[test]
    fn a_short_history_is_the_28_day_average_and_a_short_fit_is_ets() {
        let f = forecast_series(&[7.0; 10], 5, 28);
        assert_eq!(f.method, Method::Mean28d);
        assert_eq!(f.units, vec![70.0 / 28.0; 5]);
        assert_eq!(f.lower, vec![None; 5]);
        let f = forecast_series(&[3.0, 4.0, 5.0, 4.0, 3.0, 4.0, 5.0, 4.0, 3.0, 4.0], 5, 7);
        assert_eq!(f.method, Method::Ets, "{:?}", f.fallback);
        assert!(f.units.iter().all(|u| (2.0..6.0).contains(u)), "{:?}", f.units);
    }

    #[test]
    fn a_forecast_never_goes_below_zero() {
        let y: Vec<f64> = (0..60).map(|i| (60 - i) as f64).collect();
        let f = forecast_series(&y, 60, 28);
        assert!(f.units.iter().all(|u| *u >= 0.0), "{:?}", f.units);
        assert!(f.lower.iter().flatten().all(|u| *u >= 0.0));
    }

    #[test]
    fn a_series_runs_from_the_first_sale_with_zeros_between() {
        let s = series(
            [
                ("P1".to_string(), day("2026-01-03"), 2.0),
                ("P1".to_string(), day("2026-01-05"), 4.0),
                ("P1".to_string(), day("2026-01-05"), 1.0),
                ("P2".to_string(), day("2026-01-06"), 9.0),
                ("P3".to_string(), day("2026-01-07"), 9.0),
            ],
            day("2026-01-06"),
        );
        assert_eq!(s["P1"], vec![2.0, 0.0, 5.0, 0.0]);
        assert_eq!(s["P2"], vec![9.0]);
        assert!(!s.contains_key("P3"), "a day after the last is not history");
    }

    #[test]
    fn the_bigquery_ml_option_fills_its_variables_and_writes_every_column() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bigquery");
        let model = DataModel::load(&dir).unwrap();
        let sql = crate::model::render(&std::fs::read_to_string(dir.join(ARIMA_SQL_FILE)).unwrap(), "p", "d");
        assert!(!sql.contains("${"), "a variable is left: {sql}");
        let columns: Vec<&str> = model
            .table(TABLE)
            .unwrap()
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let list = format!("`p.d.{TABLE}`\n  ({})", columns.join(", "));
        assert!(sql.contains(&list), "the INSERT names {list}");
        assert!(
            sql.contains("WHERE forecast_date > today AND run_date <= today"),
            "it replaces the day's run and supersedes earlier runs' days ahead, as the binary does"
        );
    }

    #[test]
    fn values_are_written_as_three_decimals_never_negative() {
        assert_eq!(units_text(10.0), "10.000");
        assert_eq!(units_text(2.0 / 3.0), "0.667");
        assert_eq!(units_text(-0.2), "0.000");
    }

    #[test]
    fn settings_that_make_no_forecast_are_refused_by_flag() {
        assert!(Options::default().check().is_ok());
        let bad = Options {
            horizon: 0,
            ..Options::default()
        };
        assert!(bad.check().unwrap_err().starts_with("--horizon"));
        let bad = Options {
            min_history_days: 400,
            ..Options::default()
        };
        assert!(bad.check().unwrap_err().starts_with("--min-history-days"));
    }
}
