//! The alerts' thresholds: template variables of the alert views, which the model fills
//! when a view is created and `alerts` when it evaluates.

use rust_decimal::Decimal;

/// The thresholds of the alerts: template variables of the alert views (named as in
/// [`Thresholds::VARS`]), filled with [`Thresholds::default`] when a view is created and
/// with the `alerts` flags when it evaluates. Terraform's `alert_thresholds` variable
/// has the same defaults (`tests/terraform.rs` checks it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    /// Failed share of the last hour's orders, in percent, at or above which it fires.
    pub failed_payment_pct: Decimal,
    /// ... and at least this many times the trailing 28-day share.
    pub failed_payment_factor: Decimal,
    /// ... over at least this many orders in the hour.
    pub failed_payment_min_orders: u32,
    /// Standard deviations from the weekly mean at which revenue fires.
    pub revenue_z: Decimal,
    /// ... and at least this percent of the mean.
    pub revenue_min_change_pct: Decimal,
    /// Earlier weeks with sales needed before revenue is judged (2 to 8).
    pub revenue_min_weeks: u32,
    /// The supplier's lead time in days: a product whose days of cover are under it
    /// fires `stockout_risk`; with the review period, the days a reorder covers
    /// (`v_inventory_forecast`).
    pub stockout_lead_days: u32,
    /// The review period in days: how long until the stock is looked at again, which a
    /// reorder covers beyond the lead time.
    pub stockout_review_days: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            failed_payment_pct: Decimal::from(20),
            failed_payment_factor: Decimal::from(2),
            failed_payment_min_orders: 20,
            revenue_z: Decimal::from(3),
            revenue_min_change_pct: Decimal::from(30),
            revenue_min_weeks: 4,
            stockout_lead_days: 7,
            stockout_review_days: 7,
        }
    }
}

impl Thresholds {
    /// The template variables, in the order of [`Thresholds::values`].
    pub(crate) const VARS: [&'static str; 8] = [
        "alert_failed_payment_pct",
        "alert_failed_payment_factor",
        "alert_failed_payment_min_orders",
        "alert_revenue_z",
        "alert_revenue_min_change_pct",
        "alert_revenue_min_weeks",
        "alert_stockout_lead_days",
        "alert_stockout_review_days",
    ];

    /// Each variable with its value as SQL text.
    pub fn values(&self) -> [(&'static str, String); 8] {
        let [a, b, c, d, e, f, g, h] = Self::VARS;
        [
            (a, self.failed_payment_pct.normalize().to_string()),
            (b, self.failed_payment_factor.normalize().to_string()),
            (c, self.failed_payment_min_orders.to_string()),
            (d, self.revenue_z.normalize().to_string()),
            (e, self.revenue_min_change_pct.normalize().to_string()),
            (f, self.revenue_min_weeks.to_string()),
            (g, self.stockout_lead_days.to_string()),
            (h, self.stockout_review_days.to_string()),
        ]
    }

    /// Refuses thresholds that make no alert meaningful, in one sentence naming the flag.
    pub fn check(&self) -> std::result::Result<(), String> {
        let pct = |flag: &str, v: Decimal, lo: Decimal| {
            if v < lo || v > Decimal::from(100) {
                Err(format!("{flag} must be from {lo} to 100 (a percent), got {v}"))
            } else {
                Ok(())
            }
        };
        pct("--failed-payment-pct", self.failed_payment_pct, Decimal::new(1, 2))?;
        pct("--revenue-min-change-pct", self.revenue_min_change_pct, Decimal::ZERO)?;
        if self.failed_payment_factor < Decimal::ZERO {
            return Err(format!(
                "--failed-payment-factor must be 0 or more (0 ignores the trailing share), got {}",
                self.failed_payment_factor
            ));
        }
        if self.failed_payment_min_orders == 0 {
            return Err("--failed-payment-min-orders must be at least 1".into());
        }
        if self.revenue_z <= Decimal::ZERO {
            return Err(format!(
                "--revenue-z must be more than 0 standard deviations, got {}",
                self.revenue_z
            ));
        }
        if !(2..=8).contains(&self.revenue_min_weeks) {
            return Err(format!(
                "--revenue-min-weeks must be from 2 to 8 (the band needs two weeks and looks back eight), got {}",
                self.revenue_min_weeks
            ));
        }
        if !(1..=365).contains(&self.stockout_lead_days) {
            return Err(format!(
                "--stockout-lead-days must be from 1 to 365, got {}",
                self.stockout_lead_days
            ));
        }
        if self.stockout_review_days > 365 {
            return Err(format!(
                "--stockout-review-days must be from 0 to 365, got {}",
                self.stockout_review_days
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_render_as_sql_numbers_and_bad_ones_are_refused_naming_the_flag() {
        let t = Thresholds::default();
        assert_eq!(t.check(), Ok(()));
        let vals: Vec<String> = t.values().iter().map(|v| v.1.clone()).collect();
        assert_eq!(vals, ["20", "2", "20", "3", "30", "4", "7", "7"]);
        let bad = |f: fn(&mut Thresholds)| {
            let mut t = Thresholds::default();
            f(&mut t);
            t.check().unwrap_err()
        };
        assert!(bad(|t| t.failed_payment_pct = Decimal::from(150)).starts_with("--failed-payment-pct must be"));
        assert!(bad(|t| t.failed_payment_pct = Decimal::ZERO).starts_with("--failed-payment-pct"));
        assert!(bad(|t| t.failed_payment_factor = Decimal::from(-1)).starts_with("--failed-payment-factor"));
        assert!(bad(|t| t.failed_payment_min_orders = 0).starts_with("--failed-payment-min-orders"));
        assert!(bad(|t| t.revenue_z = Decimal::ZERO).starts_with("--revenue-z"));
        assert!(bad(|t| t.stockout_lead_days = 0).starts_with("--stockout-lead-days"));
        assert!(bad(|t| t.stockout_review_days = 400).starts_with("--stockout-review-days"));
        assert!(bad(|t| t.revenue_min_change_pct = Decimal::from(101)).starts_with("--revenue-min-change-pct"));
        assert!(bad(|t| t.revenue_min_weeks = 1).starts_with("--revenue-min-weeks"));
    }
}
