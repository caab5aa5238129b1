#!/usr/bin/env bash
# Make sure the PostgreSQL server the test suite needs is up (the suite runs every storage test on it).
set -eu
host=${PGHOST:-127.0.0.1}
port=${PGPORT:-5432}
if pg_isready -q -h "$host" -p "$port" 2>/dev/null; then
  exit 0
fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "PostgreSQL is down; starting cluster $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do
    pg_isready -q -h "$host" -p "$port" && exit 0
    sleep 1
  done
fi
echo "PostgreSQL is not reachable at $host:$port. Start it, or set JXC_TEST_PG_URL to a server you can use." >&2
exit 1
