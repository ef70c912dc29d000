#!/usr/bin/env bash
# System packages the tests need: Debian's Chromium for the browser tests (Playwright cannot
# download its own browser here) and a PostgreSQL server for the database tests. Any version
# will do: the tests use the newest server found (tests/study/system_programs.py), and under
# CI=true they fail, rather than skip, when either program is missing.
set -euo pipefail
need=()
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need+=(chromium)
# "postgresql" is the distribution's current major version, whatever its number.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null \
  || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "system-deps: please install: ${need[*]} (needs root)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
