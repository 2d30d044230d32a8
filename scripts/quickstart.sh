#!/usr/bin/env bash
# From a fresh Debian 12 machine (as root, offline apart from the package mirrors): install
# what is needed, build Berth, start berthd, make a busybox image and run a container in it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --workspace --bins
bin=$PWD/target/release
if ! "$bin/berth" version >/dev/null 2>&1; then
  mkdir -p /var/log
  setsid "$bin/berthd" >/var/log/berthd.log 2>&1 < /dev/null &
  for _ in $(seq 1 100); do "$bin/berth" version >/dev/null 2>&1 && break; sleep 0.1; done
fi
if ! "$bin/berth" image inspect busybox >/dev/null 2>&1; then
  tarball=$(mktemp --suffix=.tar)
  scripts/busybox-rootfs.sh "$tarball"
  "$bin/berth" import "$tarball" busybox:latest
  rm -f "$tarball"
fi
"$bin/berth" run --rm busybox echo hello from a Berth container
echo "berthd is running (log: /var/log/berthd.log); try: $bin/berth run --rm -i busybox sh"
