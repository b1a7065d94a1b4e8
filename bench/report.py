"""
Turns the result lines of scripts/bench-rpc.sh into a Markdown report.

    python bench/report.py RESULTS.txt key=value ... > report.md

Each line of RESULTS.txt is ``pair=P workload=W round=R key=value ...`` as the
script writes it (the clients' ``RESULT`` lines with the pair, workload and
round in front). The ``key=value`` arguments describe the run (command,
machine, versions). With several rounds, each cell is the median (of each
latency percentile on its own, for the latency table). Lines without the
latency fields (``p50_us``, ``p99_us``, ``p999_us``, ``max_us``; older runs)
show "n/a" there.
"""

import statistics
import sys

PAIRS = [
    ("raw", "raw TCP ping-pong"),
    ("amp", "amp-tokio"),
    ("amp-async-std", "amp-async-std (async-std)"),
    ("amp-smol", "amp-async-std (smol)"),
    ("raw-smol", "raw TCP ping-pong (smol)"),
    ("tarpc", "tarpc (bincode)"),
    ("tarpc-json", "tarpc (JSON)"),
    ("twisted", "Twisted → Twisted"),
    ("amp-to-twisted", "amp-tokio → Twisted"),
    ("twisted-to-amp", "Twisted → amp-tokio"),
    ("raw-tls", "raw TLS ping-pong"),
    ("amp-tls", "amp-tokio over TLS"),
    ("raw-unix", "raw UNIX ping-pong"),
    ("amp-unix", "amp-tokio over UNIX"),
]
TWISTED = ["twisted", "amp-to-twisted", "twisted-to-amp"]
TARPC = ["tarpc", "tarpc-json"]
# amp-async-std's rows, compared with amp-tokio: the target is at least
# this fraction of amp-tokio's rate on every workload.
FUTURES_IO = ["amp-async-std", "amp-smol"]
WITHIN = 0.8
# AMP over another transport against the raw ping-pong over the same one:
# (amp pair, raw pair, goal or None).
TRANSPORTS = [("amp-tls", "raw-tls", 0.8), ("amp-unix", "raw-unix", None)]
# The latency percentiles of a RESULT line, in microseconds.
PERCENTILES = [("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9")]
# The tail compared with tarpc's: amp-tokio's p99 and p99.9 are to be no
# worse (no higher) than tarpc (bincode)'s, at 16 in flight and with N
# connections.
TAIL = [("p99_us", "p99"), ("p999_us", "p99.9")]


def parse(path):
    cells = {}
    order = []
    with open(path) as f:
        for line in f:
            fields = dict(kv.split("=", 1) for kv in line.split())
            key = (fields["workload"], fields["pair"])
            if fields["workload"] not in order:
                order.append(fields["workload"])
            cells.setdefault(key, []).append(fields)
    return order, cells


def median(runs, field):
    values = []
    for r in runs:
        try:
            values.append(float(r[field]))
        except (KeyError, ValueError):
            pass
    return statistics.median(values) if values else None


def rate(cells, workload, pair):
    return median(cells.get((workload, pair), []), "rate")


def cpu_per_call(cells, workload, pair, side):
    runs = cells.get((workload, pair), [])
    r, c = median(runs, "rate"), median(runs, f"{side}_cpu")
    if not r or c is None:
        return None
    return c / r * 1e6


def fmt_rate(x):
    return "—" if x is None else f"{x:,.0f}"


def fmt_us(x):
    return "—" if x is None else f"{x:.2f}"


def latency(cells, workload, pair, field):
    return median(cells.get((workload, pair), []), field)


def fmt_lat(x):
    if x is None:
        return "n/a"
    return f"{x:.1f}" if x < 100 else f"{x:,.0f}"


def fmt_ratio(x):
    return "—" if x is None else f"{x:.3f}×" if x < 10 else f"{x:.0f}×"


def main(argv):
    order, cells = parse(argv[1])
    meta = dict(a.split("=", 1) for a in argv[2:])
    pairs = [(p, title) for p, title in PAIRS if any(k[1] == p for k in cells)]
    conns = next((w for w in order if w.startswith("conns")), None)
    out = []
    w = out.append

    w("## Results")
    w("")
    w(f"Command: `{meta.get('command', '')}` ({meta.get('date', '')}, "
      f"{meta.get('elapsed', '?')} of measuring).")
    w("")
    w(f"Code measured: {meta.get('revision', '?')}.")
    w("")
    w(f"Machine: {meta.get('nproc', '?')} cores ({meta.get('cpu', '?')}), Linux "
      f"{meta.get('kernel', '?')}, {meta.get('rustc', '?')}; tokio {meta.get('tokio', '?')}, "
      f"async-std {meta.get('async-std', '?')}, smol {meta.get('smol', '?')} "
      f"(async-io {meta.get('async-io', '?')}); tarpc {meta.get('tarpc', '?')} "
      f"over TCP with tokio-serde bincode / JSON in length-delimited frames; "
      f"Python {meta.get('python') or '—'}, Twisted {meta.get('twisted') or '—'} "
      f"(epoll reactor). Load average before {meta.get('load_before', '?')}, "
      f"after {meta.get('load_after', '?')}.")
    w("")
    w(f"Calls per second (Sum, completed in {meta.get('seconds', '?')} s after "
      f"{meta.get('warmup', '?')} s of warm-up; client → server, each its own process):")
    w("")
    w("| workload | " + " | ".join(t for _, t in pairs) + " |")
    w("|---|" + "---:|" * len(pairs))
    for wl in order:
        w(f"| {wl} | " + " | ".join(fmt_rate(rate(cells, wl, p)) for p, _ in pairs) + " |")
    w("")
    w("CPU per call, µs (client / server; process CPU time over the measured "
      "window divided by the calls completed):")
    w("")
    w("| workload | " + " | ".join(t for _, t in pairs) + " |")
    w("|---|" + "---:|" * len(pairs))
    for wl in order:
        row = []
        for p, _ in pairs:
            c, s = cpu_per_call(cells, wl, p, "client"), cpu_per_call(cells, wl, p, "server")
            row.append("—" if c is None else f"{fmt_us(c)} / {fmt_us(s)}")
        w(f"| {wl} | " + " | ".join(row) + " |")
    w("")
    w("Other processes' CPU during each measured window, in cores (the machine "
      "has " + meta.get("nproc", "?") + "; well above 0 means the run shared the CPUs "
      "with something else and its rate is low by about that share), and in brackets "
      "the time the hypervisor took from the machine's CPUs, when any:")
    w("")
    w("| workload | " + " | ".join(t for _, t in pairs) + " |")
    w("|---|" + "---:|" * len(pairs))
    for wl in order:
        row = []
        for p, _ in pairs:
            o = median(cells.get((wl, p), []), "others_cpu")
            st = median(cells.get((wl, p), []), "steal_cpu")
            cell = "—" if o is None else f"{o:.2f}"
            if st is not None and st >= 0.01:
                cell += f" (steal {st:.2f})"
            row.append(cell)
        w(f"| {wl} | " + " | ".join(row) + " |")

    # Latency.
    rounds = max((len(runs) for runs in cells.values()), default=1)
    w("")
    w("Latency per call, µs: p50 / p99 / p99.9"
      + (f" (each the median over {rounds} rounds)" if rounds > 1 else "")
      + "; from the moment a call is issued to the moment its whole answer is "
      "the caller's, over the calls completed in the measured window (closed "
      "loop: with I calls in flight the mean is about I ÷ the rate). The raw "
      "ping-pong matches each whole answer read with the oldest request not yet "
      "answered, timed from the write that sent it. n/a: the client reported no "
      "latency:")
    def latency_table(cell):
        """One row per pair, one column per workload: `cell(workload,
        pair)` for each workload the pair ran, a dash where it failed."""
        w("")
        w("| pair | " + " | ".join(order) + " |")
        w("|---|" + "---:|" * len(order))
        for p, title in pairs:
            row = []
            for wl in order:
                if all("failed" in r for r in cells.get((wl, p), [{"failed": 1}])):
                    row.append("—")
                else:
                    row.append(cell(wl, p))
            w(f"| {title} | " + " | ".join(row) + " |")

    def percentiles(wl, p):
        vals = [latency(cells, wl, p, f) for f, _ in PERCENTILES]
        return "n/a" if all(v is None for v in vals) else " / ".join(fmt_lat(v) for v in vals)

    latency_table(percentiles)
    w("")
    w("Longest call, µs" + (" (median over rounds)" if rounds > 1 else "") + ":")
    latency_table(lambda wl, p: fmt_lat(latency(cells, wl, p, "max_us")))
    tail_workloads = [wl for wl in ("pipelined16", conns) if wl in order]
    if tail_workloads and any(k[1] == "amp" for k in cells) and any(k[1] == "tarpc" for k in cells):
        parts = []
        verdicts = []
        for wl in tail_workloads:
            bits = []
            for f, name in TAIL:
                a, t = latency(cells, wl, "amp", f), latency(cells, wl, "tarpc", f)
                if a is None or t is None:
                    bits.append(f"{name} n/a")
                    verdicts.append(None)
                else:
                    bits.append(f"{name} {fmt_lat(a)} against {fmt_lat(t)} µs")
                    verdicts.append(a <= t)
            parts.append(f"{wl}: " + ", ".join(bits))
        if None in verdicts:
            verdict = "not known (a figure is missing)"
        elif all(verdicts):
            verdict = "yes"
        else:
            verdict = "no"
        w("")
        w("amp-tokio's tail against tarpc (bincode)'s: " + "; ".join(parts)
          + f". No worse at both percentiles on both workloads: **{verdict}**.")

    failed = sorted({k for k, runs in cells.items() if any("failed" in r for r in runs)})
    errors = sorted({k for k, runs in cells.items() if any(r.get("errors", "0") != "0" for r in runs)})
    if failed or errors:
        w("")
        for k in failed:
            w(f"- {k[1]} / {k[0]}: a run failed")
        for k in errors:
            w(f"- {k[1]} / {k[0]}: some calls failed")

    # amp-async-std against amp-tokio.
    if any(k[1] in FUTURES_IO for k in cells):
        w("")
        w(f"amp-async-std ÷ amp-tokio, same workload, same run (rate ratio; the target "
          f"is ≥ {WITHIN} on every workload), with CPU per call ÷ amp-tokio's "
          f"(client / server; above 1 costs more); and the raw ping-pong on smol ÷ "
          f"on tokio, the runtimes' own difference:")
        w("")
        cols = [p for p in FUTURES_IO if any(k[1] == p for k in cells)]
        titles = dict(PAIRS)
        head = [f"{titles[p]} ÷ amp-tokio" for p in cols] + ["CPU per call ÷ amp-tokio's: " + titles[p] for p in cols]
        has_raw_smol = any(k[1] == "raw-smol" for k in cells)
        if has_raw_smol:
            head.append("raw (smol) ÷ raw (tokio)")
        w("| workload | " + " | ".join(head) + " |")
        w("|---|" + "---:|" * len(head))
        for wl in order:
            row = []
            tokio = rate(cells, wl, "amp")
            for p in cols:
                r = rate(cells, wl, p)
                if r and tokio:
                    ratio = r / tokio
                    row.append(f"{ratio:.2f} ({'within 20 %' if ratio >= WITHIN else 'below'})")
                else:
                    row.append("—")
            for p in cols:
                parts = []
                for side in ("client", "server"):
                    a, t = cpu_per_call(cells, wl, p, side), cpu_per_call(cells, wl, "amp", side)
                    parts.append("—" if a is None or not t else f"{a / t:.2f}")
                row.append(" / ".join(parts))
            if has_raw_smol:
                rs, rt = rate(cells, wl, "raw-smol"), rate(cells, wl, "raw")
                row.append("—" if not rs or not rt else f"{rs / rt:.2f}")
            w(f"| {wl} | " + " | ".join(row) + " |")

    # Other transports, each against the raw ping-pong over the same one.
    if any(k[1] in ("amp-tls", "amp-unix") for k in cells):
        w("")
        w("Other transports (amp-tokio and the raw ping-pong, on tokio): AMP ÷ the raw "
          "ping-pong over the same transport, and each ÷ its plain-TCP counterpart:")
        w("")
        head = ["amp TLS ÷ raw TLS", "amp UNIX ÷ raw UNIX", "amp TLS ÷ amp TCP",
                "raw TLS ÷ raw TCP", "amp UNIX ÷ amp TCP", "raw UNIX ÷ raw TCP"]
        w("| workload | " + " | ".join(head) + " |")
        w("|---|" + "---:|" * len(head))

        def ratio_of(wl, a, b):
            x, y = rate(cells, wl, a), rate(cells, wl, b)
            return "—" if not x or not y else f"{x / y:.2f}"

        for wl in order:
            row = [ratio_of(wl, "amp-tls", "raw-tls"), ratio_of(wl, "amp-unix", "raw-unix"),
                   ratio_of(wl, "amp-tls", "amp"), ratio_of(wl, "raw-tls", "raw"),
                   ratio_of(wl, "amp-unix", "amp"), ratio_of(wl, "raw-unix", "raw")]
            w(f"| {wl} | " + " | ".join(row) + " |")

    # Targets.
    w("")
    w("## Targets")
    w("")
    w("| target | measured | met |")
    w("|---|---:|:---:|")

    def target(name, value, goal, shown):
        if value is None:
            w(f"| {name} | — | — |")
        else:
            w(f"| {name} | {shown} | {'yes' if value >= goal else 'no'} |")

    amp_seq, raw_seq = rate(cells, "sequential", "amp"), rate(cells, "sequential", "raw")
    ratio = amp_seq / raw_seq if amp_seq and raw_seq else None
    target("sequential ≥ 0.8 × raw ping-pong", ratio, 0.8, fmt_ratio(ratio))
    for wl in ("pipelined16", "pipelined256"):
        amp = rate(cells, wl, "amp")
        target(f"{wl} ≥ 1,000,000 calls/s", amp, 1e6, fmt_rate(amp))
    for wl in ("pipelined16", "pipelined256"):
        amp = rate(cells, wl, "amp")
        tw = rate(cells, wl, "twisted")
        r = amp / tw if amp and tw else None
        target(f"{wl} ≥ 100 × Twisted → Twisted", r, 100, fmt_ratio(r))
        best = max((x for x in (rate(cells, wl, p) for p in TWISTED) if x), default=None)
        r = amp / best if amp and best else None
        target(f"{wl} ≥ 100 × the fastest Twisted pair", r, 100, fmt_ratio(r))
    for wl in ("pipelined16", "pipelined256"):
        amp = rate(cells, wl, "amp")
        best = max((x for x in (rate(cells, wl, p) for p in TARPC) if x), default=None)
        r = amp / best if amp and best else None
        target(f"{wl} ≥ 2 × tarpc (its faster codec)", r, 2, fmt_ratio(r))
    for p in FUTURES_IO:
        title = dict(PAIRS)[p]
        for wl in order:
            tokio, other = rate(cells, wl, "amp"), rate(cells, wl, p)
            if other is None:
                continue
            r = other / tokio if other and tokio else None
            target(f"{wl}: {title} ≥ {WITHIN} × amp-tokio", r, WITHIN, fmt_ratio(r))
    for amp_pair, raw_pair, goal in TRANSPORTS:
        if goal is None:
            continue
        for wl in order:
            a, r = rate(cells, wl, amp_pair), rate(cells, wl, raw_pair)
            if a is None and r is None:
                continue
            x = a / r if a and r else None
            target(f"{wl}: {dict(PAIRS)[amp_pair]} ≥ {goal} × {dict(PAIRS)[raw_pair]}",
                   x, goal, fmt_ratio(x))
    for wl in tail_workloads:
        for f, name in TAIL:
            a, t = latency(cells, wl, "amp", f), latency(cells, wl, "tarpc", f)
            if a is None and t is None:
                continue
            if a is None or t is None:
                w(f"| {wl}: amp-tokio {name} ≤ tarpc (bincode)'s | — | — |")
            else:
                w(f"| {wl}: amp-tokio {name} ≤ tarpc (bincode)'s | {fmt_lat(a)} µs "
                  f"(tarpc {fmt_lat(t)}) | {'yes' if a <= t else 'no'} |")
    if conns:
        amp = rate(cells, conns, "amp")
        for p, title in pairs:
            if p in ("raw-tls", "amp-tls", "raw-unix", "amp-unix"):
                continue
            if p == "amp" or p in FUTURES_IO:
                continue
            other = rate(cells, conns, p)
            if amp and other:
                w(f"| {conns}: amp-tokio ÷ {title} (no target) | {fmt_ratio(amp / other)} | |")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv)
