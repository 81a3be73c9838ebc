//! `datagen`: historical data as CSVs, with the seed's columns first (in the seed's
//! order) and the InstaShop columns after them, plus `inventory.csv` and a
//! `manifest.json` with row counts and the exact revenue total. Same seed, same bytes
//! (pinned by a digest test). The order files are written on two threads: one draws
//! every random number in sequence and writes `orders.csv`, the other formats
//! `order_items.csv` from the drawn lines; prices and dates are formatted once.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{Duration, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::batch::catalog::{Catalog, weighted};
use crate::platform::error::{Error, Result};

/// Payment methods and weights.
pub(crate) const PAYMENT_METHODS: &[(&str, u32)] = &[
    ("credit_card", 45),
    ("debit_card", 25),
    ("paypal", 15),
    ("bank_transfer", 10),
    ("cash", 5),
];
/// Order statuses and weights: a share of failed and refunded orders.
pub(crate) const STATUSES: &[(&str, u32)] = &[("completed", 90), ("failed", 6), ("refunded", 4)];
/// Warehouses.
pub const WAREHOUSES: &[&str] = &["Santiago", "Buenos Aires", "Lima", "Bogotá", "Ciudad de México"];

/// What to generate.
#[derive(Debug, Clone)]
pub struct DatagenOptions {
    /// Seed of everything random (and of the master data, shared with `publisher`).
    pub seed: u64,
    /// Customers.
    pub customers: u32,
    /// Products.
    pub products: u32,
    /// Orders (each with 1 to 4 lines).
    pub orders: u64,
    /// First order date.
    pub start: NaiveDate,
    /// Last order date.
    pub end: NaiveDate,
}

/// What was written: counts per file and the exact revenue of all order lines.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Manifest {
    /// Seed used.
    pub seed: u64,
    /// Data rows per file (without the header).
    pub rows: BTreeMap<String, u64>,
    /// Sum of qty × unit_price over order_items.csv, exact.
    pub gross_total: Decimal,
}

type Csv = csv::Writer<std::fs::File>;

/// Order lines handed to the order_items writer at a time.
const LINES_PER_CHUNK: usize = 16 * 1024;

/// One drawn order line, for the order_items writer.
struct Line {
    order: u64,
    product: u32,
    qty: u32,
    discounted: bool,
}

/// `O` and the order number, zero-padded to 7 digits (`O0000042`).
fn order_id(out: &mut String, n: u64, num: &mut itoa::Buffer) {
    out.clear();
    out.push('O');
    let digits = num.format(n);
    for _ in digits.len()..7 {
        out.push('0');
    }
    out.push_str(digits);
}

/// A CSV writer on `dir/name` (quoting only where a field needs it, LF line ends) and
/// the closure that turns its errors into [`Error::Io`] naming the file.
fn create(dir: &Path, name: &str) -> Result<(Csv, impl Fn(csv::Error) -> Error + use<>)> {
    create_with(dir, name, csv::QuoteStyle::Necessary)
}

/// [`create`] with a quoting style. `Never` is for files whose every field is made here
/// of ASCII letters, digits, `-`, `.` and `_` (ids, dates, numbers, fixed words): the
/// writer then copies fields instead of scanning each byte for a quote, a third of the
/// time of the order files.
fn create_with(
    dir: &Path,
    name: &str,
    quoting: csv::QuoteStyle,
) -> Result<(Csv, impl Fn(csv::Error) -> Error + use<>)> {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).map_err(|e| Error::io("create", &path, e))?;
    let w = csv::WriterBuilder::new()
        .quote_style(quoting)
        .buffer_capacity(1 << 20)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(file);
    Ok((w, move |e: csv::Error| Error::io("write", &path, e.into())))
}

/// Writes the CSVs and manifest into `dir`; `progress` is called with order counts.
pub fn generate(dir: &Path, o: &DatagenOptions, mut progress: impl FnMut(u64)) -> Result<Manifest> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    let signup_from = o.start - Duration::days(365);
    let catalog = Catalog::generate(o.seed, o.customers, o.products, signup_from, o.end);
    let mut rng = StdRng::seed_from_u64(o.seed ^ 0x0BA7_C400_0000_0004);
    let mut manifest = Manifest {
        seed: o.seed,
        ..Default::default()
    };
    // Numbers are formatted into one reused buffer each, not a String per field.
    let mut num = itoa::Buffer::new();
    let mut dec = String::with_capacity(24);
    let mut day = String::with_capacity(10);

    let (mut w, err) = create(dir, "customers.csv")?;
    w.write_record(["customer_id", "name", "country", "signup_date", "plan"])
        .map_err(&err)?;
    for c in &catalog.customers {
        day.clear();
        write!(day, "{}", c.signup_date).expect("writing to a String cannot fail");
        w.write_record([c.id.as_str(), c.name.as_str(), c.country, day.as_str(), c.plan])
            .map_err(&err)?;
    }
    w.flush().map_err(|e| err(e.into()))?;
    manifest.rows.insert("customers".into(), catalog.customers.len() as u64);

    let (mut w, err) = create(dir, "products.csv")?;
    w.write_record(["product_id", "category", "price", "name"])
        .map_err(&err)?;
    for p in &catalog.products {
        dec.clear();
        write!(dec, "{}", p.price).expect("writing to a String cannot fail");
        w.write_record([p.id.as_str(), p.category, dec.as_str(), p.name.as_str()])
            .map_err(&err)?;
    }
    w.flush().map_err(|e| err(e.into()))?;
    manifest.rows.insert("products".into(), catalog.products.len() as u64);

    let (mut inv, err) = create(dir, "inventory.csv")?;
    inv.write_record(["product_id", "warehouse", "stock", "reorder_point"])
        .map_err(&err)?;
    let mut inv_rows = 0u64;
    for p in &catalog.products {
        let n = rng.random_range(1..=3);
        let start = rng.random_range(0..WAREHOUSES.len());
        for k in 0..n {
            let reorder: i64 = rng.random_range(5..=40);
            // One in six product-warehouse pairs sits at or under its reorder point.
            let stock: i64 = if rng.random_ratio(1, 6) {
                rng.random_range(0..=reorder)
            } else {
                rng.random_range(reorder + 1..=reorder * 8)
            };
            inv.write_field(&p.id).map_err(&err)?;
            inv.write_field(WAREHOUSES[(start + k) % WAREHOUSES.len()])
                .map_err(&err)?;
            inv.write_field(num.format(stock)).map_err(&err)?;
            inv.write_field(num.format(reorder)).map_err(&err)?;
            inv.write_record(None::<&[u8]>).map_err(&err)?;
            inv_rows += 1;
        }
    }
    inv.flush().map_err(|e| err(e.into()))?;
    manifest.rows.insert("inventory".into(), inv_rows);

    let (mut orders, orders_err) = create_with(dir, "orders.csv", csv::QuoteStyle::Never)?;
    let (items, items_err) = create_with(dir, "order_items.csv", csv::QuoteStyle::Never)?;
    orders
        .write_record(["order_id", "customer_id", "order_date", "payment_method", "status"])
        .map_err(&orders_err)?;
    let days = (o.end - o.start).num_days().max(0);
    // Everything a line or an order prints that depends only on the master data is
    // formatted once: the prices (list and discounted) of each product, each date, each
    // customer's first possible order day. The loop below then only draws and copies.
    let prices: Vec<[(String, Decimal); 2]> = catalog
        .products
        .iter()
        .map(|p| {
            // Now and then a 10% discount on the list price, rounded to the cent.
            let discounted = (p.price * Decimal::new(9, 1)).round_dp(2);
            [(p.price.to_string(), p.price), (discounted.to_string(), discounted)]
        })
        .collect();
    let day_text: Vec<String> = (0..=days).map(|d| (o.start + Duration::days(d)).to_string()).collect();
    let first_day: Vec<i64> = catalog
        .customers
        .iter()
        .map(|c| (c.signup_date - o.start).num_days())
        .collect();
    // One thread draws every random number, in the one order that makes a seed's bytes,
    // and writes orders.csv; a second formats order_items.csv from the lines it is sent,
    // in chunks (at most four in flight), so the two files are written on two cores.
    let (items_total, lines) = std::thread::scope(|scope| -> Result<(Decimal, u64)> {
        let (send, receive) = std::sync::mpsc::sync_channel::<Vec<Line>>(4);
        let products = &catalog.products;
        let prices = &prices;
        let writer = scope.spawn(move || -> Result<(Decimal, u64)> {
            let mut items = items;
            items
                .write_record(["order_id", "product_id", "qty", "unit_price"])
                .map_err(&items_err)?;
            let mut num = itoa::Buffer::new();
            let mut id = String::with_capacity(16);
            // Units sold per product and price (list, discounted): the exact total at the end.
            let mut sold = vec![[0i64; 2]; products.len()];
            let mut lines = 0u64;
            for chunk in receive {
                for l in chunk {
                    order_id(&mut id, l.order, &mut num);
                    items.write_field(&id).map_err(&items_err)?;
                    items
                        .write_field(&products[l.product as usize].id)
                        .map_err(&items_err)?;
                    items.write_field(num.format(l.qty)).map_err(&items_err)?;
                    items
                        .write_field(&prices[l.product as usize][usize::from(l.discounted)].0)
                        .map_err(&items_err)?;
                    items.write_record(None::<&[u8]>).map_err(&items_err)?;
                    sold[l.product as usize][usize::from(l.discounted)] += i64::from(l.qty);
                    lines += 1;
                }
            }
            items.flush().map_err(|e| items_err(e.into()))?;
            let total = sold
                .iter()
                .zip(prices)
                .flat_map(|(q, p)| [p[0].1 * Decimal::from(q[0]), p[1].1 * Decimal::from(q[1])])
                .sum();
            Ok((total, lines))
        });
        let mut chunk = Vec::with_capacity(LINES_PER_CHUNK);
        let mut id = String::with_capacity(16);
        for n in 1..=o.orders {
            let ci = rng.random_range(0..catalog.customers.len());
            let c = &catalog.customers[ci];
            let day = rng.random_range(0..=days).max(first_day[ci]).min(days);
            order_id(&mut id, n, &mut num);
            orders.write_field(&id).map_err(&orders_err)?;
            orders.write_field(&c.id).map_err(&orders_err)?;
            orders.write_field(&day_text[day as usize]).map_err(&orders_err)?;
            orders
                .write_field(weighted(&mut rng, PAYMENT_METHODS))
                .map_err(&orders_err)?;
            orders.write_field(weighted(&mut rng, STATUSES)).map_err(&orders_err)?;
            orders.write_record(None::<&[u8]>).map_err(&orders_err)?;
            for _ in 0..rng.random_range(1..=4) {
                let product = rng.random_range(0..catalog.products.len()) as u32;
                let qty: u32 = weighted(&mut rng, &[(1, 60), (2, 25), (3, 10), (5, 5)]);
                let discounted = rng.random_ratio(1, 10);
                chunk.push(Line {
                    order: n,
                    product,
                    qty,
                    discounted,
                });
            }
            if chunk.len() >= LINES_PER_CHUNK - 4
                && send
                    .send(std::mem::replace(&mut chunk, Vec::with_capacity(LINES_PER_CHUNK)))
                    .is_err()
            {
                break; // the writer stopped on an error, which join() returns
            }
            if n % 10_000 == 0 {
                progress(n);
            }
        }
        let _ = send.send(chunk);
        drop(send);
        orders.flush().map_err(|e| orders_err(e.into()))?;
        writer.join().expect("the order_items writer does not panic")
    })?;
    let total = items_total;
    manifest.rows.insert("orders".into(), o.orders);
    manifest.rows.insert("order_items".into(), lines);
    manifest.gross_total = total;
    let json = serde_json::to_string_pretty(&manifest).expect("a manifest always serialises");
    let path = dir.join("manifest.json");
    std::fs::write(&path, json).map_err(|e| Error::io("write", &path, e))?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> DatagenOptions {
        DatagenOptions {
            seed: 3,
            customers: 300,
            products: 60,
            orders: 2000,
            start: "2024-01-01".parse().unwrap(),
            end: "2025-12-31".parse().unwrap(),
        }
    }

    /// The bytes of a seed never change: these digests were taken from the single-thread
    /// generator before the order files moved to two threads and preformatted text.
    #[test]
    fn a_seed_gives_the_same_bytes_as_every_earlier_version() {
        use sha2::{Digest, Sha256};
        let dir = std::env::temp_dir().join(format!("dg-{}", uuid::Uuid::new_v4()));
        generate(&dir, &opts(), |_| {}).unwrap();
        let digest = |f: &str| {
            let d = Sha256::digest(std::fs::read(dir.join(f)).unwrap());
            d.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let got: Vec<(&str, String)> = ["orders.csv", "order_items.csv", "manifest.json"]
            .into_iter()
            .map(|f| (f, digest(f)))
            .collect();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(got, GOLDEN.iter().map(|(f, d)| (*f, d.to_string())).collect::<Vec<_>>());
    }

    const GOLDEN: [(&str, &str); 3] = [
        (
            "orders.csv",
            "8d9799d2f55c8201b8c375b57a928cbca339c9117d05ceb77e5c7d675a063af0",
        ),
        (
            "order_items.csv",
            "e4a8d901c30b51e56e990bbf6b35253bd09dcccc50a669ecac7e9ac0f901a8d8",
        ),
        (
            "manifest.json",
            "7716730ff13eb5163fe9b299b276b06ca25657efde6e48e497b74ddc74c5d90b",
        ),
    ];

    #[test]
    fn same_seed_same_bytes_and_referential_integrity() {
        let a = std::env::temp_dir().join(format!("dg-{}", uuid::Uuid::new_v4()));
        let b = std::env::temp_dir().join(format!("dg-{}", uuid::Uuid::new_v4()));
        let ma = generate(&a, &opts(), |_| {}).unwrap();
        generate(&b, &opts(), |_| {}).unwrap();
        for f in [
            "customers.csv",
            "products.csv",
            "orders.csv",
            "order_items.csv",
            "inventory.csv",
            "manifest.json",
        ] {
            assert_eq!(
                std::fs::read(a.join(f)).unwrap(),
                std::fs::read(b.join(f)).unwrap(),
                "{f}"
            );
        }
        let read = |f: &str| -> Vec<Vec<String>> {
            let mut r = csv::Reader::from_path(a.join(f)).unwrap();
            r.records()
                .map(|x| x.unwrap().iter().map(str::to_string).collect())
                .collect()
        };
        let customers: std::collections::HashSet<String> =
            read("customers.csv").into_iter().map(|r| r[0].clone()).collect();
        let products: std::collections::HashSet<String> =
            read("products.csv").into_iter().map(|r| r[0].clone()).collect();
        let orders = read("orders.csv");
        let order_ids: std::collections::HashSet<String> = orders.iter().map(|r| r[0].clone()).collect();
        assert!(orders.iter().all(|r| customers.contains(&r[1])));
        let items = read("order_items.csv");
        assert!(
            items
                .iter()
                .all(|r| order_ids.contains(&r[0]) && products.contains(&r[1]))
        );
        let total: Decimal = items
            .iter()
            .map(|r| r[3].parse::<Decimal>().unwrap() * r[2].parse::<Decimal>().unwrap())
            .sum();
        assert_eq!(total, ma.gross_total);
        assert_eq!(ma.rows["order_items"], items.len() as u64);
        assert!(
            read("customers.csv").iter().any(|r| r[1].contains(',')),
            "quoted names with commas"
        );
        assert!(orders.iter().any(|r| r[4] == "failed") && orders.iter().any(|r| r[4] == "refunded"));
        assert!(
            read("inventory.csv")
                .iter()
                .any(|r| r[2].parse::<i64>().unwrap() <= r[3].parse::<i64>().unwrap())
        );
        let _ = std::fs::remove_dir_all(&a);
        let _ = std::fs::remove_dir_all(&b);
    }
}
