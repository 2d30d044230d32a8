#!/usr/bin/env bash
# Times `berth-runtime run` against `runc run` on the same prepared busybox bundle (no image,
# no network setup: a fresh, unconfigured network namespace for both), with hyperfine.
#
#   bench/runtime-vs-runc.sh [RUNS]
#
# Needs root. Installs runc, hyperfine and busybox-static with apt-get when missing, builds
# berth-runtime (release) when missing. Prints the hyperfine table and both medians.
set -euo pipefail

RUNS=${1:-50}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BERTH_RUNTIME:-$HERE/target/release/berth-runtime}

need=()
command -v runc >/dev/null || need+=(runc)
command -v hyperfine >/dev/null || need+=(hyperfine)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    apt-get install -y "${need[@]}" >/dev/null
fi
if [ ! -x "$BIN" ]; then
    (cd "$HERE" && cargo build --release -p berth-runtime)
fi

WORK=$(mktemp -d /tmp/berth-bench-XXXXXX)
cleanup() {
    runc --root "$WORK/runc-root" delete -f bench-runc >/dev/null 2>&1 || true
    "$BIN" --root "$WORK/berth-root" delete --force bench-berth >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# The bundle: a busybox rootfs and Docker-like defaults from `berth-runtime spec`, running `true`.
ROOTFS=$WORK/bundle/rootfs
mkdir -p "$ROOTFS/bin" "$ROOTFS/etc" "$ROOTFS/proc" "$ROOTFS/sys" "$ROOTFS/dev"
cp /bin/busybox "$ROOTFS/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$ROOTFS/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$ROOTFS/etc/passwd"
echo 'root:x:0:' >"$ROOTFS/etc/group"
"$BIN" spec --bundle "$WORK/bundle"
python3 - "$WORK/bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
spec = json.load(open(path))
spec["process"]["terminal"] = False
spec["process"]["args"] = ["true"]
# runc's cgroup v1 device emulator refuses deny rules inside an allowed wildcard; keep the plain
# deny-all + allow list (what both runtimes enforce the same way).
devs = spec["linux"].get("resources", {}).get("devices", [])
spec["linux"].setdefault("resources", {})["devices"] = [
    d for d in devs if d.get("allow") or d.get("type", "a") == "a"
]
json.dump(spec, open(path, "w"), indent=1)
PY
# Separate cgroups per runtime, under the shared berth parent.
python3 - "$WORK/bundle" <<'PY'
import json, sys, shutil, os
b = sys.argv[1]
spec = json.load(open(os.path.join(b, "config.json")))
for name in ("runc", "berth"):
    d = os.path.join(os.path.dirname(b), "bundle-" + name)
    os.makedirs(d)
    os.symlink(os.path.join(b, "rootfs"), os.path.join(d, "rootfs"))
    spec["root"]["path"] = os.path.join(b, "rootfs")
    spec["linux"]["cgroupsPath"] = "/berth/bench-" + name
    json.dump(spec, open(os.path.join(d, "config.json"), "w"), indent=1)
PY

# Sanity: both must succeed before timing.
runc --root "$WORK/runc-root" run --bundle "$WORK/bundle-runc" bench-runc
"$BIN" --root "$WORK/berth-root" run --bundle "$WORK/bundle-berth" bench-berth

hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$WORK/result.json" \
    -n runc "runc --root $WORK/runc-root run --bundle $WORK/bundle-runc bench-runc" \
    -n berth-runtime "$BIN --root $WORK/berth-root run --bundle $WORK/bundle-berth bench-berth"

python3 - "$WORK/result.json" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
runc, berth = res["runc"]["median"] * 1000, res["berth-runtime"]["median"] * 1000
print(f"median runc run:          {runc:.1f} ms")
print(f"median berth-runtime run: {berth:.1f} ms")
print(f"berth-runtime / runc:     {berth / runc:.2f}x")
PY
