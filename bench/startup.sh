#!/usr/bin/env bash
# Start-up and idle memory of gateway variants, alternated so drift on a shared machine hits every variant alike.
#   VARIANTS='name=BINARY[,VAR=value...] name2=...'   e.g. 'main=artifacts/main/mcp-tunnel size=artifacts/size/mcp-tunnel'
# Knobs: STARTS (starts per variant, default 10), CPUS (the cores the gateway may use: default 0, as in bench/run.sh;
# CPUS=0,1 lets start-up work that runs beside the main thread use the second core, as a service's would).
# For each variant it prints the binary's size, every exec-to-listening time and their median (bench/run.sh's method:
# a connect loop until the port answers), the median idle RSS 1 s after listening, and the /proc/PID/smaps split of
# the last start's idle RSS:
#   binary   pages of the binary file (code, read-only data, data)
#   bss      the anonymous mapping right after the binary (its .bss, where the AOT runtime rehydrates pointer data)
#   gc       the GC's reservation (a run of adjacent anonymous mappings of 16 GB or more)
#   brk      glibc's main malloc arena ([heap])
#   libs     every other file-backed mapping (libcrypto, libssl, libc, ...)
#   other    the remaining anonymous mappings (thread stacks, other malloc arenas)
# It also prints the CPU time the gateway has used when the port first answers (every live thread's
# /proc/PID/task/*/schedstat: on a loaded machine wall time measures the queue for a core, CPU time does not), and
# the time from exec to the "gateway listening" log line (written when start-up is complete, after the sockets
# are bound; read from the line's own timestamp, so to the millisecond).
set -euo pipefail
cd "$(dirname "$0")/.."
STARTS=${STARTS:-10}
CPUS=${CPUS:-0}
: "${VARIANTS:?set VARIANTS='name=BINARY[,VAR=value...] ...'}"
W="bench/results/startup-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$W"
W=$(cd "$W" && pwd)
DOMAIN=bench.tunnel.test
GW=18120
first_bin=$(sed 's/^[^=]*=\([^, ]*\).*/\1/' <<<"${VARIANTS%% *}")
"$first_bin" cert init --domain "$DOMAIN" --output "$W/keys" >/dev/null
cat > "$W/gateway.yaml" <<YAML
listen_addr: "127.0.0.1:$GW"
log_level: info
tunnel_domain: $DOMAIN
tls: { cert_file: $W/keys/tls.crt, key_file: $W/keys/tls.key }
routes: { echo: "http://127.0.0.1:18121" }
upstream: { allowed_ips: [127.0.0.0/8] }
YAML

# Prints "binary=KB bss=KB gc=KB brk=KB libs=KB other=KB" for a process whose executable is $2.
smaps_split() {
  python3 - "$1" "$(readlink -f "$2")" <<'PY'
import sys
pid, binary = sys.argv[1], sys.argv[2]
maps = []  # [start, end, path, rss_kb]
for line in open(f"/proc/{pid}/smaps"):
    head = line.split()
    if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
        start, end = (int(x, 16) for x in head[0].split("-"))
        maps.append([start, end, head[5] if len(head) > 5 else "", 0])
    elif head[0] == "Rss:":
        maps[-1][3] = int(head[1])
total = dict.fromkeys(["binary", "bss", "gc", "brk", "libs", "other"], 0)
run, runs = [], []
for i, (start, end, path, rss) in enumerate(maps):
    prev = maps[i - 1] if i else None
    if path == binary:
        total["binary"] += rss
    elif path == "" and prev and prev[2] == binary and prev[1] == start:
        total["bss"] += rss
    elif path == "[heap]":
        total["brk"] += rss
    elif path == "":
        # Runs of adjacent anonymous mappings: the GC reserves one huge range and commits pieces of it.
        if run and run[-1][1] == start:
            run.append(maps[i])
        else:
            run = [maps[i]]
            runs.append(run)
    else:
        total["libs"] += rss
for r in runs:
    kind = "gc" if r[-1][1] - r[0][0] >= 16 << 30 else "other"
    total[kind] += sum(m[3] for m in r)
print(" ".join(f"{k}={v}" for k, v in total.items()))
PY
}

p=
trap '[ -n "$p" ] && kill "$p" 2>/dev/null || true' EXIT
echo "# start $(date -u +%FT%TZ) loadavg $(cat /proc/loadavg) cpus $CPUS" | tee -a "$W/raw.txt"
declare -A times cpus ready rss split
for _ in $(seq 1 "$STARTS"); do
  for variant in $VARIANTS; do
    name=${variant%%=*}
    spec=${variant#*=}
    IFS=, read -r -a parts <<<"$spec"
    bin=${parts[0]}
    envs=("${parts[@]:1}")
    t0=$(date +%s%N)
    env "${envs[@]}" taskset -c "$CPUS" "$bin" gateway --config "$W/gateway.yaml" 2>"$W/start.log" & p=$!
    until (exec 3<>/dev/tcp/127.0.0.1/$GW) 2>/dev/null; do :; done
    t1=$(date +%s%N)
    # CPU time the process has run so far (every live thread's schedstat, ns): robust to load, unlike wall time.
    cpu=$(cat /proc/$p/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d", s / 1000000 }')
    for _ in $(seq 1 1000); do grep -q 'gateway listening' "$W/start.log" && break; sleep 0.01; done
    logged=$(sed -n 's/^time=\([^ ]*\) .*gateway listening.*/\1/p' "$W/start.log" | head -1)
    ready[$name]+="$(( $(date -d "$logged" +%s%3N) - t0 / 1000000 )) "
    sleep 1
    times[$name]+="$(( (t1 - t0) / 1000000 )) "
    cpus[$name]+="$cpu "
    rss[$name]+="$(awk '/VmRSS/ {print $2}' /proc/$p/status) "
    split[$name]=$(smaps_split $p "$bin")
    kill $p; wait $p 2>/dev/null || true
    p=
    cat "$W/start.log" >>"$W/gateway-$name.log"
  done
done
echo "# end $(date -u +%FT%TZ) loadavg $(cat /proc/loadavg)" | tee -a "$W/raw.txt"
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
{
  echo "| variant | binary bytes | exec to listening ms ($STARTS starts) | median ms | CPU ms to listening (median) | exec to "gateway listening" logged, ms (median) | idle RSS KB (median) | smaps split of the last start, KB |"
  echo "|---|---|---|---|---|---|---|---|"
  for variant in $VARIANTS; do
    name=${variant%%=*}
    spec=${variant#*=}
    bin=${spec%%,*}
    echo "| $name | $(stat -c %s "$bin") | ${times[$name]% } | $(median "${times[$name]}") | $(median "${cpus[$name]}") | $(median "${ready[$name]}") | $(median "${rss[$name]}") | ${split[$name]} |"
  done
} | tee "$W/results.md"
echo "raw: $W"
