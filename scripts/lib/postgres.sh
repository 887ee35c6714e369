# A throwaway PostgreSQL cluster for tests and local clusters: sourced by
# scripts/test (and later scripts/cluster). Debian's `postgresql` package,
# a fresh data folder under a temporary directory, listening on 127.0.0.1
# only, on a free port, with its socket in that directory.
#
#   postgres_start    sets POSTGRES_DIR, POSTGRES_PORT, POSTGRES_URL and
#                     POSTGRES_PGCTL, and leaves the server running
#   postgres_drop_test_databases
#                     drops the databases the tests made (parley_test_*)
#   postgres_stop     stops it and removes the folder

postgres_bin() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$bin" ] || { echo "postgres.sh: Debian's postgresql is not installed" >&2; return 1; }
    echo "$bin"
}

postgres_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

postgres_start() {
    local bin
    bin=$(postgres_bin) || return 1
    POSTGRES_DIR=$(mktemp -d /tmp/parley-postgres.XXXXXX)
    chmod 755 "$POSTGRES_DIR"
    POSTGRES_PORT=$(postgres_free_port)
    POSTGRES_PGCTL="$bin/pg_ctl"
    # initdb refuses to run as root: the cluster belongs to `postgres`.
    local as=()
    [ "$(id -u)" -eq 0 ] && { chown postgres: "$POSTGRES_DIR"; as=(runuser -u postgres --); }
    POSTGRES_AS=("${as[@]}")
    "${as[@]}" "$bin/initdb" -D "$POSTGRES_DIR/data" -A trust -U postgres --no-instructions >"$POSTGRES_DIR/initdb.log" 2>&1 \
        || { cat "$POSTGRES_DIR/initdb.log" >&2; return 1; }
    # fsync and synchronous_commit stay on (the defaults): acks are tested
    # as durable. More connections than the default 100: the suites run
    # dozens of servers at once, each with up to 20 pool connections, its
    # write lane, and its cluster listener and event writer.
    "${as[@]}" "$POSTGRES_PGCTL" -D "$POSTGRES_DIR/data" -l "$POSTGRES_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $POSTGRES_PORT -k $POSTGRES_DIR -c max_connections=1000" start >/dev/null \
        || { cat "$POSTGRES_DIR/server.log" >&2; return 1; }
    POSTGRES_URL="postgres://postgres@127.0.0.1:$POSTGRES_PORT/postgres"
    export POSTGRES_DIR POSTGRES_PORT POSTGRES_URL POSTGRES_PGCTL
}

postgres_drop_test_databases() {
    local name
    for name in $(psql "$POSTGRES_URL" -Atqc "SELECT datname FROM pg_database WHERE datname LIKE 'parley\_test\_%'"); do
        psql "$POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null
    done
}

postgres_stop() {
    [ -n "${POSTGRES_DIR:-}" ] || return 0
    "${POSTGRES_AS[@]}" "$POSTGRES_PGCTL" -D "$POSTGRES_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$POSTGRES_DIR"
    POSTGRES_DIR=""
}
