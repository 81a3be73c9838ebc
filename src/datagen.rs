//! `datagen`: historical data as CSVs, with the seed's columns first (in the seed's
//! order) and the InstaShop columns after them, plus `inventory.csv` and a
//! `manifest.json` with row counts and the exact revenue total. Same seed, same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{Duration, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::catalog::{Catalog, weighted};
use crate::error::{Error, Result};

/// Payment methods and weights.
pub const PAYMENT_METHODS: &[(&str, u32)] = &[
    ("credit_card", 45),
    ("debit_card", 25),
    ("paypal", 15),
    ("bank_transfer", 10),
    ("cash", 5),
];
/// Order statuses and weights: a share of failed and refunded orders.
pub const STATUSES: &[(&str, u32)] = &[("completed", 90), ("failed", 6), ("refunded", 4)];
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

/// A CSV writer on `dir/name` (quoting only where a field needs it, LF line ends) and
/// the closure that turns its errors into [`Error::Io`] naming the file.
fn create(dir: &Path, name: &str) -> Result<(Csv, impl Fn(csv::Error) -> Error + use<>)> {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).map_err(|e| Error::io("create", &path, e))?;
    let w = csv::WriterBuilder::new()
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

    let (mut orders, orders_err) = create(dir, "orders.csv")?;
    let (mut items, items_err) = create(dir, "order_items.csv")?;
    orders
        .write_record(["order_id", "customer_id", "order_date", "payment_method", "status"])
        .map_err(&orders_err)?;
    items
        .write_record(["order_id", "product_id", "qty", "unit_price"])
        .map_err(&items_err)?;
    let days = (o.end - o.start).num_days().max(0);
    let mut lines = 0u64;
    let mut total = Decimal::ZERO;
    let mut order_id = String::with_capacity(16);
    for n in 1..=o.orders {
        let c = &catalog.customers[rng.random_range(0..catalog.customers.len())];
        let date = (o.start + Duration::days(rng.random_range(0..=days)))
            .max(c.signup_date)
            .min(o.end);
        order_id.clear();
        write!(order_id, "O{n:07}").expect("writing to a String cannot fail");
        day.clear();
        write!(day, "{date}").expect("writing to a String cannot fail");
        orders
            .write_record([
                order_id.as_str(),
                c.id.as_str(),
                day.as_str(),
                weighted(&mut rng, PAYMENT_METHODS),
                weighted(&mut rng, STATUSES),
            ])
            .map_err(&orders_err)?;
        for _ in 0..rng.random_range(1..=4) {
            let p = &catalog.products[rng.random_range(0..catalog.products.len())];
            let qty: i64 = weighted(&mut rng, &[(1, 60), (2, 25), (3, 10), (5, 5)]);
            // Now and then a 10% discount on the list price, rounded to the cent.
            let price = if rng.random_ratio(1, 10) {
                (p.price * Decimal::new(9, 1)).round_dp(2)
            } else {
                p.price
            };
            dec.clear();
            write!(dec, "{price}").expect("writing to a String cannot fail");
            items
                .write_record([order_id.as_str(), p.id.as_str(), num.format(qty), dec.as_str()])
                .map_err(&items_err)?;
            total += price * Decimal::from(qty);
            lines += 1;
        }
        if n % 10_000 == 0 {
            progress(n);
        }
    }
    orders.flush().map_err(|e| orders_err(e.into()))?;
    items.flush().map_err(|e| items_err(e.into()))?;
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
