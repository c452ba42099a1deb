"""Load test of `gradkit serve`: N concurrent clients on loopback against the server process.

The server (`gradkit serve BUNDLE --threads 1`, uvicorn, one process) serves a digits-cnn
bundle; this process is the load generator: each client thread keeps one HTTP/1.1 connection
and sends one real test digit per request, as a JSON array or as a PNG upload, until its share
of the request budget is sent or the time budget is spent. Every answer is checked: a non-200
status or a label other than the model's own prediction for that image counts as an error.

    python benchmarks/serve_load.py            # writes results/serve_load.json
    python benchmarks/serve_load.py --quick    # fewer requests, written to /tmp
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import _bench

SCENARIOS = [("json", 1), ("json", 4), ("json", 16), ("png", 4)]  # (payload, concurrent clients)
QUICK = [("json", 1), ("json", 4), ("png", 4)]
# request batching off (the default) against on (--batch 64), alternated, each server fresh
BATCHING = [("json", 1), ("json", 4), ("json", 16)]
BATCHING_ROUNDS = 3
REQUESTS, SECONDS = 2000, 30.0  # per scenario: whichever bound comes first
QUICK_REQUESTS, QUICK_SECONDS = 200, 10.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Throughput and latency of gradkit serve under "
                                                 "concurrent clients on loopback.")
    parser.add_argument("--quick", action="store_true", help="fewer requests; written to /tmp")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/serve_load.json)")
    return parser.parse_args(argv)


def prepare(workdir: Path) -> tuple[Path, list[dict[str, Any]]]:
    """Train digits-cnn (3 epochs), export its bundle; the test digits and expected labels."""
    import numpy as np
    from PIL import Image

    import gradkit as gk
    from gradkit.export import export

    run = gk.train("digits-cnn", out=workdir / "run", verbose=False,
                   overrides=["train.epochs=3", "train.threads=1"])
    export(run.dir, "bundle", workdir / "bundle")
    data = run.data()
    x = data.test.x[:200]
    labels = run.predict(x).argmax(1)
    cases = []
    for image, label in zip(x, labels):
        buf = io.BytesIO()
        Image.fromarray((image[0].numpy().astype(np.float32) * 255 / 16).astype(np.uint8)).save(buf, "PNG")
        cases.append({"json": json.dumps({"inputs": image.tolist()}).encode(), "png": buf.getvalue(),
                      "label": str(int(label))})
    return workdir / "bundle", cases


def start_server(bundle: Path, *options: str) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "gradkit", "serve", str(bundle), "--port", str(port),
                             "--threads", "1", *options], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gradkit serve did not start within 60 s")


def multipart(png: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + png + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def client(port: int, cases: list, payload: str, budget: int, stop_at: float, first: int,
           out: list) -> None:
    """One keep-alive connection; appends (latency seconds, ok) per request to `out`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(budget):
        if time.perf_counter() > stop_at:
            break
        case = cases[(first + i) % len(cases)]
        body, ctype = ((case["json"], "application/json") if payload == "json" else multipart(case["png"]))
        start = time.perf_counter()
        try:
            conn.request("POST", "/predict", body=body, headers={"content-type": ctype})
            response = conn.getresponse()
            answer = response.read()
            ok = (response.status == 200
                  and json.loads(answer)["predictions"][0]["label"] == case["label"])
        except (OSError, http.client.HTTPException, ValueError, KeyError):
            ok = False
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        out.append((time.perf_counter() - start, ok))
    conn.close()


def scenario(port: int, cases: list, payload: str, clients: int, requests: int, seconds: float) -> dict[str, Any]:
    results: list[list] = [[] for _ in range(clients)]
    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(port, cases, payload, requests // clients,
                                                     start + seconds, k * 17, results[k]))
               for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    done = [r for part in results for r in part]
    lat = sorted(1000 * r[0] for r in done)

    def pct(q: float) -> float:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))], 2) if lat else float("nan")

    return {"payload": payload, "clients": clients, "requests": len(done),
            "errors": sum(not r[1] for r in done), "seconds": round(wall, 2),
            "throughput_rps": round(len(done) / wall, 1), "p50_ms": pct(0.50), "p90_ms": pct(0.90),
            "p99_ms": pct(0.99), "max_ms": round(lat[-1], 2) if lat else float("nan"),
            "mean_ms": round(statistics.fmean(lat), 2) if lat else float("nan"),
            "stopped_by": "time" if len(done) < (requests // clients) * clients else "count"}


def heavy_image(size: int = 4000) -> bytes:
    """A legal but costly upload: a size x size RGB PNG (a smooth gradient with some texture,
    so it is small on the wire but has every pixel to decompress)."""
    import numpy as np
    from PIL import Image

    yy, xx = np.mgrid[0:size, 0:size]
    rgb = np.stack([(xx * 255 // size), (yy * 255 // size), (((xx // 8) ^ (yy // 8)) & 255)], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", compress_level=9)
    return buf.getvalue()


def heavy_with_probes(port: int, images: int, probe_every: float = 0.05) -> dict[str, Any]:
    """One request carrying `images` large images (each within every limit) while another client
    probes /health: how long the heavy request took, and how long each probe waited meanwhile."""
    png = heavy_image()
    boundary = uuid.uuid4().hex
    body = b"".join((f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                     f"filename=\"{i}.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + png + b"\r\n"
                    for i in range(images)) + f"--{boundary}--\r\n".encode()
    done: dict[str, Any] = {}

    def heavy() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        start = time.perf_counter()
        conn.request("POST", "/predict", body=body,
                     headers={"content-type": f"multipart/form-data; boundary={boundary}"})
        response = conn.getresponse()
        response.read()
        done.update(status=response.status, seconds=time.perf_counter() - start)

    thread = threading.Thread(target=heavy)
    thread.start()
    probes = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while thread.is_alive():
        start = time.perf_counter()
        conn.request("GET", "/health")
        conn.getresponse().read()
        probes.append(1000 * (time.perf_counter() - start))
        time.sleep(probe_every)
    thread.join()
    conn.close()
    probes.sort()
    return {"payload": f"{images} PNG images of 4000x4000 (one multipart request, {len(body) / 2**20:.1f} MB) "
                       "+ /health probes", "heavy_status": done.get("status"),
            "heavy_seconds": round(done.get("seconds", float("nan")), 2), "probes": len(probes),
            "probe_p50_ms": round(probes[len(probes) // 2], 1) if probes else None,
            "probe_max_ms": round(probes[-1], 1) if probes else None}


def batching_study(bundle: Path, cases: list, requests: int, seconds: float, rounds: int) -> dict[str, Any]:
    """Throughput with request batching off (the default) and on (--batch 64), alternated round by
    round on fresh servers; per scenario each mode's req/s per round, the mean ratio on/off and
    its spread over rounds."""
    per: dict[str, dict[str, list[float]]] = {}
    p99: dict[str, dict[str, list[float]]] = {}
    errors = 0
    for _ in range(rounds):
        for mode, options in (("off", ()), ("on", ("--batch", "64"))):
            proc, port = start_server(bundle, *options)
            try:
                for payload, clients in BATCHING:
                    row = scenario(port, cases, payload, clients, requests, seconds)
                    key = f"{payload} x {clients}"
                    per.setdefault(key, {"off": [], "on": []})[mode].append(row["throughput_rps"])
                    p99.setdefault(key, {"off": [], "on": []})[mode].append(row["p99_ms"])
                    errors += row["errors"]
            finally:
                proc.terminate()
                proc.wait(timeout=10)
    rows = []
    for key, modes in per.items():
        ratios = [on / off for on, off in zip(modes["on"], modes["off"])]
        rows.append({"scenario": key, "off_rps": modes["off"], "on_rps": modes["on"],
                     "off_p99_ms": p99[key]["off"], "on_p99_ms": p99[key]["on"],
                     "ratio_on_off_mean": round(statistics.fmean(ratios), 3),
                     "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3),
                     "beyond_noise": min(modes["on"]) > max(modes["off"]) or max(modes["on"]) < min(modes["off"])})
    return {"rounds": rounds, "errors": errors, "rows": rows,
            "settings": "off: the default (--batch 1); on: --batch 64 --batch-window-ms 0"}


def print_summary(result: dict[str, Any]) -> None:
    for row in result.get("batching", {}).get("rows", []):
        print(f"  batching {row['scenario']:<10}: off {row['off_rps']} req/s, on {row['on_rps']} req/s; "
              f"on/off {row['ratio_on_off_mean']} ({row['ratio_min']}-{row['ratio_max']}), "
              f"{'beyond' if row['beyond_noise'] else 'within'} round-to-round noise")
    h = result.get("heavy")
    if h:
        print(f"  heavy: {h['payload']}: answered {h['heavy_status']} in {h['heavy_seconds']} s; "
              f"{h['probes']} /health probes meanwhile, p50 {h['probe_p50_ms']} ms, max {h['probe_max_ms']} ms")
    for s in result["scenarios"]:
        print(f"  {s['payload']:<4} {s['clients']:>2} clients: {s['requests']:>5} requests in "
              f"{s['seconds']:5.1f} s, {s['throughput_rps']:6.1f} req/s, p50 {s['p50_ms']:.1f} ms, "
              f"p99 {s['p99_ms']:.1f} ms, errors {s['errors']}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = _bench.output_path(args.out, "serve_load", args.quick)
    requests, seconds = (QUICK_REQUESTS, QUICK_SECONDS) if args.quick else (REQUESTS, SECONDS)
    with tempfile.TemporaryDirectory(prefix="gradkit-bench-") as tmp:
        bundle, cases = prepare(Path(tmp))
        quiet, start = _bench.idle_check(), _bench.cpu_counters()
        proc, port = start_server(bundle)
        try:
            runs = []
            for payload, clients in QUICK if args.quick else SCENARIOS:
                runs.append(scenario(port, cases, payload, clients, requests, seconds))
                print(f"  done {payload} x {clients}", flush=True)
            heavy = heavy_with_probes(port, 2 if args.quick else 4)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        batching = batching_study(bundle, cases, requests, seconds, 1 if args.quick else BATCHING_ROUNDS)
    targets = {f"{s['payload']}_{s['clients']}_no_errors": {
        "target": f"0 errors ({s['payload']}, {s['clients']} clients)", "value": s["errors"],
        "pass": s["errors"] == 0} for s in runs}
    targets["health_during_heavy_request"] = {
        "target": "/health answers within 250 ms (max) while one heavy request decodes",
        "value": heavy["probe_max_ms"], "pass": heavy["probe_max_ms"] is not None
        and heavy["probe_max_ms"] < 250 and heavy["heavy_status"] == 200}
    result = {"benchmark": "serve_load", "date": _bench.now(), "quick": args.quick,
              "machine": _bench.machine(), "conditions": _bench.conditions(quiet, start),
              "server": "gradkit serve BUNDLE --threads 1 (uvicorn, 1 process) on 127.0.0.1",
              "model": "digits-cnn, 3 epochs (bundle)", "request_budget": requests,
              "seconds_budget": seconds, "scenarios": runs, "heavy": heavy, "batching": batching,
              "targets": targets,
              "notes": ["The load generator is this process (one keep-alive connection per client "
                        "thread) and shares the machine's CPUs with the server; one example per "
                        "request: an 8x8 digit as a JSON array, or as a PNG upload (multipart). "
                        "An error is a non-200 answer or a label other than the model's own."]}
    _bench.finish(result, out, print_summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
