#!/usr/bin/env bash
# Install (from Debian's packages) and start, or stop, Redis and PostgreSQL on localhost
# for the end-to-end tests:  bash scripts/services.sh start|stop
set -euo pipefail
case "${1:-}" in
start)
    if ! command -v redis-server >/dev/null || ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server postgresql >/dev/null
    fi
    redis-server --port 6379 --bind 127.0.0.1 --daemonize yes --save "" --appendonly no
    pg_version=$(ls /usr/lib/postgresql | sort -n | tail -1)
    pg_ctlcluster "$pg_version" main start 2>/dev/null || true
    for _ in $(seq 30); do
        su postgres -c "psql -qAtc 'select 1'" >/dev/null 2>&1 && break
        sleep 1
    done
    # The tests connect as postgres/postgres over TCP and create their own databases.
    su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
    ;;
stop)
    redis-cli -p 6379 shutdown nosave >/dev/null 2>&1 || true
    pg_version=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
    [ -n "$pg_version" ] && pg_ctlcluster "$pg_version" main stop 2>/dev/null || true
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
