#!/usr/bin/env bash
# Installs what building and testing Berth needs on Debian 12 (run as root). Idempotent.
set -euo pipefail
packages=(busybox-static procps tar)
# registry tests and benchmarks: a real registry server (distribution 2.8) and htpasswd for its auth
packages+=(docker-registry apache2-utils)
# the test token server (tests/support/token_server.py) signs RS256 JWTs with python3-cryptography
packages+=(python3-cryptography)
packages+=(nftables iproute2 python3)  # networking: berthd runs nft; tests use ip and a python3 UDP echo
# pty tests (tests/tests/pty.rs): a real terminal whose size can be changed
packages+=(tmux)
# berth-init (crates/init) links glibc statically: libc.a and friends
packages+=(libc6-dev)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo-nextest >/dev/null 2>&1 || cargo install --locked cargo-nextest
