#!/usr/bin/env bash
# Runs the box codec benchmark (amp-core/benches/codec.rs) and prints one row
# per benchmark: time per stream, boxes per second and bytes per second.
# Extra arguments go to the benchmark (for example a name filter).
# See docs/performance.md for what each benchmark measures.
set -euo pipefail
cd "$(dirname "$0")/.."

# The given process ids and all their descendants, as the process table has
# them now.
with_descendants() {
    ps -e -o pid= -o ppid= | awk -v roots="$*" '
        BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
        { parent[$1] = $2 }
        END {
            do {
                grew = 0
                for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; grew = 1 }
            } while (grew)
            for (p in keep) print p
        }'
}

# Those of the given process ids that still run (not yet exited).
running() {
    ps -o pid= -o stat= -p "$(echo "$*" | tr ' ' ,)" 2>/dev/null | awk '$2 !~ /^Z/ { print $1 }'
}

# Stops the given processes (children of this shell) and their descendants:
# SIGTERM (and SIGCONT, for a stopped one), SIGKILL to whatever still runs
# 5 s later, then reaps them.
stop_processes() {
    [ $# -gt 0 ] || return 0
    local all left="" p
    all=$(with_descendants "$@")
    # shellcheck disable=SC2086 # a list of process ids
    kill -TERM $all 2>/dev/null
    # shellcheck disable=SC2086 # (a stopped process acts on SIGTERM once continued)
    kill -CONT $all 2>/dev/null
    for _ in $(seq 50); do
        # shellcheck disable=SC2086
        left=$(running $all)
        [ -z "$left" ] && break
        sleep 0.1
    done
    # shellcheck disable=SC2086
    [ -z "$left" ] || kill -KILL $left 2>/dev/null
    for p in "$@"; do wait "$p" 2>/dev/null; done
}

# cargo runs in the background and is waited for: a trap runs only once a
# foreground command has ended, while `wait` gives way to it at once, so
# Ctrl-C or SIGTERM stop the script at once, and with it cargo and the
# benchmark it runs.
bench=""
cleanup() {
    local status=$?
    set +e
    trap '' INT TERM # a second Ctrl-C must not cut the clean-up short
    stop_processes ${bench:+"$bench"}
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cargo bench -p amp-core --bench codec -- "$@" &
bench=$!
wait "$bench"
bench=""

criterion_dir="${CARGO_TARGET_DIR:-target}/criterion"
if ! command -v python3 >/dev/null; then
    echo "python3 not found: see $criterion_dir for the raw estimates" >&2
    exit 0
fi
python3 - "$criterion_dir" <<'PY'
import json, pathlib, re, sys

root = pathlib.Path(sys.argv[1])
rows = []
for group in ("sum_boxes", "large_value"):
    for bench in sorted((root / group).glob("*/*/new/benchmark.json")):
        meta = json.loads(bench.read_text())
        est = json.loads((bench.parent / "estimates.json").read_text())
        # Criterion's headline figure: the regression slope when it has one.
        ns = (est.get("slope") or est["mean"])["point_estimate"]
        m = re.fullmatch(r"(\d+)x(\d+)B", meta["value_str"])
        boxes, box_bytes = int(m.group(1)), int(m.group(2))
        secs = ns / 1e9
        rows.append((meta["full_id"], ns / 1e3, boxes / secs, boxes * box_bytes / secs / 1e9))

print(f"{'benchmark':44} {'us/stream':>10} {'boxes/s':>14} {'GB/s':>8}")
for name, us, bps, gbs in rows:
    print(f"{name:44} {us:10.1f} {bps:14,.0f} {gbs:8.2f}")
PY
