#!/usr/bin/env bash
# `radsynth bench study` against a throwaway PostgreSQL server on 127.0.0.1 (needs root for
# runuser and Debian's PostgreSQL binaries). Arguments go to `radsynth bench study`.
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
data=$(mktemp -d /tmp/radsynth-pg-XXXXXX)
chown postgres:postgres "$data"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
runuser -u postgres -- "$bin/initdb" -D "$data/db" -A trust -U postgres -N >/dev/null
runuser -u postgres -- "$bin/pg_ctl" -D "$data/db" -o "-h 127.0.0.1 -p $port -k $data -c fsync=on" \
  -w -l "$data/log" start >/dev/null
trap 'runuser -u postgres -- "$bin/pg_ctl" -D "$data/db" -m immediate stop >/dev/null; rm -rf "$data"' EXIT
runuser -u postgres -- "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE bench"
${RADSYNTH:-radsynth} bench study --db "postgresql+psycopg://postgres@127.0.0.1:$port/bench" "$@"
