#!/usr/bin/env bash
# Compares gateway variants on inner TLS handshakes in one run, alternating them ROUNDS times so drift on a shared
# machine hits every variant alike; nginx (same key, same libssl) is measured in every round as the reference.
# Full handshakes (the client keeps no session). Same setup as bench/run.sh (servers on CPU 0; generator and upstream
# on CPU 1).
#   VARIANTS='name=BINARY[,VAR=value...] name2=...'
# Knobs: SECONDS_PER_RUN (default 5), ROUNDS (default 3), KEY (ecdsa or rsa-4096, default ecdsa).
# Prints one table row per variant and round: handshakes per server CPU-second, and the ratio to nginx's of that round.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
ROUNDS=${ROUNDS:-3}
KEY=${KEY:-ecdsa}
: "${VARIANTS:?set VARIANTS='name=BINARY[,VAR=value...] ...'}"
W="bench/results/handshakes-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$W"
W=$(cd "$W" && pwd)
dotnet build bench/McpTunnel.Bench -c Release -o "$W/bench-bin" >/dev/null
LOAD="$W/bench-bin/mcp-tunnel-bench"
first_bin=$(sed 's/^[^=]*=\([^, ]*\).*/\1/' <<<"${VARIANTS%% *}")
DOMAIN=bench.tunnel.test HOST=echo.bench.tunnel.test
UP=18121 GW=18120 NG=18122
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -f "$W/nginx.pid" ] && kill "$(cat "$W/nginx.pid")" 2>/dev/null || true; }
trap cleanup EXIT
wait_port() { for _ in $(seq 1 500); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.01; done; echo "port $1 never opened" >&2; return 1; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
run() { taskset -c 1 "$LOAD" "$@" | tee -a "$W/raw.txt"; }

if [ "$KEY" = ecdsa ]; then
  "$first_bin" cert init --domain "$DOMAIN" --output "$W/keys" >/dev/null
else
  "$first_bin" cert init --domain "$DOMAIN" --output "$W/keys" --server-key "$KEY" >/dev/null
fi
taskset -c 1 "$LOAD" upstream $UP & pids+=($!)
wait_port $UP
cat > "$W/gateway.yaml" <<YAML
listen_addr: "127.0.0.1:$GW"
log_level: warn
tunnel_domain: $DOMAIN
tls: { cert_file: $W/keys/tls.crt, key_file: $W/keys/tls.key }
routes: { echo: "http://127.0.0.1:$UP" }
upstream: { allowed_ips: [127.0.0.0/8] }
YAML
mkdir -p "$W/nginx"
cat > "$W/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $W/nginx.pid;
error_log $W/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$NG ssl;
    ssl_certificate $W/keys/tls.crt;
    ssl_certificate_key $W/keys/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 200; }
  }
}
CONF
taskset -c 0 nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" -g 'daemon on;'
wait_port $NG
NGINX_WORKER=$(pgrep -P "$(cat "$W/nginx.pid")" | head -1)

echo "# start $(date -u +%FT%TZ) loadavg $(cat /proc/loadavg) key $KEY" | tee -a "$W/raw.txt"
rows=()
for round in $(seq 1 "$ROUNDS"); do
  N=$(run handshakes nginx 127.0.0.1:$NG --host $HOST --ca "$W/keys/ca.crt" --seconds "$SECONDS_PER_RUN" --pid "$NGINX_WORKER")
  nginx_rate=$(field handshakes_per_cpu_s "$N")
  rows+=("| $round | nginx | $(field handshakes "$N") | $nginx_rate | 1.00 |")
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
    T=$(run handshakes tunnel 127.0.0.1:$GW --host $HOST --ca "$W/keys/ca.crt" --seconds "$SECONDS_PER_RUN" --pid $G)
    rows+=("| $round | $name | $(field handshakes "$T") | $(field handshakes_per_cpu_s "$T") | $(ratio "$(field handshakes_per_cpu_s "$T")" "$nginx_rate") |")
    kill $G; wait $G 2>/dev/null || true
  done
done
echo "# end $(date -u +%FT%TZ) loadavg $(cat /proc/loadavg)" | tee -a "$W/raw.txt"
{
  echo "| round | server | full handshakes | per server CPU-second | ÷ nginx (same round) |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} | tee "$W/results.md"
echo "raw lines: $W/raw.txt"
