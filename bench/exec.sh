#!/usr/bin/env bash
# `exec` latency, side by side in one run (hyperfine medians):
#   berth exec C true    (CLI -> berthd -> berth-runtime exec -> setns + clone + exec)
#   docker exec C true   (Docker 20.10 via docker-anchor, if present)
# Usage: bench/exec.sh [RUNS]   (as root; builds nothing: run `cargo build --release` first;
# binaries from $CARGO_TARGET_DIR/release, default target/release)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-50}
bin=${CARGO_TARGET_DIR:-$PWD/target}/release
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
work=$(mktemp -d /var/tmp/berth-bench.XXXXXX)
anchor="env DOCKER_HOST=unix:///run/docker-anchor.sock /usr/bin/docker"
docker_ok=false
if [ -S /run/docker-anchor.sock ] && $anchor version >/dev/null 2>&1; then docker_ok=true; fi
cleanup() {
  BERTH_HOST=unix://$work/b.sock "$bin/berth" rm -f bench-exec >/dev/null 2>&1 || true
  $docker_ok && $anchor rm -f bench-exec >/dev/null 2>&1 || true
  [ -f "$work/berthd.pid" ] && kill "$(cat "$work/berthd.pid")" 2>/dev/null || true
  sleep 0.3
  rm -rf "$work"
}
trap cleanup EXIT

scripts/busybox-rootfs.sh "$work/busybox.tar"
setsid "$bin/berthd" -H "unix://$work/b.sock" --data-root "$work/data" --exec-root "$work/exec" \
  --pidfile "$work/berthd.pid" --config-file "$work/daemon.json" --log-level warn >"$work/berthd.log" 2>&1 </dev/null &
export BERTH_HOST=unix://$work/b.sock
for _ in $(seq 1 100); do "$bin/berth" version >/dev/null 2>&1 && break; sleep 0.05; done
"$bin/berth" import "$work/busybox.tar" busybox:latest >/dev/null
"$bin/berth" run -d --name bench-exec --network none busybox sleep 3600 >/dev/null

commands=(-n "berth exec" "$bin/berth exec bench-exec true")
if $docker_ok; then
  $anchor rm -f bench-exec >/dev/null 2>&1 || true
  $anchor run -d --name bench-exec --network none busybox sleep 3600 >/dev/null
  commands+=(-n "docker exec" "$anchor exec bench-exec true")
else
  echo "docker-anchor not running (/work/shared/tools/docker-anchor start): berth only" >&2
fi
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/exec.json" "${commands[@]}" >/dev/null
python3 - "$work/exec.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
base = results[0]["median"]
for r in results:
    print(f"{r['command']:>12}: median {r['median']*1000:7.2f} ms  ({r['median']/base:5.2f}x of {results[0]['command']})")
PY
