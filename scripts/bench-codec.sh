#!/usr/bin/env bash
# Runs the box codec benchmark (amp-core/benches/codec.rs) and prints one row
# per benchmark: time per stream, boxes per second and bytes per second.
# Extra arguments go to the benchmark (for example a name filter).
# See docs/performance.md for what each benchmark measures.
set -euo pipefail
# shellcheck source=scripts/processes.sh
. "$(dirname "$0")/processes.sh"
cd "$(dirname "$0")/.."

# cargo runs with `run` (scripts/processes.sh), so that Ctrl-C or SIGTERM stop
# the script at once, and the clean-up stops cargo and the benchmark it runs.
cleanup() {
    stop_processes ${step:+"$step"}
}
at_exit cleanup

run cargo bench -p amp-core --bench codec -- "$@"

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
