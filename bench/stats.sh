#!/usr/bin/env bash
# `berth stats --no-stream` over N running containers (default 50): hyperfine median.
# Target (issue 5): under 200 ms for 50 containers.
# Usage: bench/stats.sh [CONTAINERS] [RUNS]   (as root; run `cargo build --release` first;
# BERTH_BIN_DIR overrides where the binaries are, default target/release)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-50}
runs=${2:-20}
bin=${BERTH_BIN_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/release}
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
work=$(mktemp -d /var/tmp/berth-bench.XXXXXX)
export BERTH_HOST=unix://$work/b.sock
cleanup() {
  "$bin/berth" ps -aq | xargs -r "$bin/berth" rm -f >/dev/null 2>&1 || true
  [ -f "$work/berthd.pid" ] && kill "$(cat "$work/berthd.pid")" 2>/dev/null || true
  sleep 0.3
  rm -rf "$work"
}
trap cleanup EXIT

scripts/busybox-rootfs.sh "$work/busybox.tar"
setsid "$bin/berthd" -H "$BERTH_HOST" --data-root "$work/data" --exec-root "$work/exec" \
  --pidfile "$work/berthd.pid" --config-file "$work/daemon.json" --log-level warn >"$work/berthd.log" 2>&1 </dev/null &
for _ in $(seq 1 100); do "$bin/berth" version >/dev/null 2>&1 && break; sleep 0.05; done
"$bin/berth" import "$work/busybox.tar" busybox:latest >/dev/null
for i in $(seq 1 "$count"); do
  "$bin/berth" run -d --name "stats-$i" busybox sleep 3600 >/dev/null
done
test "$("$bin/berth" stats --no-stream | tail -n +2 | wc -l)" -eq "$count"
hyperfine --warmup 2 --runs "$runs" --export-json "$work/stats.json" \
  -n "berth stats --no-stream ($count containers)" "$bin/berth stats --no-stream" >/dev/null
python3 - "$work/stats.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"{r['command']}: median {r['median']*1000:.1f} ms (min {r['min']*1000:.1f}, max {r['max']*1000:.1f})")
PY
