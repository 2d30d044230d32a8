#!/usr/bin/env bash
# What `--init` costs at start, side by side in one run (hyperfine medians):
#   berth run --rm --network none busybox true         vs the same with --init
#   docker run --rm --network none busybox true        vs the same with --init (docker-anchor, if present)
# Usage: bench/init.sh [RUNS]   (as root; builds nothing: run `cargo build --release --bins` first;
# BERTH_BIN_DIR overrides target/release)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
bin=${BERTH_BIN_DIR:-$PWD/target/release}
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
work=$(mktemp -d /var/tmp/berth-bench.XXXXXX)
cleanup() {
  [ -f "$work/berthd.pid" ] && kill "$(cat "$work/berthd.pid")" 2>/dev/null || true
  sleep 0.3
  rm -rf "$work"
}
trap cleanup EXIT

scripts/busybox-rootfs.sh "$work/busybox.tar"
echo '{"bridge": "none"}' >"$work/daemon.json"
setsid "$bin/berthd" -H "unix://$work/b.sock" --data-root "$work/data" --exec-root "$work/exec" \
  --pidfile "$work/berthd.pid" --config-file "$work/daemon.json" --log-level warn >"$work/berthd.log" 2>&1 </dev/null &
export BERTH_HOST=unix://$work/b.sock
for _ in $(seq 1 100); do "$bin/berth" version >/dev/null 2>&1 && break; sleep 0.05; done
"$bin/berth" import "$work/busybox.tar" busybox:latest >/dev/null

commands=(
  -n "berth run --rm" "$bin/berth run --rm --network none busybox true"
  -n "berth run --rm --init" "$bin/berth run --rm --network none --init busybox true"
)
if [ -S /run/docker-anchor.sock ] && DOCKER_HOST=unix:///run/docker-anchor.sock /usr/bin/docker version >/dev/null 2>&1; then
  docker="env DOCKER_HOST=unix:///run/docker-anchor.sock /usr/bin/docker"
  commands+=(-n "docker run --rm" "$docker run --rm --network none busybox true")
  commands+=(-n "docker run --rm --init" "$docker run --rm --network none --init busybox true")
fi
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/init.json" "${commands[@]}" >/dev/null
python3 - "$work/init.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
base = results[0]["median"]
for r in results:
    print(f"{r['command']:>24}: median {r['median']*1000:7.1f} ms  ({r['median']/base:5.2f}x of {results[0]['command']})")
PY
