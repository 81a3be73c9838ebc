#!/usr/bin/env python3
"""What one load of each dashboard page would bill on BigQuery at 100 M sale lines,
before (the pages of tests/data/seed_views_report.json: every chart over a view of
v_fact_sales_all, all time) and after (looker/report.json: the charts of a period over
sales_facts, the live figures over v_streaming_recent), over each page's default range.

The method, as BigQuery bills on demand: a query bills the bytes of the columns it reads
in the partitions it reads, at least 10 MB per table it references. Column sizes follow
BigQuery's data size rules (INT64, DATE, TIMESTAMP 8 bytes; NUMERIC 16; STRING 2 bytes
plus its UTF-8 length), with the lengths below. Scorecards of one view share one query,
as the dashboard runs them. A view reads every column of the tables beneath it that it
uses; a filter on a table that is not partitioned, or behind a window function, reads
every row. Run: python3 scripts/bytes-estimate.py
"""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MB, GIB = 10**6, 2**30
MIN_PER_TABLE = 10 * MB

# The history: 100 M sale lines over 5 years, 60 M batch order lines (24 M orders) and
# 40 M live sale events; 500,000 customers, 20,000 products.
DAYS = 5 * 365
BATCH_LINES, ORDERS, LIVE_EVENTS = 60_000_000, 24_000_000, 40_000_000
LINES = BATCH_LINES + LIVE_EVENTS
CUSTOMERS, PRODUCTS = 500_000, 20_000
LIVE_PER_DAY = LIVE_EVENTS / DAYS
LINES_PER_DAY = LINES / DAYS

S = lambda n: 2 + n  # a STRING of n bytes
SIZE = {  # bytes per value, by column name
    "order_id": S(10), "customer_id": S(6), "product_id": S(5), "event_id": S(36), "message_id": S(16),
    "customer_name": S(15), "product_name": S(18), "name": S(15), "country": S(7), "category": S(8),
    "plan": S(7), "payment_method": S(11), "payment_status": S(9), "status": S(9), "source": S(8),
    "completed_order_id": S(10), "completed_customer_id": S(6),
    "qty": 8, "unit_price": 16, "gross_amount": 16, "revenue": 16, "failed_amount": 16, "refunded_amount": 16,
    "sale_date": 8, "sale_month": 8, "order_date": 8, "ts": 8, "event_ts": 8, "ingest_ts": 8, "publish_ts": 8,
    "refreshed_at": 8, "versions": 8,
    "warehouse": S(8), "stock": 8, "reorder_point": 8, "snapshot_ts": 8,
    "alert_key": S(40), "kind": S(14), "subject": S(20), "state": S(8), "value": 16, "threshold": 16,
    "detail": S(80), "evaluated_at": 8, "month": 8, "first_month": 8, "orders": 8, "lifetime_value": 16,
    "sold_live": 8, "counted_until": 8,
    "units": 8, "run_date": 8, "forecast_date": 8, "forecast_units": 16, "lower": 16, "upper": 16, "method": S(8),
}

def scan(rows, cols):
    return rows * sum(SIZE[c] for c in cols)

# What v_fact_sales_all reads beneath it, whole tables (nothing partitions orders or
# order_items, and v_fact_sales_streaming's QUALIFY keeps its rows from pruning).
FACTS_ALL = [
    ("orders", ORDERS, ["order_id", "customer_id", "order_date", "payment_method", "status"]),
    ("order_items", BATCH_LINES, ["order_id", "product_id", "qty", "unit_price"]),
    ("fact_sales_streaming", LIVE_EVENTS, ["event_id", "order_id", "customer_id", "product_id", "qty", "unit_price",
                                           "gross_amount", "event_ts", "ingest_ts", "message_id", "payment_method",
                                           "payment_status"]),
    ("customers", CUSTOMERS, ["customer_id", "country", "plan", "name"]),
    ("products", PRODUCTS, ["product_id", "category", "name"]),
]
STREAMING_ALL = [FACTS_ALL[2]]
# inventory: 20,000 products in 3 warehouses, a few snapshots each.
INVENTORY_TABLE = ("inventory", 180_000, ["product_id", "warehouse", "stock", "reorder_point", "snapshot_ts"])
# v_inventory_status: the latest snapshots, the live sales after them (every row of the
# deduplicated live table) and the product names.
INVENTORY_STATUS = [INVENTORY_TABLE, FACTS_ALL[2], FACTS_ALL[4]]

# v_inventory_now: the latest snapshots, what the refresh counted per product, the live
# sales of the last 7 days' partitions (the columns the deduplication and the view read:
# 8 partitions, as the window starts within a day) and the product names.
INVENTORY_NOW = [INVENTORY_TABLE,
                 ("inventory_sold", PRODUCTS, ["product_id", "snapshot_ts", "sold_live", "counted_until"]),
                 ("fact_sales_streaming", LIVE_PER_DAY * 8, ["event_id", "product_id", "qty", "payment_status",
                                                              "event_ts", "ingest_ts", "message_id"]),
                 FACTS_ALL[4]]

# product_daily_units: a row per product and day with a completed sale, which the refresh
# keeps from sales_facts; at 55,000 lines a day over 20,000 products, about 18,700 of
# them sell on a day (20,000 x (1 - e^-2.74)).
PRODUCTS_PER_DAY = 18_700

def sales_days(days):
    """The units per product and day of the last `days` days."""
    return ("product_daily_units", PRODUCTS_PER_DAY * days, ["sale_date", "product_id", "units"])

# forecast_demand: a forecast run writes each product's next 28 days and deletes what
# earlier runs said of them, so the future partitions (forecast_date after today, what the
# views read) hold one run: 28 days per product.
FORECAST_ROWS_AHEAD = PRODUCTS * 28

def forecast_ahead(cols):
    return ("forecast_demand", FORECAST_ROWS_AHEAD, cols)

# alert_log: every alert notified and resolved, about 110 entries a day over the 5 years;
# v_alerts_open reads the key, time and state its window needs and the tile's columns.
ALERT_LOG = ("alert_log", 200_000, ["alert_key", "evaluated_at", "state", "kind", "subject", "detail", "value",
                                    "threshold"])

# customer_months: a row per customer and month with a completed sale; 500,000 customers
# active in about half of the 60 months.
CUSTOMER_MONTHS = 15_000_000

def billed(tables):
    return sum(max(MIN_PER_TABLE, scan(rows, cols)) for _, rows, cols in tables)

def before_query(view):
    """The tables beneath a seed view, whole."""
    if view in ("v_fact_sales_streaming", "v_streaming_per_minute", "v_event_conflicts"):
        return billed(STREAMING_ALL)
    if view == "v_inventory_by_warehouse":  # the latest snapshots only, no sales
        return billed([INVENTORY_TABLE])
    if view == "v_inventory_status":
        return billed(INVENTORY_STATUS)
    if view == "v_inventory_now":
        return billed(INVENTORY_NOW)
    if view in ("v_inventory_forecast", "v_inventory_turnover"):
        # v_inventory_now, 90 days of product_daily_units, and the forecast ahead: its latest run
        # (one reference) and that run's days (another).
        return billed(INVENTORY_NOW + [sales_days(90), forecast_ahead(["run_date", "forecast_date"]),
                                       forecast_ahead(["run_date", "product_id", "method", "forecast_date",
                                                       "forecast_units"])])
    if view == "v_demand_forecast":
        # 56 days of product_daily_units, the forecast ahead with its interval, the product names.
        return billed([sales_days(56), forecast_ahead(["run_date", "forecast_date"]),
                       forecast_ahead(["run_date", "product_id", "method", "forecast_date", "forecast_units",
                                       "lower", "upper"]), FACTS_ALL[4]])
    if view == "v_alerts":  # stock, failed live payments, revenue of v_fact_sales_all
        return billed([INVENTORY_TABLE] + FACTS_ALL)
    if view == "v_customer_lifetime":
        return billed([("customer_lifetime", CUSTOMERS, ["customer_id", "customer_name", "plan", "country",
                                                          "orders", "lifetime_value"])])
    if view == "v_cohorts":
        return billed([("customer_months", CUSTOMER_MONTHS, ["customer_id", "month"]),
                       ("customer_lifetime", CUSTOMERS, ["customer_id", "first_month"])])
    if view == "v_alerts_open":  # the alerts' own log, not the sales
        return billed([ALERT_LOG])
    return billed(FACTS_ALL)

def preset_days(page):
    return {"today": 1, "last_7_days": 7, "last_28_days": 28, "last_90_days": 90}.get(
        page.get("default_range", "last_28_days"), DAYS)

def after_query(chart, days, compare):
    view = chart["view"]
    cols = set(chart.get("dimensions", [])) | {m["field"] for m in chart["metrics"]}
    cols |= {m["divide_by"]["field"] for m in chart["metrics"] if "divide_by" in m}
    cols |= {f["field"] for f in chart.get("filters", [])}
    if view == "sales_facts":
        cols.add(chart["date"])
        runs = 2 if compare and chart["kind"] in ("scorecard", "time_series") else 1
        return runs * max(MIN_PER_TABLE, scan(LINES_PER_DAY * days, cols))
    if view in ("v_streaming_recent", "v_streaming_per_minute"):
        # 48 hours: the two or three newest daily partitions, the columns the
        # deduplication and the view read.
        return billed([("fact_sales_streaming", LIVE_PER_DAY * 3, FACTS_ALL[2][2])])
    return before_query(view)

def page_bytes(report, after):
    out = {}
    for page in report["pages"]:
        groups, total, tiles = set(), 0, []
        for c in page["charts"]:
            if c["kind"] == "scorecard":
                key = (c["view"], json.dumps(c.get("filters", [])), c.get("date"), tuple(c.get("ignores", [])))
                if key in groups:
                    continue
                groups.add(key)
            cost = after_query(c, preset_days(page), page.get("default_compare")) if after else before_query(c["view"])
            total += cost
            if after and "date" not in c and c["view"] not in ("v_streaming_recent", "v_streaming_per_minute"):
                tiles.append((c["id"], c["view"], cost))  # a tile over the whole history
        if after:  # the freshness line: MAX(ts), MAX(refreshed_at) over the range
            total += max(MIN_PER_TABLE, scan(LINES_PER_DAY * preset_days(page), ["sale_date", "ts", "refreshed_at"]))
        out[page["id"]] = (total, page.get("default_range", "all time") if after else "all time",
                           page.get("refresh_seconds"), sum(b for _, _, b in tiles), tiles)
    return out

def human(b):
    return f"{b / GIB:,.2f} GiB" if b >= GIB / 10 else f"{b / MB:,.0f} MB"

before = page_bytes(json.load(open(ROOT / "tests/data/seed_views_report.json")), after=False)
after = page_bytes(json.load(open(ROOT / "looker/report.json")), after=True)
print(f"At {LINES / 1e6:.0f} M sale lines over {DAYS} days ({BATCH_LINES / 1e6:.0f} M batch lines, "
      f"{LIVE_EVENTS / 1e6:.0f} M live events), one load of each page bills:")
print()
print("| page | before: range, bytes | after: default range, bytes | of which, tiles over the whole history | per hour, live page open (before → after) |")
print("|---|---|---|---|---|")
for pid in after:
    a = after[pid]
    b = before.get(pid)  # a page the seed's report did not have: no before
    hour = f"{human(b[0] * 3600 / 5)} → {human(a[0] * 3600 / a[2])}" if a[2] and b else "-"
    was = f"{b[1]}, {human(b[0])}" if b else "(no such page)"
    print(f"| {pid} | {was} | {a[1]}, {human(a[0])} | {human(a[3]) if a[3] else '-'} | {hour} |")

# Where the whole-history tiles' bytes go, after: one line per chart that reads no range.
if any(a[4] for a in after.values()):
    print()
    print("| page | tile over the whole history | reads | bytes |")
    print("|---|---|---|---|")
    for pid, a in after.items():
        for cid, view, b in a[4]:
            print(f"| {pid} | {cid} | `{view}` | {human(b)} |")
