#!/usr/bin/env bash
# Runs every test (unit, kernel-level runtime tests, end-to-end against a real berthd and the
# docker CLI). Needs root. Tests and benchmarks share the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --bins
cargo nextest run --release --workspace --no-fail-fast "$@"
