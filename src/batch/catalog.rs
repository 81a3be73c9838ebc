//! Master data (customers and products), generated deterministically from a seed, so
//! that `datagen`'s CSVs and the `publisher`'s live events use the same ids and join to
//! the same countries and categories.
//!
//! Realistic on purpose: Chile and Argentina hold most customers (the seed's insight),
//! categories have fitting price ranges, prices are exact decimals with two places.

use chrono::{Duration, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

/// Customers' countries and their weights (percent).
pub const COUNTRIES: &[(&str, u32)] = &[
    ("Chile", 34),
    ("Argentina", 28),
    ("Peru", 8),
    ("Colombia", 7),
    ("Mexico", 7),
    ("Uruguay", 5),
    ("Brazil", 4),
    ("Spain", 3),
    ("United States", 2),
    ("Paraguay", 2),
];

/// Categories with their unit price range (whole currency units) and weight (percent of products).
pub const CATEGORIES: &[(&str, u32, u32, u32)] = &[
    ("Electronics", 80, 2500, 20),
    ("Books", 8, 90, 22),
    ("Clothing", 12, 180, 18),
    ("Home", 15, 600, 16),
    ("Sports", 10, 450, 14),
    ("Toys", 6, 150, 10),
];

/// InstaShop plans and their weights.
pub const PLANS: &[(&str, u32)] = &[("Basic", 60), ("Premium", 30), ("Enterprise", 10)];

const FIRST_NAMES: &[&str] = &[
    "Sofía",
    "Mateo",
    "Valentina",
    "Benjamín",
    "Isabella",
    "Martín",
    "Camila",
    "Joaquín",
    "Lucía",
    "Tomás",
    "María José",
    "Agustín",
    "Renata",
    "Nicolás",
    "Florencia",
    "Ignacio",
    "Antonella",
    "Sebastián",
    "Josefa",
    "Andrés",
];
const LAST_NAMES: &[&str] = &[
    "González",
    "Muñoz",
    "Rodríguez",
    "Fernández",
    "López",
    "Martínez",
    "Pérez",
    "Sánchez",
    "Romero",
    "Díaz",
    "Álvarez",
    "Torres",
    "Rojas",
    "Gómez",
    "Peña",
    "Castro",
    "Núñez",
    "Vargas",
    "Ibáñez",
    "Herrera",
];
const PRODUCT_WORDS: &[(&str, &[&str])] = &[
    (
        "Electronics",
        &["Laptop", "Smartphone", "Auriculares", "Monitor", "Tablet", "Cámara"],
    ),
    (
        "Books",
        &["Novela", "Cuentos", "Ensayo", "Poesía", "Historia", "Cocina"],
    ),
    (
        "Clothing",
        &["Polera", "Chaqueta", "Jeans", "Zapatillas", "Vestido", "Bufanda"],
    ),
    (
        "Home",
        &["Lámpara", "Sartén", "Cojín", "Alfombra", "Cafetera", "Toalla"],
    ),
    (
        "Sports",
        &["Pelota", "Raqueta", "Bicicleta", "Mancuernas", "Mochila", "Carpa"],
    ),
    (
        "Toys",
        &["Puzzle", "Muñeca", "Bloques", "Peluche", "Autito", "Juego de mesa"],
    ),
];

/// A customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// `C00001`...
    pub id: String,
    /// Full name (accents, and sometimes a comma: "Pérez, Ana").
    pub name: String,
    /// Country.
    pub country: &'static str,
    /// Sign-up date.
    pub signup_date: NaiveDate,
    /// InstaShop plan.
    pub plan: &'static str,
}

/// A product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// `P0001`...
    pub id: String,
    /// Category.
    pub category: &'static str,
    /// Product name.
    pub name: String,
    /// List price, two decimals.
    pub price: Decimal,
}

/// The shop's master data.
#[derive(Debug, Clone)]
pub(crate) struct Catalog {
    /// Customers, by id order.
    pub customers: Vec<Customer>,
    /// Products, by id order.
    pub products: Vec<Product>,
}

/// Picks from `(item, weight)` pairs.
pub(crate) fn weighted<T: Copy>(rng: &mut impl Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (item, w) in items {
        if x < *w {
            return *item;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

/// Customer id number `n` (1-based).
pub fn customer_id(n: u32) -> String {
    format!("C{n:05}")
}

/// Product id number `n` (1-based).
pub fn product_id(n: u32) -> String {
    format!("P{n:04}")
}

impl Catalog {
    /// The catalog for `seed`: same seed and sizes, same catalog. Customers signed up
    /// between `signup_from` and `signup_to`.
    pub fn generate(seed: u64, customers: u32, products: u32, signup_from: NaiveDate, signup_to: NaiveDate) -> Self {
        // Two streams, so products do not depend on the customers' date range.
        let mut rng = StdRng::seed_from_u64(seed ^ 0x00C4_7A10_6000_0001);
        let span = (signup_to - signup_from).num_days().max(1);
        let customers = (1..=customers)
            .map(|n| {
                let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
                let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
                // One in twenty is written "Last, First", as some CRMs export it.
                let name = if rng.random_ratio(1, 20) {
                    format!("{last}, {first}")
                } else {
                    format!("{first} {last}")
                };
                Customer {
                    id: customer_id(n),
                    name,
                    country: weighted(&mut rng, COUNTRIES),
                    signup_date: signup_from + Duration::days(rng.random_range(0..=span)),
                    plan: weighted(&mut rng, PLANS),
                }
            })
            .collect();
        let mut rng = StdRng::seed_from_u64(seed ^ 0x0070_D0C7_5000_0002);
        let cats: Vec<(usize, u32)> = CATEGORIES.iter().enumerate().map(|(i, c)| (i, c.3)).collect();
        let products = (1..=products)
            .map(|n| {
                let i = weighted(&mut rng, &cats);
                let (category, lo, hi, _) = CATEGORIES[i];
                let words = PRODUCT_WORDS[i].1;
                let cents = rng.random_range(lo as i64 * 100..=hi as i64 * 100);
                Product {
                    id: product_id(n),
                    category,
                    name: format!("{} {}", words[rng.random_range(0..words.len())], n),
                    price: Decimal::new(cents - cents % 10 + 9, 2).min(Decimal::new(hi as i64 * 100 - 1, 2)),
                }
            })
            .collect();
        Catalog { customers, products }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn same_seed_same_catalog_and_ids_are_stable() {
        let a = Catalog::generate(7, 200, 50, d("2023-01-01"), d("2025-01-01"));
        let b = Catalog::generate(7, 200, 50, d("2023-01-01"), d("2025-01-01"));
        assert_eq!(a.customers, b.customers);
        assert_eq!(a.products, b.products);
        assert_eq!(a.customers[0].id, "C00001");
        assert_eq!(a.products[49].id, "P0050");
        let c = Catalog::generate(8, 200, 50, d("2023-01-01"), d("2025-01-01"));
        assert_ne!(a.customers, c.customers);
    }

    #[test]
    fn chile_and_argentina_hold_most_customers_and_prices_fit_categories() {
        let c = Catalog::generate(1, 5000, 500, d("2023-01-01"), d("2025-01-01"));
        let south = c
            .customers
            .iter()
            .filter(|x| x.country == "Chile" || x.country == "Argentina")
            .count();
        assert!(south > 2500, "{south} of 5000");
        for p in &c.products {
            let (_, lo, hi, _) = CATEGORIES.iter().find(|x| x.0 == p.category).unwrap();
            assert!(p.price >= Decimal::from(*lo) && p.price < Decimal::from(*hi), "{p:?}");
            assert_eq!(p.price.scale(), 2);
        }
        assert!(
            c.customers
                .iter()
                .all(|x| x.signup_date >= d("2023-01-01") && x.signup_date <= d("2025-01-01"))
        );
        assert!(
            c.customers.iter().any(|x| x.name.contains(',')),
            "some names carry a comma"
        );
    }
}
