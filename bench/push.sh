#!/usr/bin/env bash
# Push is measured together with pull (same registry, same images): see bench/pull.sh.
exec "$(dirname "$0")/pull.sh" "$@"
