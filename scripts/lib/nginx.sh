# nginx in front of several Parley nodes, for local clusters and tests:
# sourced by scripts/cluster (and any test harness). Debian's `nginx`
# package, run in the foreground from a temporary directory that holds its
# configuration, pid file, logs and temporary files: nothing under
# /etc/nginx or /var is used, and it needs no root (any port above 1023).
#
#   nginx_start PORT NODE_PORT...   balances 127.0.0.1:PORT over the nodes
#                                   at 127.0.0.1:NODE_PORT; returns once it
#                                   answers, and sets NGINX_DIR, NGINX_PORT,
#                                   NGINX_PID and NGINX_CONF
#   nginx_stop                      stops it and removes the directory
#   nginx_write_config FILE DIR PORT NODE_PORT...
#                                   only writes the configuration
#
# NGINX_BIN overrides the binary (default: Debian's /usr/sbin/nginx).
# The access log (NGINX_DIR/logs/access.log) names the node that answered
# each request (upstream=127.0.0.1:PORT).

nginx_bin() {
    local bin=${NGINX_BIN:-}
    [ -n "$bin" ] || bin=$(command -v nginx 2>/dev/null || true)
    [ -n "$bin" ] || { [ -x /usr/sbin/nginx ] && bin=/usr/sbin/nginx; }
    [ -n "$bin" ] || { echo "nginx.sh: Debian's nginx is not installed (apt-get install nginx)" >&2; return 1; }
    echo "$bin"
}

nginx_write_config() {
    local file=$1 dir=$2 port=$3
    shift 3
    [ $# -gt 0 ] || { echo "nginx.sh: no node ports" >&2; return 1; }
    # Open files per worker: up to 8192, within the hard limit (a proxied
    # request or WebSocket holds two connections, and a file or two more).
    local files
    files=$(ulimit -Hn)
    [ "$files" = unlimited ] || [ "$files" -gt 8192 ] && files=8192
    local servers="" node
    for node in "$@"; do
        servers+="        server 127.0.0.1:$node max_fails=1 fail_timeout=5s;"$'\n'
    done
    # Repeated in each location: one proxy_set_header there drops every one
    # inherited from the server block.
    local headers='
            proxy_set_header Host $http_host;
            proxy_set_header X-Real-IP $remote_addr;
            # The nodes run with --trusted-proxies 127.0.0.1/32 and take the
            # client address from the right end of this header.
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;'
    cat >"$file" <<EOF
# Written by scripts/lib/nginx.sh; removed with this folder on stop.
worker_processes auto;
worker_rlimit_nofile $files;
pid $dir/nginx.pid;
error_log $dir/logs/error.log notice;

events {
    worker_connections $((files / 2));
}

http {
    log_format parley '\$remote_addr [\$time_local] "\$request" \$status \$body_bytes_sent '
                      '\$request_time upstream=\$upstream_addr upstream_status=\$upstream_status';
    access_log $dir/logs/access.log parley;

    client_body_temp_path $dir/temp/client_body;
    proxy_temp_path $dir/temp/proxy;
    fastcgi_temp_path $dir/temp/fastcgi;
    uwsgi_temp_path $dir/temp/uwsgi;
    scgi_temp_path $dir/temp/scgi;

    # Parley refuses bodies over its --max-frame-bytes (64 KiB by default)
    # itself, with its own JSON error.
    client_max_body_size 1m;
    server_tokens off;

    # A WebSocket upgrade passes "Connection: upgrade" on.
    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      close;
    }

    # Round robin over the nodes. Health is passive: a node that refuses a
    # connection, times out, or answers 502/503 (see proxy_next_upstream) is
    # left out for 5 s after one failure. Debian's open-source nginx has no
    # active health checks (\`health_check\` is NGINX Plus only); each node's
    # GET /readyz (503 while it drains or cannot reach the database) is for
    # a balancer or orchestrator that has them, and scripts/cluster waits
    # for /healthz of each node before it starts nginx.
    #
    # No \`keepalive\` pool to the nodes: Parley upgrades only the first
    # request of a connection to a WebSocket (a later one is answered 307
    # and closed), and nginx would send an upgrade down a kept-alive
    # connection that already carried requests.
    upstream parley {
        # Shared by the workers: one's failed attempt takes the node out
        # for all of them.
        zone parley 64k;
$servers    }

    server {
        listen 127.0.0.1:$port;

        proxy_http_version 1.1;
        proxy_connect_timeout 2s;

        # A failed attempt goes to the next node: any request when the node
        # refused the connection (nothing was sent), else idempotent ones
        # only: a POST, PATCH or LOCK that reached a node is not sent again
        # (no \`non_idempotent\`), so a message is not sent twice.
        proxy_next_upstream error timeout http_502 http_503;
        proxy_next_upstream_timeout 10s;

        location = /v1/ws {
            proxy_pass http://parley;$headers
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            # A socket lives long; the nodes ping every 25 s (4408 after two
            # silent intervals) so an hour is only a backstop.
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_buffering off;
        }

        location / {
            proxy_pass http://parley;$headers
            proxy_set_header Connection close;
        }
    }
}
EOF
}

# Prints whether something answers HTTP at 127.0.0.1:PORT/PATH: its status,
# or 000 when nothing does.
nginx_http_status() {
    curl -s -o /dev/null --max-time 2 -w '%{http_code}' "http://127.0.0.1:$1$2" 2>/dev/null || true
}

nginx_start() {
    local port=$1
    shift
    local bin
    bin=$(nginx_bin) || return 1
    NGINX_DIR=$(mktemp -d /tmp/parley-nginx.XXXXXX)
    # Started by root, the workers run as `nobody`: they need to reach the
    # temporary folders that nginx makes (and chowns to them) in here.
    chmod 755 "$NGINX_DIR"
    mkdir -p "$NGINX_DIR/logs" "$NGINX_DIR/temp"
    NGINX_CONF="$NGINX_DIR/nginx.conf"
    NGINX_PORT=$port
    nginx_write_config "$NGINX_CONF" "$NGINX_DIR" "$port" "$@" || return 1
    "$bin" -t -q -p "$NGINX_DIR/" -c "$NGINX_CONF" -e "$NGINX_DIR/logs/error.log" \
        || { cat "$NGINX_DIR/logs/error.log" >&2; return 1; }
    # Its own session: a Ctrl-C in the terminal reaches the script that
    # started it, which stops things in order, and not nginx directly.
    setsid "$bin" -p "$NGINX_DIR/" -c "$NGINX_CONF" -e "$NGINX_DIR/logs/error.log" -g 'daemon off;' \
        >>"$NGINX_DIR/logs/stderr.log" 2>&1 </dev/null &
    NGINX_PID=$!
    local waited=0
    while :; do
        # The master's pid, from its pid file (setsid forks first when the
        # caller runs with job control).
        [ -s "$NGINX_DIR/nginx.pid" ] && NGINX_PID=$(cat "$NGINX_DIR/nginx.pid")
        # Listening (the pid file comes after the bind): a TCP connect, not
        # a request that would go to a node.
        [ -s "$NGINX_DIR/nginx.pid" ] && (: <>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        if ! kill -0 "$NGINX_PID" 2>/dev/null || [ $waited -ge 100 ]; then
            echo "nginx.sh: nginx did not start on 127.0.0.1:$port" >&2
            cat "$NGINX_DIR/logs/error.log" "$NGINX_DIR/logs/stderr.log" >&2 2>/dev/null
            nginx_stop
            return 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    export NGINX_DIR NGINX_PORT NGINX_PID NGINX_CONF
}

nginx_stop() {
    [ -n "${NGINX_DIR:-}" ] || return 0
    if [ -n "${NGINX_PID:-}" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
        # TERM: fast shutdown, open WebSockets included (QUIT would wait for
        # them for up to an hour).
        kill -TERM "$NGINX_PID" 2>/dev/null || true
        local waited=0
        while kill -0 "$NGINX_PID" 2>/dev/null && [ $waited -lt 50 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        # The master leads its own process group: the workers go with it.
        kill -KILL -- "-$NGINX_PID" 2>/dev/null || true
    fi
    wait "$NGINX_PID" 2>/dev/null || true
    rm -rf "$NGINX_DIR"
    NGINX_DIR=""
    NGINX_PID=""
}
