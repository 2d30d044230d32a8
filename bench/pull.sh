#!/usr/bin/env bash
# Pull and push against a local registry (docker-registry on 127.0.0.1), side by side with
# Docker 20.10 via docker-anchor (its daemon treats 127.0.0.1 registries as insecure):
#   debian: a ~200 MB Debian bookworm minbase rootfs (debootstrap, cached under /var/tmp)
#   five:   a 5-layer image (busybox + 4 layers of 8 MB random data)
# Pull: hyperfine medians, the image removed before every run (--prepare).
# Push: a fresh registry storage before every run (so every blob is uploaded); also the first
# push of a freshly imported image, which must compress its layer.
# Also prints berthd's RSS after the pulls and the unpack throughput from its log.
# Usage: bench/pull.sh [RUNS]   (as root; run `cargo build --release` first)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
bin=${CARGO_TARGET_DIR:-$PWD/target}/release
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
command -v docker-registry >/dev/null || { apt-get update -qq && apt-get install -y -qq docker-registry >/dev/null; }
work=$(mktemp -d /var/tmp/berth-bench.XXXXXX)
anchor="env DOCKER_HOST=unix:///run/docker-anchor.sock /usr/bin/docker"
docker_ok=false
if [ -S /run/docker-anchor.sock ] && $anchor version >/dev/null 2>&1; then docker_ok=true; fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
reg=127.0.0.1:$port
cleanup() {
  if $docker_ok; then
    $anchor rmi -f "$reg/debian:bench" "$reg/five:bench" "$reg/debian:push" "$reg/five:push" bench-five-src >/dev/null 2>&1 || true
  fi
  [ -f "$work/registry.pid" ] && kill "$(cat "$work/registry.pid")" 2>/dev/null || true
  [ -f "$work/berthd.pid" ] && kill "$(cat "$work/berthd.pid")" 2>/dev/null || true
  sleep 0.3
  rm -rf "$work"
}
trap cleanup EXIT

debian=/var/tmp/berth-bench-debian-bookworm.tar
if [ ! -s "$debian" ]; then
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  root=$(mktemp -d /var/tmp/berth-debian.XXXXXX)
  debootstrap --variant=minbase bookworm "$root" >/dev/null
  tar -C "$root" -cf "$debian.tmp" . && mv "$debian.tmp" "$debian"
  rm -rf "$root"
fi

cat >"$work/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: $reg
YML
cat >"$work/restart-registry.sh" <<SH
#!/bin/sh
[ -f $work/registry.pid ] && kill \$(cat $work/registry.pid) 2>/dev/null && sleep 0.2
rm -rf $work/registry
setsid docker-registry serve $work/registry.yml >$work/registry.log 2>&1 </dev/null &
echo \$! >$work/registry.pid
for i in \$(seq 1 100); do curl -sf http://$reg/v2/ >/dev/null && exit 0; sleep 0.05; done
exit 1
SH
chmod +x "$work/restart-registry.sh"
"$work/restart-registry.sh"

setsid "$bin/berthd" -H "unix://$work/b.sock" --data-root "$work/data" --exec-root "$work/exec" \
  --pidfile "$work/berthd.pid" --config-file "$work/daemon.json" --log-level info >"$work/berthd.log" 2>&1 </dev/null &
export BERTH_HOST=unix://$work/b.sock
for _ in $(seq 1 100); do "$bin/berth" version >/dev/null 2>&1 && break; sleep 0.05; done
b="$bin/berth"

# the images, pushed by berth (debian: one gzip layer; five: busybox + 4 random layers)
$b import "$debian" "$reg/debian:bench" >/dev/null
scripts/busybox-rootfs.sh "$work/busybox.tar"
python3 - "$work" <<'PY'
import io, os, sys, tarfile
w = sys.argv[1]
for i in range(4):
    with tarfile.open(f"{w}/layer{i}.tar", "w") as t:
        data = os.urandom(8 << 20)
        info = tarfile.TarInfo(f"data{i}.bin"); info.size = len(data)
        t.addfile(info, io.BytesIO(data))
PY
# assemble the 5-layer image with the docker daemon when present (berth has no build yet)
if $docker_ok; then
  $anchor import "$work/busybox.tar" bench-five-src >/dev/null
  mkdir -p "$work/ctx" && cp "$work"/layer*.tar "$work/ctx/"
  printf 'FROM bench-five-src\nADD layer0.tar /\nADD layer1.tar /\nADD layer2.tar /\nADD layer3.tar /\n' >"$work/ctx/Dockerfile"
  $anchor build -q -t "$reg/five:bench" "$work/ctx" >/dev/null
  $anchor push "$reg/five:bench" >/dev/null
  $anchor rmi -f "$reg/five:bench" bench-five-src >/dev/null
fi
$b push "$reg/debian:bench" >/dev/null
$b rmi -f "$reg/debian:bench" >/dev/null

echo "== pull (median of $runs; image removed before each run)"
cmds=(-n "berth pull debian" --prepare "sh -c '$b rmi -f $reg/debian:bench >/dev/null 2>&1; true'" "$b pull -q $reg/debian:bench")
$docker_ok && cmds+=(-n "docker pull debian" --prepare "sh -c '$anchor rmi -f $reg/debian:bench >/dev/null 2>&1; true'" "$anchor pull -q $reg/debian:bench")
if $docker_ok; then
  cmds+=(-n "berth pull five" --prepare "sh -c '$b rmi -f $reg/five:bench >/dev/null 2>&1; true'" "$b pull -q $reg/five:bench")
  cmds+=(-n "docker pull five" --prepare "sh -c '$anchor rmi -f $reg/five:bench >/dev/null 2>&1; true'" "$anchor pull -q $reg/five:bench")
fi
$anchor rmi -f "$reg/debian:bench" >/dev/null 2>&1 || true
hyperfine -N -i --runs "$runs" --export-json "$work/pull.json" "${cmds[@]}" >/dev/null
$b pull -q "$reg/debian:bench" >/dev/null
rss=$(awk '/VmRSS/ {print $2}' "/proc/$(cat "$work/berthd.pid")/status")
echo "berthd RSS after the pulls: $((rss / 1024)) MB"
grep -o 'mb_per_s=[0-9.]*' "$work/berthd.log" | tail -1 | sed 's/^/last import unpack: /' || true

echo "== push (median of $runs; fresh registry storage before each run)"
$b tag "$reg/debian:bench" "$reg/debian:push"
pcmds=(-n "berth push debian" --prepare "$work/restart-registry.sh" "$b push -q $reg/debian:push")
if $docker_ok; then
  $anchor pull -q "$reg/debian:bench" >/dev/null
  $anchor tag "$reg/debian:bench" "$reg/debian:push"
  pcmds+=(-n "docker push debian" --prepare "$work/restart-registry.sh" "$anchor push -q $reg/debian:push")
fi
hyperfine -N -i --runs "$runs" --export-json "$work/push.json" "${pcmds[@]}" >/dev/null

echo "== first push of an imported image (must compress; re-imported before each run)"
# rmi + import in --prepare: the image's gzip blob from the previous run is garbage-collected
# with the image, so every timed push compresses the ~200 MB layer again, as Docker's does.
# The pulled copies go first: their gzip blob (same layer) would otherwise be reused.
$b rmi -f "$reg/debian:bench" "$reg/debian:push" >/dev/null 2>&1 || true
$docker_ok && { $anchor rmi -f "$reg/debian:bench" "$reg/debian:push" >/dev/null 2>&1 || true; }
icmds=(-n "berth push imported" --prepare "sh -c '$work/restart-registry.sh && $b rmi -f $reg/debian:imp >/dev/null 2>&1; $b import $debian $reg/debian:imp >/dev/null'" "$b push -q $reg/debian:imp")
if $docker_ok; then
  icmds+=(-n "docker push imported" --prepare "sh -c '$work/restart-registry.sh && $anchor rmi -f $reg/debian:imp >/dev/null 2>&1; $anchor import $debian $reg/debian:imp >/dev/null'" "$anchor push -q $reg/debian:imp")
fi
hyperfine -N -i --runs "$runs" --export-json "$work/push-imported.json" "${icmds[@]}" >/dev/null
$docker_ok && $anchor rmi -f "$reg/debian:imp" >/dev/null 2>&1 || true

python3 - "$work/pull.json" "$work/push.json" "$work/push-imported.json" <<'PY'
import json, sys
for f in sys.argv[1:]:
    results = json.load(open(f))["results"]
    by = {r["command"]: r["median"] for r in results}
    for r in results:
        line = f"{r['command']:>20}: median {r['median']*1000:8.1f} ms"
        other = r["command"].replace("berth", "docker")
        if r["command"].startswith("berth") and other in by:
            line += f"   docker/berth = {by[other]/r['median']:.2f}x"
        print(line)
PY
