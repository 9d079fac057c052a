#!/usr/bin/env python3
"""Turns bench/run.sh's results.jsonl into the Markdown report (stdout).

Records (one JSON object a line, `kind` says which):
  meta       machine and run parameters
  wrk        target, mode (plain|stream), conc, wrk: the WRKJSON object of wrk-post.lua
  ttft       target, ttft: the JSON line of bench-ttft
  rss        target, phase (idle|load), rss_kb (VmRSS), hwm_kb (VmHWM); idle has startup_s
             (tollgate*: seconds from start to listening)
  skip       target, reason
  keys_db    count, seconds, key, db_bytes: the database bench-keys wrote for tollgate-keys
  spend      target, spend: spend log rows and key spend in the database after the run
  mock_stats stats: the mock's /__mock/stats counters
"""

import json
import sys

TARGETS = ["direct", "tollgate", "tollgate-noauth", "tollgate-keys", "nginx"]
# The bar for the cost of keys, budgets, limits and spend logging: tollgate-keys' added
# latency within 10% of tollgate-noauth's.
KEYS_BAR = 1.10
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
            d, g, n = (wrk.get((t, m, c)) for t in ("direct", "tollgate", "nginx"))
            rps = lambda r: None if r is None else r["rps"]  # noqa: E731
            added = lambda r: None if r is None or d is None else r["p50"] - d["p50"]  # noqa: E731
            per_req = lambda r: None if r is None or r["proxy_cpu"] is None or not r["rps"] else r["proxy_cpu"] / r["rps"]  # noqa: E731
            kin = lambda r: None if r is None else r["kinstr"]  # noqa: E731
            rows.append([m, c, ratio(rps(g), rps(d)), ratio(rps(g), rps(n)), ratio(rps(n), rps(d)),
                         ratio(per_req(n), per_req(g)), ratio(kin(n), kin(g)),
                         added_ratio(added(g), added(n)) if c == 1 else "–"])
    if not any(k[0] in ("tollgate", "nginx") for k in wrk):
        rows = []
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
    mb = lambda kb: "–" if not kb else f"{kb / 1024:.1f} MiB"  # noqa: E731
    for t in TARGETS[1:]:
        who = "nginx worker" if t == "nginx" else t
        idle, loaded = rss.get((t, "idle")), rss.get((t, "load"))
        if idle is None and loaded is None:
            if t in ("tollgate", "nginx"):
                rows.append([who, "–", "–", "–", "–"])
            continue
        up = idle and idle.get("startup_s")
        rows.append([who, mb(idle and idle["rss_kb"]), mb(loaded and loaded["rss_kb"]),
                     mb(loaded and loaded["hwm_kb"]), "–" if up is None else f"{up:.2f} s"])
    p(table(["process", "RSS idle", "RSS after load", "peak RSS (VmHWM)", "start → listening"],
            rows))
    p("")

    keys_section(recs, wrk, rss, ttft)

    p("## Against the bar (DESIGN.md §4)\n")
    g16, n16 = wrk.get(("tollgate", "plain", 16)), wrk.get(("nginx", "plain", 16))
    d1, g1, n1 = (wrk.get((t, "plain", 1)) for t in ("direct", "tollgate", "nginx"))
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


def keys_section(recs, wrk, rss, ttft):
    """tollgate-keys (virtual key, budgets, limits, spend logging) against tollgate-noauth."""
    p = print
    if not any(k[0] == "tollgate-keys" for k in wrk):
        return
    kdb = next((r for r in recs if r["kind"] == "keys_db"), {})
    spend = next((r["spend"] for r in recs if r["kind"] == "spend"
                  and r.get("target") == "tollgate-keys"), None)
    p(f"## Keys, budgets, limits and spend logging ({kdb.get('count', '?'):,} keys)\n"
      if isinstance(kdb.get("count"), int) else
      "## Keys, budgets, limits and spend logging\n")
    p("tollgate-noauth: no master key (every request accepted, no key looked up), no prices. "
      "tollgate-keys: master key, the virtual key "
      f"`{kdb.get('key', '?')}` among {kdb.get('count', '?')} keys loaded from SQLite, each with "
      "max_budget, budget_duration, rpm/tpm/parallel limits that never trip; the deployment is "
      "priced (reservation, settle, spend counters), spend log rows flushed every second.\n")

    names = [("direct", "direct"), ("tollgate-noauth", "noauth"), ("tollgate-keys", "keys")]
    g = lambda t, m, c: wrk.get((t, m, c))  # noqa: E731

    def cpu_us(r):
        return None if r is None or r["proxy_cpu"] is None or not r["rps"] \
            else r["proxy_cpu"] * 1e6 / r["rps"]

    def added(t, m):
        r, d = g(t, m, 1), g("direct", m, 1)
        return None if r is None or d is None or t == "direct" else r["p50"] - d["p50"]

    fmt = lambda x, f: "–" if x is None else format(x, f)  # noqa: E731
    mb = lambda kb: "–" if not kb else f"{kb / 1024:.1f} MiB"  # noqa: E731
    rows = []
    for t, label in names:
        r1, s1, r16, s16 = g(t, "plain", 1), g(t, "stream", 1), g(t, "plain", 16), g(t, "stream", 16)
        idle, loaded = rss.get((t, "idle")), rss.get((t, "load"))
        tt = ttft.get(t)
        rows.append([
            label,
            ms(r1 and r1["p50"]), ms(r1 and r1["p99"]), signed_ms(added(t, "plain")),
            ms(s1 and s1["p50"]), signed_ms(added(t, "stream")),
            fmt(r16 and r16["rps"], ".0f"), fmt(s16 and s16["rps"], ".0f"),
            fmt(cpu_us(r16), ".1f"), fmt(cpu_us(s16), ".1f"),
            fmt(r16 and r16["kinstr"], ".0f"), fmt(s16 and s16["kinstr"], ".0f"),
            ms(tt and tt["ttft_us"]["p50"]),
            "–" if t == "direct" else mb(idle and idle["rss_kb"]),
            "–" if t == "direct" else mb(loaded and loaded["rss_kb"]),
        ])
    p(table(["target", "p50 ms c=1", "p99 ms c=1", "added p50 c=1", "stream p50 c=1",
             "stream added p50 c=1", "req/s c=16", "stream req/s c=16", "CPU µs/req c=16",
             "stream CPU µs/req c=16", "kinstr/req c=16", "stream kinstr/req c=16",
             "TTFT p50 ms", "RSS idle", "RSS after load"], rows))
    p("")

    def q(a, b):
        return None if a is None or b is None or b == 0 else a / b

    checks = []
    for m in ("plain", "stream"):
        ka, na = added("tollgate-keys", m), added("tollgate-noauth", m)
        # 1 µs floor: wrk's resolution.
        checks.append((f"added p50 at c=1 ({m})", q(ka, max(na, 1) if na is not None else None),
                       "keys/noauth", True))
        checks.append((f"CPU per request at c=16 ({m})",
                       q(cpu_us(g("tollgate-keys", m, 16)), cpu_us(g("tollgate-noauth", m, 16))),
                       "keys/noauth", True))
        ki, ni = g("tollgate-keys", m, 16), g("tollgate-noauth", m, 16)
        checks.append((f"instructions per request at c=16 ({m})",
                       q(ki and ki["kinstr"], ni and ni["kinstr"]), "keys/noauth", True))
        checks.append((f"req/s at c=16 ({m})", q(ki and ki["rps"], ni and ni["rps"]),
                       "keys/noauth", False))
    rows = []
    for what, r, how, lower_better in checks:
        if r is None:
            rows.append([what, how, "–", "not measured"])
            continue
        ok = r <= KEYS_BAR if lower_better else r >= 1 / KEYS_BAR
        rows.append([what, how, f"{r:.2f}", "within 10%" if ok else "**over 10%**"])
    p(table(["measure", "ratio", "value", f"bar (≤ {KEYS_BAR:.2f}× cost, ≥ {1 / KEYS_BAR:.2f}× req/s)"],
            rows))
    p("")
    ka, na = added("tollgate-keys", "plain"), added("tollgate-noauth", "plain")
    if ka is not None and na is not None:
        ok = ka <= KEYS_BAR * max(na, 1)
        p(f"- **Bar (added latency, plain, c=1): keys {ka / 1000:.3f} ms vs noauth "
          f"{na / 1000:.3f} ms = {ka / max(na, 1):.2f}× (≤ {KEYS_BAR:.2f}×): "
          f"{'PASS' if ok else 'FAIL'}**")
    if kdb:
        p(f"- keys database: {kdb.get('count')} keys written by bench-keys in "
          f"{kdb.get('seconds')} s ({(kdb.get('db_bytes') or 0) / 2**20:.0f} MiB SQLite file)")
    up = rss.get(("tollgate-keys", "idle"), {}).get("startup_s")
    up0 = rss.get(("tollgate-noauth", "idle"), {}).get("startup_s")
    if up is not None:
        p(f"- start → listening: keys {up:.2f} s"
          + (f", noauth {up0:.2f} s" if up0 is not None else ""))
    if spend:
        done = spend.get("completed_requests") or 0
        rows_ = spend.get("log_rows") or 0
        p(f"- spend logging: {rows_} rows in tollgate_spend_logs ({spend.get('success_rows')} "
          f"success, {spend.get('keyed_rows')} for the key) for {done} requests wrk and "
          f"bench-ttft completed; logged spend ${spend.get('logged_spend', 0):.4f}, the key's "
          f"spend in tollgate_entities ${spend.get('key_spend')}"
          + ("" if rows_ >= done else " — **fewer rows than requests**"))
    errs = {t: sum(r["errors"] for k, r in wrk.items() if k[0] == t)
            for t in ("tollgate-noauth", "tollgate-keys")}
    if any(errs.values()):
        p(f"- WARNING: wrk errors (socket or HTTP ≥ 400): {errs}")
    p("")


if __name__ == "__main__":
    main()
