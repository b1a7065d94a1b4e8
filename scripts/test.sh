#!/usr/bin/env bash
# Runs every check and every test of the workspace, doing its own set-up.
# This is the command CI runs (through .ci/run) and the one the README gives.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "formatting"
cargo fmt --all --check

step "clippy (all targets, all features)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "tests: unit, property, integration and doc tests (all features)"
cargo test --workspace --all-features

step "tests: amp-core with default features"
cargo test -p amp-core --tests

step "demo runs"
cargo run -q -p amp-core --example sum >/dev/null

echo
echo "all checks passed"
