#!/usr/bin/env bash
# Start latency and footprint, side by side in one run (hyperfine medians):
#   berth run --rm --network none busybox true      (CLI -> berthd -> shim -> runtime)
#   berth-runtime run / runc run of a prepared busybox bundle (no image, no network)
#   docker run --rm --network none busybox true     (Docker 20.10 via docker-anchor, if present)
# plus berthd idle RSS, berth-shim RSS per running container and `berth ps` time.
# Usage: bench/run-latency.sh [RUNS]   (as root; builds nothing: run `cargo build --release` first)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
bin=$PWD/target/release
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
work=$(mktemp -d /var/tmp/berth-bench.XXXXXX)
cleanup() {
  BERTH_HOST=unix://$work/b.sock "$bin/berth" rm -f bench-idle >/dev/null 2>&1 || true
  [ -f "$work/berthd.pid" ] && kill "$(cat "$work/berthd.pid")" 2>/dev/null || true
  sleep 0.3
  umount -R "$work"/bundle/rootfs 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

scripts/busybox-rootfs.sh "$work/busybox.tar"
setsid "$bin/berthd" -H "unix://$work/b.sock" --data-root "$work/data" --exec-root "$work/exec" \
  --pidfile "$work/berthd.pid" --config-file "$work/daemon.json" --log-level warn >"$work/berthd.log" 2>&1 </dev/null &
export BERTH_HOST=unix://$work/b.sock
for _ in $(seq 1 100); do "$bin/berth" version >/dev/null 2>&1 && break; sleep 0.05; done
"$bin/berth" import "$work/busybox.tar" busybox:latest >/dev/null

# A bundle for the bare runtimes: the same rootfs, a spec with a fresh network namespace.
mkdir -p "$work/bundle/rootfs"
tar -C "$work/bundle/rootfs" -xf "$work/busybox.tar"
(cd "$work/bundle" && "$bin/berth-runtime" spec >/dev/null)
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["true"]
spec["root"]["readonly"] = False
open(path, "w").write(json.dumps(spec))
PY

commands=(
  -n "berth run --rm" "$bin/berth run --rm --network none busybox true"
  -n "berth-runtime run" "$bin/berth-runtime --root $work/rt run --bundle $work/bundle bench-rt"
)
if command -v runc >/dev/null; then
  commands+=(-n "runc run" "runc --root $work/runc run --bundle $work/bundle bench-runc")
fi
if [ -S /run/docker-anchor.sock ] && DOCKER_HOST=unix:///run/docker-anchor.sock /usr/bin/docker version >/dev/null 2>&1; then
  commands+=(-n "docker run --rm" "env DOCKER_HOST=unix:///run/docker-anchor.sock /usr/bin/docker run --rm --network none busybox true")
fi
medians() {  # hyperfine JSON -> "name: median ms (ratio to the first)"
  python3 - "$1" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
base = results[0]["median"]
for r in results:
    print(f"{r['command']:>20}: median {r['median']*1000:7.1f} ms  ({r['median']/base:5.2f}x of {results[0]['command']})")
PY
}
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/run.json" "${commands[@]}" >/dev/null
medians "$work/run.json"

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
sleep 1
echo
echo "berthd idle RSS: $(rss_kb "$(cat "$work/berthd.pid")") kB"
"$bin/berth" run -d --name bench-idle busybox sleep 600 >/dev/null
shim=$(pgrep -f "berth-shim --id $("$bin/berth" inspect --format '{{.Id}}' bench-idle)" | head -1)
echo "berth-shim RSS (one running container): $(rss_kb "$shim") kB"
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/ps.json" -n "berth ps" "$bin/berth ps" >/dev/null
medians "$work/ps.json"
