#!/usr/bin/env bash
# Idle-connection flood (not part of CI): the gateway under a descriptor limit of NOFILE gets CONNECTIONS idle TCP
# connections and WEBSOCKETS idle WebSockets (no TLS), held for SECONDS with one real request
# (new WebSocket, inner TLS, POST) every second. Reports the gateway's CPU while opening and while holding, its
# descriptors and RSS, and how the real requests fared. The gateway runs on CPU 0, the generator on CPU 1.
# Knobs: CONNECTIONS (12000), WEBSOCKETS (2000), SECONDS (30), NOFILE (4096: the generator must hold more connections
# than the gateway may, and a container's hard limit is often 20000), UPGRADE_TIMEOUT (the default, 10s;
# 5m holds the idle connections for the whole run), BINARIES (default artifacts/bin/mcp-tunnel; give several,
# space-separated, to compare builds in one run), ROUNDS (1: floods in a row against the same gateway process, to
# tell memory the process keeps for reuse from memory that grows with every flood).
set -euo pipefail
cd "$(dirname "$0")/.."
CONNECTIONS=${CONNECTIONS:-12000}
WEBSOCKETS=${WEBSOCKETS:-2000}
SECONDS_HELD=${SECONDS:-30}
NOFILE=${NOFILE:-4096}
ROUNDS=${ROUNDS:-1}
UPGRADE_TIMEOUT=${UPGRADE_TIMEOUT:-}
BINARIES=${BINARIES:-$(pwd)/artifacts/bin/mcp-tunnel}
# The generator holds every connection itself.
NEED=$((CONNECTIONS + WEBSOCKETS + 1024))
ulimit -Hn $NEED 2>/dev/null || true
ulimit -n $NEED 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge "$NEED" ] || { echo "the generator needs $NEED descriptors; ulimit -n is $(ulimit -n): lower CONNECTIONS" >&2; exit 1; }
W="bench/results/flood-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$W"
W=$(cd "$W" && pwd)
[ -x artifacts/bin/mcp-tunnel ] || dotnet publish src/McpTunnel/McpTunnel.csproj -c Release -r linux-x64 -o artifacts/bin >/dev/null
dotnet build bench/McpTunnel.Bench -c Release -o "$W/bench-bin" >/dev/null
LOAD="$W/bench-bin/mcp-tunnel-bench"
DOMAIN=bench.tunnel.test
UP=18201 GW=18200

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_port() { for _ in $(seq 1 500); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.01; done; echo "port $1 never opened" >&2; return 1; }

first=${BINARIES%% *}
"$first" cert init --domain "$DOMAIN" --out "$W/pki" >/dev/null
taskset -c 1 "$LOAD" upstream $UP & pids+=($!)
wait_port $UP

for bin in $BINARIES; do
  cat > "$W/gateway.yaml" <<YAML
listen_addr: "127.0.0.1:$GW"
log_level: warn
tunnel_domain: $DOMAIN
tls: { cert_file: $W/pki/tls.crt, key_file: $W/pki/tls.key }
routes: { echo: "http://127.0.0.1:$UP" }
upstream: { allowed_ips: [127.0.0.0/8] }
YAML
  if [ -n "$UPGRADE_TIMEOUT" ] && "$bin" config validate --config "$W/gateway.yaml" >/dev/null 2>&1; then
    printf 'appliance: { upgrade_timeout: %s, first_request_timeout: %s, tls_handshake_timeout: %s }\n' "$UPGRADE_TIMEOUT" "$UPGRADE_TIMEOUT" "$UPGRADE_TIMEOUT" >> "$W/gateway.yaml"
    "$bin" config validate --config "$W/gateway.yaml" >/dev/null 2>&1 || sed -i '$d' "$W/gateway.yaml"
  fi
  log="$W/gateway-$(echo "$bin" | md5sum | cut -c1-8).log"
  bash -c "ulimit -n $NOFILE; exec taskset -c 0 '$bin' gateway --config '$W/gateway.yaml'" 2>"$log" & gw=$!
  pids+=($gw)
  wait_port $GW
  sleep 1
  for round in $(seq 1 "$ROUNDS"); do
    echo "binary=$bin nofile=$NOFILE round=$round $(taskset -c 1 "$LOAD" flood 127.0.0.1:$GW --host echo.$DOMAIN --ca "$W/pki/ca.crt" --pid $gw --connections "$CONNECTIONS" --websockets "$WEBSOCKETS" --seconds "$SECONDS_HELD") log_lines=$(wc -l < "$log")" | tee -a "$W/results.txt"
  done
  # The gateway asks for a collection at most once a minute after a flood: read RSS again once that has passed.
  sleep 65
  echo "binary=$bin rss_kb_a_minute_later=$(awk '/^VmRSS:/ {print $2}' /proc/$gw/status) fds_a_minute_later=$(ls /proc/$gw/fd | wc -l)" | tee -a "$W/results.txt"
  kill $gw; wait $gw 2>/dev/null || true
done
echo "results: $W/results.txt"
