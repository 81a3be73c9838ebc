"""The closest honest peer of the streaming job that fits one machine: the official
Python subscriber client (streaming pull, flow control) applying the same rules
(transform.py) and writing valid rows to BigQuery in batches with insertAll (REST, the
emulator's address from BIGQUERY_EMULATOR_HOST), acking after the write. It is not
Apache Beam: see the README of the benchmark.

    python subscriber.py PROJECT SUBSCRIPTION DATASET EXPECTED
"""
import json
import os
import sys
import threading
import time
import urllib.request
from datetime import datetime, timezone

from google.cloud import pubsub_v1

from transform import Reject, validate

BATCH = 500


def main(project, subscription, dataset, expected):
    expected = int(expected)
    url = f"http://{os.environ['BIGQUERY_EMULATOR_HOST']}/bigquery/v2/projects/{project}/datasets/{dataset}/tables/fact_sales_streaming/insertAll"
    lock, pending, done = threading.Lock(), [], [0]
    finished = threading.Event()

    def flush():
        with lock:
            batch, pending[:] = pending[:], []
        if not batch:
            return
        now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        rows = []
        for msg, sale in batch:
            if sale is None:
                continue
            rows.append({"insertId": sale["event_id"], "json": {
                "event_id": sale["event_id"], "order_id": sale["order_id"], "customer_id": sale["customer_id"],
                "product_id": sale["product_id"], "qty": sale["qty"], "unit_price": str(sale["unit_price"]),
                "gross_amount": str(sale["gross_amount"]), "event_ts": sale["event_ts"].strftime("%Y-%m-%d %H:%M:%S"),
                "ingest_ts": now, "message_id": msg.message_id}})
        if rows:
            req = urllib.request.Request(url, data=json.dumps({"rows": rows}).encode(),
                                         headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req, timeout=60).read()
        for msg, _ in batch:
            msg.ack()
        done[0] += len(batch)
        if done[0] >= expected:
            finished.set()

    def callback(msg):
        try:
            sale = validate(msg.data, datetime.now(timezone.utc))
        except Reject:
            sale = None  # the peer counts but does not dead-letter
        with lock:
            pending.append((msg, sale))
            full = len(pending) >= BATCH
        if full:
            flush()

    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(project, subscription)
    future = subscriber.subscribe(path, callback=callback,
                                  flow_control=pubsub_v1.types.FlowControl(max_messages=2000))
    start = time.perf_counter()
    while not finished.wait(1.0):
        flush()
        if time.perf_counter() - start > 600:
            break
    future.cancel()
    print(f"handled {done[0]} messages in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main(*sys.argv[1:5])
