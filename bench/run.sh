#!/usr/bin/env bash
# The benchmark suite (not part of CI). Compares, on identical work and in one run:
#   direct  = load generator -> upstream (the limit)
#   nginx   = load generator -> nginx (TLS termination, reverse proxy) -> upstream (the reference)
#   tunnel  = load generator -> WebSocket -> mcp-tunnel (inner TLS) -> upstream
# The servers under test run on CPU 0; the load generator and the upstream share CPU 1 (the machine has 2).
# Results: a markdown table on stdout and in bench/results/<time>/results.md. Knobs: SECONDS_PER_RUN,
# CONNECTIONS, LARGE_MB, SESSIONS (idle-session checkpoints, default 1000,10000,50000), BIN (the gateway binary).
# What observability costs per request (before/after issue 15, exporters off, Prometheus, OTLP): bench/telemetry.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNECTIONS=${CONNECTIONS:-16}
LARGE_MB=${LARGE_MB:-8}
SESSIONS=${SESSIONS:-1000,10000,50000}  # checkpoints of one idle-session run
# N sessions need N descriptors in the gateway (the outer socket; the inner connection has none) and as many in the
# load generator, plus a reserve. Raise the limit as far as the largest checkpoint needs; where the hard limit
# refuses (some containers and VMs cap RLIMIT_NOFILE even for root), measure up to what fits and say so.
MAX_SESSIONS=$(tr ',' '\n' <<<"$SESSIONS" | sort -n | tail -1)
WANT_NOFILE=$(( MAX_SESSIONS + 1000 ))
ulimit -n "$WANT_NOFILE" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt "$WANT_NOFILE" ]; then
  FIT=$(( (NOFILE - 1000) / 1000 * 1000 ))
  echo "warning: RLIMIT_NOFILE cannot be raised to $WANT_NOFILE (hard limit $(ulimit -Hn)); idle-session checkpoints above $FIT are measured at $FIT" >&2
  SESSIONS=$(tr ',' '\n' <<<"$SESSIONS" | awk -v fit="$FIT" '{ print ($1 > fit ? fit : $1) }' | sort -nu | paste -sd,)
  MAX_SESSIONS=$FIT
fi
W="bench/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$W"
W=$(cd "$W" && pwd)
echo "# start $(date -u +%FT%TZ) loadavg $(cat /proc/loadavg) nofile $NOFILE sessions $SESSIONS" | tee -a "$W/raw.txt"

if ! command -v nginx >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
fi
BIN=${BIN:-$(pwd)/artifacts/bin/mcp-tunnel}
[ -x "$BIN" ] || dotnet publish src/McpTunnel/McpTunnel.csproj -c Release -r linux-x64 -o artifacts/bin >/dev/null
dotnet build bench/McpTunnel.Bench -c Release -o "$W/bench-bin" >/dev/null
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
# Room for every idle session of the largest checkpoint (derived from the descriptor limit it would be a quarter).
appliance: { max_connections: $(( MAX_SESSIONS + 500 )), max_sessions: $(( MAX_SESSIONS + 100 )) }
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
echo "# latency: one connection, one request at a time (the generator is far from saturated)" | tee -a "$W/raw.txt"
D1=$(run load direct 127.0.0.1:$UP --host $HOST --connections 1 --seconds $SECONDS_PER_RUN)
N1=$(run load nginx 127.0.0.1:$NG --host $HOST --ca "$W/ecdsa/ca.crt" --connections 1 --seconds $SECONDS_PER_RUN --pid "$NGINX_WORKER")
T1=$(run load tunnel 127.0.0.1:$GW --host $HOST --ca "$W/ecdsa/ca.crt" --connections 1 --seconds $SECONDS_PER_RUN --pid $GATEWAY)
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
echo "# end $(date -u +%FT%TZ) loadavg $(cat /proc/loadavg)" | tee -a "$W/raw.txt"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
{
  echo "| measure | direct | nginx | mcp-tunnel | mcp-tunnel vs reference |"
  echo "|---|---|---|---|---|"
  echo "| small requests/s ($CONNECTIONS conns) | $(field rps "$D") | $(field rps "$N") | $(field rps "$T") | $(ratio "$(field rps "$T")" "$(field rps "$N")")x nginx |"
  echo "| server CPU-seconds per 10k small requests | - | $(field cpu_s_per_10k "$N") | $(field cpu_s_per_10k "$T") | $(ratio "$(field cpu_s_per_10k "$T")" "$(field cpu_s_per_10k "$N")")x nginx (target <= 1.2x) |"
  echo "| context switches per small request (all server threads) | - | $(field ctx_switches_per_request "$N") | $(field ctx_switches_per_request "$T") | $(ratio "$(field ctx_switches_per_request "$T")" "$(field ctx_switches_per_request "$N")")x nginx |"
  echo "| p50 latency ms | $(field p50_ms "$D") | $(field p50_ms "$N") | $(field p50_ms "$T") | +$(minus "$(field p50_ms "$T")" "$(field p50_ms "$D")") ms over direct (target <= 0.2) |"
  echo "| p90 / p99 / p99.9 ms | $(field p90_ms "$D") / $(field p99_ms "$D") / $(field p999_ms "$D") | $(field p90_ms "$N") / $(field p99_ms "$N") / $(field p999_ms "$N") | $(field p90_ms "$T") / $(field p99_ms "$T") / $(field p999_ms "$T") | |"
  echo "| p50 latency ms, one connection, one request at a time | $(field p50_ms "$D1") | $(field p50_ms "$N1") | $(field p50_ms "$T1") | +$(minus "$(field p50_ms "$T1")" "$(field p50_ms "$D1")") ms over direct (target <= 0.2; nginx +$(minus "$(field p50_ms "$N1")" "$(field p50_ms "$D1")")) |"
  echo "| server CPU-seconds per 10k requests, one connection | - | $(field cpu_s_per_10k "$N1") | $(field cpu_s_per_10k "$T1") | $(ratio "$(field cpu_s_per_10k "$T1")" "$(field cpu_s_per_10k "$N1")")x nginx |"
  echo "| context switches per request, one connection | - | $(field ctx_switches_per_request "$N1") | $(field ctx_switches_per_request "$T1") | |"
  echo "| large results MB/s (${LARGE_MB} MB, 4 conns) | $(field mb_per_s "$DL") | $(field mb_per_s "$NL") | $(field mb_per_s "$TL") | $(ratio "$(field mb_per_s "$TL")" "$(field mb_per_s "$DL")")x direct (target >= 0.70) |"
  echo "| server CPU-seconds per GB of ${LARGE_MB} MB results | - | $(field cpu_s_per_gb "$NL") | $(field cpu_s_per_gb "$TL") | $(ratio "$(field cpu_s_per_gb "$TL")" "$(field cpu_s_per_gb "$NL")")x nginx (target <= 1.2x) |"
  echo "| full handshakes per server CPU-second, ECDSA | - | $(field handshakes_per_cpu_s "$HNE") | $(field handshakes_per_cpu_s "$HTE") | $(ratio "$(field handshakes_per_cpu_s "$HTE")" "$(field handshakes_per_cpu_s "$HNE")")x nginx |"
  echo "| full handshakes per server CPU-second, RSA 4096 | - | $(field handshakes_per_cpu_s "$HNR") | $(field handshakes_per_cpu_s "$HTR") | $(ratio "$(field handshakes_per_cpu_s "$HTR")" "$(field handshakes_per_cpu_s "$HNR")")x nginx |"
  echo "| gateway RSS idle (KB) | - | - | $IDLE_RSS | target <= 30720 |"
  for n in ${SESSIONS//,/ }; do
    echo "| RSS per idle session, $n sessions (KB) | - | - | $(field "kb_per_session_$n" "$S") | target <= 30 (opened in $(field "opened_by_s_$n" "$S") s) |"
  done
  if [ -n "$(field failed_after "$S")" ]; then echo "| idle sessions: failed after | - | - | $(field failed_after "$S") | $(field failure "$S") |"; fi
  echo "| exec to listening, median of 10 (ms) | - | - | $START_MED | target <= 50 |"
} | tee "$W/results.md"
echo "raw lines: $W/raw.txt"
