"""The seed's approach to history: a Faker script writing the four CSVs (customers,
products, orders, order_items) for N orders, with the csv module.

    python faker_history.py OUT_DIR ORDERS [SEED]
"""
import csv
import os
import random
import sys
from decimal import Decimal

from faker import Faker

COUNTRIES = ["Chile", "Argentina", "Peru", "Colombia", "Mexico", "Uruguay", "Brazil", "Spain", "United States", "Paraguay"]
CATEGORIES = ["Electronics", "Books", "Clothing", "Home", "Sports", "Toys"]


def main(out, orders, seed=42):
    orders, seed = int(orders), int(seed)
    fake = Faker("es_ES")
    Faker.seed(seed)
    rng = random.Random(seed)
    os.makedirs(out, exist_ok=True)
    n_customers, n_products = max(1000, orders // 8), 2000
    rows = 0
    with open(os.path.join(out, "customers.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer_id", "name", "country", "created_at"])
        for i in range(1, n_customers + 1):
            w.writerow([f"C{i:05d}", fake.name(), rng.choice(COUNTRIES), fake.date_between("-3y", "-1y").isoformat()])
            rows += 1
    prices = {}
    with open(os.path.join(out, "products.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["product_id", "category", "price"])
        for i in range(1, n_products + 1):
            price = Decimal(rng.randint(500, 250000)) / 100
            prices[i] = price
            w.writerow([f"P{i:04d}", rng.choice(CATEGORIES), f"{price:.2f}"])
            rows += 1
    with open(os.path.join(out, "orders.csv"), "w", newline="") as fo, open(
        os.path.join(out, "order_items.csv"), "w", newline=""
    ) as fi:
        wo, wi = csv.writer(fo), csv.writer(fi)
        wo.writerow(["order_id", "customer_id", "order_date"])
        wi.writerow(["order_id", "product_id", "qty", "unit_price"])
        for i in range(1, orders + 1):
            oid = f"O{i:07d}"
            wo.writerow([oid, f"C{rng.randint(1, n_customers):05d}", fake.date_between("-2y", "today").isoformat()])
            rows += 1
            for _ in range(rng.randint(1, 4)):
                p = rng.randint(1, n_products)
                wi.writerow([oid, f"P{p:04d}", rng.randint(1, 5), f"{prices[p]:.2f}"])
                rows += 1
    print(f"wrote {rows} rows")


if __name__ == "__main__":
    main(*sys.argv[1:4])
