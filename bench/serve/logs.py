"""`GET /logs` on a full store: latency and the server's memory, page by page.

Fills a store with `--rows` predictions written by `vigil serve` itself (the kit's
body_batch100.json posted to /predict/batch, every prediction logged with the server's
defaults), restarts the server (fresh memory), then asks `/logs` for the last hour as an
operator would: the first page at limit 10, 100 and 1000, and 20 pages through the cursor.
Reports each call's wall time and the server's RSS before and after (VmRSS, VmHWM from
/proc). Started by logs.sh; see README.md.
"""
import argparse
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from bench import proc_mem_mib, wait_ready

TOKEN = "bench-admin-token"
BASE = "http://127.0.0.1:18081"


def start(a):
    cmd = ["taskset", "-c", a.server_cpus, a.vigil, "serve", "--store", a.store, "--listen",
           BASE.removeprefix("http://"), "--writer", "bench", "--max-batch", "1000"]
    env = dict(os.environ, VIGIL_ADMIN_TOKEN=TOKEN)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(a.log, "a"), env=env)
    wait_ready(BASE, "/ready", proc)
    return proc


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


def post(body):
    req = urllib.request.Request(BASE + "/predict/batch", data=body,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        r.read()


def fill(a):
    with open(os.path.join(a.kit, "out", "body_batch100.json"), "rb") as f:
        body = f.read()
    proc = start(a)
    try:
        requests = a.rows // 100
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: post(body), range(requests)))
    finally:
        stop(proc)  # flushes every buffered prediction to the store


def get_logs(query):
    req = urllib.request.Request(BASE + "/logs?" + urllib.parse.urlencode(query),
                                 headers={"authorization": f"Bearer {TOKEN}"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as r:
        page = json.loads(r.read())
    return page, (time.perf_counter() - t0) * 1e3


def store_size(root):
    files, size = 0, 0
    for dirpath, _, names in os.walk(os.path.join(root, "logs")):
        for n in names:
            files += 1
            size += os.path.getsize(os.path.join(dirpath, n))
    return files, size


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kit", required=True, help="writable copy of shared/bench with out/ made")
    ap.add_argument("--vigil", required=True)
    ap.add_argument("--store", required=True, help="store folder holding a trained Adult model")
    ap.add_argument("--rows", type=int, default=1_500_000)
    ap.add_argument("--server-cpus", default="0")
    ap.add_argument("--log", default="/tmp/vigil-logs-bench.log")
    a = ap.parse_args()

    if store_size(a.store)[0] == 0:
        t0 = time.time()
        fill(a)
        print(f"filled the store with {a.rows:,} predictions in {time.time() - t0:.0f} s", file=sys.stderr)
    files, size = store_size(a.store)

    proc = start(a)
    rows = []
    try:
        idle = proc_mem_mib(proc.pid, "VmRSS")
        since = (time.time() - 3600)
        window = {"since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))}
        for limit in [10, 100, 1000]:
            page, ms = get_logs(dict(window, limit=limit))
            rows.append(dict(call=f"first page, limit={limit}", records=page["count"], ms=ms,
                             rss=proc_mem_mib(proc.pid, "VmRSS")))
        cursor, total, worst = None, 0, 0.0
        t0 = time.perf_counter()
        for _ in range(20):
            page, ms = get_logs(dict(window, limit=100, **({"cursor": cursor} if cursor else {})))
            total += page["count"]
            worst = max(worst, ms)
            cursor = page["next_cursor"]
            if cursor is None:
                break
        rows.append(dict(call=f"20 pages through the cursor, limit=100 (slowest page {worst:.1f} ms)",
                         records=total, ms=(time.perf_counter() - t0) * 1e3,
                         rss=proc_mem_mib(proc.pid, "VmRSS")))
        peak = proc_mem_mib(proc.pid, "VmHWM")
    finally:
        stop(proc)

    print(f"\nstore: {files} log files, {size / 1e6:.0f} MB; server idle RSS {idle:.1f} MiB, "
          f"peak RSS over all calls {peak:.1f} MiB (growth {peak - idle:.1f} MiB)\n")
    print("| call | records | ms | RSS after, MiB |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['call']} | {r['records']:,} | {r['ms']:.1f} | {r['rss']:.1f} |")


if __name__ == "__main__":
    main()
