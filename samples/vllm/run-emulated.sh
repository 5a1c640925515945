#!/usr/bin/env bash
# A rehearsal of the vLLM setup on one machine without a GPU: two emulated engines (`gorgo replica`) that publish
# their KV events on vLLM's wire format, and one mesh node (mesh.emulated.json) that reaches them over HTTP and
# ZeroMQ. Sends a few requests with a shared prefix, then prints what the node knows of each engine's cache.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

dotnet build "$root/src/Gorgo.Cli" -c Release -v quiet -nologo
gorgo="$root/src/Gorgo.Cli/bin/Release/net10.0/gorgo.dll"
for i in 1 2; do
  dotnet "$gorgo" replica --port "800$i" --model llama-3-8b --kv-events-topic kv-events \
    --kv-events-endpoint "tcp://127.0.0.1:555$((6 + i))" --kv-events-replay-endpoint "tcp://127.0.0.1:556$((6 + i))" &
  pids+=($!)
  for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:800$i/health" >/dev/null && break; sleep 0.5; done
done
dotnet "$gorgo" node --region us-east --config "$here/mesh.emulated.json" &
pids+=($!)
for _ in $(seq 1 120); do curl -sf http://127.0.0.1:8080/health >/dev/null && break; sleep 0.5; done

system="You are a support assistant for Gorgo.Mesh. $(printf 'Answer in short sentences. %.0s' $(seq 1 40))"
for i in $(seq 1 6); do
  curl -s http://127.0.0.1:8080/v1/completions -H 'Content-Type: application/json' -o /dev/null \
    -w "request $i: %{http_code}, replica %header{x-gorgo-replica}, matched %header{x-gorgo-matched-tokens} tokens\n" \
    -d "{\"model\": \"llama-3-8b\", \"prompt\": \"$system Question $i?\", \"max_tokens\": 8}"
done
sleep 1
curl -s http://127.0.0.1:8080/mesh/state | python3 -c '
import json, sys
state = json.load(sys.stdin)
print("cache views:", state["cacheViews"])
for feed in state["kvEvents"]:
    print(feed)'
