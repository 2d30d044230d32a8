#!/usr/bin/env bash
# berth vs docker: save and load of the same image (busybox), side by side.
# Usage: BERTH_HOST=unix:///run/berth/berth.sock DOCKER_ANCHOR=unix:///run/docker-anchor.sock bench/save-load.sh
set -euo pipefail
BERTH=${BERTH:-berth}
BH=${BERTH_HOST:-unix:///run/berth/berth.sock}
DH=${DOCKER_ANCHOR:-unix:///run/docker-anchor.sock}
IMAGE=${IMAGE:-busybox}
dir=$(mktemp -d /var/tmp/berth-bench-save.XXXXXX)
trap 'rm -rf "$dir"' EXIT
docker -H "$DH" save -o "$dir/in.tar" "$IMAGE"
"$BERTH" -H "$BH" load -q -i "$dir/in.tar" >/dev/null
hyperfine -N -w 2 -r "${RUNS:-20}" --export-json "$dir/r.json" \
  "$BERTH -H $BH save -o $dir/b.tar $IMAGE" \
  "docker -H $DH save -o $dir/d.tar $IMAGE" \
  "$BERTH -H $BH load -i $dir/in.tar" \
  "docker -H $DH load -i $dir/in.tar"
python3 -c 'import json,sys; [print(f"{r[\"median\"]*1000:8.1f} ms  {r[\"command\"]}") for r in json.load(open(sys.argv[1]))["results"]]' "$dir/r.json"
