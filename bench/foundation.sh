#!/usr/bin/env bash
# Footprint of the published binary: size, exec -> first /health 200 (median of 10 starts),
# RSS after 10 s idle. Usage: bench/foundation.sh [BINARY] (default out/codex-api-server).
set -euo pipefail
bin=${1:-out/codex-api-server}
[ -x "$bin" ] || { echo "build it first: dotnet publish -c Release -o out"; exit 1; }
size=$(stat -c %s "$bin")
printf 'binary size: %s bytes (%.1f MB)\n' "$size" "$(echo "$size / 1048576" | bc -l)"

data=$(mktemp -d)
"$bin" --port 0 --data-dir "$data" >/dev/null 2>&1 &   # first start creates config and database
pid=$!; sleep 1; kill -TERM $pid; wait $pid || true

times=()
for i in $(seq 1 10); do
  port=$((18700 + i))
  start=$(date +%s%N)
  "$bin" --port "$port" --data-dir "$data" >/dev/null 2>&1 &
  pid=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$port/health"; do sleep 0.002; done
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000000 )))
  kill -TERM $pid; wait $pid || true
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
echo "exec -> first /health 200, 10 starts (ms): ${times[*]}"
echo "median: $(( (sorted[4] + sorted[5]) / 2 )) ms"

"$bin" --port 18799 --data-dir "$data" >/dev/null 2>&1 &
pid=$!
until curl -fs -o /dev/null "http://127.0.0.1:18799/health"; do sleep 0.01; done
sleep 10
echo "RSS after 10 s idle: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)" \
  "(anonymous $(awk '/RssAnon/ {print $2, $3}' /proc/$pid/status), file $(awk '/RssFile/ {print $2, $3}' /proc/$pid/status))"
kill -TERM $pid; wait $pid || true
rm -rf "$data"
