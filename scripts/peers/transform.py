"""The stream worker's rules in plain Python (json + Decimal), as a Beam DoFn would
apply them: parse, check the fields, compute gross_amount = qty * unit_price exactly.

    python transform.py EVENTS.jsonl ROUNDS   -> prints events/s
"""
import json
import sys
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

MAX_PAYLOAD = 64 * 1024


class Reject(Exception):
    pass


def validate(payload: bytes, now: datetime):
    if len(payload) > MAX_PAYLOAD:
        raise Reject("payload_too_large")
    try:
        event = json.loads(payload.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError):
        raise Reject("invalid_json")
    if not isinstance(event, dict):
        raise Reject("not_object")
    for f in ("event_id", "order_id", "customer_id", "product_id", "qty", "unit_price", "event_ts"):
        if event.get(f) is None:
            raise Reject("missing_field")
    try:
        event_id = str(uuid.UUID(event["event_id"]))
    except (ValueError, AttributeError, TypeError):
        raise Reject("bad_event_id")
    for f in ("order_id", "customer_id", "product_id"):
        if not isinstance(event[f], str) or not 0 < len(event[f]) <= 64:
            raise Reject("bad_id")
    qty = event["qty"]
    if not isinstance(qty, int) or isinstance(qty, bool) or not 0 < qty <= 1000:
        raise Reject("bad_qty")
    price = event["unit_price"]
    if isinstance(price, int) and not isinstance(price, bool):
        price = Decimal(price)
    if not isinstance(price, Decimal) or not price.is_finite() or price <= 0 or price.as_tuple().exponent < -2:
        raise Reject("bad_unit_price")
    try:
        ts = datetime.strptime(event["event_ts"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    except (ValueError, TypeError):
        raise Reject("bad_event_ts")
    if (ts - now).total_seconds() > 24 * 3600:
        raise Reject("bad_event_ts")
    return {
        "event_id": event_id,
        "order_id": event["order_id"],
        "customer_id": event["customer_id"],
        "product_id": event["product_id"],
        "qty": qty,
        "unit_price": price,
        "gross_amount": price * qty,
        "event_ts": ts,
    }


def main(path, rounds):
    payloads = [line.rstrip(b"\n") for line in open(path, "rb")]
    now = datetime.now(timezone.utc)
    for p in payloads:  # every event is valid: a reject here is a bug in this peer
        validate(p, now)
    start = time.perf_counter()
    for _ in range(int(rounds)):
        for p in payloads:
            validate(p, now)
    seconds = time.perf_counter() - start
    print(f"{len(payloads) * int(rounds) / seconds:.0f} events/s")


if __name__ == "__main__":
    main(*sys.argv[1:3])
