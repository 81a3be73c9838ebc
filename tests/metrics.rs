//! Issue 16: every chart of `looker/report.json` equals an independent computation, by
//! the definitions of `docs/metrics.md`, in the shop's own calendar (America/Santiago).
//!
//! The test makes a history (CSVs) and live sales (events) in which every rule bites:
//! failed and refunded orders in both sources (and orders with no status, which count as
//! completed), a live sale at 23:30 local time (02:30 or 03:30 UTC the next day), an order
//! that both the batch export and the stream carry, an inventory snapshot taken halfway
//! through the live sales, customers who share a name, an event re-sent with changed
//! content, an exact duplicate, and a burst of failed payments that reaches BigQuery late
//! (old event times, fresh ingest). It loads and streams them through the binaries, then
//! reads each chart from the dashboard's chart API.
//!
//! The expected figures come from [`Reference`]: the views computed here in Rust from the
//! test's own data, not from BigQuery, with a chart's definition (dimensions, aggregation,
//! filters, sort and limit) applied to them. Each rule is a switch of [`Rules`]; the test
//! proves that turning any one off changes at least one chart, so a view that lacked the
//! rule would fail the comparison.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

const ZONE: &str = "America/Santiago";
const NAMES: [&str; 12] = [
    "Valentina Rojas",
    "Matías Pérez",
    "Camila Soto",
    "Benjamín Díaz",
    "Ana \"La Rápida\" Díaz",
    "José Peña, hijo",
    "Sofía Muñoz",
    "Lucas Silva",
    "Isidora Torres",
    "Tomás Vera",
    "Martina López",
    "Agustín Castro",
];
const COUNTRIES: [&str; 5] = ["Chile", "Argentina", "Perú", "Colombia", "México"];
const PLANS: [&str; 3] = ["Basic", "Premium", "Enterprise"];
const CATEGORIES: [&str; 5] = ["Electronics", "Home", "Sports", "Toys", "Books"];
const METHODS: [&str; 4] = ["credit_card", "debit_card", "paypal", "bank_transfer"];
const WAREHOUSES: [&str; 3] = ["Santiago", "Lima", "Bogotá"];

// ---------------------------------------------------------------------------------------
// The data the test makes.

struct Customer {
    id: String,
    name: String,
    country: String,
    plan: String,
}

struct Product {
    id: String,
    name: String,
    category: String,
    price: Decimal,
}

struct Order {
    id: String,
    customer: String,
    date: NaiveDate,
    /// Empty: the CSV leaves it out (NULL).
    method: String,
    /// Empty: no status, which counts as completed.
    status: String,
}

struct Item {
    order: String,
    product: String,
    qty: i64,
    price: Decimal,
}

struct Stock {
    product: String,
    warehouse: String,
    stock: i64,
    reorder: i64,
}

struct History {
    customers: Vec<Customer>,
    products: Vec<Product>,
    orders: Vec<Order>,
    items: Vec<Item>,
    inventory: Vec<Stock>,
    snapshot: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
struct Event {
    event_id: String,
    order_id: String,
    customer_id: String,
    product_id: String,
    qty: i64,
    unit_price: Decimal,
    ts: DateTime<Utc>,
    method: Option<String>,
    status: Option<String>,
}

impl Event {
    fn payload(&self) -> String {
        let mut p = format!(
            r#"{{"event_id":"{}","order_id":"{}","customer_id":"{}","product_id":"{}","qty":{},"unit_price":{},"event_ts":"{}""#,
            self.event_id,
            self.order_id,
            self.customer_id,
            self.product_id,
            self.qty,
            self.unit_price,
            self.ts.format("%Y-%m-%d %H:%M:%S")
        );
        if let Some(m) = &self.method {
            p.push_str(&format!(r#","payment_method":"{m}""#));
        }
        if let Some(s) = &self.status {
            p.push_str(&format!(r#","payment_status":"{s}""#));
        }
        p.push('}');
        p
    }

    fn amount(&self) -> Decimal {
        Decimal::from(self.qty) * self.unit_price
    }
}

/// The first instant of a day in `tz`: its midnight, or where a clock change skips
/// midnight (Chile's, in September), the moment the day begins, midnight at the offset
/// before the change.
fn day_start(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap();
    match tz.from_local_datetime(&midnight).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => {
            let before = tz
                .from_local_datetime(&(midnight - Duration::hours(1)))
                .earliest()
                .unwrap();
            before.with_timezone(&Utc) + Duration::hours(1)
        }
    }
}

fn local_today(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// The history: 40 customers whose names repeat, 24 products, 320 orders over 150 days
/// with every status, and one inventory snapshot two hours ago. Within the last 60 days,
/// no order falls on a day a whole number of weeks ago (so the revenue-anomaly alert has
/// no earlier weeks to judge by, even if the test runs across midnight).
fn history(now: DateTime<Utc>, tz: Tz) -> History {
    let mut rng = StdRng::seed_from_u64(16);
    let today = local_today(now, tz);
    let customers: Vec<Customer> = (1..=40)
        .map(|i| Customer {
            id: format!("C{i:03}"),
            name: NAMES[i % NAMES.len()].to_string(),
            country: COUNTRIES[rng.random_range(0..COUNTRIES.len())].to_string(),
            plan: PLANS[rng.random_range(0..PLANS.len())].to_string(),
        })
        .collect();
    let products: Vec<Product> = (1..=24)
        .map(|i| Product {
            id: format!("P{i:02}"),
            name: format!("Producto {i}"),
            category: CATEGORIES[i % CATEGORIES.len()].to_string(),
            price: Decimal::new(rng.random_range(500..50_000), 2),
        })
        .collect();
    let mut orders = Vec::new();
    let mut items = Vec::new();
    for i in 1..=320 {
        let days_ago = loop {
            let d: i64 = rng.random_range(1..=150);
            if d > 60 || [2, 3, 4].contains(&(d % 7)) {
                break d;
            }
        };
        let roll = rng.random_range(0..100);
        let status = match roll {
            0..70 => "completed",
            70..82 => "failed",
            82..92 => "refunded",
            _ => "",
        };
        let method = if status.is_empty() {
            ""
        } else {
            METHODS[rng.random_range(0..METHODS.len())]
        };
        let id = format!("O{i:04}");
        // The last customer never buys.
        let customer = customers[rng.random_range(0..customers.len() - 1)].id.clone();
        for _ in 0..rng.random_range(1..=3) {
            let p = &products[rng.random_range(0..products.len())];
            let price = if rng.random_bool(0.3) {
                (p.price * Decimal::new(9, 1)).round_dp(2)
            } else {
                p.price
            };
            items.push(Item {
                order: id.clone(),
                product: p.id.clone(),
                qty: rng.random_range(1..=4),
                price,
            });
        }
        orders.push(Order {
            id,
            customer,
            date: today - Duration::days(days_ago),
            method: method.into(),
            status: status.into(),
        });
    }
    let mut inventory: Vec<Stock> = products
        .iter()
        .flat_map(|p| WAREHOUSES.iter().map(move |w| (p, w)))
        .map(|(p, w)| Stock {
            product: p.id.clone(),
            warehouse: w.to_string(),
            stock: rng.random_range(0..40),
            reorder: rng.random_range(3..15),
        })
        .collect();
    // The best seller of the last 28 days is down to one unit, so the stock-out alert
    // has a product to fire on (its cover: 28 / its units, under the 7-day lead time).
    let mut recent: BTreeMap<&str, i64> = BTreeMap::new();
    for i in &items {
        let o = orders.iter().find(|o| o.id == i.order).unwrap();
        if o.date >= today - Duration::days(28) && matches!(o.status.as_str(), "completed" | "") {
            *recent.entry(i.product.as_str()).or_default() += i.qty;
        }
    }
    let best = recent
        .iter()
        .max_by_key(|(p, n)| (**n, std::cmp::Reverse(**p)))
        .map(|(p, _)| p.to_string())
        .unwrap();
    for (n, s) in inventory.iter_mut().filter(|s| s.product == best).enumerate() {
        s.stock = i64::from(n == 0);
    }
    let snapshot = DateTime::from_timestamp(now.timestamp() - 2 * 3600, 0).unwrap();
    History {
        customers,
        products,
        orders,
        items,
        inventory,
        snapshot,
    }
}

fn write_csvs(h: &History, dir: &Path) {
    let mut w = csv::Writer::from_path(dir.join("customers.csv")).unwrap();
    w.write_record(["customer_id", "name", "country", "signup_date", "plan"])
        .unwrap();
    for c in &h.customers {
        w.write_record([&c.id, &c.name, &c.country, "2024-01-01", &c.plan])
            .unwrap();
    }
    w.flush().unwrap();
    let mut w = csv::Writer::from_path(dir.join("products.csv")).unwrap();
    w.write_record(["product_id", "category", "price", "name"]).unwrap();
    for p in &h.products {
        w.write_record([&p.id, &p.category, &p.price.to_string(), &p.name])
            .unwrap();
    }
    w.flush().unwrap();
    let mut w = csv::Writer::from_path(dir.join("orders.csv")).unwrap();
    w.write_record(["order_id", "customer_id", "order_date", "payment_method", "status"])
        .unwrap();
    for o in &h.orders {
        w.write_record([&o.id, &o.customer, &o.date.to_string(), &o.method, &o.status])
            .unwrap();
    }
    w.flush().unwrap();
    let mut w = csv::Writer::from_path(dir.join("order_items.csv")).unwrap();
    w.write_record(["order_id", "product_id", "qty", "unit_price"]).unwrap();
    for i in &h.items {
        w.write_record([&i.order, &i.product, &i.qty.to_string(), &i.price.to_string()])
            .unwrap();
    }
    w.flush().unwrap();
    let mut w = csv::Writer::from_path(dir.join("inventory.csv")).unwrap();
    w.write_record(["product_id", "warehouse", "stock", "reorder_point", "snapshot_ts"])
        .unwrap();
    for s in &h.inventory {
        w.write_record([
            &s.product,
            &s.warehouse,
            &s.stock.to_string(),
            &s.reorder.to_string(),
            &h.snapshot.to_rfc3339(),
        ])
        .unwrap();
    }
    w.flush().unwrap();
}

/// The live sales: the first batch of messages, and the re-send with changed content
/// published after the first version is in BigQuery.
struct Live {
    first: Vec<Event>,
    resend: Event,
}

fn live(now: DateTime<Utc>, tz: Tz, h: &History) -> Live {
    let mut rng = StdRng::seed_from_u64(61);
    let mut first = Vec::new();
    let order = |rng: &mut StdRng, id: &str, ts: DateTime<Utc>, status: Option<&str>, out: &mut Vec<Event>| {
        let customer = &h.customers[rng.random_range(0..h.customers.len() - 1)];
        let method = status.map(|_| METHODS[rng.random_range(0..METHODS.len())].to_string());
        for _ in 0..rng.random_range(1..=2) {
            let p = &h.products[rng.random_range(0..h.products.len())];
            out.push(Event {
                event_id: uuid::Uuid::new_v4().to_string(),
                order_id: id.to_string(),
                customer_id: customer.id.clone(),
                product_id: p.id.clone(),
                qty: rng.random_range(1..=3),
                unit_price: p.price,
                ts,
                method: method.clone(),
                status: status.map(str::to_string),
            });
        }
    };
    let at = |secs_ago: i64| DateTime::from_timestamp(now.timestamp() - secs_ago, 0).unwrap();
    // Before the snapshot: a burst of failed payments, three hours old by event time.
    for i in 0..16 {
        let status = match i {
            0..10 => "failed",
            10 => "refunded",
            _ => "completed",
        };
        order(
            &mut rng,
            &format!("SA{i:02}"),
            at(3 * 3600 - i * 60),
            Some(status),
            &mut first,
        );
    }
    // Yesterday at 23:30 in the shop's zone: the next day in UTC.
    let yesterday = local_today(now, tz) - Duration::days(1);
    let late = tz
        .from_local_datetime(&yesterday.and_hms_opt(23, 30, 0).unwrap())
        .single()
        .unwrap()
        .with_timezone(&Utc);
    assert_ne!(late.date_naive(), yesterday, "23:30 in {ZONE} is another day in UTC");
    order(&mut rng, "SL01", late, Some("completed"), &mut first);
    // After the snapshot: the first order reports no payment; one is refunded.
    for i in 0..8 {
        let status = match i {
            0 => None,
            1 => Some("refunded"),
            _ => Some("completed"),
        };
        order(&mut rng, &format!("SB{i:02}"), at(20 * 60 - i * 60), status, &mut first);
    }
    // An order the batch export holds, streamed live too.
    let held = &h.orders[0];
    first.push(Event {
        event_id: uuid::Uuid::new_v4().to_string(),
        order_id: held.id.clone(),
        customer_id: held.customer.clone(),
        product_id: h.products[0].id.clone(),
        qty: 2,
        unit_price: h.products[0].price,
        ts: at(15 * 60),
        method: Some("credit_card".into()),
        status: Some("completed".into()),
    });
    // An exact duplicate (a plain redelivery), and the event that will be re-sent changed.
    let sb = first.iter().position(|e| e.order_id == "SB03").unwrap();
    first.push(first[sb].clone());
    let changed = first.iter().position(|e| e.order_id == "SB04").unwrap();
    let resend = Event {
        qty: first[changed].qty + 2,
        ..first[changed].clone()
    };
    Live { first, resend }
}

// ---------------------------------------------------------------------------------------
// The reference: the views, computed here.

/// The rules of docs/metrics.md, each a switch, so the test can show that the data makes
/// each one bite.
#[derive(Clone, Copy, Debug)]
struct Rules {
    /// Revenue, orders and customers count completed sales only.
    net: bool,
    /// Days are days of the reporting time zone.
    zone: bool,
    /// A live sale of an order the batch holds does not count again.
    batch_wins: bool,
    /// Live stock subtracts only the sales after the snapshot.
    since_snapshot: bool,
    /// Per-customer tables group by customer id.
    by_id: bool,
    /// Payment methods and statuses count live sales too.
    live_payments: bool,
    /// A re-sent event counts as first written.
    first_written: bool,
    /// The failed-payment alert's hour is by ingest time.
    by_ingest: bool,
}

impl Rules {
    const ALL: Rules = Rules {
        net: true,
        zone: true,
        batch_wins: true,
        since_snapshot: true,
        by_id: true,
        live_payments: true,
        first_written: true,
        by_ingest: true,
    };

    /// Every rule's name, with the rules less that one.
    fn each_off() -> Vec<(&'static str, Rules)> {
        let all = Rules::ALL;
        vec![
            ("net revenue", Rules { net: false, ..all }),
            ("the shop's calendar", Rules { zone: false, ..all }),
            (
                "one count per sale across sources",
                Rules {
                    batch_wins: false,
                    ..all
                },
            ),
            (
                "stock since its snapshot",
                Rules {
                    since_snapshot: false,
                    ..all
                },
            ),
            ("customers by id", Rules { by_id: false, ..all }),
            (
                "payments from both sources",
                Rules {
                    live_payments: false,
                    ..all
                },
            ),
            (
                "a re-sent event counts as first written",
                Rules {
                    first_written: false,
                    ..all
                },
            ),
            (
                "late sales are judged (ingest time)",
                Rules {
                    by_ingest: false,
                    ..all
                },
            ),
        ]
    }
}

/// A cell of a view: typed, so a chart can sort and aggregate it. `Starts` is a text
/// known only up to its end (a decimal cast to STRING, whose digits are the engine's).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum V {
    Null,
    Int(i64),
    Num(Decimal),
    Text(String),
    Date(NaiveDate),
    Ts(DateTime<Utc>),
    Starts(String),
}

type Row = BTreeMap<&'static str, V>;
/// A named cell of a reference row.
type Cell = (&'static str, V);

fn text(s: &str) -> V {
    V::Text(s.to_string())
}

/// One sale line of v_fact_sales_all.
#[derive(Clone, Debug)]
struct Fact {
    order_id: String,
    ts: DateTime<Utc>,
    customer_id: String,
    product_id: String,
    qty: i64,
    amount: Decimal,
    source: &'static str,
    sale_date: NaiveDate,
    method: Option<String>,
    status: String,
    country: String,
    category: String,
    plan: String,
}

/// A reference row's whole number `k`.
fn int(r: &Row, k: &str) -> i64 {
    match &r[k] {
        V::Int(n) => *n,
        other => panic!("{k} is {other:?}, not a whole number"),
    }
}

/// A reference row's text `k`.
fn txt(r: &Row, k: &str) -> String {
    match &r[k] {
        V::Text(t) => t.clone(),
        other => panic!("{k} is {other:?}, not text"),
    }
}

/// BigQuery's NUMERIC division: rounded to 9 decimals, half away from zero.
fn div9(a: Decimal, b: Decimal) -> Decimal {
    (a / b).round_dp_with_strategy(9, RoundingStrategy::MidpointAwayFromZero)
}

fn round2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(d.year(), d.month(), 1).unwrap()
}

struct Reference<'a> {
    h: &'a History,
    /// Every message published, in the order BigQuery received them.
    published: &'a [Event],
    tz: Tz,
    now: DateTime<Utc>,
    rules: Rules,
}

impl Reference<'_> {
    fn today(&self) -> NaiveDate {
        if self.rules.zone {
            local_today(self.now, self.tz)
        } else {
            self.now.date_naive()
        }
    }

    fn day(&self, ts: DateTime<Utc>) -> NaiveDate {
        if self.rules.zone {
            ts.with_timezone(&self.tz).date_naive()
        } else {
            ts.date_naive()
        }
    }

    fn customer(&self, id: &str) -> Option<&Customer> {
        self.h.customers.iter().find(|c| c.id == id)
    }

    fn product(&self, id: &str) -> Option<&Product> {
        self.h.products.iter().find(|p| p.id == id)
    }

    /// v_fact_sales_streaming: one event per event_id, the version written first.
    fn live(&self) -> Vec<&Event> {
        let mut out: Vec<&Event> = Vec::new();
        for e in self.published {
            match out.iter().position(|o| o.event_id == e.event_id) {
                None => out.push(e),
                Some(i) if !self.rules.first_written => out[i] = e,
                Some(_) => {}
            }
        }
        out
    }

    /// v_fact_sales_all.
    fn facts(&self) -> Vec<Fact> {
        let held: HashSet<&str> = self.h.orders.iter().map(|o| o.id.as_str()).collect();
        let dims = |customer: &str, product: &str| {
            let c = self.customer(customer);
            (
                c.map_or("Unknown", |c| &c.country).to_string(),
                self.product(product).map_or("Unknown", |p| &p.category).to_string(),
                c.map_or("Unknown", |c| &c.plan).to_string(),
            )
        };
        let mut out = Vec::new();
        for i in &self.h.items {
            let o = self.h.orders.iter().find(|o| o.id == i.order).unwrap();
            let midnight = if self.rules.zone {
                day_start(self.tz, o.date)
            } else {
                o.date.and_hms_opt(0, 0, 0).unwrap().and_utc()
            };
            let (country, category, plan) = dims(&o.customer, &i.product);
            out.push(Fact {
                order_id: o.id.clone(),
                ts: midnight,
                customer_id: o.customer.clone(),
                product_id: i.product.clone(),
                qty: i.qty,
                amount: Decimal::from(i.qty) * i.price,
                source: "batch",
                sale_date: o.date,
                method: (!o.method.is_empty()).then(|| o.method.clone()),
                status: if o.status.is_empty() {
                    "completed".into()
                } else {
                    o.status.clone()
                },
                country,
                category,
                plan,
            });
        }
        for e in self.live() {
            if self.rules.batch_wins && held.contains(e.order_id.as_str()) {
                continue;
            }
            let (country, category, plan) = dims(&e.customer_id, &e.product_id);
            out.push(Fact {
                order_id: e.order_id.clone(),
                ts: e.ts,
                customer_id: e.customer_id.clone(),
                product_id: e.product_id.clone(),
                qty: e.qty,
                amount: e.amount(),
                source: "streaming",
                sale_date: self.day(e.ts),
                method: e.method.clone(),
                status: e.status.clone().unwrap_or_else(|| "completed".into()),
                country,
                category,
                plan,
            });
        }
        out
    }

    /// The sales that count as revenue.
    fn completed(&self) -> Vec<Fact> {
        self.facts()
            .into_iter()
            .filter(|f| !self.rules.net || f.status == "completed")
            .collect()
    }

    fn view(&self, name: &str) -> Vec<Row> {
        match name {
            "v_kpi_overview" => vec![self.kpis(&self.facts())],
            "v_kpi_by_source" => {
                let facts = self.facts();
                let sources: BTreeSet<&str> = facts.iter().map(|f| f.source).collect();
                sources
                    .into_iter()
                    .map(|s| {
                        let of: Vec<Fact> = facts.iter().filter(|f| f.source == s).cloned().collect();
                        let mut r = self.kpis(&of);
                        r.insert("source", text(s));
                        r
                    })
                    .collect()
            }
            "v_revenue_daily" => {
                let mut days: BTreeMap<NaiveDate, (Decimal, HashSet<String>)> = BTreeMap::new();
                for f in self.completed() {
                    let e = days.entry(f.sale_date).or_default();
                    e.0 += f.amount;
                    e.1.insert(f.order_id.clone());
                }
                let mut cumulative = Decimal::ZERO;
                days.into_iter()
                    .map(|(day, (revenue, orders))| {
                        cumulative += revenue;
                        Row::from([
                            ("day", V::Date(day)),
                            ("revenue", V::Num(revenue)),
                            ("orders", V::Int(orders.len() as i64)),
                            ("cumulative_revenue", V::Num(cumulative)),
                        ])
                    })
                    .collect()
            }
            "v_revenue_by_category" => self.revenue_by(|f| vec![("category", text(&f.category))]),
            "v_revenue_by_country" => self.revenue_by(|f| vec![("country", text(&f.country))]),
            "v_top_products" => self.revenue_by(|f| {
                let p = self.product(&f.product_id);
                vec![
                    ("product_id", text(&f.product_id)),
                    ("product_name", p.map_or(V::Null, |p| text(&p.name))),
                    ("category", text(&f.category)),
                ]
            }),
            "v_sales_detail" => self.revenue_by(|f| {
                let mut key = self.customer_key(&f.customer_id);
                key.push(("country", text(&f.country)));
                key.push(("category", text(&f.category)));
                key
            }),
            // The same definitions over customer_months, which the refresh keeps.
            "v_customer_lifetime" => self.view("v_customer_lifetime_value"),
            "v_cohorts" => self.view("v_cohort_retention"),
            "v_customer_lifetime_value" => {
                let mut rows = self.revenue_by(|f| {
                    let mut key = self.customer_key(&f.customer_id);
                    key.push(("plan", text(&f.plan)));
                    key.push(("country", text(&f.country)));
                    key
                });
                for r in &mut rows {
                    let v = r["revenue"].clone();
                    r.insert("lifetime_value", v);
                }
                rows
            }
            "v_payment_methods" => {
                let mut by: BTreeMap<String, Decimal> = BTreeMap::new();
                for f in self.completed() {
                    if !self.rules.live_payments && f.source != "batch" {
                        continue;
                    }
                    *by.entry(f.method.clone().unwrap_or_else(|| "unknown".into()))
                        .or_default() += f.amount;
                }
                by.into_iter()
                    .map(|(m, r)| Row::from([("payment_method", V::Text(m)), ("revenue", V::Num(r))]))
                    .collect()
            }
            "v_failed_transactions" => {
                let mut by: BTreeMap<(NaiveDate, String), HashSet<String>> = BTreeMap::new();
                for f in self.facts() {
                    if !self.rules.live_payments && f.source != "batch" {
                        continue;
                    }
                    by.entry((first_of_month(f.sale_date), f.status.clone()))
                        .or_default()
                        .insert(f.order_id.clone());
                }
                by.into_iter()
                    .map(|((month, status), orders)| {
                        Row::from([
                            ("month", V::Date(month)),
                            ("status", V::Text(status)),
                            ("orders", V::Int(orders.len() as i64)),
                        ])
                    })
                    .collect()
            }
            "v_revenue_30d" => {
                let today = self.today();
                let (mut cur, mut prev) = (Decimal::ZERO, Decimal::ZERO);
                for f in self.completed() {
                    let age = (today - f.sale_date).num_days();
                    if (0..30).contains(&age) {
                        cur += f.amount;
                    } else if (30..60).contains(&age) {
                        prev += f.amount;
                    }
                }
                let growth = if prev.is_zero() {
                    V::Null
                } else {
                    V::Num(round2(Decimal::from(100) * div9(cur - prev, prev)))
                };
                vec![Row::from([("revenue_30d", V::Num(cur)), ("growth_pct", growth)])]
            }
            "v_active_customers" => {
                let today = self.today();
                let completed = self.completed();
                let all: HashSet<&str> = completed.iter().map(|f| f.customer_id.as_str()).collect();
                let recent: HashSet<&str> = completed
                    .iter()
                    .filter(|f| (today - f.sale_date).num_days() < 30)
                    .map(|f| f.customer_id.as_str())
                    .collect();
                vec![Row::from([
                    ("active_customers", V::Int(all.len() as i64)),
                    ("active_30d", V::Int(recent.len() as i64)),
                ])]
            }
            "v_customers_by_plan" => {
                let completed = self.completed();
                PLANS
                    .iter()
                    .filter_map(|plan| {
                        let ids: HashSet<&str> = self
                            .h
                            .customers
                            .iter()
                            .filter(|c| c.plan == *plan)
                            .map(|c| c.id.as_str())
                            .collect();
                        if ids.is_empty() {
                            return None;
                        }
                        let revenue: Decimal = completed
                            .iter()
                            .filter(|f| ids.contains(f.customer_id.as_str()))
                            .map(|f| f.amount)
                            .sum();
                        Some(Row::from([
                            ("plan", text(plan)),
                            ("customers", V::Int(ids.len() as i64)),
                            ("revenue", V::Num(revenue)),
                        ]))
                    })
                    .collect()
            }
            "v_cohort_retention" => {
                let mut months: BTreeMap<String, BTreeSet<NaiveDate>> = BTreeMap::new();
                for f in self.completed() {
                    months
                        .entry(f.customer_id.clone())
                        .or_default()
                        .insert(first_of_month(f.sale_date));
                }
                let mut sizes: BTreeMap<NaiveDate, i64> = BTreeMap::new();
                for ms in months.values() {
                    *sizes.entry(*ms.first().unwrap()).or_default() += 1;
                }
                let mut active: BTreeMap<(NaiveDate, i64), i64> = BTreeMap::new();
                for ms in months.values() {
                    let first = *ms.first().unwrap();
                    for m in ms {
                        let since = (m.year() - first.year()) as i64 * 12 + m.month() as i64 - first.month() as i64;
                        *active.entry((first, since)).or_default() += 1;
                    }
                }
                active
                    .into_iter()
                    .map(|((cohort, since), n)| {
                        Row::from([
                            ("cohort_month", V::Date(cohort)),
                            ("months_since", V::Int(since)),
                            (
                                "retention_pct",
                                V::Num(round2(Decimal::from(100 * n) / Decimal::from(sizes[&cohort]))),
                            ),
                        ])
                    })
                    .collect()
            }
            "v_streaming_recent" => {
                let mut contents: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
                for e in self.published.iter().filter(|e| e.ts >= self.now - Duration::hours(48)) {
                    let versions = contents.entry(&e.event_id).or_default();
                    if !versions.contains(&e) {
                        versions.push(e);
                    }
                }
                self.live()
                    .into_iter()
                    .filter(|e| e.ts >= self.now - Duration::hours(48))
                    .map(|e| {
                        let versions = contents.get(e.event_id.as_str()).map_or(1, |v| v.len());
                        Row::from([
                            ("event_id", text(&e.event_id)),
                            ("event_ts", V::Ts(e.ts)),
                            ("gross_amount", V::Num(e.amount())),
                            ("versions", V::Int(versions as i64)),
                            (
                                "conflict_event_id",
                                if versions > 1 { text(&e.event_id) } else { V::Null },
                            ),
                        ])
                    })
                    .collect()
            }
            "v_fact_sales_streaming" => self
                .live()
                .into_iter()
                .map(|e| {
                    Row::from([
                        ("event_id", text(&e.event_id)),
                        ("event_ts", V::Ts(e.ts)),
                        ("gross_amount", V::Num(e.amount())),
                    ])
                })
                .collect(),
            // sales_facts is v_sales_facts materialized (refresh --all, then the last days).
            "v_sales_facts" | "sales_facts" => self
                .facts()
                .into_iter()
                .map(|f| {
                    let counts = !self.rules.net || f.status == "completed";
                    let amount_if = |status: &str| V::Num(if f.status == status { f.amount } else { Decimal::ZERO });
                    let live_payment = self.rules.live_payments || f.source == "batch";
                    let mut r = Row::from([
                        ("sale_date", V::Date(f.sale_date)),
                        ("sale_month", V::Date(first_of_month(f.sale_date))),
                        ("ts", V::Ts(f.ts)),
                        ("source", text(f.source)),
                        ("order_id", text(&f.order_id)),
                        ("product_id", text(&f.product_id)),
                        (
                            "product_name",
                            self.product(&f.product_id).map_or(V::Null, |p| text(&p.name)),
                        ),
                        ("country", text(&f.country)),
                        ("category", text(&f.category)),
                        ("plan", text(&f.plan)),
                        (
                            "payment_method",
                            match (&f.method, live_payment) {
                                (Some(m), true) => text(m),
                                _ => V::Null,
                            },
                        ),
                        (
                            "payment_status",
                            text(if live_payment { &f.status } else { "completed" }),
                        ),
                        ("gross_amount", V::Num(f.amount)),
                        ("revenue", V::Num(if counts { f.amount } else { Decimal::ZERO })),
                        ("failed_amount", amount_if("failed")),
                        ("refunded_amount", amount_if("refunded")),
                        ("completed_order_id", if counts { text(&f.order_id) } else { V::Null }),
                        (
                            "completed_customer_id",
                            if counts { text(&f.customer_id) } else { V::Null },
                        ),
                    ]);
                    r.extend(self.customer_key(&f.customer_id));
                    r
                })
                .collect(),
            "v_fact_sales_all" => self
                .facts()
                .into_iter()
                .map(|f| {
                    Row::from([
                        ("gross_amount", V::Num(f.amount)),
                        ("source", text(f.source)),
                        ("payment_status", V::Text(f.status)),
                        ("sale_date", V::Date(f.sale_date)),
                    ])
                })
                .collect(),
            "v_event_conflicts" => {
                let mut contents: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
                for e in self.published {
                    let versions = contents.entry(&e.event_id).or_default();
                    if !versions.contains(&e) {
                        versions.push(e);
                    }
                }
                contents
                    .into_iter()
                    .filter(|(_, v)| v.len() > 1)
                    .flat_map(|(id, v)| v.into_iter().map(move |_| Row::from([("event_id", text(id))])))
                    .collect()
            }
            "v_streaming_per_minute" => {
                let mut by: BTreeMap<DateTime<Utc>, (Decimal, HashSet<String>)> = BTreeMap::new();
                for e in self.live() {
                    if e.ts < self.now - Duration::minutes(60) {
                        continue;
                    }
                    let minute = DateTime::from_timestamp(e.ts.timestamp() / 60 * 60, 0).unwrap();
                    let entry = by.entry(minute).or_default();
                    if !self.rules.net || e.status.as_deref().unwrap_or("completed") == "completed" {
                        entry.0 += e.amount();
                        entry.1.insert(e.order_id.clone());
                    }
                }
                by.into_iter()
                    .map(|(minute, (revenue, orders))| {
                        Row::from([
                            ("minute", V::Ts(minute)),
                            ("revenue", V::Num(revenue)),
                            ("orders", V::Int(orders.len() as i64)),
                        ])
                    })
                    .collect()
            }
            // The same stock from what the refresh counted and the sales written since.
            "v_inventory_now" => self.view("v_inventory_status"),
            "v_inventory_status" => self.stock().into_iter().map(|(r, _)| r).collect(),
            "v_inventory_by_warehouse" => {
                let mut by: BTreeMap<&str, [i64; 3]> = BTreeMap::new();
                for s in &self.h.inventory {
                    let e = by.entry(&s.warehouse).or_default();
                    let i = if s.stock <= s.reorder {
                        0
                    } else if s.stock < 2 * s.reorder {
                        1
                    } else {
                        2
                    };
                    e[i] += 1;
                }
                by.into_iter()
                    .map(|(w, [c, l, o])| {
                        Row::from([
                            ("warehouse", text(w)),
                            ("critical", V::Int(c)),
                            ("low", V::Int(l)),
                            ("optimal", V::Int(o)),
                        ])
                    })
                    .collect()
            }
            // Evaluated once after the data landed: what v_alerts says then is open.
            "v_inventory_forecast" => self.inventory_forecast(),
            "v_inventory_turnover" => self.inventory_turnover(),
            "v_demand_forecast" => self.demand_forecast(),
            "v_alerts_open" => self.view("v_alerts"),
            "v_alerts" => {
                let mut rows: Vec<Row> = self
                    .stock()
                    .into_iter()
                    .filter(|(r, _)| r["status"] == text("critical"))
                    .map(|(_, alert)| alert)
                    .collect();
                rows.extend(self.failed_payments_alert());
                rows.extend(self.stockout_alerts());
                assert!(
                    self.anomaly_weeks() < 4,
                    "the data gives the revenue-anomaly alert nothing to judge by"
                );
                rows
            }
            other => panic!("the reference does not compute {other}: add it"),
        }
    }

    fn kpis(&self, facts: &[Fact]) -> Row {
        let counts = |f: &&Fact| !self.rules.net || f.status == "completed";
        let revenue: Decimal = facts.iter().filter(counts).map(|f| f.amount).sum();
        let orders: HashSet<&str> = facts.iter().filter(counts).map(|f| f.order_id.as_str()).collect();
        let clients: HashSet<&str> = facts.iter().filter(counts).map(|f| f.customer_id.as_str()).collect();
        let of = |s: &str| {
            facts
                .iter()
                .filter(|f| f.status == s)
                .map(|f| f.amount)
                .sum::<Decimal>()
        };
        Row::from([
            ("revenue", V::Num(revenue)),
            ("orders", V::Int(orders.len() as i64)),
            ("unique_clients", V::Int(clients.len() as i64)),
            (
                "aov",
                if orders.is_empty() {
                    V::Null
                } else {
                    V::Num(div9(revenue, Decimal::from(orders.len())))
                },
            ),
            ("failed_amount", V::Num(of("failed"))),
            ("refunded_amount", V::Num(of("refunded"))),
        ])
    }

    /// The columns naming a customer: by id with the name beside it, or (the rule off)
    /// by name alone.
    fn customer_key(&self, id: &str) -> Vec<(&'static str, V)> {
        let name = self.customer(id).map_or(V::Null, |c| text(&c.name));
        if self.rules.by_id {
            vec![("customer_id", text(id)), ("customer_name", name)]
        } else {
            vec![("customer_id", V::Null), ("customer_name", name)]
        }
    }

    /// Completed sales grouped by `key`: revenue and distinct orders.
    fn revenue_by(&self, key: impl Fn(&Fact) -> Vec<(&'static str, V)>) -> Vec<Row> {
        let mut by: BTreeMap<Vec<Cell>, (Decimal, HashSet<String>)> = BTreeMap::new();
        for f in self.completed() {
            let e = by.entry(key(&f)).or_default();
            e.0 += f.amount;
            e.1.insert(f.order_id.clone());
        }
        by.into_iter()
            .map(|(k, (revenue, orders))| {
                let mut r: Row = k.into_iter().collect();
                r.insert("revenue", V::Num(revenue));
                r.insert("orders", V::Int(orders.len() as i64));
                r
            })
            .collect()
    }

    /// v_inventory_status per product, with its critical-stock alert row.
    fn stock(&self) -> Vec<(Row, Row)> {
        let live = self.live();
        let mut out = Vec::new();
        for p in &self.h.products {
            let rows: Vec<&Stock> = self.h.inventory.iter().filter(|s| s.product == p.id).collect();
            if rows.is_empty() {
                continue;
            }
            let snapshot: i64 = rows.iter().map(|s| s.stock).sum();
            let reorder: i64 = rows.iter().map(|s| s.reorder).sum();
            let sold: i64 = live
                .iter()
                .filter(|e| e.product_id == p.id && e.status.as_deref() != Some("failed"))
                .filter(|e| !self.rules.since_snapshot || e.ts > self.h.snapshot)
                .map(|e| e.qty)
                .sum();
            let stock = snapshot - sold;
            let status = if stock <= reorder {
                "critical"
            } else if stock < 2 * reorder {
                "low"
            } else {
                "optimal"
            };
            let row = Row::from([
                ("product_id", text(&p.id)),
                ("product_name", text(&p.name)),
                ("category", text(&p.category)),
                ("status", text(status)),
                ("stock", V::Int(stock)),
                ("snapshot_stock", V::Int(snapshot)),
                ("reorder_point", V::Int(reorder)),
            ]);
            let alert = Row::from([
                ("kind", text("critical_stock")),
                ("subject", text(&p.id)),
                (
                    "detail",
                    V::Text(format!(
                        "{} ({}): {stock} units on hand for a reorder point of {reorder} (snapshot {snapshot}, sold live since {sold})",
                        p.name, p.category
                    )),
                ),
                ("value", V::Num(Decimal::from(stock))),
                ("threshold", V::Num(Decimal::from(reorder))),
            ]);
            out.push((row, alert));
        }
        out
    }

    /// Units of each product's completed sales on the `days` days before today.
    fn units_before_today(&self, days: i64) -> BTreeMap<String, i64> {
        let today = self.today();
        let mut out = BTreeMap::new();
        for f in self.completed() {
            if f.sale_date >= today - Duration::days(days) && f.sale_date < today {
                *out.entry(f.product_id.clone()).or_insert(0) += f.qty;
            }
        }
        out
    }

    /// v_inventory_forecast at the default lead time and review period (7 + 7 days). No
    /// forecast runs here, so each product's demand is its 28-day average: the units of
    /// its completed sales on the 28 days before today over 28 (method mean_28d), and
    /// every measure follows from it by docs/metrics.md § Stock ahead.
    fn inventory_forecast(&self) -> Vec<Row> {
        let today = self.today();
        let (u28s, u90s) = (self.units_before_today(28), self.units_before_today(90));
        let mut out = Vec::new();
        for (mut row, _) in self.stock() {
            let (V::Text(id), V::Int(stock), V::Int(snapshot)) = (
                row["product_id"].clone(),
                row["stock"].clone(),
                row["snapshot_stock"].clone(),
            ) else {
                unreachable!("stock rows carry an id, a stock and a snapshot")
            };
            let u28 = u28s.get(&id).copied().unwrap_or(0);
            let u90 = u90s.get(&id).copied().unwrap_or(0);
            let (cover, out_day) = if u28 > 0 {
                (
                    V::Num(round2(div9(Decimal::from(28 * stock.max(0)), Decimal::from(u28)))),
                    Some(((28 * stock).div_euclid(u28) + 1).max(1)),
                )
            } else {
                (V::Null, None)
            };
            let stockout = match out_day {
                Some(d) if d <= 28 => V::Date(today + Duration::days(d)),
                _ => V::Null,
            };
            let reorder = (Decimal::from(u28 * 14) / Decimal::from(28) - Decimal::from(stock))
                .ceil()
                .max(Decimal::ZERO);
            row.extend([
                ("units_28d", V::Int(u28)),
                ("units_90d", V::Int(u90)),
                ("units_per_day", V::Num(div9(Decimal::from(u28), Decimal::from(28)))),
                ("method", text("mean_28d")),
                ("days_of_cover", cover),
                ("stockout_date", stockout),
                (
                    "turnover_90d",
                    if snapshot > 0 {
                        V::Num(round2(div9(Decimal::from(u90), Decimal::from(snapshot))))
                    } else {
                        V::Null
                    },
                ),
                ("reorder_qty", V::Int(i64::try_from(reorder).unwrap())),
                ("forecast_run", V::Null),
            ]);
            out.push(row);
        }
        out
    }

    /// v_inventory_turnover: v_inventory_forecast's products summed per category.
    fn inventory_turnover(&self) -> Vec<Row> {
        let mut per: BTreeMap<String, (i64, i64, i64, i64)> = BTreeMap::new();
        for r in self.inventory_forecast() {
            let (c, u90, snap, stock) = (
                txt(&r, "category"),
                int(&r, "units_90d"),
                int(&r, "snapshot_stock"),
                int(&r, "stock"),
            );
            let e = per.entry(c).or_default();
            *e = (e.0 + 1, e.1 + u90, e.2 + snap, e.3 + stock);
        }
        per.into_iter()
            .map(|(c, (n, u90, snap, stock))| {
                Row::from([
                    ("category", V::Text(c)),
                    ("products", V::Int(n)),
                    ("units_90d", V::Int(u90)),
                    ("snapshot_stock", V::Int(snap)),
                    ("stock", V::Int(stock)),
                    (
                        "turnover_90d",
                        if snap > 0 {
                            V::Num(round2(div9(Decimal::from(u90), Decimal::from(snap))))
                        } else {
                            V::Null
                        },
                    ),
                ])
            })
            .collect()
    }

    /// v_demand_forecast with no forecast run: the ranked products' 56 days of history.
    /// The rank is by units of the 28 days before today, most first, then product_id,
    /// over every product that sold then.
    fn demand_forecast(&self) -> Vec<Row> {
        let today = self.today();
        let mut ranked: Vec<(String, i64)> = self
            .units_before_today(28)
            .into_iter()
            .filter(|(_, u)| *u > 0)
            .collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let completed = self.completed();
        let mut out = Vec::new();
        for (rank, (id, _)) in ranked.iter().enumerate() {
            let p = self.product(id);
            for back in 1..=56 {
                let day = today - Duration::days(back);
                let units: i64 = completed
                    .iter()
                    .filter(|f| f.product_id == *id && f.sale_date == day)
                    .map(|f| f.qty)
                    .sum();
                out.push(Row::from([
                    ("product_id", text(id)),
                    ("product_name", p.map_or(V::Null, |p| text(&p.name))),
                    ("category", text(p.map_or("Unknown", |p| p.category.as_str()))),
                    ("demand_rank", V::Int(rank as i64 + 1)),
                    ("day", V::Date(day)),
                    ("units", V::Int(units)),
                    ("forecast_units", V::Null),
                    ("forecast_lower", V::Null),
                    ("forecast_upper", V::Null),
                    ("method", V::Null),
                ]));
            }
        }
        out
    }

    /// v_alert_stockout_risk at the default lead time (7 days): v_inventory_forecast's
    /// products whose cover is under it.
    fn stockout_alerts(&self) -> Vec<Row> {
        let mut out = Vec::new();
        for r in self.inventory_forecast() {
            let V::Num(cover) = r["days_of_cover"] else { continue };
            if cover >= Decimal::from(7) {
                continue;
            }
            let (id, stock, u28, reorder) = (
                txt(&r, "product_id"),
                int(&r, "stock"),
                int(&r, "units_28d"),
                int(&r, "reorder_qty"),
            );
            let runs_out = match &r["stockout_date"] {
                V::Date(d) => d.to_string(),
                _ => "after the horizon".into(),
            };
            let p = self.product(&id).unwrap();
            out.push(Row::from([
                ("kind", text("stockout_risk")),
                ("subject", text(&id)),
                (
                    "detail",
                    V::Text(format!(
                        "{} ({}): {stock} units on hand, {u28} sold in the last 28 days (mean_28d); runs out {runs_out}; reorder {reorder} units",
                        p.name, p.category
                    )),
                ),
                ("value", V::Num(cover)),
                ("threshold", V::Num(Decimal::from(7))),
            ]));
        }
        assert!(!out.is_empty(), "the data gives the stock-out alert nothing to fire");
        out
    }

    /// v_alert_failed_payments at the default thresholds: every live event reached
    /// BigQuery within the last hour (the test streams them minutes ago).
    fn failed_payments_alert(&self) -> Option<Row> {
        let hour_ago = self.now - Duration::hours(1);
        let mut live: BTreeMap<&str, (DateTime<Utc>, bool)> = BTreeMap::new();
        for e in self.live() {
            let Some(status) = &e.status else { continue };
            let o = live.entry(&e.order_id).or_insert((e.ts, false));
            o.0 = o.0.max(e.ts);
            o.1 |= status == "failed";
        }
        let in_hour = |ts: DateTime<Utc>| self.rules.by_ingest || ts > hour_ago;
        let hour: Vec<bool> = live.values().filter(|(ts, _)| in_hour(*ts)).map(|o| o.1).collect();
        let today = local_today(self.now, self.tz);
        let mut trailing: Vec<bool> = live
            .values()
            .filter(|(ts, _)| !in_hour(*ts) && *ts > self.now - Duration::days(28))
            .map(|o| o.1)
            .collect();
        trailing.extend(
            self.h
                .orders
                .iter()
                .filter(|o| !o.status.is_empty() && (today - o.date).num_days() < 28)
                .map(|o| o.status == "failed"),
        );
        let share = |v: &[bool]| -> Option<Decimal> {
            let failed = v.iter().filter(|f| **f).count();
            (!v.is_empty()).then(|| round2(div9(Decimal::from(100 * failed), Decimal::from(v.len()))))
        };
        let value = share(&hour)?;
        let threshold = round2(Decimal::from(20).max(Decimal::from(2) * share(&trailing).unwrap_or_default()));
        let failed = hour.iter().filter(|f| **f).count();
        (hour.len() >= 20 && value >= threshold).then(|| {
            Row::from([
                ("kind", text("failed_payments")),
                ("subject", text("all")),
                (
                    "detail",
                    V::Starts(format!(
                        "{failed} of {} live orders failed their payment in the last hour (",
                        hour.len()
                    )),
                ),
                ("value", V::Num(value)),
                ("threshold", V::Num(threshold)),
            ])
        })
    }

    /// How many of the 8 earlier weeks have completed sales in the same 24 hours.
    fn anomaly_weeks(&self) -> usize {
        let mut weeks = BTreeSet::new();
        for f in self.completed() {
            let age = (self.now - f.ts).num_seconds();
            if (0..57 * 86_400).contains(&age) && age % 604_800 < 86_400 {
                weeks.insert(age / 604_800);
            }
        }
        weeks.into_iter().filter(|w| (1..=8).contains(w)).count()
    }
}

// ---------------------------------------------------------------------------------------
// A chart's definition applied to reference rows, and how its cells read.

/// Money and decimals: two decimals, half away from zero, thousands separated (the
/// README's rule, written here apart from the dashboard's code).
fn grouped(d: Decimal, dp: u32) -> String {
    let d = d.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    let raw = format!("{:.*}", dp as usize, d.abs());
    let (int, frac) = raw.split_once('.').map_or((raw.as_str(), None), |(i, f)| (i, Some(f)));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out = format!("{out}.{f}");
    }
    if d.is_sign_negative() && !d.is_zero() {
        out.insert(0, '-');
    }
    out
}

/// What a person reads in a cell: (text, whether only its start is known).
fn reads(v: &V, format: Option<&str>) -> (String, bool) {
    let num = |d: Decimal| match format {
        Some("count") => grouped(d, 0),
        Some("percent") => format!("{}%", grouped(d, 2)),
        _ => grouped(d, 2),
    };
    match v {
        V::Null => ("–".into(), false),
        V::Int(n) => (
            match format {
                None => grouped(Decimal::from(*n), 0),
                _ => num(Decimal::from(*n)),
            },
            false,
        ),
        V::Num(d) => (num(*d), false),
        V::Text(s) => (s.clone(), false),
        V::Date(d) => (d.to_string(), false),
        V::Ts(t) => (t.format("%Y-%m-%d %H:%M:%S UTC").to_string(), false),
        V::Starts(s) => (s.clone(), true),
    }
}

/// The chart's rows from the reference view: filters, groups, aggregates. Each row is
/// its dimensions then its metrics, typed.
fn apply(chart: &Value, rows: &[Row], now: DateTime<Utc>, range: Option<(NaiveDate, NaiveDate)>) -> Vec<Vec<V>> {
    let strs = |k: &str| -> Vec<String> {
        chart[k]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let dims = strs("dimensions");
    let get = |r: &Row, f: &str| -> V {
        r.get(f)
            .cloned()
            .unwrap_or_else(|| panic!("the reference row of {} has no {f}: {r:?}", chart["view"]))
    };
    let kept: Vec<&Row> = rows
        .iter()
        .filter(|r| match (chart["date"].as_str(), range) {
            (Some(d), Some((from, to))) => matches!(get(r, d), V::Date(day) if day >= from && day <= to),
            _ => true,
        })
        .filter(|r| {
            chart["filters"].as_array().into_iter().flatten().all(|f| {
                let field = f["field"].as_str().unwrap();
                if let Some(v) = f["equals"].as_str() {
                    get(r, field) == text(v)
                } else if let Some(s) = f["within_last_seconds"].as_i64() {
                    matches!(get(r, field), V::Ts(t) if t >= now - Duration::seconds(s))
                } else if let Some(n) = f["at_most"].as_i64() {
                    matches!(get(r, field), V::Int(v) if v <= n)
                } else {
                    true
                }
            })
        })
        .collect();
    let mut groups: BTreeMap<Vec<V>, Vec<&Row>> = BTreeMap::new();
    for r in kept {
        groups
            .entry(dims.iter().map(|d| get(r, d)).collect())
            .or_default()
            .push(r);
    }
    if dims.is_empty() && groups.is_empty() {
        groups.insert(Vec::new(), Vec::new());
    }
    let aggregate = |members: &[&Row], field: &str, agg: &str| -> V {
        let values: Vec<V> = members
            .iter()
            .map(|r| get(r, field))
            .filter(|v| *v != V::Null)
            .collect();
        match agg {
            "sum" if values.is_empty() => V::Null,
            "sum" => V::Num(
                values
                    .iter()
                    .map(|v| match v {
                        V::Num(d) => *d,
                        V::Int(n) => Decimal::from(*n),
                        other => panic!("sum of {other:?}"),
                    })
                    .sum(),
            ),
            "max" => values.iter().max().cloned().unwrap_or(V::Null),
            "min" => values.iter().min().cloned().unwrap_or(V::Null),
            "count" => V::Int(values.len() as i64),
            "count_distinct" => V::Int(values.iter().collect::<HashSet<_>>().len() as i64),
            other => panic!("aggregation {other} is not in the reference"),
        }
    };
    let number = |v: &V| match v {
        V::Num(d) => Some(*d),
        V::Int(n) => Some(Decimal::from(*n)),
        _ => None,
    };
    let mut out: Vec<Vec<V>> = groups
        .into_iter()
        .map(|(mut key, members)| {
            for m in chart["metrics"].as_array().unwrap() {
                let value = aggregate(&members, m["field"].as_str().unwrap(), m["agg"].as_str().unwrap());
                // A ratio is SAFE_DIVIDE: NULL over no rows or a zero denominator.
                let value = match m.get("divide_by") {
                    Some(d) => {
                        let by = aggregate(&members, d["field"].as_str().unwrap(), d["agg"].as_str().unwrap());
                        match (number(&value), number(&by)) {
                            (Some(a), Some(b)) if !b.is_zero() => V::Num(div9(a, b)),
                            _ => V::Null,
                        }
                    }
                    None => value,
                };
                key.push(value);
            }
            key
        })
        .collect();
    // A running total runs over the one dimension, ascending.
    let metrics = chart["metrics"].as_array().unwrap();
    if metrics.iter().any(|m| m["cumulative"] == true) {
        out.sort_by(|a, b| a[0].cmp(&b[0]));
        for (i, m) in metrics.iter().enumerate() {
            if m["cumulative"] == true {
                let mut total = Decimal::ZERO;
                for row in out.iter_mut() {
                    total += number(&row[1 + i]).unwrap_or_default();
                    row[1 + i] = V::Num(total);
                }
            }
        }
    }
    out
}

/// Each column's format: a dimension's from its type, a metric's from the definition.
fn formats(chart: &Value) -> Vec<Option<String>> {
    let dims = chart["dimensions"].as_array().map_or(0, |d| d.len());
    (0..dims)
        .map(|_| None)
        .chain(
            chart["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["format"].as_str().map(str::to_string)),
        )
        .collect()
}

/// The columns the chart sorts by, with descending or not, and NULLs last or not.
fn sort_columns(chart: &Value) -> Vec<(usize, bool, bool)> {
    let dims: Vec<&str> = chart["dimensions"]
        .as_array()
        .map(|d| d.iter().map(|v| v.as_str().unwrap()).collect())
        .unwrap_or_default();
    let metrics: Vec<&str> = chart["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().or(m["field"].as_str()).unwrap())
        .collect();
    chart["sort"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let f = s["field"].as_str().unwrap();
            let i = dims
                .iter()
                .position(|d| *d == f)
                .or_else(|| metrics.iter().position(|m| *m == f).map(|m| dims.len() + m))
                .unwrap();
            (i, s["order"] == "desc", s["nulls_last"] == true)
        })
        .collect()
}

/// The rows in the chart's order (BigQuery's: NULL first ascending, last descending),
/// cut at its limit, as they read.
fn visible(chart: &Value, rows: Vec<Vec<V>>) -> Vec<Vec<(String, bool)>> {
    let limit = chart["limit"].as_u64().map_or(usize::MAX, |l| l as usize);
    let mut all = ordered(chart, rows);
    all.truncate(limit);
    all
}

/// Every row in the chart's order, as they read.
fn ordered(chart: &Value, mut rows: Vec<Vec<V>>) -> Vec<Vec<(String, bool)>> {
    let sort = sort_columns(chart);
    rows.sort_by(|a, b| {
        for (i, desc, nulls_last) in &sort {
            let o = a[*i].cmp(&b[*i]);
            let o = if *desc { o.reverse() } else { o };
            let o = match (&a[*i], &b[*i]) {
                (V::Null, V::Null) => o,
                (V::Null, _) | (_, V::Null) if *nulls_last => (a[*i] == V::Null).cmp(&(b[*i] == V::Null)),
                _ => o,
            };
            if o.is_ne() {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    let f = formats(chart);
    rows.iter()
        .map(|r| r.iter().zip(&f).map(|(v, f)| reads(v, f.as_deref())).collect())
        .collect()
}

fn cell_matches(got: &str, want: &(String, bool)) -> bool {
    if want.1 {
        got.starts_with(&want.0)
    } else {
        got == want.0
    }
}

/// The chart as the API answered equals the reference: the same number of rows, the same
/// sort-column texts in the same order, and the same rows (ties in the sort columns may
/// come in any order, so rows are matched as a multiset; at a limit, a tie at the cut may
/// bring another of the tied rows, which must still be a row of the reference).
fn compare(page: &str, chart: &Value, got: &[Vec<String>], reference: Vec<Vec<V>>) -> Result<(), String> {
    let id = format!("{page}/{}", chart["id"].as_str().unwrap());
    let all = ordered(chart, reference.clone());
    let want = visible(chart, reference);
    if got.len() != want.len() {
        return Err(format!(
            "{id}: {} rows, the reference has {}: {got:?} against {want:?}",
            got.len(),
            want.len()
        ));
    }
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        for (c, _, _) in sort_columns(chart) {
            if !cell_matches(&g[c], &w[c]) {
                return Err(format!(
                    "{id}: row {i} sorts by {:?}, the reference by {:?}",
                    g[c], w[c].0
                ));
            }
        }
    }
    let mut pool: Vec<&Vec<(String, bool)>> = if want.len() < all.len() {
        all.iter().collect()
    } else {
        want.iter().collect()
    };
    for g in got {
        let Some(i) = pool
            .iter()
            .position(|w| w.len() == g.len() && g.iter().zip(w.iter()).all(|(g, w)| cell_matches(g, w)))
        else {
            return Err(format!("{id}: row {g:?} is not in the reference {want:?}"));
        };
        pool.remove(i);
    }
    Ok(())
}

/// The report's definition, and the fixture that puts every seed view of bigquery/views/
/// (v_kpi_overview, v_revenue_daily, ...) through a chart, over all time, as the report
/// did before its pages took a period: those views are Looker Studio's, and stay tested.
const REPORTS: [&str; 2] = ["looker/report.json", "tests/data/seed_views_report.json"];

fn report(file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()).unwrap()
}

/// One chart read one way: which report (index in [`REPORTS`]), its page, its
/// definition, the query string, and the days it reads (`None`: every day).
struct Reading {
    report: usize,
    page: String,
    chart: Value,
    query: String,
    range: Option<(NaiveDate, NaiveDate)>,
    /// With a comparison: the compared days.
    compared: Option<(NaiveDate, NaiveDate)>,
}

/// The days of a page's default preset when today is `today` (the presets the report's
/// pages use, by their definition in docs/metrics.md), and of its default comparison.
fn default_days(page: &Value, today: NaiveDate) -> ((NaiveDate, NaiveDate), Option<(NaiveDate, NaiveDate)>) {
    let days = match page["default_range"].as_str().unwrap_or("last_28_days") {
        "today" => (today, today),
        "last_28_days" => (today - Duration::days(27), today),
        other => panic!("preset {other} is not in this test"),
    };
    let compared = match page["default_compare"].as_str() {
        None => None,
        Some("previous") => {
            let n = (days.1 - days.0).num_days() + 1;
            Some((days.0 - Duration::days(n), days.0 - Duration::days(1)))
        }
        Some(other) => panic!("comparison {other} is not in this test"),
    };
    (days, compared)
}

/// Every chart of both reports: the report's on each page's default period and over all
/// time (`to` far ahead, no `from`), the fixture's as they are.
fn readings(today: NaiveDate) -> Vec<Reading> {
    let mut out = Vec::new();
    for (i, file) in REPORTS.iter().enumerate() {
        for p in report(file)["pages"].as_array().unwrap() {
            let page = p["id"].as_str().unwrap().to_string();
            for c in p["charts"].as_array().unwrap() {
                if i == 0 {
                    let (days, compared) = default_days(p, today);
                    out.push(Reading {
                        report: i,
                        page: page.clone(),
                        chart: c.clone(),
                        query: String::new(),
                        range: Some(days),
                        compared,
                    });
                    out.push(Reading {
                        report: i,
                        page: page.clone(),
                        chart: c.clone(),
                        query: "?to=2999-12-31".into(),
                        range: None,
                        compared: None,
                    });
                } else {
                    out.push(Reading {
                        report: i,
                        page: page.clone(),
                        chart: c.clone(),
                        query: String::new(),
                        range: None,
                        compared: None,
                    });
                }
            }
        }
    }
    out
}

impl Reading {
    fn key(&self) -> String {
        format!(
            "{}:{}/{}{}",
            REPORTS[self.report],
            self.page,
            self.chart["id"].as_str().unwrap(),
            self.query
        )
    }
}

// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn every_chart_equals_an_independent_computation_and_each_rule_bites() {
    let tz: Tz = ZONE.parse().unwrap();
    let started = Utc::now();
    let names = fresh_names("metrics");
    let out = run(bin("provision", &names).args(["--ack-deadline-secs", "10", "--time-zone", ZONE]));
    assert!(out.status.success(), "provision failed");
    let gcp = instashop::platform::gcp::Gcp::new(&gcp_args()).unwrap();
    let h = history(started, tz);
    let dir = std::env::temp_dir().join(format!("metrics-{}", names.dataset));
    std::fs::create_dir_all(&dir).unwrap();
    write_csvs(&h, &dir);
    assert!(
        run(bin("batch-loader", &names).arg("--source").arg(&dir))
            .status
            .success()
    );
    // The history in full, as after loading it; the live sales below then come in by
    // the scheduled (incremental) refresh, which the charts must agree with.
    let out = run(bin("refresh", &names).args(["--all", "--time-zone", ZONE]));
    assert!(out.status.success(), "refresh --all: {}", stderr(&out));

    // Live: the first messages, then (once they are in BigQuery) the changed re-send.
    let live = live(started, tz, &h);
    let payloads: Vec<String> = live.first.iter().map(Event::payload).collect();
    publish_payloads(&gcp, &names, &payloads, &HashMap::new()).await;
    let (p, d) = (gcp.project.clone(), names.dataset.clone());
    let messages = format!("SELECT COUNT(DISTINCT message_id) AS n FROM `{p}.{d}.fact_sales_streaming`");
    stream_until(&names, &gcp, &|_| {}, &messages, live.first.len() as u64).await;
    publish_payloads(&gcp, &names, &[live.resend.payload()], &HashMap::new()).await;
    stream_until(&names, &gcp, &|_| {}, &messages, live.first.len() as u64 + 1).await;
    let mut published = live.first.clone();
    published.push(live.resend.clone());
    let out = run(bin("refresh", &names).args(["--time-zone", ZONE]));
    assert!(out.status.success(), "refresh: {}", stderr(&out));
    // The open-alerts tile reads alert_log: one evaluation, as the scheduled query's.
    let out = run(bin("alerts", &names).args(["--once", "--time-zone", ZONE]));
    assert!(out.status.success(), "alerts: {}", stderr(&out));

    // The data makes each rule bite (checked on the reference, before any chart is read).
    // The dashboards' today is the shop's (the presets end on it).
    let zone = ("INSTASHOP_TIME_ZONE", ZONE.to_string());
    let served = [
        Served::start(&names, std::slice::from_ref(&zone)),
        Served::start(
            &names,
            &[
                zone.clone(),
                (
                    "INSTASHOP_REPORT",
                    Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join(REPORTS[1])
                        .display()
                        .to_string(),
                ),
            ],
        ),
    ];
    let now = Utc::now();
    let reference = |rules: Rules| Reference {
        h: &h,
        published: &published,
        tz,
        now,
        rules,
    };
    let full = reference(Rules::ALL);
    let readings = readings(full.today());
    let names_shared = {
        let mut seen = HashMap::new();
        for f in full.completed() {
            seen.entry(full.customer(&f.customer_id).unwrap().name.clone())
                .or_insert_with(HashSet::new)
                .insert(f.customer_id.clone());
        }
        seen.values().filter(|ids| ids.len() > 1).count()
    };
    assert!(names_shared > 0, "customers who share a name bought");
    let figures = |r: &Reference| -> BTreeMap<String, Vec<Vec<(String, bool)>>> {
        readings
            .iter()
            .map(|x| {
                let rows = apply(&x.chart, &r.view(x.chart["view"].as_str().unwrap()), now, x.range);
                (x.key(), visible(&x.chart, rows))
            })
            .collect()
    };
    let want = figures(&full);
    for (rule, rules) in Rules::each_off() {
        let without = figures(&reference(rules));
        let changed: Vec<&String> = want.keys().filter(|k| want[*k] != without[*k]).collect();
        assert!(
            !changed.is_empty(),
            "taking out '{rule}' changes no chart: the data does not test it"
        );
        eprintln!("without '{rule}', these charts change: {changed:?}");
    }
    // The default period leaves sales out, so that reading it is a test of the range.
    let batch_default = &want["looker/report.json:batch/total_revenue"];
    let batch_all = &want["looker/report.json:batch/total_revenue?to=2999-12-31"];
    assert_ne!(batch_default, batch_all, "the last 28 days are not all the history");

    // Every chart from the dashboard's API equals the reference; a compared period's
    // scorecard values too.
    let http = reqwest::Client::new();
    let mut failures = Vec::new();
    let texts = |rows: &Value| -> Vec<Vec<String>> {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["t"].as_str().unwrap().to_string())
                    .collect()
            })
            .collect()
    };
    for x in &readings {
        let id = x.chart["id"].as_str().unwrap();
        let answer: Value = http
            .get(format!(
                "{}/api/pages/{}/charts/{id}{}",
                served[x.report].url, x.page, x.query
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if answer["rows"].as_array().is_none() {
            failures.push(format!("{}: {answer}", x.key()));
            continue;
        }
        let rows = apply(&x.chart, &full.view(x.chart["view"].as_str().unwrap()), now, x.range);
        if let Err(e) = compare(&x.key(), &x.chart, &texts(&answer["rows"]), rows) {
            failures.push(e);
        }
        let comparable = x.chart["date"].is_string() && x.chart["kind"] == "scorecard";
        if let (true, Some(days)) = (comparable, x.compared) {
            let before = apply(&x.chart, &full.view(x.chart["view"].as_str().unwrap()), now, Some(days));
            let got = vec![
                answer["compare"]["cells"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{}: no comparison: {answer}", x.key()))
                    .iter()
                    .map(|c| c["t"].as_str().unwrap().to_string())
                    .collect(),
            ];
            if let Err(e) = compare(&format!("{} (compared)", x.key()), &x.chart, &got, before) {
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} charts differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // product_daily_units, which the stock views and the forecast read, is sales_facts'
    // completed units per product and day, every day, after the incremental refresh too.
    let kept: BTreeMap<(String, String), String> = query(
        &gcp,
        &format!(
            "SELECT product_id, CAST(sale_date AS STRING), CAST(units AS STRING) FROM `{p}.{d}.product_daily_units` \
             WHERE sale_date >= '2000-01-01'"
        ),
    )
    .await
    .into_iter()
    .map(|r| ((r[0].clone().unwrap(), r[1].clone().unwrap()), r[2].clone().unwrap()))
    .collect();
    let mut want_units: BTreeMap<(String, String), i64> = BTreeMap::new();
    for f in full.completed() {
        *want_units
            .entry((f.product_id.clone(), f.sale_date.to_string()))
            .or_default() += f.qty;
    }
    let want_units: BTreeMap<(String, String), String> =
        want_units.into_iter().map(|(k, v)| (k, v.to_string())).collect();
    assert_eq!(kept, want_units, "product_daily_units against the completed sales");
    // Summing the unified view, as a Looker Studio user would, counts each sale once.
    let sum = query(
        &gcp,
        &format!("SELECT CAST(SUM(gross_amount) AS STRING) FROM `{p}.{d}.v_fact_sales_all` WHERE payment_status = 'completed'"),
    )
    .await;
    let want_sum: Decimal = full.completed().iter().map(|f| f.amount).sum();
    assert_eq!(
        sum[0][0].as_deref().map(|s| s.parse::<Decimal>().unwrap().normalize()),
        Some(want_sum.normalize())
    );
    let _ = std::fs::remove_dir_all(&dir);
    cleanup(&gcp, &names).await;
}
