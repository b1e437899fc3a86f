#!/usr/bin/env bash
# Compares gateway variants (binaries and/or environment settings) on the data path in one run, alternating them
# ROUNDS times so drift on a shared machine hits every variant alike; nginx is measured in every round as the
# reference. Same setup as bench/run.sh (servers on CPU 0; generator and upstream on CPU 1).
#   VARIANTS='name=BINARY[,VAR=value...] name2=...'   e.g. 'base=artifacts/before/mcp-tunnel inline=artifacts/bin/mcp-tunnel,DOTNET_X=1'
# Knobs: SECONDS_PER_RUN (default 6), ROUNDS (default 2), CONNECTIONS (16), LARGE_MB (8), SESSIONS (idle sessions
# per variant and round, default 1000; 0 skips). Prints one table row per variant and round.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${SECONDS_PER_RUN:-6}
ROUNDS=${ROUNDS:-2}
CONNECTIONS=${CONNECTIONS:-16}
LARGE_MB=${LARGE_MB:-8}
SESSIONS=${SESSIONS:-1000}
: "${VARIANTS:?set VARIANTS='name=BINARY[,VAR=value...] ...'}"
ulimit -n 20000 2>/dev/null || true
W="bench/results/compare-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$W"
W=$(cd "$W" && pwd)
dotnet build bench/McpTunnel.Bench -c Release -o "$W/bench-bin" >/dev/null
LOAD="$W/bench-bin/mcp-tunnel-bench"
first_bin=$(sed 's/^[^=]*=\([^, ]*\).*/\1/' <<<"${VARIANTS%% *}")
DOMAIN=bench.tunnel.test HOST=echo.bench.tunnel.test
UP=18111 GW=18110 NG=18112
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -f "$W/nginx.pid" ] && kill "$(cat "$W/nginx.pid")" 2>/dev/null || true; }
trap cleanup EXIT
wait_port() { for _ in $(seq 1 500); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.01; done; echo "port $1 never opened" >&2; return 1; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
run() { taskset -c 1 "$LOAD" "$@" | tee -a "$W/raw.txt"; }

"$first_bin" cert init --domain "$DOMAIN" --output "$W/keys" >/dev/null
taskset -c 1 "$LOAD" upstream $UP & pids+=($!)
wait_port $UP
cat > "$W/gateway.yaml" <<YAML
listen_addr: "127.0.0.1:$GW"
log_level: warn
tunnel_domain: $DOMAIN
tls: { cert_file: $W/keys/tls.crt, key_file: $W/keys/tls.key }
routes: { echo: "http://127.0.0.1:$UP" }
upstream: { allowed_ips: [127.0.0.0/8] }
appliance: { max_connections: 19000, max_sessions: 18000 }
YAML
mkdir -p "$W/nginx"
cat > "$W/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $W/nginx.pid;
error_log $W/nginx/error.log warn;
events { worker_connections 20000; }
http {
  access_log off;
  upstream up { server 127.0.0.1:$UP; keepalive 64; }
  server {
    listen 127.0.0.1:$NG ssl;
    ssl_certificate $W/keys/tls.crt;
    ssl_certificate_key $W/keys/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    keepalive_requests 1000000;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; proxy_request_buffering off; }
  }
}
CONF
taskset -c 0 nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" -g 'daemon on;'
wait_port $NG
NGINX_WORKER=$(pgrep -P "$(cat "$W/nginx.pid")" | head -1)

echo "# start $(date -u +%FT%TZ) loadavg $(cat /proc/loadavg)" | tee -a "$W/raw.txt"
rows=()
for round in $(seq 1 "$ROUNDS"); do
  N=$(run load nginx 127.0.0.1:$NG --host $HOST --ca "$W/keys/ca.crt" --connections "$CONNECTIONS" --seconds "$SECONDS_PER_RUN" --pid "$NGINX_WORKER")
  N1=$(run load nginx 127.0.0.1:$NG --host $HOST --ca "$W/keys/ca.crt" --connections 1 --seconds "$SECONDS_PER_RUN" --pid "$NGINX_WORKER")
  D1=$(run load direct 127.0.0.1:$UP --host $HOST --connections 1 --seconds "$SECONDS_PER_RUN")
  NL=$(run load nginx 127.0.0.1:$NG --host $HOST --ca "$W/keys/ca.crt" --connections 4 --seconds "$SECONDS_PER_RUN" --large-mb "$LARGE_MB" --pid "$NGINX_WORKER")
  rows+=("| $round | nginx | $(field cpu_s_per_10k "$N") | $(field ctx_switches_per_request "$N") | $(field p50_ms "$N1") (direct $(field p50_ms "$D1")) | $(field ctx_switches_per_request "$N1") | $(field cpu_s_per_gb "$NL") | $(field mb_per_s "$NL") | - | - |")
  for variant in $VARIANTS; do
    name=${variant%%=*}
    spec=${variant#*=}
    IFS=, read -r -a parts <<<"$spec"
    bin=${parts[0]}
    envs=("${parts[@]:1}")
    echo "# round $round variant $name: $bin ${envs[*]:-}" | tee -a "$W/raw.txt"
    env "${envs[@]}" taskset -c 0 "$bin" gateway --config "$W/gateway.yaml" 2>>"$W/gateway-$name.log" & G=$!
    wait_port $GW
    sleep 1
    IDLE=$(awk '/VmRSS/ {print $2}' /proc/$G/status)
    T=$(run load tunnel 127.0.0.1:$GW --host $HOST --ca "$W/keys/ca.crt" --connections "$CONNECTIONS" --seconds "$SECONDS_PER_RUN" --pid $G)
    T1=$(run load tunnel 127.0.0.1:$GW --host $HOST --ca "$W/keys/ca.crt" --connections 1 --seconds "$SECONDS_PER_RUN" --pid $G)
    TL=$(run load tunnel 127.0.0.1:$GW --host $HOST --ca "$W/keys/ca.crt" --connections 4 --seconds "$SECONDS_PER_RUN" --large-mb "$LARGE_MB" --pid $G)
    KB=-
    if [ "$SESSIONS" -gt 0 ]; then
      S=$(run sessions 127.0.0.1:$GW --host $HOST --ca "$W/keys/ca.crt" --count "$SESSIONS" --pid $G)
      KB=$(field "kb_per_session_$SESSIONS" "$S")
    fi
    kill $G; wait $G 2>/dev/null || true
    rows+=("| $round | $name | $(field cpu_s_per_10k "$T") | $(field ctx_switches_per_request "$T") | $(field p50_ms "$T1") | $(field ctx_switches_per_request "$T1") | $(field cpu_s_per_gb "$TL") | $(field mb_per_s "$TL") | $IDLE | $KB |")
  done
done
echo "# end $(date -u +%FT%TZ) loadavg $(cat /proc/loadavg)" | tee -a "$W/raw.txt"
{
  echo "| round | variant | CPU-s per 10k small ($CONNECTIONS conns) | ctx switches per request | p50 ms, 1 conn | ctx switches per request, 1 conn | CPU-s per GB (${LARGE_MB} MB) | MB/s | idle RSS KB | KB per idle session ($SESSIONS) |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$W/results.md"
echo "raw lines: $W/raw.txt"
