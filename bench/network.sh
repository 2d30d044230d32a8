#!/usr/bin/env bash
# Networking cost, side by side in one run (hyperfine medians):
#   berth run --rm busybox true on the default bridge vs the same with --network none
#   a container with 100 published ports vs none (run --rm)
#   docker run --rm busybox true, bridge vs none (Docker 20.10 via docker-anchor, if present)
# then 50 concurrent `run -d` on one user-defined network, checking every container got a working
# address (ping from the host) and that the first one reaches the 49 others by name (embedded DNS).
# The daemon gets its own bridge and subnet; both are removed at the end.
# Usage: bench/network.sh [RUNS]   (as root; run `cargo build --release` first)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
bin=${CARGO_TARGET_DIR:-$PWD/target}/release
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
# the host pings every container address in the concurrent part
command -v ping >/dev/null || { apt-get update -qq && apt-get install -y -qq iputils-ping >/dev/null; }
work=$(mktemp -d /var/tmp/berth-bench.XXXXXX)
bridge=bb$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
cleanup() {
  ids=$(BERTH_HOST=unix://$work/b.sock "$bin/berth" ps -aq 2>/dev/null || true)
  [ -n "$ids" ] && BERTH_HOST=unix://$work/b.sock "$bin/berth" rm -f $ids >/dev/null 2>&1 || true
  BERTH_HOST=unix://$work/b.sock "$bin/berth" network rm benchnet >/dev/null 2>&1 || true
  [ -f "$work/berthd.pid" ] && kill "$(cat "$work/berthd.pid")" 2>/dev/null || true
  sleep 0.3
  nft delete table ip "berth_$bridge" 2>/dev/null || true
  ip link del "$bridge" 2>/dev/null || true
  for h in $(nft -a list chain ip filter DOCKER-USER 2>/dev/null | grep "\"$bridge\"" | sed 's/.*# handle //'); do
    nft delete rule ip filter DOCKER-USER handle "$h" || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

echo "{\"bridge\": \"$bridge\", \"bip\": \"10.200.$((RANDOM % 250)).1/24\"}" >"$work/daemon.json"
scripts/busybox-rootfs.sh "$work/busybox.tar"
setsid "$bin/berthd" -H "unix://$work/b.sock" --data-root "$work/data" --exec-root "$work/exec" \
  --pidfile "$work/berthd.pid" --config-file "$work/daemon.json" --log-level warn >"$work/berthd.log" 2>&1 </dev/null &
export BERTH_HOST=unix://$work/b.sock
for _ in $(seq 1 100); do "$bin/berth" version >/dev/null 2>&1 && break; sleep 0.05; done
"$bin/berth" import "$work/busybox.tar" busybox:latest >/dev/null

ports=""
for p in $(seq 1 100); do ports="$ports -p 127.0.0.1::$p"; done
commands=(
  -n "berth none" "$bin/berth run --rm --network none busybox true"
  -n "berth bridge" "$bin/berth run --rm busybox true"
  -n "berth bridge 100 ports" "$bin/berth run --rm $ports busybox true"
)
if [ -S /run/docker-anchor.sock ] && DOCKER_HOST=unix:///run/docker-anchor.sock /usr/bin/docker version >/dev/null 2>&1; then
  commands+=(-n "docker none" "env DOCKER_HOST=unix:///run/docker-anchor.sock /usr/bin/docker run --rm --network none busybox true")
  commands+=(-n "docker bridge" "env DOCKER_HOST=unix:///run/docker-anchor.sock /usr/bin/docker run --rm busybox true")
fi
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/net.json" "${commands[@]}" >/dev/null
python3 - "$work/net.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
base = results[0]["median"]
for r in results:
    print(f"{r['command']:>24}: median {r['median']*1000:7.1f} ms  ({r['median']/base:5.2f}x of {results[0]['command']})")
PY

echo
"$bin/berth" network create --subnet "10.201.$((RANDOM % 250)).0/24" benchnet >/dev/null
start=$(date +%s.%N)
# wait for these 50 only: a bare `wait` would also wait for berthd, a job of this shell
runs_started=()
for i in $(seq 1 50); do
  "$bin/berth" run -d --network benchnet --name "c$i" busybox sleep 300 >/dev/null &
  runs_started+=($!)
done
wait "${runs_started[@]}"
end=$(date +%s.%N)
ok=0
for i in $(seq 1 50); do
  ip=$("$bin/berth" inspect -f '{{.NetworkSettings.Networks.benchnet.IPAddress}}' "c$i")
  [ -n "$ip" ] && ping -c1 -W1 "$ip" >/dev/null 2>&1 && ok=$((ok + 1))
done
by_name=$("$bin/berth" exec c1 sh -c 'n=0; for i in $(seq 2 50); do ping -c1 -W1 c$i >/dev/null 2>&1 && n=$((n+1)); done; echo $n')
echo "50 concurrent run -d on a user network: $(python3 -c "print(f'{$end-$start:.2f}')") s, $ok/50 answer ping on their address, c1 reaches $by_name/49 by name"
