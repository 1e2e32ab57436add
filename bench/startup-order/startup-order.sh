#!/usr/bin/env bash
# Regenerates build/startup-order.txt: the managed methods that start-up (to the first /health and
# 10 s idle) runs, which the native compiler then places together at the start of the code (ILC's
# --order). Without it those methods are spread over the whole 7.7 MB of managed code, and the kernel's
# fault-around maps most of it. A stale list is harmless (names it does not know are ignored; new
# start-up code just lands among the cold code); run this again when idle RSS creeps up.
# Usage: bench/startup-order/startup-order.sh [ROUNDS] (default 3; Linux 6.7+, clang, node).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
here=bench/startup-order
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
clang -O2 -shared -fPIC -o "$work/shim.so" "$here/shim.c"
: > "$work/order.txt"   # round 1: the compiler's own layout
for round in $(seq 1 "$rounds"); do
  dotnet publish -c Release -o "$work/pub" -p:IlcOrderFile="$work/order.txt" >"$work/publish.log" 2>&1 \
    || { tail -20 "$work/publish.log"; exit 1; }
  bin="$work/pub/codex-api-server"
  data="$work/data"; rm -rf "$data"; mkdir "$data"
  "$bin" --port 0 --data-dir "$data" >/dev/null 2>&1 & pid=$!   # first start: config and database
  sleep 1; kill -TERM $pid; wait $pid || true
  LD_PRELOAD="$work/shim.so" "$bin" --port 18790 --data-dir "$data" >/dev/null 2>&1 & pid=$!
  until curl -fs -o /dev/null http://127.0.0.1:18790/health; do sleep 0.01; done
  sleep 10
  node "$here/touched.mjs" $pid "$(readlink -f "$bin")" > "$work/pages.txt"
  kill -TERM $pid; wait $pid || true
  echo -n "round $round: "
  node "$here/order.mjs" "$bin.dbg" "$work/pages.txt" > "$work/order.txt"
done
cp "$work/order.txt" build/startup-order.txt
echo "wrote build/startup-order.txt ($(wc -l < build/startup-order.txt) symbols); publish again to use it"
