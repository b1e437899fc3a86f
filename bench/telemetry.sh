#!/usr/bin/env bash
# What observability costs on the hot path (issue 15), in one run, on bench/run.sh's small-request load
# (WebSocket + inner TLS, ~1 KB each way, CONNECTIONS connections) through `mcp-tunnel run --no-connector`:
#   before       commit $BEFORE (hand-written counters), no health listener
#   before-prom  the same with appliance.health_addr set and its hand-written /metrics scraped every SCRAPE_EVERY s
#   off          this tree, no health_addr, no OTEL_* (no exporter)
#   prom         this tree with health_addr set, OpenTelemetry's Prometheus exporter scraped every SCRAPE_EVERY s
#   otlp         this tree with OTEL_EXPORTER_OTLP_ENDPOINT set to a loopback sink (metrics and a span per request)
#   otlp-sampled the same with OTEL_TRACES_SAMPLER=parentbased_traceidratio, OTEL_TRACES_SAMPLER_ARG=0.1 (one in ten)
#   otlp-alwaysoff  otlp with OTEL_TRACES_SAMPLER=always_off (a tracer listens, nothing is sampled)
#   otlp-noprop  otlp with OTEL_PROPAGATORS=none (no trace context sent upstream)
#   otlp-metrics only OTEL_EXPORTER_OTLP_METRICS_ENDPOINT set (metrics over OTLP, no tracer)
# Two numbers per variant:
#   CPU-seconds per 10k requests of the Native AOT binary (/proc/PID/stat, gateway pinned to CPU 0 as in run.sh);
#   managed bytes allocated per request, from a JIT build of the same source (`dotnet build`, no AOT) started with
#   a startup hook (bench/AllocProbe) that answers GC.GetTotalAllocatedBytes(precise: true) on a loopback port,
#   read before and after the measured load. A startup hook cannot load into an AOT binary, hence the JIT build.
#   Cross-check: in the prom variant the AOT binary's own System.Runtime counter
#   (dotnet_gc_heap_total_allocated_bytes_total on /metrics) is read around the same load.
# The load generator, the upstream, the OTLP sink and the scraper share CPU 1. Variants run in turn, ROUNDS
# times (the order rotates per round), so ratios come from one run. Knobs: SECONDS_PER_RUN, WARMUP_SECONDS,
# CONNECTIONS, ROUNDS, SCRAPE_EVERY, OTLP_EXPORT_MS (OTEL_METRIC_EXPORT_INTERVAL), VARIANTS, BEFORE.
# The before build is cached in bench/results/telemetry-build/<commit>/; this tree is built every time.
# Results: bench/results/telemetry-<time>/results.md (and raw.txt). See docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=$(git rev-parse "${BEFORE:-5fc5a9a}")
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
WARMUP_SECONDS=${WARMUP_SECONDS:-5}
CONNECTIONS=${CONNECTIONS:-16}
ROUNDS=${ROUNDS:-2}
SCRAPE_EVERY=${SCRAPE_EVERY:-5}
OTLP_EXPORT_MS=${OTLP_EXPORT_MS:-5000}
VARIANTS=${VARIANTS:-before,before-prom,off,prom,otlp}
W="bench/results/telemetry-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$W"
W=$(cd "$W" && pwd)
# Ports of their own, so a bench/run.sh on the same machine does not collide (it uses 18100-18102).
GW=18200 UP=18201 HP=18202 SINK=18203 AP=18204
DOMAIN=bench.tunnel.test
HOST=echo.$DOMAIN

build_quiet() { # $1 = log name, rest = command; the log is kept, printed only on failure
  if ! "${@:2}" >"$W/$1.log" 2>&1; then tail -30 "$W/$1.log" >&2; echo "build failed: ${*:2}" >&2; exit 1; fi
}

echo "building (before = $BEFORE, after = this tree at $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+uncommitted'))" >&2
B="bench/results/telemetry-build/$BEFORE"
if [ ! -x "$B/aot/mcp-tunnel" ] || [ ! -x "$B/jit/mcp-tunnel" ]; then
  rm -rf "$B" && mkdir -p "$B/tree"
  git archive "$BEFORE" | tar -x -C "$B/tree"
  (cd "$B/tree" && build_quiet before-aot dotnet publish src/McpTunnel/McpTunnel.csproj -c Release -r linux-x64 -o ../aot)
  (cd "$B/tree" && build_quiet before-jit dotnet build src/McpTunnel/McpTunnel.csproj -c Release -p:StartupHookSupport=true -o ../jit)
fi
B=$(cd "$B" && pwd)
build_quiet after-aot dotnet publish src/McpTunnel/McpTunnel.csproj -c Release -r linux-x64 -o "$W/after-aot"
build_quiet after-jit dotnet build src/McpTunnel/McpTunnel.csproj -c Release -p:StartupHookSupport=true -o "$W/after-jit"
build_quiet probe dotnet build bench/AllocProbe -c Release -o "$W/probe"
build_quiet bench dotnet build bench/McpTunnel.Bench -c Release -o "$W/bench-bin"
LOAD="$W/bench-bin/mcp-tunnel-bench"
PROBE="$W/probe/mcp-tunnel-alloc-probe.dll"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

"$W/after-aot/mcp-tunnel" cert init --domain "$DOMAIN" --output "$W/keys" >/dev/null
taskset -c 1 "$LOAD" upstream $UP & pids+=($!)
taskset -c 1 "$LOAD" otlp-sink $SINK & pids+=($!)

wait_port() { for _ in $(seq 1 1000); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.01; done; echo "port $1 never opened" >&2; return 1; }
wait_port $UP
wait_port $SINK
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2" | head -1; }
allocated() { local v; exec 3<>/dev/tcp/127.0.0.1/$AP; read -r v <&3; exec 3<&-; echo "$v"; }
scrape() { curl -sf "http://127.0.0.1:$HP/metrics"; }
runtime_allocated() { scrape | awk '/^dotnet_gc_heap_total_allocated_bytes_total[ {]/ { print $NF; exit }'; }
load() { taskset -c 1 "$LOAD" load tunnel 127.0.0.1:$GW --host $HOST --ca "$W/keys/ca.crt" --connections "$CONNECTIONS" "$@"; }

config() { # $1 = variant
  cat <<YAML
listen_addr: "127.0.0.1:$GW"
log_level: warn
tunnel_domain: $DOMAIN
tls: { cert_file: $W/keys/tls.crt, key_file: $W/keys/tls.key }
routes: { echo: "http://127.0.0.1:$UP" }
upstream: { allowed_ips: [127.0.0.0/8] }
YAML
  case $1 in *prom) echo "appliance: { health_addr: \"127.0.0.1:$HP\", data_dir: $W/data }" ;; *) echo "appliance: { data_dir: $W/data }" ;; esac
}

GATEWAY= SCRAPER=
start() { # $1 = variant, $2 = aot|jit
  local bin
  case $1 in before*) bin=$B/$2/mcp-tunnel ;; *) bin=$W/after-$2/mcp-tunnel ;; esac
  config "$1" > "$W/$1.yaml"
  local env=(env -u OTEL_EXPORTER_OTLP_ENDPOINT -u OTEL_EXPORTER_OTLP_TRACES_ENDPOINT -u OTEL_EXPORTER_OTLP_METRICS_ENDPOINT -u OTEL_SDK_DISABLED)
  [[ $1 == otlp* ]] && env+=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$SINK" OTEL_METRIC_EXPORT_INTERVAL="$OTLP_EXPORT_MS")
  [ "$1" = otlp-sampled ] && env+=(OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.1)
  [ "$1" = otlp-alwaysoff ] && env+=(OTEL_TRACES_SAMPLER=always_off)
  [ "$1" = otlp-noprop ] && env+=(OTEL_PROPAGATORS=none)
  [ "$1" = otlp-metrics ] && env=("${env[@]/#OTEL_EXPORTER_OTLP_ENDPOINT=*/OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=http://127.0.0.1:$SINK/v1/metrics}")
  [ "$2" = jit ] && env+=(DOTNET_STARTUP_HOOKS="$PROBE" MCP_BENCH_ALLOC_PORT=$AP)
  "${env[@]}" taskset -c 0 "$bin" run --no-connector --config "$W/$1.yaml" 2>>"$W/gateway-$1-$2.log" & GATEWAY=$!
  pids+=($GATEWAY)
  wait_port $GW
  [ "$2" = jit ] && wait_port $AP
  if [[ $1 == *prom ]]; then
    wait_port $HP
    # As Prometheus would: a scrape every SCRAPE_EVERY seconds for as long as the gateway runs.
    (while scrape >/dev/null; do sleep "$SCRAPE_EVERY"; done) & SCRAPER=$!
    pids+=($SCRAPER)
  fi
}

stop() {
  [ -n "$SCRAPER" ] && { kill "$SCRAPER" 2>/dev/null || true; wait "$SCRAPER" 2>/dev/null || true; SCRAPER=; }
  kill "$GATEWAY"; wait "$GATEWAY" 2>/dev/null || true
}

printf 'round\tvariant\trps\tcpu_s_per_10k\talloc_b_per_req\taot_runtime_alloc_b_per_req\tjit_cpu_s_per_10k\tload1\n' > "$W/rows.tsv"
IFS=, read -r -a list <<<"$VARIANTS"
for round in $(seq 1 "$ROUNDS"); do
  n=${#list[@]}
  for i in $(seq 0 $((n - 1))); do
    v=${list[$(( (i + round - 1) % n ))]}
    # CPU: the AOT binary.
    start "$v" aot
    load --seconds "$WARMUP_SECONDS" >/dev/null
    R0=$([[ $v == prom ]] && runtime_allocated || echo "")
    T=$(load --seconds "$SECONDS_PER_RUN" --pid "$GATEWAY")
    R1=$([[ $v == prom ]] && runtime_allocated || echo "")
    L=$(cut -d' ' -f1 /proc/loadavg)
    echo "round=$round variant=$v build=aot $T loadavg=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)" | tee -a "$W/raw.txt" >&2
    stop
    # Allocations: the JIT build of the same source with the probe.
    start "$v" jit
    load --seconds "$WARMUP_SECONDS" >/dev/null
    A0=$(allocated)
    J=$(load --seconds "$SECONDS_PER_RUN" --pid "$GATEWAY")
    A1=$(allocated)
    echo "round=$round variant=$v build=jit $J allocated_bytes=$((A1 - A0)) loadavg=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)" | tee -a "$W/raw.txt" >&2
    stop
    [[ $v == otlp* ]] && echo "round=$round sink $(curl -sf "http://127.0.0.1:$SINK/stats")" | tee -a "$W/raw.txt" >&2
    # The measured load also sets up its CONNECTIONS sessions and sends one warm-up request on each.
    jr=$(( $(field requests "$J") + CONNECTIONS ))
    ar=$(( $(field requests "$T") + CONNECTIONS ))
    per=$(awk -v a=$((A1 - A0)) -v r="$jr" 'BEGIN { printf "%.0f", a / r }')
    rt=-
    [ -n "$R0" ] && [ -n "$R1" ] && rt=$(awk -v a="$R0" -v b="$R1" -v r="$ar" 'BEGIN { printf "%.0f", (b - a) / r }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$v" "$(field rps "$T")" "$(field cpu_s_per_10k "$T")" "$per" "$rt" "$(field cpu_s_per_10k "$J")" "$L" >> "$W/rows.tsv"
  done
done

# Per variant: the median over rounds (the mean of two when ROUNDS=2), and its ratio to "before".
{
  echo "| variant | requests/s (AOT) | server CPU-s per 10k requests (AOT) | vs before | bytes allocated per request (JIT build) | vs before | AOT runtime counter, bytes per request | load average (1 min) |"
  echo "|---|---|---|---|---|---|---|---|"
  awk -F'\t' -v order="$VARIANTS" '
    NR == 1 { next }
    { n[$2]++; rps[$2, n[$2]] = $3; cpu[$2, n[$2]] = $4; al[$2, n[$2]] = $5; rt[$2, n[$2]] = $6; ld[$2] = ld[$2] (ld[$2] == "" ? "" : ", ") $8 }
    function med(a, v,   k, i, j, t, m) {
      m = n[v]; for (i = 1; i <= m; i++) x[i] = a[v, i]
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (x[j] + 0 < x[i] + 0) { t = x[i]; x[i] = x[j]; x[j] = t }
      return m % 2 ? x[(m + 1) / 2] : (x[m / 2] + x[m / 2 + 1]) / 2
    }
    END {
      k = split(order, vs, ",")
      bc = ("before" in n) ? med(cpu, "before") : 0; ba = ("before" in n) ? med(al, "before") : 0
      for (i = 1; i <= k; i++) {
        v = vs[i]; if (!(v in n)) continue
        c = med(cpu, v); a = med(al, v); r = (rt[v, 1] == "-") ? "-" : sprintf("%.0f", med(rt, v))
        printf "| %s | %.0f | %.3f | %s | %.0f | %s | %s | %s |\n", v, med(rps, v), c, bc ? sprintf("%.2fx", c / bc) : "-", a, ba ? sprintf("%.2fx", a / ba) : "-", r, ld[v]
      }
    }' "$W/rows.tsv"
} | tee "$W/results.md"
echo "per-round rows: $W/rows.tsv; raw lines: $W/raw.txt" >&2
