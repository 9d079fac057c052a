#!/usr/bin/env python3
"""Turns bench/run.sh's results.jsonl into the Markdown report (stdout).

Records (one JSON object a line, `kind` says which):
  meta       machine and run parameters
  wrk        target, mode (plain|stream), conc, wrk: the WRKJSON object of wrk-post.lua
  ttft       target, ttft: the JSON line of bench-ttft
  rss        target, phase (idle|load), rss_kb (VmRSS), hwm_kb (VmHWM)
  skip       target, reason
  mock_stats stats: the mock's /__mock/stats counters
"""

import json
import sys

TARGETS = ["direct", "tollgate", "nginx"]
MODES = ["plain", "stream"]


def load(path):
    recs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                recs.append(json.loads(line))
    return recs


def ms(us):
    return "–" if us is None else f"{us / 1000:.3f}"


def pct(x):
    return "–" if x is None else f"{x * 100:.0f}%"


def signed_ms(us):
    return "–" if us is None else f"{us / 1000:+.3f}"


def ratio(a, b):
    return "–" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def added_ratio(a, b):
    """a/b of two added latencies; undefined when nginx adds ≤ 2 µs (noise, or the direct run
    queued more than the proxied one, which happens when the load core is saturated)."""
    return "–" if a is None or b is None or b <= 2 else f"{a / b:.2f}"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def main():
    recs = load(sys.argv[1])
    meta = next((r for r in recs if r["kind"] == "meta"), {})
    skips = [r for r in recs if r["kind"] == "skip"]
    wrk = {}
    for r in recs:
        if r["kind"] == "wrk" and "wrk" in r:
            w = r["wrk"]
            secs = w["duration_us"] / 1e6
            errors = sum(w["errors"].values())
            tck = r.get("clk_tck") or 100
            cpu = lambda ticks: None if ticks is None or not secs else ticks / tck / secs  # noqa: E731
            wrk[(r["target"], r["mode"], r["conc"])] = {
                "proxy_cpu": cpu(r.get("proxy_ticks")),
                "mock_cpu": cpu(r.get("mock_ticks")),
                "rps": w["requests"] / secs if secs else 0.0,
                "p50": w["latency_us"]["p50"],
                "p99": w["latency_us"]["p99"],
                "errors": errors,
                "requests": w["requests"],
                # perf counted the proxy for perf_seconds while wrk ran at rps.
                "kinstr": None if not r.get("proxy_instructions") or not w["requests"]
                else r["proxy_instructions"] / (w["requests"] / secs * r["perf_seconds"]) / 1000,
            }
    ttft = {r["target"]: r["ttft"] for r in recs if r["kind"] == "ttft" and r.get("ttft")}
    rss = {(r["target"], r["phase"]): r for r in recs if r["kind"] == "rss"}
    concs = sorted({k[2] for k in wrk})

    p = print
    p("# Tollgate bench report\n")
    p(
        f"{meta.get('date', '?')} · git {meta.get('git', '?')} · {meta.get('nproc', '?')} CPUs "
        f"({meta.get('cpu', '?')}) · kernel {meta.get('kernel', '?')} · {meta.get('rustc', '?')}"
    )
    p(
        f"duration {meta.get('duration', '?')} per scenario{' (QUICK)' if meta.get('quick') else ''}"
        f" · proxy on CPU {meta.get('cpu_proxy', '?')}, mock+wrk on CPU {meta.get('cpu_load', '?')}"
        f" · stream = {meta.get('stream_chunks', '?')} chunks, 0 ms apart"
        f" · at start: CPU {meta.get('busy_pct', '?')}% busy, load average {meta.get('loadavg', '?')}\n"
    )
    for s in skips:
        p(f"> **{s['target']} skipped:** {s['reason']}\n")

    p("## Throughput and latency (wrk, 1 thread)\n")
    rows = []
    for t in TARGETS:
        for m in MODES:
            for c in concs:
                r = wrk.get((t, m, c))
                if r is None:
                    continue
                d = wrk.get(("direct", m, c))
                add50 = None if d is None or t == "direct" else r["p50"] - d["p50"]
                add99 = None if d is None or t == "direct" else r["p99"] - d["p99"]
                pc = r["proxy_cpu"]
                rows.append([t, m, c, f"{r['rps']:.0f}", ms(r["p50"]), ms(r["p99"]),
                             signed_ms(add50), signed_ms(add99), pct(pc),
                             "–" if pc is None or not r["rps"] else f"{pc * 1e6 / r['rps']:.1f}",
                             "–" if r["kinstr"] is None else f"{r['kinstr']:.0f}",
                             pct(r["mock_cpu"]), r["errors"]])
    p(table(["target", "mode", "conc", "req/s", "p50 ms", "p99 ms", "added p50 ms",
             "added p99 ms", "proxy CPU", "proxy CPU µs/req", "proxy kinstr/req", "mock CPU",
             "errors"], rows))
    p("\nadded = target latency − direct-to-mock latency at the same mode and concurrency. "
      "proxy CPU = the proxy process's CPU time / wall time (100% = its whole core); "
      "µs/req = CPU time per request; kinstr/req = thousands of instructions the proxy retired per "
      "request (perf stat; the steadiest number on a shared VM).\n")

    p("## Ratios\n")
    rows = []
    for m in MODES:
        for c in concs:
            d, g, n = (wrk.get((t, m, c)) for t in TARGETS)
            rps = lambda r: None if r is None else r["rps"]  # noqa: E731
            added = lambda r: None if r is None or d is None else r["p50"] - d["p50"]  # noqa: E731
            per_req = lambda r: None if r is None or r["proxy_cpu"] is None or not r["rps"] else r["proxy_cpu"] / r["rps"]  # noqa: E731
            kin = lambda r: None if r is None else r["kinstr"]  # noqa: E731
            rows.append([m, c, ratio(rps(g), rps(d)), ratio(rps(g), rps(n)), ratio(rps(n), rps(d)),
                         ratio(per_req(n), per_req(g)), ratio(kin(n), kin(g)),
                         added_ratio(added(g), added(n)) if c == 1 else "–"])
    p(table(["mode", "conc", "tollgate/direct req/s", "tollgate/nginx req/s",
             "nginx/direct req/s", "nginx/tollgate CPU per req", "nginx/tollgate instr per req",
             "tollgate/nginx added p50 (c=1)"],
            rows))
    p("\nnginx/tollgate CPU per req: the req/s ratio the two would reach if each had its core to "
      "itself; unlike tollgate/nginx req/s it does not flatter tollgate when wrk + mock saturate "
      "their core (nginx/direct ≈ 1).\n")

    p(f"## Time to first token (bench-ttft, sequential, keep-alive, "
      f"{meta.get('ttft_chunks', '?')} chunks × {meta.get('ttft_interval_ms', '?')} ms)\n")
    rows = []
    d = ttft.get("direct")
    for t in TARGETS:
        r = ttft.get(t)
        if r is None:
            continue
        a50 = None if d is None or t == "direct" else r["ttft_us"]["p50"] - d["ttft_us"]["p50"]
        a99 = None if d is None or t == "direct" else r["ttft_us"]["p99"] - d["ttft_us"]["p99"]
        rows.append([t, r["requests"], r["errors"], ms(r["ttft_us"]["p50"]), ms(r["ttft_us"]["p99"]),
                     signed_ms(a50), signed_ms(a99), ms(r["total_us"]["p50"])])
    p(table(["target", "n", "errors", "TTFT p50 ms", "TTFT p99 ms", "added p50 ms",
             "added p99 ms", "stream total p50 ms"], rows))
    p("")

    p("## Memory (VmRSS / VmHWM from /proc)\n")
    rows = []
    for t, who in (("tollgate", "tollgate"), ("nginx", "nginx worker")):
        idle, loaded = rss.get((t, "idle")), rss.get((t, "load"))
        if idle is None and loaded is None:
            rows.append([who, "–", "–", "–"])
            continue
        mb = lambda kb: "–" if not kb else f"{kb / 1024:.1f} MiB"  # noqa: E731
        rows.append([who, mb(idle and idle["rss_kb"]), mb(loaded and loaded["rss_kb"]),
                     mb(loaded and loaded["hwm_kb"])])
    p(table(["process", "RSS idle", "RSS after load", "peak RSS (VmHWM)"], rows))
    p("")

    p("## Against the bar (DESIGN.md §4)\n")
    g16, n16 = wrk.get(("tollgate", "plain", 16)), wrk.get(("nginx", "plain", 16))
    d1, g1, n1 = (wrk.get((t, "plain", 1)) for t in TARGETS)
    if g16 and n16:
        r = g16["rps"] / n16["rps"]
        p(f"- req/s at c=16: tollgate/nginx = {r:.2f} (bar ≥ 0.80): **{'PASS' if r >= 0.8 else 'FAIL'}**")
        if g16.get("proxy_cpu") and n16.get("proxy_cpu"):
            e = (n16["proxy_cpu"] / n16["rps"]) / (g16["proxy_cpu"] / g16["rps"])
            p(f"- CPU per request at c=16: nginx/tollgate = {e:.2f} (same bar, immune to a "
              f"saturated load core): **{'PASS' if e >= 0.8 else 'FAIL'}**")
    else:
        p("- req/s at c=16: tollgate/nginx: not measured")
    if g1 and n1 and d1:
        ga, na = g1["p50"] - d1["p50"], n1["p50"] - d1["p50"]
        ok = ga <= 1.1 * max(na, 1)  # 1 µs floor: wrk's resolution
        p(f"- added p50 at c=1: tollgate {ga / 1000:.3f} ms vs nginx {na / 1000:.3f} ms "
          f"(bar ≤ 1.1×): **{'PASS' if ok else 'FAIL'}**")
    else:
        p("- added latency at c=1: tollgate vs nginx: not measured")
    errs = sum(r["errors"] for r in wrk.values())
    if errs:
        p(f"- WARNING: {errs} wrk errors (socket errors or HTTP ≥ 400): check the raw wrk files")
    stats = next((r.get("stats") for r in recs if r["kind"] == "mock_stats"), None)
    if stats:
        p(f"- mock counters: {json.dumps(stats)}")


if __name__ == "__main__":
    main()
