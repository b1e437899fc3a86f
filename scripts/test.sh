#!/usr/bin/env bash
# The test command (README): publish the Native AOT binary with zero warnings, run every test project,
# and print one summary line "N passed, N failed, N skipped" summed over all of them.
# It installs nothing the .NET SDK does not already bring; later stages add what they need here.
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

echo "== tests"
set +e
dotnet test Appliance.sln -c Release --no-restore --logger "trx" --logger "console;verbosity=normal" --results-directory "$results"
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
