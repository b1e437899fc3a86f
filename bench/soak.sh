#!/usr/bin/env bash
# The soak (not part of CI): `mcp-tunnel run` with the cloudflared stand-in (tests/FakeCloudflared) as its
# supervised child, a mixed load through its WebSocket listener for SOAK_SECONDS (default 1800), and meanwhile,
# every DISTURB_EVERY seconds (default 30) in turn: a new server certificate (`cert renew`, picked up by the
# gateway's poll), SIGHUP, cloudflared killed (the supervisor restarts it), a new tunnel token (graceful
# cloudflared restart). The load generator (`mcp-tunnel-bench soak`) counts every request on the client side
# (ok / answered with an error / lost) and samples the server's VmRSS every RSS_EVERY seconds (default 10).
# The stand-in does not carry traffic: the load connects to listen_addr as cloudflared would, so cloudflared
# restarts test the supervisor beside a loaded gateway, not requests through cloudflared.
# Results: bench/results/soak-<time>/summary.md (and rss.csv, progress.log, events.log, run.log).
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK_SECONDS=${SOAK_SECONDS:-1800}
DISTURB_EVERY=${DISTURB_EVERY:-30}
RSS_EVERY=${RSS_EVERY:-10}
W="bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$W"
W=$(cd "$W" && pwd)

[ -x artifacts/bin/mcp-tunnel ] || dotnet publish src/McpTunnel/McpTunnel.csproj -c Release -r linux-x64 -o artifacts/bin >/dev/null
dotnet build bench/McpTunnel.Bench -c Release -o "$W/bench-bin" >/dev/null
dotnet build tests/FakeCloudflared -c Release -o "$W/fake-bin" >/dev/null
BIN=$(pwd)/artifacts/bin/mcp-tunnel
LOAD="$W/bench-bin/mcp-tunnel-bench"
DOMAIN=soak.tunnel.test
GW=18200 UP=18201 METRICS=18203 HEALTH=18204
DATA="$W/data"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

new_token() { printf '{"a":"soak-account","t":"%s","s":"%s"}' "$(cat /proc/sys/kernel/random/uuid)" "$(head -c 32 /dev/urandom | base64 -w0)" | base64 -w0; }

mkdir -p "$DATA"
"$BIN" cert init --domain "$DOMAIN" --output "$DATA" >/dev/null
new_token > "$DATA/tunnel-token"
chmod 600 "$DATA/tunnel-token"
printf '#!/bin/sh\nexec %s "$@"\n' "$W/fake-bin/fake-cloudflared" > "$W/cloudflared"
chmod 700 "$W/cloudflared"
cat > "$W/config.yaml" <<YAML
listen_addr: "127.0.0.1:$GW"
log_level: info
shutdown_timeout: 10s
tunnel_domain: $DOMAIN
tls: { cert_file: $DATA/tls.crt, key_file: $DATA/tls.key }
routes: { echo: "http://127.0.0.1:$UP" }
upstream: { allowed_ips: [127.0.0.0/8] }
appliance:
  health_addr: "127.0.0.1:$HEALTH"
  data_dir: $DATA
  cloudflared: { binary: $W/cloudflared, metrics_addr: "127.0.0.1:$METRICS", grace_period: 2s }
YAML

wait_port() { for _ in $(seq 1 500); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.02; done; echo "port $1 never opened" >&2; return 1; }

"$LOAD" upstream $UP >"$W/upstream.log" 2>&1 & pids+=($!)
# Background jobs of a script start with SIGINT and SIGQUIT ignored, and nohup ignores SIGHUP; ignored signals
# survive exec, and neither .NET's signal registration nor the supervisor undoes that, so without this reset
# SIGHUP reloads nothing and cloudflared ignores its graceful-stop SIGINT. systemd starts services with defaults.
env --default-signal=HUP,INT,QUIT "$BIN" run --config "$W/config.yaml" >"$W/run.log" 2>&1 & RUN=$!
pids+=($RUN)
wait_port $UP
wait_port $GW
START=$(date +%s)
# artifacts/bin is only built when missing: name the sources it was built from, not the HEAD at the end.
BUILT=$(git log -1 --format=%h --before="$(stat -c %y "$BIN")" -- src)
echo "soak: mcp-tunnel run pid $RUN, ${SOAK_SECONDS}s, results in $W"

disturb() {
  local n=0 child
  while sleep "$DISTURB_EVERY"; do
    local t=$(( $(date +%s) - START ))
    case $(( n % 4 )) in
      0) "$BIN" cert renew --output "$DATA" --renew-before 0 >/dev/null 2>>"$W/events.log" && echo "$t cert-renew" >>"$W/events.log" ;;
      1) kill -HUP "$RUN" && echo "$t sighup" >>"$W/events.log" ;;
      2) child=$(pgrep -P "$RUN" | head -1 || true)
         if [ -n "$child" ]; then kill -9 "$child" && echo "$t cloudflared-killed pid=$child" >>"$W/events.log"; else echo "$t cloudflared-not-running" >>"$W/events.log"; fi ;;
      3) new_token > "$DATA/tunnel-token.new" && chmod 600 "$DATA/tunnel-token.new" && mv "$DATA/tunnel-token.new" "$DATA/tunnel-token" && echo "$t token-rotated" >>"$W/events.log" ;;
    esac
    n=$(( n + 1 ))
  done
}
disturb & DISTURBER=$!
pids+=($DISTURBER)

set +e
"$LOAD" soak 127.0.0.1:$GW --host "echo.$DOMAIN" --ca "$DATA/ca.crt" --seconds "$SOAK_SECONDS" --pid $RUN --out "$W" --rss-every "$RSS_EVERY" | tee "$W/result.txt"
LOAD_RC=${PIPESTATUS[0]}
set -e
kill $DISTURBER 2>/dev/null || true
ALIVE=$(kill -0 $RUN 2>/dev/null && echo yes || echo no)
kill -TERM $RUN 2>/dev/null || true
RUN_RC=0; wait $RUN || RUN_RC=$?

count() { grep -c -- "$1" "$2" 2>/dev/null || true; }
{
  echo "# Soak $(date -u +%Y-%m-%d), binary built $(stat -c %y "$BIN" | cut -c1-19) (latest src/ commit then: $BUILT), HEAD at the end $(git rev-parse --short HEAD)"
  echo
  echo "\`SOAK_SECONDS=$SOAK_SECONDS DISTURB_EVERY=$DISTURB_EVERY RSS_EVERY=$RSS_EVERY bash bench/soak.sh\`, AOT binary, $(nproc) cores."
  echo "Load generator exit code $LOAD_RC (0 = nothing lost, no errors); \`mcp-tunnel run\` alive at the end: $ALIVE;"
  echo "exit code after SIGTERM: $RUN_RC."
  echo
  cat "$W/load.md"
  echo
  echo "Disturbances (events.log) and what the service logged (run.log):"
  echo
  echo "| event | done | logged |"
  echo "|---|---|---|"
  echo "| new server certificate (\`cert renew\`) | $(count cert-renew "$W/events.log") | $(count 'certificate reloaded' "$W/run.log") \`certificate reloaded\` |"
  echo "| SIGHUP | $(count sighup "$W/events.log") | $(count 'configuration reloaded' "$W/run.log") \`configuration reloaded\` |"
  echo "| cloudflared killed | $(count cloudflared-killed "$W/events.log") | $(count 'cloudflared exited' "$W/run.log") \`cloudflared exited\` |"
  echo "| tunnel token rotated | $(count token-rotated "$W/events.log") | $(count 'tunnel token changed' "$W/run.log") \`tunnel token changed\` |"
  echo "| cloudflared ready | | $(count 'cloudflared ready' "$W/run.log") |"
  echo
  echo "ERROR lines in run.log: $(count 'level=ERROR' "$W/run.log"); WARN lines: $(count 'level=WARN' "$W/run.log")."
} > "$W/summary.md"
cat "$W/summary.md"
