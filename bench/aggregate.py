#!/usr/bin/env python3
"""Aggregates the JSON lines of bench/run.sh into one table: medians over the rounds.

usage: aggregate.py RESULTS_DIR   (files roundN.<x>.<client>.jsonl, as run.sh writes them)
       aggregate.py FILE...       (JSON lines; each file one round of one client)
"""
import json
import os
import re
import statistics
import sys

SCENARIOS = [
    "get_seq_1srv", "get_conc8_1srv", "get_conc32_1srv", "get_conc256_1srv",
    "mget100_4srv", "mget100_conc8_4srv", "mget10k_4srv",
    "set_seq_1srv", "set_pipe100_1srv", "mixed90_conc32_4srv",
]
MC, LM, MC2, MCM = "memcoro", "libmemcached", "memcoro-2t", "memcoro-meta"
MCT = "memcoro-tls"  # memcoro over TLS (bench/run.sh --tls)
MCU = "memcoro-udp"  # memcoro with gets over UDP (bench/run.sh --udp)


def load(paths):
    """{(client, scenario): {round: record}}"""
    runs = {}
    bad = []
    for index, path in enumerate(paths, 1):
        m = re.search(r"round(\d+)\.", os.path.basename(path))
        rnd = int(m.group(1)) if m else index
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                rec = json.loads(line)
                runs.setdefault((rec["client"], rec["scenario"]), {})[rnd] = rec
                if rec.get("errors") or not rec.get("verified", False):
                    bad.append(f'{rec["client"]} {rec["scenario"]} round {rnd}: '
                               f'errors {rec.get("errors")}, verified {rec.get("verified")}')
    return runs, bad


def throughput(rec, scenario):
    return rec["keys_per_s"] if scenario.startswith("mget") else rec["ops_per_s"]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_rate(v):
    if v is None:
        return "–"
    return f"{v / 1e6:.2f} M" if v >= 1e6 else f"{v / 1e3:.1f} k"


def fmt_num(v, digits=1):
    if v is None:
        return "–"
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def fmt_lat(p50, p99):
    if p50 is None:
        return "–"
    return f"{fmt_num(p50)} / {fmt_num(p99)}"


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    if len(argv) == 2 and os.path.isdir(argv[1]):
        d = argv[1]
        paths = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".jsonl"))
    else:
        paths = argv[1:]
    runs, bad = load(paths)
    rounds = sorted({r for per in runs.values() for r in per})
    have_mc2 = any(c == MC2 for c, _ in runs)
    have_meta = any(c == MCM for c, _ in runs)
    have_tls = any(c == MCT for c, _ in runs)
    have_udp = any(c == MCU for c, _ in runs)

    def metric(client, scenario, key):
        per = runs.get((client, scenario), {})
        return med([per[r][key] for r in per])

    def tput(client, scenario):
        per = runs.get((client, scenario), {})
        return med([throughput(per[r], scenario) for r in per])

    def ratio(a, b, scenario):
        """Median, min and max of the per-round throughput ratios a/b."""
        pa, pb = runs.get((a, scenario), {}), runs.get((b, scenario), {})
        rs = [throughput(pa[r], scenario) / throughput(pb[r], scenario)
              for r in rounds if r in pa and r in pb and throughput(pb[r], scenario) > 0]
        return (med(rs), min(rs), max(rs)) if rs else (None, None, None)

    def fmt_ratio(r):
        m, lo, hi = r
        if m is None:
            return "–"
        return f"{m:.2f} ({lo:.2f}–{hi:.2f})" if hi > lo else f"{m:.2f}"

    def fmt_quotient(a, b):
        return "–" if a is None or not b else f"{a / b:.2f}"

    head = ["scenario", "memcoro /s", "libmemcached /s", "ratio mc/lm (min–max)",
            "p50 / p99 µs memcoro", "p50 / p99 µs libmemcached",
            "CPU µs/op mc", "CPU µs/op lm", "allocs/op mc", "allocs/op lm"]
    if have_mc2:
        head += ["memcoro 2 threads /s", "ratio 2t/1t (min–max)"]
    if have_meta:
        head += ["memcoro meta /s", "ratio meta/lm (min–max)", "ratio meta/text (min–max)",
                 "CPU µs/op meta"]
    if have_udp:
        head += ["memcoro UDP /s", "ratio UDP/TCP (min–max)", "ratio UDP/lm (min–max)",
                 "p50 / p99 µs UDP", "CPU µs/op UDP"]
    if have_tls:
        head += ["memcoro TLS /s", "ratio TLS/plain (min–max)", "p50 / p99 µs TLS",
                 "CPU µs/op TLS", "CPU TLS/plain", "allocs/op TLS"]
    rows = []
    for sc in SCENARIOS:
        if not any(s == sc for _, s in runs):
            continue
        unit = " keys" if sc.startswith("mget") else ""
        row = [
            sc,
            fmt_rate(tput(MC, sc)) + unit,
            fmt_rate(tput(LM, sc)) + unit,
            fmt_ratio(ratio(MC, LM, sc)),
            fmt_lat(metric(MC, sc, "p50_us"), metric(MC, sc, "p99_us")),
            fmt_lat(metric(LM, sc, "p50_us"), metric(LM, sc, "p99_us")),
            fmt_num(metric(MC, sc, "cpu_us_per_op"), 2),
            fmt_num(metric(LM, sc, "cpu_us_per_op"), 2),
            fmt_num(metric(MC, sc, "allocs_per_op"), 1),
            fmt_num(metric(LM, sc, "allocs_per_op"), 1),
        ]
        if have_mc2:
            row += [fmt_rate(tput(MC2, sc)) + unit, fmt_ratio(ratio(MC2, MC, sc))]
        if have_meta:
            row += [fmt_rate(tput(MCM, sc)) + unit, fmt_ratio(ratio(MCM, LM, sc)),
                    fmt_ratio(ratio(MCM, MC, sc)), fmt_num(metric(MCM, sc, "cpu_us_per_op"), 2)]
        if have_udp:
            row += [fmt_rate(tput(MCU, sc)) + unit, fmt_ratio(ratio(MCU, MC, sc)),
                    fmt_ratio(ratio(MCU, LM, sc)),
                    fmt_lat(metric(MCU, sc, "p50_us"), metric(MCU, sc, "p99_us")),
                    fmt_num(metric(MCU, sc, "cpu_us_per_op"), 2)]
        if have_tls:
            row += [fmt_rate(tput(MCT, sc)) + unit, fmt_ratio(ratio(MCT, MC, sc)),
                    fmt_lat(metric(MCT, sc, "p50_us"), metric(MCT, sc, "p99_us")),
                    fmt_num(metric(MCT, sc, "cpu_us_per_op"), 2),
                    fmt_quotient(metric(MCT, sc, "cpu_us_per_op"),
                                 metric(MC, sc, "cpu_us_per_op")),
                    fmt_num(metric(MCT, sc, "allocs_per_op"), 1)]
        rows.append(row)

    print(f"Medians over {len(rounds)} round(s); ops/s (keys/s for the multi-gets); "
          f"ratios: median (min–max) of the per-round ratios.")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if bad:
        print("\nNOT VERIFIED / ERRORS:")
        for b in bad:
            print("  " + b)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
