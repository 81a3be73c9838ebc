"""Runs each side of scripts/bench-peers.sh as a child process and measures it with
os.wait4 (user + system CPU, peak RSS of that process alone) and wall time."""
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EVENTS, ORDERS, ID, VENV = int(os.environ["EVENTS"]), int(os.environ["ORDERS"]), os.environ["ID"], os.environ["VENV"]
PROJECT = os.environ["GOOGLE_CLOUD_PROJECT"]
PY = os.path.join(VENV, "bin", "python")
REL = os.path.join(ROOT, "target", "release")
PEERS = os.path.join(ROOT, "scripts", "peers")


def names(side):
    return {"INSTASHOP_DATASET": f"{ID}_{side}", "INSTASHOP_BUCKET": f"{ID}-{side}",
            "INSTASHOP_TOPIC": f"{ID}-{side}", "INSTASHOP_SUBSCRIPTION": f"{ID}-{side}-worker"}


def measure(cmd, env=None, stdout=subprocess.DEVNULL):
    start = time.perf_counter()
    p = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=stdout, stderr=subprocess.DEVNULL, cwd=PEERS)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        sys.exit(f"bench-peers: {cmd[0]} failed ({status})")
    return {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "peak_rss_mib": ru.ru_maxrss / 1024}


rows = []
work = tempfile.mkdtemp()
events = os.path.join(work, "events.jsonl")
gen = ["--count", str(EVENTS), "--rate", "0", "--invalid-ratio", "0", "--duplicate-ratio", "0", "--seed", "42", "--events-seed", "7"]
with open(events, "wb") as f:
    subprocess.run([os.path.join(REL, "publisher"), *gen, "--dry-run"], stdout=f, check=True, env={**os.environ, **names("ours")})

# 1. Publishing the same events.
ours = measure([os.path.join(REL, "publisher"), *gen], names("ours"))
theirs = measure([PY, "publisher.py", PROJECT, f"{ID}-theirs", events])
for who, m in (("publisher (ours)", ours), ("Python pubsub client", theirs)):
    rows.append({"row": "1. publish", "who": who, "n": EVENTS, **m,
                 "cpu_us_per_item": m["cpu_s"] / EVENTS * 1e6, "items_per_s": EVENTS / m["wall_s"]})

# 2. History CSVs.
def csv_rows(d):
    return sum(sum(1 for _ in open(p)) - 1 for p in glob.glob(os.path.join(d, "*.csv")))
d1, d2 = os.path.join(work, "ours"), os.path.join(work, "theirs")
ours = measure([os.path.join(REL, "datagen"), "--out", d1, "--orders", str(ORDERS), "--seed", "42"])
theirs = measure([PY, "faker_history.py", d2, str(ORDERS), "42"])
for who, m, d in (("datagen (ours)", ours, d1), ("Faker script", theirs, d2)):
    n = csv_rows(d)
    rows.append({"row": "2. history", "who": who, "n": n, **m,
                 "cpu_us_per_item": m["cpu_s"] / n * 1e6, "items_per_s": n / m["wall_s"]})

# 3. The streaming job on the same events (ours: idle timeout 3 s, taken off its wall time).
ours = measure([os.path.join(REL, "stream-worker"), "--idle-timeout", "3"], names("ours"))
ours["wall_s"] -= 3
subprocess.run([os.path.join(REL, "publisher"), *gen], env={**os.environ, **names("theirs")}, check=True,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
theirs = measure([PY, "subscriber.py", PROJECT, f"{ID}-theirs-worker", f"{ID}_theirs", str(EVENTS)])
subprocess.run([os.path.join(REL, "publisher"), *gen], env={**os.environ, **names("beam")}, check=True,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
beam = measure([PY, "beam_pipeline.py", PROJECT, f"{ID}-beam-worker", f"{ID}_beam", str(EVENTS)])
for who, m in (("stream-worker (ours)", ours), ("Beam DirectRunner, streaming", beam),
               ("Python subscriber client", theirs)):
    rows.append({"row": "3. streaming job", "who": who, "n": EVENTS, **m,
                 "cpu_us_per_item": m["cpu_s"] / EVENTS * 1e6, "items_per_s": EVENTS / m["wall_s"]})

# 4. The rules alone, one core.
est = json.load(open(os.path.join(ROOT, "target", "criterion", "per_event", "validate", "new", "estimates.json")))
per_event_s = est["mean"]["point_estimate"] / 10_000 / 1e9
rows.append({"row": "4. rules alone", "who": "transform::validate (criterion)", "n": 10_000, "wall_s": None, "cpu_s": None,
             "peak_rss_mib": None, "cpu_us_per_item": per_event_s * 1e6, "items_per_s": 1 / per_event_s})
out = subprocess.run([PY, "transform.py", events, "3"], capture_output=True, text=True, cwd=PEERS, check=True).stdout
rate = float(out.split()[0])
rows.append({"row": "4. rules alone", "who": "plain Python (json + Decimal)", "n": EVENTS * 3, "wall_s": None,
             "cpu_s": None, "peak_rss_mib": None, "cpu_us_per_item": 1e6 / rate, "items_per_s": rate})

fmt = lambda v, p=1: "-" if v is None else f"{v:,.{p}f}"
print(f"{'row':<17} {'who':<42} {'n':>9} {'wall s':>8} {'CPU s':>8} {'CPU us/item':>12} {'items/s':>12} {'peak RSS MiB':>13}")
for r in rows:
    print(f"{r['row']:<17} {r['who']:<42} {r['n']:>9,} {fmt(r['wall_s'], 2):>8} {fmt(r['cpu_s'], 2):>8} "
          f"{fmt(r['cpu_us_per_item'], 2):>12} {fmt(r['items_per_s'], 0):>12} {fmt(r['peak_rss_mib']):>13}")
os.makedirs(os.path.join(ROOT, "target"), exist_ok=True)
json.dump({"machine": {"cores": os.cpu_count(), "kernel": os.uname().release}, "rows": rows},
          open(os.path.join(ROOT, "target", "bench-peers.json"), "w"), indent=1)
print("written: target/bench-peers.json")
