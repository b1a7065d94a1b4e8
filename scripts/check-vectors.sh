#!/usr/bin/env bash
# Checks that the committed wire vectors (interop/vectors/twisted-amp.json)
# are what real Twisted records today: sets up the Python environment
# (scripts/python-env.sh: the pinned Twisted and epsilon), re-records the
# vectors with interop/record_vectors.py into a temporary file, and compares.
# Exit 0 when they are the same bytes; 1 when not, after naming each vector
# that differs (list, index, note or type and value, and the fields); other
# failures (no Python environment, the recording fails) also exit non-zero.
#
# A difference means the file was edited by hand, or the recorder or the
# pinned Twisted changed: re-record with
#     "$(bash scripts/python-env.sh | tail -1)" interop/record_vectors.py interop/vectors/twisted-amp.json
# and review the diff.
set -euo pipefail
cd "$(dirname "$0")/.."

vectors=interop/vectors/twisted-amp.json
[[ -f "$vectors" ]] || { echo "check-vectors: missing $vectors" >&2; exit 1; }

PY=$(bash scripts/python-env.sh | tail -n 1)
if [[ -z "$PY" || ! -x "$PY" ]]; then
    echo "check-vectors: could not set up the Python environment with Twisted" >&2
    exit 1
fi

recorded=$(mktemp "${TMPDIR:-/tmp}/twisted-amp.XXXXXX.json")
trap 'rm -f "$recorded"' EXIT

"$PY" interop/record_vectors.py "$recorded" >/dev/null
"$PY" interop/record_vectors.py --compare "$recorded" "$vectors"
