#!/usr/bin/env bash
# Where a variant's allocations go (issue 15's attribution), on bench/telemetry.sh's small-request load: a JIT build
# of this tree runs as telemetry.sh runs it (VARIANT: off, prom, otlp, otlp-sampled, otlp-alwaysoff), and
# dotnet-trace records the runtime's GC allocation ticks with call stacks (the gc-verbose profile) for SECONDS of
# load after a warm-up; bench/AllocTrace then prints the shares by type and by type and stack. Shares, not bytes:
# multiply by telemetry.sh's bytes per request of the same variant. Compare two variants' outputs line by line.
# dotnet-trace comes from NuGet (a dotnet tool) into bench/results/tools on first use.
# Usage: bash bench/alloc-profile.sh VARIANT   -> bench/results/alloc-<variant>-<time>/{trace.nettrace,report.txt}
set -euo pipefail
cd "$(dirname "$0")/.."
V=${1:?usage: bench/alloc-profile.sh off|prom|otlp|otlp-sampled|otlp-alwaysoff}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-12} # at most 55
CONNECTIONS=${CONNECTIONS:-16}
W="bench/results/alloc-$V-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$W" bench/results/tools
W=$(cd "$W" && pwd)
GW=18300 UP=18301 HP=18302 SINK=18303
DOMAIN=bench.tunnel.test
HOST=echo.$DOMAIN

quiet() { if ! "${@:2}" >"$W/$1.log" 2>&1; then tail -30 "$W/$1.log" >&2; echo "failed: ${*:2}" >&2; exit 1; fi; }
TRACE=bench/results/tools/dotnet-trace
[ -x "$TRACE" ] || quiet tool dotnet tool install --tool-path bench/results/tools dotnet-trace --version 10.0.750501
quiet jit dotnet build src/McpTunnel/McpTunnel.csproj -c Release -o "$W/jit"
quiet bench dotnet build bench/McpTunnel.Bench -c Release -o "$W/bench-bin"
quiet report dotnet build bench/AllocTrace -c Release -o "$W/alloc-trace"
LOAD="$W/bench-bin/mcp-tunnel-bench"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_port() { for _ in $(seq 1 2000); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.01; done; echo "port $1 never opened" >&2; return 1; }

"$W/jit/mcp-tunnel" cert init --domain "$DOMAIN" --output "$W/keys" >/dev/null
"$LOAD" upstream $UP & pids+=($!)
"$LOAD" otlp-sink $SINK & pids+=($!)
wait_port $UP
wait_port $SINK
{
  cat <<YAML
listen_addr: "127.0.0.1:$GW"
log_level: warn
tunnel_domain: $DOMAIN
tls: { cert_file: $W/keys/tls.crt, key_file: $W/keys/tls.key }
routes: { echo: "http://127.0.0.1:$UP" }
upstream: { allowed_ips: [127.0.0.0/8] }
YAML
  case $V in prom) echo "appliance: { health_addr: \"127.0.0.1:$HP\", data_dir: $W/data }" ;; *) echo "appliance: { data_dir: $W/data }" ;; esac
} > "$W/config.yaml"
env=(env -u OTEL_EXPORTER_OTLP_ENDPOINT -u OTEL_EXPORTER_OTLP_TRACES_ENDPOINT -u OTEL_EXPORTER_OTLP_METRICS_ENDPOINT -u OTEL_SDK_DISABLED)
[[ $V == otlp* ]] && env+=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$SINK" OTEL_METRIC_EXPORT_INTERVAL=5000)
[ "$V" = otlp-sampled ] && env+=(OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.1)
[ "$V" = otlp-alwaysoff ] && env+=(OTEL_TRACES_SAMPLER=always_off)
"${env[@]}" "$W/jit/mcp-tunnel" run --no-connector --config "$W/config.yaml" 2>"$W/gateway.log" & G=$!
pids+=($G)
wait_port $GW
[ "$V" = prom ] && { wait_port $HP; (while curl -sf "http://127.0.0.1:$HP/metrics" >/dev/null; do sleep 5; done) & pids+=($!); }
"$LOAD" load tunnel 127.0.0.1:$GW --host $HOST --ca "$W/keys/ca.crt" --connections "$CONNECTIONS" --seconds 5 >/dev/null
# The session ends by itself (--duration: a signal would not stop it when this script runs as a background job,
# which starts with SIGINT ignored); the load starts once the session runs and ends
# before the session does (dotnet-trace prints 'Output File' once the session runs). The idle tail adds few ticks:
# the report gives shares.
"$TRACE" collect -p $G --profile gc-verbose --duration "00:00:00:$(printf %02d $((SECONDS_PER_RUN + 4)))" -o "$W/trace.nettrace" >"$W/trace.log" 2>&1 & T=$!
pids+=($T)
for _ in $(seq 1 3000); do grep -q '^Output File' "$W/trace.log" && break; sleep 0.01; done
grep -q '^Output File' "$W/trace.log" || { cat "$W/trace.log" >&2; echo "dotnet-trace did not attach" >&2; exit 1; }
"$LOAD" load tunnel 127.0.0.1:$GW --host $HOST --ca "$W/keys/ca.crt" --connections "$CONNECTIONS" --seconds "$SECONDS_PER_RUN" | tee "$W/load.txt"
wait $T || true
"$W/alloc-trace/mcp-tunnel-alloc-trace" "$W/trace.nettrace" 14 40 > "$W/report.txt"
head -25 "$W/report.txt"
echo "report: $W/report.txt (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
