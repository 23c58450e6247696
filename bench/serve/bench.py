"""Load benchmark: vigil serve vs the FastAPI reference vs a bare axum JSON echo.

Each server runs pinned to CPU 0, wrk (with the kit's post.lua) pinned to CPU 1, on
127.0.0.1, with the kit's request bodies: /predict sends the 1000 rows of rows.jsonl in
turn, /predict/batch sends body_batch100.json. Prints one markdown table (req/s, rows/s,
p50/p99, server CPU ms/request, peak RSS) and the ratios of vigil to the echo ceiling.
Started by run.sh, which builds, trains and sets up the kit; see README.md.

With --trials N it compares instead of tabulating: every point is measured N times, each
time the echo, then vigil, then (with --vigil-b) a second vigil binary, one after the other,
and the medians of the ratios to the echo of the same trial are printed. On a machine whose
speed moves by a quarter between minutes, that is what tells a 5 % change from noise.
"""
import argparse
import json
import os
import signal
import statistics
import struct
import subprocess
import sys
import time
import urllib.request

ENDPOINTS = [("predict", "/predict", "rows.jsonl", 1), ("batch100", "/predict/batch", "body_batch100.json", 100),
             ("batch1000", "/predict/batch", "body_batch1000.json", 1000)]
# Open Inference Protocol v2 infer, one tensor per feature (MLServer's "pd"), the same rows
# as batch100/batch1000. Only vigil serves them; the echo parses the same bytes at its
# /predict/batch (a JSON parse of the body is its whole work), FastAPI has no OIP route.
OIP_ENDPOINTS = [("oip100", "/v2/models/adult-income/infer", "oip_batch100.json", 100),
                 ("oip1000", "/v2/models/adult-income/infer", "oip_batch1000.json", 1000)]
# The same 1000 rows in Triton's binary tensor extension, as tritonclient sends them by
# default: a JSON header (its length in Inference-Header-Content-Length) and the raw
# little-endian tensors after it. Sent with post_oip_binary.lua; only vigil serves it.
# oip1000binout also asks for binary outputs (`binary_data_output`), as tritonclient does
# for a named output: the answer is a JSON header and the raw tensors too.
OIP_BINARY_ENDPOINTS = [("oip1000bin", "/v2/models/adult-income/infer", "oip_batch1000.bin", 1000),
                        ("oip1000binout", "/v2/models/adult-income/infer", "oip_batch1000_binout.bin", 1000)]


def write_bodies(out_dir):
    """body_batch1000.json and the OIP bodies, from the kit's rows.jsonl (1000 real rows)."""
    with open(os.path.join(out_dir, "rows.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    with open(os.path.join(out_dir, "body_batch1000.json"), "w") as f:
        json.dump({"requests": rows[:1000]}, f)
    for n in (100, 1000):
        feats = [r["features"] for r in rows[:n]]
        inputs = []
        for name, first in feats[0].items():
            numeric = not isinstance(first, str)
            inputs.append({"name": name, "shape": [n], "datatype": "FP64" if numeric else "BYTES",
                           "data": [x[name] for x in feats]})
        body = {"id": f"oip-{n}", "parameters": {"content_type": "pd"}, "inputs": inputs}
        with open(os.path.join(out_dir, f"oip_batch{n}.json"), "w") as f:
            json.dump(body, f)
        if n == 1000:
            write_binary_body(os.path.join(out_dir, "oip_batch1000"), body)
            binary_out = dict(body, parameters=dict(body["parameters"], binary_data_output=True))
            write_binary_body(os.path.join(out_dir, "oip_batch1000_binout"), binary_out)


def write_binary_body(stem, body):
    """`stem`.bin: `body` with every input's data as raw bytes after the JSON header, and
    `stem`.header-length: the header's length in bytes."""
    header = {"id": body["id"], "parameters": body["parameters"], "inputs": []}
    tail = bytearray()
    for t in body["inputs"]:
        if t["datatype"] == "FP64":
            raw = struct.pack(f"<{len(t['data'])}d", *t["data"])
        else:
            raw = b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in t["data"])
        header["inputs"].append({"name": t["name"], "shape": t["shape"], "datatype": t["datatype"],
                                 "parameters": {"binary_data_size": len(raw)}})
        tail += raw
    head = json.dumps(header).encode()
    with open(stem + ".bin", "wb") as f:
        f.write(head + bytes(tail))
    with open(stem + ".header-length", "w") as f:
        f.write(str(len(head)))


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_mem_mib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def wait_ready(base, path, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(base + path, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"{base}{path} not ready after {timeout} s")


def wrk(a, url, body, conc, duration):
    script, env = os.path.join(a.kit, "post.lua"), dict(os.environ, BODY=body)
    if body.endswith(".bin"):
        # The kit's post.lua with the binary extension's header (post_oip_binary.lua).
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "post_oip_binary.lua")
        with open(body[:-len(".bin")] + ".header-length") as f:
            env.update(KIT_POST=os.path.join(a.kit, "post.lua"), OIP_HEADER_LENGTH=f.read().strip())
    cmd = ["taskset", "-c", a.client_cpus, "wrk", "-t1", f"-c{conc}", f"-d{duration}s", "--timeout", "30s",
           "--latency", "-s", script, url]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=duration + 60)
    line = next((l for l in out.stdout.splitlines() if l.startswith("WRK_JSON ")), None)
    if line is None:
        sys.exit(f"wrk failed: {out.stdout[-1000:]} {out.stderr[-1000:]}")
    return json.loads(line[9:])


def run_server(a, label, cmd, base, ready_path, env=None, endpoints=ENDPOINTS):
    proc = subprocess.Popen(["taskset", "-c", a.server_cpus] + cmd, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(a.out, f"{label}.log"), "w"), env=env)
    rows = []
    try:
        wait_ready(base, ready_path, proc)
        out_dir = os.path.join(a.kit, "out")
        wrk(a, base + "/predict", os.path.join(out_dir, "rows.jsonl"), 4, 2)  # warm-up
        idle = proc_mem_mib(proc.pid, "VmRSS")
        for name, path, body, rows_per_req in endpoints:
            for conc in a.concurrency:
                cpu0 = proc_cpu_s(proc.pid)
                w = wrk(a, base + path, os.path.join(out_dir, body), conc, a.duration)
                cpu = proc_cpu_s(proc.pid) - cpu0
                n = w["requests"]
                rps = n / (w["duration_us"] / 1e6)
                errors = sum(v for k, v in w.items() if k.startswith("errors_"))
                row = dict(server=label, endpoint=name, concurrency=conc, rps=rps, rows_per_s=rps * rows_per_req,
                           p50_ms=w["p50_us"] / 1e3, p99_ms=w["p99_us"] / 1e3,
                           cpu_ms_per_req=1e3 * cpu / max(1, n), cpu_us_per_row=1e6 * cpu / max(1, n * rows_per_req),
                           errors=errors,
                           idle_rss_mib=idle, peak_rss_mib=proc_mem_mib(proc.pid, "VmHWM"))
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return rows


def vigil_cmd(a, binary, label):
    # vigil-noprofiles: the same server without the batch drift profiles, for what writing
    # them costs (compare the two in one run); vigil-parquet: with the Parquet prediction
    # log instead of JSON Lines.
    cmd = [binary, "serve", "--store", a.store, "--listen", "127.0.0.1:18080",
           "--writer", "bench", "--max-batch", "1000",
           "--batch-profiles", "false" if label == "vigil-noprofiles" else "true"]
    if label == "vigil-parquet":
        cmd += ["--prediction-log-format", "parquet"]
    return cmd


def trials(a):
    """Interleaved trials (see the module docs); prints one markdown table of medians."""
    by_name = {e[0]: e for e in ENDPOINTS + OIP_ENDPOINTS + OIP_BINARY_ENDPOINTS}
    echo_path = {name: "/predict/batch" for name, *_ in OIP_ENDPOINTS}
    servers = [("vigil", a.vigil)] + ([("vigil-b", a.vigil_b)] if a.vigil_b else [])
    # (endpoint, conc, server) -> per trial: (req/s ÷ echo's, p99 ÷ echo's, CPU µs/row, p99 ms, req/s)
    results = {}
    for trial in range(a.trials):
        for endpoint in a.endpoints:
            name, path, body, rows_per_req = by_name[endpoint]
            for conc in a.concurrency:
                point = argparse.Namespace(**{**vars(a), "concurrency": [conc]})
                echo = None
                if endpoint not in {e[0] for e in OIP_BINARY_ENDPOINTS}:
                    echo, = run_server(point, "echo", [a.echo, "127.0.0.1:18090"], "http://127.0.0.1:18090",
                                       "/healthz", endpoints=[(name, echo_path.get(name, path), body, rows_per_req)])
                # Alternate which server goes first: the first after the echo was measured
                # slower more often than not, a bias as large as the changes compared.
                for label, binary in servers if trial % 2 == 0 else servers[::-1]:
                    row, = run_server(point, label, vigil_cmd(a, binary, a.log), "http://127.0.0.1:18080", "/ready",
                                      endpoints=[(name, path, body, rows_per_req)])
                    results.setdefault((endpoint, conc, label), []).append((
                        row["rps"] / echo["rps"] if echo else float("nan"),
                        row["p99_ms"] / echo["p99_ms"] if echo else float("nan"),
                        row["cpu_us_per_row"], row["p99_ms"], row["rps"]))
        print(f"trial {trial + 1} of {a.trials} done", file=sys.stderr, flush=True)
    print(f"\nmedians of {a.trials} interleaved trials, wrk -t1, {a.duration} s per point, server on CPU "
          f"{a.server_cpus}, wrk on CPU {a.client_cpus}, log {a.log}\n")
    print("| endpoint | conc | server | req/s | / echo req/s | p99 ms | p99 / echo's | CPU µs/row |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    def med(values, digits):
        m = statistics.median(values)
        return "–" if m != m else f"{m:,.{digits}f}"  # NaN: no echo for the binary tensors
    for (endpoint, conc, label), v in results.items():
        print(f"| {endpoint} | {conc} | {label} | {med([t[4] for t in v], 0)} | {med([t[0] for t in v], 3)} "
              f"| {med([t[3] for t in v], 2)} | {med([t[1] for t in v], 2)} | {med([t[2] for t in v], 2)} |")
    if a.vigil_b:
        print("\n| endpoint | conc | trials where vigil-b took less CPU a row |")
        print("|---|---:|---:|")
        for (endpoint, conc, label), v in results.items():
            if label == "vigil":
                b = results[(endpoint, conc, "vigil-b")]
                wins = sum(tb[2] < ta[2] for ta, tb in zip(v, b))
                print(f"| {endpoint} | {conc} | {wins} of {len(v)} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kit", required=True, help="writable copy of shared/bench with venv/ and out/ made")
    ap.add_argument("--vigil", required=True)
    ap.add_argument("--echo", required=True)
    ap.add_argument("--store", required=True, help="store URI holding a trained Adult model")
    ap.add_argument("--out", default="bench-out")
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    ap.add_argument("--servers", nargs="+", default=["vigil", "fastapi", "echo"],
                    help="any of vigil, vigil-noprofiles, vigil-parquet, fastapi, echo")
    ap.add_argument("--server-cpus", default="0")
    ap.add_argument("--client-cpus", default="1")
    ap.add_argument("--trials", type=int, default=0,
                    help="compare instead: N interleaved trials of echo, vigil (and --vigil-b) a point")
    ap.add_argument("--vigil-b", help="with --trials: a second vigil binary, e.g. main's, to compare with")
    ap.add_argument("--endpoints", nargs="+", default=["predict"],
                    help="with --trials: any of " + ", ".join(e[0] for e in ENDPOINTS + OIP_ENDPOINTS + OIP_BINARY_ENDPOINTS))
    ap.add_argument("--log", default="vigil", choices=["vigil", "vigil-noprofiles", "vigil-parquet"],
                    help="with --trials: which log the vigil servers write (the --servers names)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    write_bodies(os.path.join(a.kit, "out"))
    if a.trials:
        trials(a)
        return
    echo_oip = [(name, "/predict/batch", body, n) for name, _, body, n in OIP_ENDPOINTS]
    rows = []
    for label in a.servers:
        if label in ("vigil", "vigil-noprofiles", "vigil-parquet"):
            rows += run_server(a, label, vigil_cmd(a, a.vigil, label), "http://127.0.0.1:18080", "/ready", endpoints=ENDPOINTS + OIP_ENDPOINTS + OIP_BINARY_ENDPOINTS)
        elif label == "echo":
            rows += run_server(a, label, [a.echo, "127.0.0.1:18090"], "http://127.0.0.1:18090", "/healthz",
                               endpoints=ENDPOINTS + echo_oip)
        elif label == "fastapi":
            cmd = [os.path.join(a.kit, "venv/bin/python"), "-m", "uvicorn", "app:app", "--app-dir", a.kit,
                   "--host", "127.0.0.1", "--port", "18765", "--workers", "1", "--log-level", "warning",
                   "--no-access-log"]
            env = dict(os.environ, MODEL_PATH=os.path.join(a.kit, "out/model_adult.joblib"))
            rows += run_server(a, label, cmd, "http://127.0.0.1:18765", "/healthz", env)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(rows, f, indent=1)

    print(f"\nwrk -t1, {a.duration} s per point, server on CPU {a.server_cpus}, wrk on CPU {a.client_cpus}\n")
    print("| server | endpoint | conc | req/s | rows/s | p50 ms | p99 ms | server CPU ms/req | CPU µs/row | peak RSS MiB | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['server']} | {r['endpoint']} | {r['concurrency']} | {r['rps']:,.0f} | {r['rows_per_s']:,.0f} "
              f"| {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['cpu_ms_per_req']:.3f} | {r['cpu_us_per_row']:.2f} "
              f"| {r['peak_rss_mib']:.0f} "
              f"| {r['errors']} |")
    by = {(r["server"], r["endpoint"], r["concurrency"]): r for r in rows}
    if any(k[0] == "vigil-noprofiles" for k in by):
        print("\n| endpoint | conc | vigil / vigil-noprofiles req/s (the profiles' cost) |")
        print("|---|---:|---:|")
        for (server, ep, conc), r in by.items():
            bare = by.get(("vigil-noprofiles", ep, conc))
            if server == "vigil" and bare:
                print(f"| {ep} | {conc} | {r['rps'] / bare['rps']:.3f} |")
    if any(k[0] == "vigil" for k in by) and any(k[0] == "echo" for k in by):
        print("\n| endpoint | conc | vigil / echo req/s | vigil / fastapi req/s |")
        print("|---|---:|---:|---:|")
        for (server, ep, conc), r in by.items():
            if server != "vigil":
                continue
            echo = by.get(("echo", ep, conc))
            fast = by.get(("fastapi", ep, conc))
            versus_fastapi = f"{r['rps'] / fast['rps']:.0f}x" if fast else "–"
            versus_echo = f"{r['rps'] / echo['rps']:.2f}" if echo else "–"
            print(f"| {ep} | {conc} | {versus_echo} | {versus_fastapi} |")


if __name__ == "__main__":
    main()
