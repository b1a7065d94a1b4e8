#!/usr/bin/env bash
# Runs every check and every test of the workspace, doing its own set-up.
# This is the command CI runs (through .ci/run) and the one the README gives.
#
# Set-up it does itself: a Python virtual environment (.venv-interop) with
# Twisted from PyPI, pinned in interop/requirements.txt, for the tests that
# put real Twisted on the other end of the wire. Those tests never skip: if
# the environment cannot be made, this script fails.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# Keep the build small enough for a machine whose disk is nearly full: with
# full debug information and incremental caches this script's builds take
# about 12 GB; line tables alone keep file and line in panics and backtraces.
# (A developer's own `cargo test` keeps Cargo's defaults.)
export CARGO_INCREMENTAL=0
export CARGO_PROFILE_DEV_DEBUG=line-tables-only

step "formatting"
cargo fmt --all --check

step "clippy (all targets, all features)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "Python peers: Twisted in a virtual environment"
AMP_INTEROP_PYTHON=$(bash scripts/python-env.sh | tail -n 1)
if [ -z "$AMP_INTEROP_PYTHON" ] || [ ! -x "$AMP_INTEROP_PYTHON" ]; then
    echo "could not set up the Python environment with Twisted" >&2
    exit 1
fi
export AMP_INTEROP_PYTHON
"$AMP_INTEROP_PYTHON" -c 'import twisted; print("Twisted", twisted.__version__)'

step "wire vectors: Twisted records today what interop/vectors/twisted-amp.json holds"
bash scripts/check-vectors.sh

step "tests: unit, property, integration, interop and doc tests (all features)"
cargo test --workspace --all-features

step "tests: amp-core with default features"
cargo test -p amp-core --tests

step "documentation builds without broken links"
RUSTDOCFLAGS="-D warnings" cargo doc --quiet --workspace --no-deps --all-features

step "every published crate packages (cargo package: metadata, file lists, versioned dependencies)"
cargo package --quiet --workspace --exclude amp-conformance --exclude amp-fuzz-checks --no-verify --allow-dirty

step "the benchmark (a workspace of its own) still builds against the library"
cargo check --quiet --manifest-path bench/Cargo.toml

step "examples interoperate with Twisted's and with each other"
bash interop/run-examples.sh

step "the key-value service of docs/service.md interoperates with its Twisted twin"
bash interop/run-kv.sh

step "route examples interoperate with epsilon's amprouter guide (Python)"
bash interop/run-routes.sh

step "demo runs"
cargo run -q -p amp-core --example sum >/dev/null

step "the README's demo runs and stops every process it starts (to the end, on Ctrl-C, on SIGTERM)"
bash scripts/test-demo.sh

echo
echo "all checks passed"
