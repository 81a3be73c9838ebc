//! The period and the slice a dashboard page is read for, as its URL states them: the
//! contract of the pages and of the chart API alike.
//!
//! - `from=YYYY-MM-DD`, `to=YYYY-MM-DD`: inclusive, days of the reporting time zone.
//!   With neither, the page's default range ([`Preset`]) applies; `to` alone reads from
//!   the first sale; `from` alone reads up to today.
//! - `compare=previous|year`: the same number of days just before `from`, or the same
//!   days a year earlier.
//! - `source=`, `country=`, `category=`, `plan=` ([`FILTERS`]), each repeatable: keep
//!   the sales with any of the values.
//!
//! [`Selection::parse`] is strict: an unknown or repeated parameter, a bad date, `from`
//! after `to`, an empty value or an unknown `compare` is a [`BadParameter`] naming it,
//! which the dashboard answers with a 400. Whether a filter's value exists is checked
//! against the data ([`Selection::check_values`]). Values never reach SQL text: the
//! chart queries carry them as named query parameters ([`crate::dashboard::report::Chart::query`]).

use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// The dimension filters every page offers, in the order the page shows them.
pub const FILTERS: [&str; 4] = ["source", "country", "category", "plan"];

/// Most values one filter may name.
pub(crate) const MAX_VALUES: usize = 100;

/// A date-range preset of the date-range control. "Last N days" are the N days ending
/// today; months and years are calendar ones, up to today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// Today only.
    Today,
    /// The 7 days ending today.
    #[serde(rename = "last_7_days")]
    Last7Days,
    /// The 28 days ending today (Looker Studio's default).
    #[serde(rename = "last_28_days")]
    Last28Days,
    /// The 90 days ending today.
    #[serde(rename = "last_90_days")]
    Last90Days,
    /// From the first of this month to today.
    ThisMonth,
    /// The whole of last month.
    LastMonth,
    /// From the first of January to today.
    ThisYear,
    /// Every day up to today.
    AllTime,
}

impl Preset {
    /// Every preset, in the control's order.
    pub const ALL: [Preset; 8] = [
        Preset::Today,
        Preset::Last7Days,
        Preset::Last28Days,
        Preset::Last90Days,
        Preset::ThisMonth,
        Preset::LastMonth,
        Preset::ThisYear,
        Preset::AllTime,
    ];

    /// Its days when today is `today`: `from` (`None`: from the first sale) and `to`.
    pub fn range(self, today: NaiveDate) -> (Option<NaiveDate>, NaiveDate) {
        let days_back = |n: u64| {
            today
                .checked_sub_days(chrono::Days::new(n - 1))
                .unwrap_or(NaiveDate::MIN)
        };
        let first_of_month = today.with_day(1).expect("every month has a day 1");
        match self {
            Preset::Today => (Some(today), today),
            Preset::Last7Days => (Some(days_back(7)), today),
            Preset::Last28Days => (Some(days_back(28)), today),
            Preset::Last90Days => (Some(days_back(90)), today),
            Preset::ThisMonth => (Some(first_of_month), today),
            Preset::LastMonth => {
                let last = first_of_month.pred_opt().unwrap_or(NaiveDate::MIN);
                (Some(last.with_day(1).expect("day 1")), last)
            }
            Preset::ThisYear => (
                Some(NaiveDate::from_ymd_opt(today.year(), 1, 1).expect("1 January")),
                today,
            ),
            Preset::AllTime => (None, today),
        }
    }

    /// How the definition spells it (`last_28_days`).
    pub fn id(self) -> String {
        crate::dashboard::report::spelling(&self)
    }
}

/// What the page's figures are compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    /// The same number of days just before `from`.
    Previous,
    /// The same days one year earlier.
    Year,
}

/// A parameter the page or chart API cannot take: its name and why, for a 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadParameter {
    /// The parameter as the URL names it.
    pub name: String,
    /// One sentence: what is wrong and what it takes.
    pub reason: String,
}

impl std::fmt::Display for BadParameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "parameter {}: {}", self.name, self.reason)
    }
}

/// A range of days, inclusive; `from: None` starts at the first sale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Range {
    /// The first day, or none (from the first sale).
    pub from: Option<NaiveDate>,
    /// The last day.
    pub to: NaiveDate,
}

/// The period, comparison and filters of one page view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// The days read.
    pub range: Range,
    /// The days compared with, if any.
    pub compare: Option<Compare>,
    /// Filter → the values kept (each filter of [`FILTERS`] at most once, values in the
    /// URL's order, without repeats).
    pub filters: BTreeMap<String, Vec<String>>,
}

fn date(name: &str, value: &str) -> Result<NaiveDate, BadParameter> {
    let bad = || BadParameter {
        name: name.into(),
        reason: format!("{value:?} is not a date: write YYYY-MM-DD, for example 2026-11-30"),
    };
    if value.len() != 10 {
        return Err(bad());
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| bad())
}

impl Selection {
    /// The selection a page URL's query pairs state, with `default` the page's preset
    /// and `today` today in the reporting time zone.
    pub fn parse(
        pairs: &[(String, String)],
        default: Preset,
        default_compare: Option<Compare>,
        today: NaiveDate,
    ) -> Result<Selection, BadParameter> {
        let mut from = None;
        let mut to = None;
        let mut compare = None;
        let mut filters: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let once = |name: &str, seen: bool| {
            if seen {
                Err(BadParameter {
                    name: name.into(),
                    reason: "is given twice; give it once".into(),
                })
            } else {
                Ok(())
            }
        };
        for (name, value) in pairs {
            match name.as_str() {
                "from" => {
                    once(name, from.is_some())?;
                    from = Some(date(name, value)?);
                }
                "to" => {
                    once(name, to.is_some())?;
                    to = Some(date(name, value)?);
                }
                "compare" => {
                    once(name, compare.is_some())?;
                    compare = Some(match value.as_str() {
                        "previous" => Compare::Previous,
                        "year" => Compare::Year,
                        _ => {
                            return Err(BadParameter {
                                name: name.clone(),
                                reason: format!("{value:?} is not a comparison: use previous or year"),
                            });
                        }
                    });
                }
                f if FILTERS.contains(&f) => {
                    if value.is_empty() {
                        return Err(BadParameter {
                            name: name.clone(),
                            reason: "is empty: name a value, or leave the parameter out".into(),
                        });
                    }
                    let values = filters.entry(f.to_string()).or_default();
                    if !values.contains(value) {
                        values.push(value.clone());
                    }
                    if values.len() > MAX_VALUES {
                        return Err(BadParameter {
                            name: name.clone(),
                            reason: format!("names more than {MAX_VALUES} values"),
                        });
                    }
                }
                _ => {
                    return Err(BadParameter {
                        name: name.clone(),
                        reason: format!(
                            "is not a parameter of this page: it takes from, to, compare, {}",
                            FILTERS.join(", ")
                        ),
                    });
                }
            }
        }
        let range = match (from, to) {
            (None, None) => {
                let (from, to) = default.range(today);
                Range { from, to }
            }
            (from, to) => Range {
                from,
                to: to.unwrap_or(today.max(from.unwrap_or(today))),
            },
        };
        if let Some(f) = range.from
            && f > range.to
        {
            return Err(BadParameter {
                name: "from".into(),
                reason: format!(
                    "{f} is after to ({}): the range runs from its first day to its last",
                    range.to
                ),
            });
        }
        let compare = if pairs.iter().any(|(n, _)| n == "compare") || from.is_some() || to.is_some() {
            compare
        } else {
            default_compare
        };
        if compare.is_some() && range.from.is_none() {
            return Err(BadParameter {
                name: "compare".into(),
                reason: "needs a range with a first day (from): all time has no period before it".into(),
            });
        }
        Ok(Selection {
            range,
            compare,
            filters,
        })
    }

    /// The days compared with: [`Compare::Previous`] the same number of days just before
    /// `from`; [`Compare::Year`] the same days a year earlier (29 February to the 28th).
    pub fn compared(&self) -> Option<Range> {
        let from = self.range.from?;
        let to = self.range.to;
        match self.compare? {
            Compare::Previous => {
                let days = (to - from).num_days() as u64 + 1;
                Some(Range {
                    from: Some(from.checked_sub_days(chrono::Days::new(days))?),
                    to: from.pred_opt()?,
                })
            }
            Compare::Year => Some(Range {
                from: Some(from.checked_sub_months(Months::new(12))?),
                to: to.checked_sub_months(Months::new(12))?,
            }),
        }
    }

    /// Checks every filter value against `known` (filter → its values, from the data);
    /// an unknown value is a [`BadParameter`] that names it.
    pub(crate) fn check_values(&self, known: &BTreeMap<String, Vec<String>>) -> Result<(), BadParameter> {
        for (f, values) in &self.filters {
            let have = known.get(f).map(Vec::as_slice).unwrap_or_default();
            if let Some(v) = values.iter().find(|v| !have.contains(v)) {
                return Err(BadParameter {
                    name: f.clone(),
                    reason: format!("no {f} is named {v:?} in the data"),
                });
            }
        }
        Ok(())
    }

    /// The query pairs that state this selection (the page's links and downloads).
    #[cfg(test)]
    pub(crate) fn to_pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(f) = self.range.from {
            out.push(("from".into(), f.to_string()));
        }
        out.push(("to".into(), self.range.to.to_string()));
        if let Some(c) = self.compare {
            out.push(("compare".into(), crate::dashboard::report::spelling(&c)));
        }
        for f in FILTERS {
            for v in self.filters.get(f).into_iter().flatten() {
                out.push((f.into(), v.clone()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn parse(q: &[(&str, &str)]) -> Result<Selection, BadParameter> {
        let pairs: Vec<(String, String)> = q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Selection::parse(&pairs, Preset::Last28Days, None, d("2026-12-02"))
    }

    #[test]
    fn presets_end_today_in_calendar_terms() {
        let today = d("2026-03-10");
        let r = |p: Preset| p.range(today);
        assert_eq!(r(Preset::Today), (Some(today), today));
        assert_eq!(r(Preset::Last7Days), (Some(d("2026-03-04")), today));
        assert_eq!(r(Preset::Last28Days), (Some(d("2026-02-11")), today));
        assert_eq!(r(Preset::Last90Days), (Some(d("2025-12-11")), today));
        assert_eq!(r(Preset::ThisMonth), (Some(d("2026-03-01")), today));
        assert_eq!(r(Preset::LastMonth), (Some(d("2026-02-01")), d("2026-02-28")));
        assert_eq!(r(Preset::ThisYear), (Some(d("2026-01-01")), today));
        assert_eq!(r(Preset::AllTime), (None, today));
        assert_eq!(Preset::LastMonth.range(d("2026-01-15")).0, Some(d("2025-12-01")));
        assert_eq!(Preset::Last28Days.id(), "last_28_days");
    }

    #[test]
    fn a_url_states_the_range_the_comparison_and_the_filters() {
        let s = parse(&[
            ("from", "2026-10-01"),
            ("to", "2026-10-31"),
            ("compare", "previous"),
            ("country", "Chile"),
            ("country", "Perú"),
            ("country", "Chile"),
            ("plan", "O'Brien \"Ñ\""),
        ])
        .unwrap();
        assert_eq!(
            s.range,
            Range {
                from: Some(d("2026-10-01")),
                to: d("2026-10-31")
            }
        );
        assert_eq!(s.filters["country"], ["Chile", "Perú"]);
        assert_eq!(s.filters["plan"], ["O'Brien \"Ñ\""]);
        assert_eq!(
            s.compared(),
            Some(Range {
                from: Some(d("2026-08-31")),
                to: d("2026-09-30")
            })
        );
        let year = Selection {
            compare: Some(Compare::Year),
            ..s.clone()
        };
        assert_eq!(
            year.compared(),
            Some(Range {
                from: Some(d("2025-10-01")),
                to: d("2025-10-31")
            })
        );
        let leap = parse(&[("from", "2028-02-29"), ("to", "2028-02-29"), ("compare", "year")]).unwrap();
        assert_eq!(
            leap.compared(),
            Some(Range {
                from: Some(d("2027-02-28")),
                to: d("2027-02-28")
            })
        );
        // The pairs state the same selection again.
        let again: Vec<(String, String)> = s.to_pairs();
        let pairs: Vec<(&str, &str)> = again.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(parse(&pairs).unwrap(), s);
    }

    #[test]
    fn without_dates_the_page_default_applies_and_one_end_opens_the_range() {
        let s = parse(&[]).unwrap();
        assert_eq!(
            s.range,
            Range {
                from: Some(d("2026-11-05")),
                to: d("2026-12-02")
            }
        );
        assert_eq!(s.compare, None);
        let pairs: Vec<(String, String)> = vec![];
        let with = Selection::parse(&pairs, Preset::Today, Some(Compare::Previous), d("2026-12-02")).unwrap();
        assert_eq!(with.compare, Some(Compare::Previous), "the page's default comparison");
        assert_eq!(
            parse(&[("to", "2026-01-31")]).unwrap().range,
            Range {
                from: None,
                to: d("2026-01-31")
            }
        );
        assert_eq!(
            parse(&[("from", "2026-11-20")]).unwrap().range,
            Range {
                from: Some(d("2026-11-20")),
                to: d("2026-12-02")
            }
        );
    }

    #[test]
    fn every_bad_parameter_is_named_with_what_it_takes() {
        for (q, name, says) in [
            (vec![("form", "2026-01-01")], "form", "is not a parameter of this page"),
            (vec![("from", "2026-13-01")], "from", "is not a date: write YYYY-MM-DD"),
            (vec![("from", "2026-1-1")], "from", "is not a date"),
            (vec![("to", "' OR 1=1 --")], "to", "is not a date"),
            (
                vec![("from", "2026-02-01"), ("to", "2026-01-01")],
                "from",
                "is after to (2026-01-01)",
            ),
            (
                vec![("from", "2026-01-01"), ("from", "2026-01-02")],
                "from",
                "is given twice",
            ),
            (vec![("compare", "lastweek")], "compare", "use previous or year"),
            (
                vec![("to", "2026-01-01"), ("compare", "previous")],
                "compare",
                "needs a range with a first day",
            ),
            (vec![("country", "")], "country", "is empty"),
        ] {
            let err = parse(&q).unwrap_err();
            assert_eq!(err.name, name, "{q:?}");
            assert!(err.reason.contains(says), "{q:?}: {err}");
        }
    }

    #[test]
    fn a_filter_value_must_exist_in_the_data() {
        let known: BTreeMap<String, Vec<String>> =
            [("country".to_string(), vec!["Chile".to_string(), "Perú".to_string()])].into();
        parse(&[("country", "Perú")]).unwrap().check_values(&known).unwrap();
        let err = parse(&[("country", "' OR 1=1 --")])
            .unwrap()
            .check_values(&known)
            .unwrap_err();
        assert_eq!(err.name, "country");
        assert!(err.reason.contains(r#"no country is named "' OR 1=1 --""#), "{err}");
        let err = parse(&[("plan", "Gold")]).unwrap().check_values(&known).unwrap_err();
        assert_eq!(err.name, "plan");
    }
}
