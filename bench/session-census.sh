#!/usr/bin/env bash
# What the managed heap holds per idle tunnel session (issue 12's per-session row): a JIT build of this tree serves
# SESSIONS idle sessions (WebSocket + inner TLS + one small request each, bench's sessions mode); dotnet-gcdump
# takes the gateway's heap before they open and while they are open, and the per-type difference is divided by
# SESSIONS. Types a session holds once show 1.0 objects per session. Native memory (OpenSSL) is not on the managed
# heap: see bench/compare.sh's native split and the heaptrack run in docs/benchmarks.md.
# A JIT build, because gcdump reads the heap through the runtime's diagnostics, which Native AOT does not offer; the
# managed objects are the same types (their sizes can differ slightly from the AOT binary's).
# dotnet-gcdump comes from NuGet (a dotnet tool) into bench/results/tools on first use.
# Usage: SESSIONS=2000 bash bench/session-census.sh   -> bench/results/census-<time>/{before,after}.txt, census.md
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${SESSIONS:-2000}
W="bench/results/census-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$W" bench/results/tools
W=$(cd "$W" && pwd)
GW=18400 UP=18401
DOMAIN=bench.tunnel.test
HOST=echo.$DOMAIN

quiet() { if ! "${@:2}" >"$W/$1.log" 2>&1; then tail -30 "$W/$1.log" >&2; echo "failed: ${*:2}" >&2; exit 1; fi; }
GCDUMP=bench/results/tools/dotnet-gcdump
[ -x "$GCDUMP" ] || quiet tool dotnet tool install --tool-path bench/results/tools dotnet-gcdump --version 10.0.750501
quiet jit dotnet build src/McpTunnel/McpTunnel.csproj -c Release -o "$W/jit"
quiet bench dotnet build bench/McpTunnel.Bench -c Release -o "$W/bench-bin"
LOAD="$W/bench-bin/mcp-tunnel-bench"

pids=()
cleanup() { touch "$W/release"; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_port() { for _ in $(seq 1 2000); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.01; done; echo "port $1 never opened" >&2; return 1; }

"$W/jit/mcp-tunnel" cert init --domain "$DOMAIN" --output "$W/keys" >/dev/null
"$LOAD" upstream $UP & pids+=($!)
wait_port $UP
cat > "$W/gateway.yaml" <<YAML
listen_addr: "127.0.0.1:$GW"
log_level: warn
tunnel_domain: $DOMAIN
tls: { cert_file: $W/keys/tls.crt, key_file: $W/keys/tls.key }
routes: { echo: "http://127.0.0.1:$UP" }
upstream: { allowed_ips: [127.0.0.0/8] }
appliance: { max_connections: 19000, max_sessions: 18000, data_dir: $W/data }
YAML
"$W/jit/mcp-tunnel" run --no-connector --config "$W/gateway.yaml" 2>"$W/gateway.log" & G=$!
pids+=($G)
wait_port $GW
# One session first, closed again, so what every connection's first use builds (pools, caches, the TLS context) is
# in both heaps and not counted per session.
"$LOAD" sessions 127.0.0.1:$GW --host $HOST --ca "$W/keys/ca.crt" --count 8 --pid $G >/dev/null
"$GCDUMP" collect -p $G -o "$W/before.gcdump" >/dev/null
"$LOAD" sessions 127.0.0.1:$GW --host $HOST --ca "$W/keys/ca.crt" --count "$SESSIONS" --pid $G --hold-until "$W/release" > "$W/sessions.txt" & S=$!
pids+=($S)
# The sessions mode prints its line once every session is open and idle, then holds them.
for _ in $(seq 1 60000); do [ -s "$W/sessions.txt" ] && break; kill -0 $S 2>/dev/null || break; sleep 0.01; done
[ -s "$W/sessions.txt" ] || { echo "the sessions did not open" >&2; exit 1; }
"$GCDUMP" collect -p $G -o "$W/after.gcdump" >/dev/null
touch "$W/release"
wait $S || true
"$GCDUMP" report "$W/before.gcdump" > "$W/before.txt"
"$GCDUMP" report "$W/after.gcdump" > "$W/after.txt"
# heapstat lines: "<object bytes> <count> <type>", where the bytes are one object's (the largest, for the size
# buckets of arrays: "(Bytes > 1K)"), so a type's total is bytes x count: exact for objects of a fixed size, an upper
# bound for the buckets. The header's "GC Heap bytes" gives the exact total.
heap() { awk '/GC Heap bytes/ { gsub(/,/, "", $1); print $1; exit }' "$1"; }
awk -v n="$SESSIONS" '
  function num(s) { gsub(/,/, "", s); return s + 0 }
  FNR == 1 { file++ }
  $1 ~ /^[0-9,]+$/ && $2 ~ /^[0-9,]+$/ {
    type = $0; sub(/^[ \t]*[0-9,]+[ \t]+[0-9,]+[ \t]+/, "", type)
    if (file == 1) { b[type] += num($1) * num($2); c[type] += num($2) } else { B[type] += num($1) * num($2); C[type] += num($2) }
  }
  END { for (t in B) { d = (B[t] - b[t]) / n; if (d >= 8) printf "%.0f\t%.2f\t%s\n", d, (C[t] - c[t]) / n, t } }' "$W/before.txt" "$W/after.txt" | sort -t$'\t' -k1,1 -g -r > "$W/census.tsv"
{
  echo "$SESSIONS idle sessions; $(cat "$W/sessions.txt")"
  echo "managed heap: $(heap "$W/before.txt") bytes before, $(heap "$W/after.txt") with the sessions open:" \
    "$(( ($(heap "$W/after.txt") - $(heap "$W/before.txt")) / SESSIONS )) bytes per session"
  echo
  echo "| bytes per session | objects per session | type |"
  echo "|---|---|---|"
  awk -F'\t' '{ printf "| %s | %s | `%s` |\n", $1, $2, $3 }' "$W/census.tsv" | head -40
} > "$W/census.md"
cat "$W/census.md"
echo "census: $W/census.md (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
