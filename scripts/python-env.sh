#!/usr/bin/env bash
# Sets up the Python environment of the AMP interoperability suite: a virtual
# environment at <repo>/.venv-interop holding interop/requirements.txt (real
# Twisted from PyPI), and prints that environment's python as the LAST line of
# standard output, so that a caller can do:
#
#     PY=$(bash scripts/python-env.sh | tail -1)
#     "$PY" interop/server.py 127.0.0.1:0
#
# Progress messages go to standard error. The script is idempotent: a stamp
# file inside the environment records the hash of requirements.txt and the
# base interpreter's version; when both still match and Twisted imports at the
# pinned version, nothing is installed and the script returns at once. When
# the environment is missing, stale or broken it is rebuilt from scratch.
# Concurrent callers (parallel tests) are serialised with flock(1) when it is
# available. Any failure exits non-zero with a message on standard error.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv-interop"
requirements="$repo/interop/requirements.txt"
stamp="$venv/.interop-stamp"
twisted_version="26.10.0"
base_python="${PYTHON:-python3}"

log() { printf 'python-env: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -f "$requirements" ]] || die "missing $requirements"
command -v "$base_python" >/dev/null || die "no '$base_python' on PATH (CPython 3.11 or newer is needed)"

# What the environment must have been built from.
want="$(
    {
        sha256sum "$requirements" | cut -d' ' -f1
        "$base_python" -c 'import sys; print(sys.version.replace("\n", " "))'
    } | sha256sum | cut -d' ' -f1
)" || die "cannot hash $requirements with $base_python"

venv_python="$venv/bin/python"

# True when the environment imports the pinned Twisted.
verify() {
    "$venv_python" - "$twisted_version" <<'EOF' >&2
import sys
import twisted
from twisted.protocols import amp  # noqa: F401  (the module the suite needs)
if twisted.__version__ != sys.argv[1]:
    sys.exit(f"Twisted {twisted.__version__} found, {sys.argv[1]} wanted")
EOF
}

up_to_date() {
    [[ -x "$venv_python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && verify 2>/dev/null
}

# Fast path, without taking the lock.
if up_to_date; then
    echo "$venv_python"
    exit 0
fi

# Slow path: build under an exclusive lock so parallel callers wait for one
# build instead of racing each other.
# The lock lives outside the repository (nothing to ignore) and outside the
# environment (which a rebuild clears), one per checkout.
lockfile="${TMPDIR:-/tmp}/amp-interop-venv-$(printf '%s' "$venv" | sha256sum | cut -c1-16).lock"
if command -v flock >/dev/null; then
    exec 9>"$lockfile"
    flock 9 || die "cannot lock $lockfile"
fi

if ! up_to_date; then
    log "building $venv from $requirements"
    rm -f "$stamp"
    "$base_python" -m venv --clear "$venv" >&2 || die "'$base_python -m venv' failed (is the venv module installed?)"
    "$venv_python" -m pip install --disable-pip-version-check --no-input --quiet \
        -r "$requirements" >&2 || die "pip install -r $requirements failed"
    verify || die "Twisted $twisted_version does not import from $venv"
    echo "$want" >"$stamp"
    log "ready"
fi

echo "$venv_python"
