#!/usr/bin/env bash
# make run / make stop: the demo of examples/nginx.conf in a prefix of its own.
#   demo.sh start MODULE PREFIX PORT    (re)starts it: PORT, PORT+1 (app), PORT+2 (receiver)
#   demo.sh stop PREFIX
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

stop() {
    local prefix=$1 pid
    [ -f "$prefix/logs/nginx.pid" ] || return 0
    pid=$(cat "$prefix/logs/nginx.pid")
    # A stale pid file (after kill -9) may name another process by now.
    case $(readlink "/proc/$pid/exe" 2>/dev/null) in
        */nginx*) ;;
        *) rm -f "$prefix/logs/nginx.pid"; return 0 ;;
    esac
    kill -QUIT "$pid" 2>/dev/null || { rm -f "$prefix/logs/nginx.pid"; return 0; }
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    echo "nginx $pid did not stop in 10 s" >&2
    return 1
}

start() {
    local module=$1 prefix=$2 port=$3 app receiver ns
    [[ $port =~ ^[0-9]+$ ]] && (( port >= 1024 && port <= 65533 )) \
        || { echo "PORT=$port: a number from 1024 to 65533 (the demo uses PORT, PORT+1, PORT+2)" >&2; exit 2; }
    app=$((port + 1)) receiver=$((port + 2))
    stop "$prefix"
    for p in "$port" "$app" "$receiver"; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "port $p is in use: pick other ports with make run PORT=N (uses N, N+1, N+2)" >&2; exit 2
        fi
    done
    mkdir -p "$prefix"/{conf,logs,modules,html}
    ln -sf "$module" "$prefix/modules/ngx_http_webhook_module.so"
    # This machine's first nameserver, for endpoints given by name.
    ns=$(awk '$1 == "nameserver" { print $2; exit }' /etc/resolv.conf 2>/dev/null || true)
    [[ $ns == *:* ]] && ns="[$ns]"
    sed -e "s/127\.0\.0\.1:8080\b/127.0.0.1:$port/; s/127\.0\.0\.1:8081\b/127.0.0.1:$app/; s/127\.0\.0\.1:8082\b/127.0.0.1:$receiver/" \
        -e "s/^\(    resolver \)127\.0\.0\.53 /\1${ns:-127.0.0.53} /" \
        "$here/../nginx.conf" > "$prefix/conf/nginx.conf"
    sed "s/@PORT@/$port/g" "$here/index.html" > "$prefix/html/index.html"
    nginx -p "$prefix" -c conf/nginx.conf -t -q
    nginx -p "$prefix" -c conf/nginx.conf
    echo "ngx_webhook demo on http://127.0.0.1:$port/  (console: /console/, admin key change-me-admin-key)"
    echo "state and logs in $prefix/; make stop stops it. The tour (sh examples/demo/try.sh runs it):"
    echo
    sed -n '/^P=/,$p' "$here/try.sh" | sed "s|^P=.*|P=$port LOGS=$prefix/logs|"
}

case ${1:-} in
    start) start "$(realpath "$2")" "$(realpath -m "$3")" "$4" ;;
    stop)  stop "$(realpath -m "$2")" ;;
    *)     echo "usage: $0 start MODULE PREFIX PORT | stop PREFIX" >&2; exit 2 ;;
esac
