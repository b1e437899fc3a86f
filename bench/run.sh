#!/usr/bin/env bash
# The benchmark suite (not part of CI). Compares, on identical work and in one run:
#   direct  = load generator -> upstream (the limit)
#   nginx   = load generator -> nginx (TLS termination, reverse proxy) -> upstream (the reference)
#   tunnel  = load generator -> WebSocket -> mcp-tunnel (inner TLS) -> upstream
# The servers under test run on CPU 0; the load generator and the upstream share CPU 1 (the machine has 2).
# Results: a markdown table on stdout and in bench/results/<time>/results.md. Knobs: SECONDS_PER_RUN,
# CONNECTIONS, LARGE_MB, SESSIONS (idle-session checkpoints, default 1000,10000).
# What observability costs per request (before/after issue 15, exporters off, Prometheus, OTLP): bench/telemetry.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNECTIONS=${CONNECTIONS:-16}
LARGE_MB=${LARGE_MB:-8}
SESSIONS=${SESSIONS:-1000,10000}  # checkpoints of one idle-session run
# 10,000 sessions need about 10,000 descriptors in the gateway and as many in the load generator.
ulimit -n 20000 2>/dev/null || echo "warning: ulimit -n 20000 refused (limit $(ulimit -n)); 10k sessions may fail" >&2
W="bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$W"
W=$(cd "$W" && pwd)

if ! command -v nginx >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
fi
[ -x artifacts/bin/mcp-tunnel ] || dotnet publish src/McpTunnel/McpTunnel.csproj -c Release -r linux-x64 -o artifacts/bin >/dev/null
dotnet build bench/McpTunnel.Bench -c Release -o "$W/bench-bin" >/dev/null
BIN=$(pwd)/artifacts/bin/mcp-tunnel
LOAD="$W/bench-bin/mcp-tunnel-bench"
DOMAIN=bench.tunnel.test
HOST=echo.$DOMAIN
UP=18101 GW=18100 NG=18102

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -f "$W/nginx.pid" ] && kill "$(cat "$W/nginx.pid")" 2>/dev/null || true; }
trap cleanup EXIT

"$BIN" cert init --domain "$DOMAIN" --output "$W/ecdsa" >/dev/null
"$BIN" cert init --domain "$DOMAIN" --output "$W/rsa" --server-key rsa-4096 >/dev/null

taskset -c 1 "$LOAD" upstream $UP & pids+=($!)

wait_port() { for _ in $(seq 1 500); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.01; done; echo "port $1 never opened" >&2; return 1; }

start_gateway() { # $1 = key dir
  cat > "$W/gateway.yaml" <<YAML
listen_addr: "127.0.0.1:$GW"
log_level: warn
tunnel_domain: $DOMAIN
tls: { cert_file: $1/tls.crt, key_file: $1/tls.key }
routes: { echo: "http://127.0.0.1:$UP" }
upstream: { allowed_ips: [127.0.0.0/8] }
YAML
  taskset -c 0 "$BIN" gateway --config "$W/gateway.yaml" 2>>"$W/gateway.log" & GATEWAY=$!
  pids+=($GATEWAY)
  wait_port $GW
}

start_nginx() { # $1 = key dir
  [ -f "$W/nginx.pid" ] && kill "$(cat "$W/nginx.pid")" 2>/dev/null && sleep 0.5
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
    ssl_certificate $1/tls.crt;
    ssl_certificate_key $1/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
CONF
  taskset -c 0 nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" -g 'daemon on;'
  wait_port $NG
  NGINX_WORKER=$(pgrep -P "$(cat "$W/nginx.pid")" | head -1)
}

wait_port $UP
start_gateway "$W/ecdsa"
sleep 1
IDLE_RSS=$(awk '/VmRSS/ {print $2}' /proc/$GATEWAY/status)
start_nginx "$W/ecdsa"

run() { taskset -c 1 "$LOAD" "$@" | tee -a "$W/raw.txt"; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

echo "# small requests (about 1 KB each way), $CONNECTIONS connections, ${SECONDS_PER_RUN}s" | tee -a "$W/raw.txt"
D=$(run load direct 127.0.0.1:$UP --host $HOST --connections $CONNECTIONS --seconds $SECONDS_PER_RUN)
N=$(run load nginx 127.0.0.1:$NG --host $HOST --ca "$W/ecdsa/ca.crt" --connections $CONNECTIONS --seconds $SECONDS_PER_RUN --pid "$NGINX_WORKER")
T=$(run load tunnel 127.0.0.1:$GW --host $HOST --ca "$W/ecdsa/ca.crt" --connections $CONNECTIONS --seconds $SECONDS_PER_RUN --pid $GATEWAY)
echo "# large results (${LARGE_MB} MB), 4 connections" | tee -a "$W/raw.txt"
DL=$(run load direct 127.0.0.1:$UP --host $HOST --connections 4 --seconds $SECONDS_PER_RUN --large-mb $LARGE_MB)
NL=$(run load nginx 127.0.0.1:$NG --host $HOST --ca "$W/ecdsa/ca.crt" --connections 4 --seconds $SECONDS_PER_RUN --large-mb $LARGE_MB --pid "$NGINX_WORKER")
TL=$(run load tunnel 127.0.0.1:$GW --host $HOST --ca "$W/ecdsa/ca.crt" --connections 4 --seconds $SECONDS_PER_RUN --large-mb $LARGE_MB --pid $GATEWAY)
echo "# full handshakes (ECDSA P-256 server key)" | tee -a "$W/raw.txt"
HNE=$(run handshakes nginx 127.0.0.1:$NG --host $HOST --ca "$W/ecdsa/ca.crt" --seconds 5 --pid "$NGINX_WORKER")
HTE=$(run handshakes tunnel 127.0.0.1:$GW --host $HOST --ca "$W/ecdsa/ca.crt" --seconds 5 --pid $GATEWAY)
echo "# idle sessions" | tee -a "$W/raw.txt"
S=$(run sessions 127.0.0.1:$GW --host $HOST --ca "$W/ecdsa/ca.crt" --count "$SESSIONS" --pid $GATEWAY)

kill $GATEWAY; wait $GATEWAY 2>/dev/null || true
start_gateway "$W/rsa"
start_nginx "$W/rsa"
echo "# full handshakes (RSA 4096 server key)" | tee -a "$W/raw.txt"
HNR=$(run handshakes nginx 127.0.0.1:$NG --host $HOST --ca "$W/rsa/ca.crt" --seconds 5 --pid "$NGINX_WORKER")
HTR=$(run handshakes tunnel 127.0.0.1:$GW --host $HOST --ca "$W/rsa/ca.crt" --seconds 5 --pid $GATEWAY)
kill $GATEWAY; wait $GATEWAY 2>/dev/null || true

echo "# exec to listening (10 starts)" | tee -a "$W/raw.txt"
STARTS=()
for _ in $(seq 1 10); do
  t0=$(date +%s%N)
  taskset -c 0 "$BIN" gateway --config "$W/gateway.yaml" 2>/dev/null & p=$!
  until (exec 3<>/dev/tcp/127.0.0.1/$GW) 2>/dev/null; do :; done
  t1=$(date +%s%N)
  STARTS+=($(( (t1 - t0) / 1000000 )))
  kill $p; wait $p 2>/dev/null || true
done
START_MED=$(printf '%s\n' "${STARTS[@]}" | sort -n | sed -n 5p)
echo "starts_ms=${STARTS[*]} median=$START_MED" | tee -a "$W/raw.txt"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
{
  echo "| measure | direct | nginx | mcp-tunnel | mcp-tunnel vs reference |"
  echo "|---|---|---|---|---|"
  echo "| small requests/s ($CONNECTIONS conns) | $(field rps "$D") | $(field rps "$N") | $(field rps "$T") | $(ratio "$(field rps "$T")" "$(field rps "$N")")x nginx |"
  echo "| server CPU-seconds per 10k small requests | - | $(field cpu_s_per_10k "$N") | $(field cpu_s_per_10k "$T") | $(ratio "$(field cpu_s_per_10k "$T")" "$(field cpu_s_per_10k "$N")")x nginx (target <= 1.2x) |"
  echo "| p50 latency ms | $(field p50_ms "$D") | $(field p50_ms "$N") | $(field p50_ms "$T") | +$(minus "$(field p50_ms "$T")" "$(field p50_ms "$D")") ms over direct (target <= 0.2) |"
  echo "| p90 / p99 / p99.9 ms | $(field p90_ms "$D") / $(field p99_ms "$D") / $(field p999_ms "$D") | $(field p90_ms "$N") / $(field p99_ms "$N") / $(field p999_ms "$N") | $(field p90_ms "$T") / $(field p99_ms "$T") / $(field p999_ms "$T") | |"
  echo "| large results MB/s (${LARGE_MB} MB, 4 conns) | $(field mb_per_s "$DL") | $(field mb_per_s "$NL") | $(field mb_per_s "$TL") | $(ratio "$(field mb_per_s "$TL")" "$(field mb_per_s "$DL")")x direct (target >= 0.70) |"
  echo "| full handshakes per server CPU-second, ECDSA | - | $(field handshakes_per_cpu_s "$HNE") | $(field handshakes_per_cpu_s "$HTE") | $(ratio "$(field handshakes_per_cpu_s "$HTE")" "$(field handshakes_per_cpu_s "$HNE")")x nginx |"
  echo "| full handshakes per server CPU-second, RSA 4096 | - | $(field handshakes_per_cpu_s "$HNR") | $(field handshakes_per_cpu_s "$HTR") | $(ratio "$(field handshakes_per_cpu_s "$HTR")" "$(field handshakes_per_cpu_s "$HNR")")x nginx |"
  echo "| gateway RSS idle (KB) | - | - | $IDLE_RSS | target <= 30720 |"
  for n in ${SESSIONS//,/ }; do
    echo "| RSS per idle session, $n sessions (KB) | - | - | $(field "kb_per_session_$n" "$S") | target <= 30 |"
  done
  echo "| exec to listening, median of 10 (ms) | - | - | $START_MED | target <= 50 |"
} | tee "$W/results.md"
echo "raw lines: $W/raw.txt"
