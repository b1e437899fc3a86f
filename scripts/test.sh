#!/usr/bin/env bash
# The test command (README): publish the Native AOT binary with zero warnings, run every test project,
# and print one summary line "N passed, N failed, N skipped" summed over all of them.
# The package system tests need root, Docker and Debian tools: scripts/system-env.sh installs and starts them
# (and builds the Debian 12 systemd image once). MCP_TUNNEL_SYSTEM_TESTS=0 skips that part (reported as skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

mkdir -p artifacts
results=artifacts/test-results
rm -rf "$results"

echo "== restore"
dotnet restore Appliance.sln

echo "== publish the AOT binary (artifacts/bin/mcp-tunnel); any warning fails the build"
dotnet publish src/McpTunnel/McpTunnel.csproj -c Release -r linux-x64 -o artifacts/bin --no-restore 2>&1 | tee artifacts/publish.log
if grep -E ": warning [A-Z]+[0-9]+" artifacts/publish.log >/dev/null; then
  echo "the AOT publish printed warnings (see above); warnings are errors here" >&2
  exit 1
fi

echo "== publish the cloudflared stand-in (artifacts/standin; package tests bundle it, clearly marked)"
dotnet publish tests/FakeCloudflared/FakeCloudflared.csproj -c Release -r linux-x64 -o artifacts/standin --no-restore 2>&1 | tee artifacts/publish-standin.log
if grep -E ": warning [A-Z]+[0-9]+" artifacts/publish-standin.log >/dev/null; then
  echo "the stand-in's AOT publish printed warnings (see above)" >&2
  exit 1
fi

if [ "${MCP_TUNNEL_SYSTEM_TESTS:-1}" != "0" ]; then
  echo "== system-test environment (docker, debootstrap image, lintian, rpm)"
  image=$(bash scripts/system-env.sh | sed -n 's/^image=//p')
  export MCP_TUNNEL_SYSTEM_IMAGE=$image TESTCONTAINERS_RYUK_DISABLED=true
fi

echo "== tests"
set +e
# -m:1: one test project at a time; the package tests (builds, lintian, containers) would otherwise steal the
# CPU from the gateway tests on a 2-core machine.
dotnet test Appliance.sln -c Release --no-restore -m:1 --logger "trx" --logger "console;verbosity=normal" --results-directory "$results"
test_status=$?
set -e

passed=0; failed=0; skipped=0
shopt -s nullglob
for trx in "$results"/*.trx; do
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  value() { sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p" <<<"$counters"; }
  passed=$((passed + $(value passed)))
  failed=$((failed + $(value failed) + $(value error) + $(value timeout) + $(value aborted)))
  skipped=$((skipped + $(value notExecuted)))
done

echo "$passed passed, $failed failed, $skipped skipped"
if [ "$test_status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
  exit 1
fi
