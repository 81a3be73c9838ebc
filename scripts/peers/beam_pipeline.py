"""The seed's Dataflow job as an Apache Beam Python pipeline on the DirectRunner, in
streaming mode: ReadFromPubSub on the subscription (the Pub/Sub emulator, through
PUBSUB_EMULATOR_HOST, which the Beam SDK's Pub/Sub client honours), the same rules and
gross_amount (transform.py), and a batched write to the BigQuery emulator.

The write is a DoFn that sends tabledata.insertAll in batches of 500 rows with insertId =
event_id, which is what Beam's WriteToBigQuery(method=STREAMING_INSERTS) sends; Beam's
own sink cannot be pointed at an emulator (its BigQuery client has no endpoint setting).
Note what the DirectRunner does with Pub/Sub: it pulls 10 messages per bundle and acks
them before the bundle is processed (see apache_beam/runners/direct/transform_evaluator.py),
so unlike the stream worker it would lose what a crash interrupts.

A streaming pipeline never ends by itself: this script runs it until the BigQuery
emulator holds EXPECTED distinct events, then exits.

    python beam_pipeline.py PROJECT SUBSCRIPTION DATASET EXPECTED
"""
import json
import os
import sys
import time
import urllib.request
from datetime import datetime, timezone

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from transform import Reject, validate

BATCH = 500


def bq(project, path, body):
    url = f"http://{os.environ['BIGQUERY_EMULATOR_HOST']}/bigquery/v2/projects/{project}/{path}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=120))


class Validate(beam.DoFn):
    """The stream worker's rules; a refused event is dropped (the peer counts, it does not dead-letter)."""

    def process(self, data):
        try:
            sale = validate(data, datetime.now(timezone.utc))
        except Reject:
            return
        yield {
            "event_id": sale["event_id"], "order_id": sale["order_id"], "customer_id": sale["customer_id"],
            "product_id": sale["product_id"], "qty": sale["qty"], "unit_price": str(sale["unit_price"]),
            "gross_amount": str(sale["gross_amount"]), "event_ts": sale["event_ts"].strftime("%Y-%m-%d %H:%M:%S"),
        }


class InsertAll(beam.DoFn):
    """Batched tabledata.insertAll, as WriteToBigQuery(method=STREAMING_INSERTS) sends it."""

    def __init__(self, project, dataset):
        self.project, self.dataset = project, dataset

    def start_bundle(self):
        self.rows = []

    def process(self, row):
        self.rows.append(row)
        if len(self.rows) >= BATCH:
            self.flush()

    def finish_bundle(self):
        self.flush()

    def flush(self):
        if not self.rows:
            return
        now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        rows = [{"insertId": r["event_id"], "json": {**r, "ingest_ts": now}} for r in self.rows]
        bq(self.project, f"datasets/{self.dataset}/tables/fact_sales_streaming/insertAll", {"rows": rows})
        self.rows = []


def main(project, subscription, dataset, expected):
    expected = int(expected)
    options = PipelineOptions(runner="DirectRunner", streaming=True, project=project)
    p = beam.Pipeline(options=options)
    (
        p
        | "Read" >> beam.io.ReadFromPubSub(subscription=f"projects/{project}/subscriptions/{subscription}")
        | "Validate" >> beam.ParDo(Validate())
        | "Write" >> beam.ParDo(InsertAll(project, dataset))
    )
    start = time.perf_counter()
    p.run()  # the DirectRunner's executor threads run the pipeline in the background
    sql = f"SELECT COUNT(DISTINCT event_id) FROM `{project}.{dataset}.fact_sales_streaming`"
    have = 0
    while time.perf_counter() - start < 1800:
        time.sleep(1)
        answer = bq(project, "queries", {"query": sql, "useLegacySql": False})
        have = int(answer["rows"][0]["f"][0]["v"]) if answer.get("rows") else 0
        if have >= expected:
            break
    print(f"handled {have} events in {time.perf_counter() - start:.1f}s", flush=True)
    # A streaming pipeline does not finish; its threads are not daemons.
    os._exit(0 if have >= expected else 1)


if __name__ == "__main__":
    main(*sys.argv[1:5])
