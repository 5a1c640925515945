#!/usr/bin/env bash
# Runs the three-region mesh of mesh.json as three `gorgo node` processes (us-east first: it is the primary silo of
# localhost clustering). Ctrl+C stops them all. Pass --azurite to use Azure Table clustering on a local Azurite
# instead (mesh.azurite.json; Azurite is installed from tests/azurite's pinned lock file on first use).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
config="$here/mesh.json"
pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

if [[ "${1:-}" == "--azurite" ]]; then
  config="$here/mesh.azurite.json"
  if [[ ! -x "$root/tests/azurite/node_modules/.bin/azurite-table" ]]; then
    (cd "$root/tests/azurite" && npm ci --no-audit --no-fund)
  fi
  "$root/tests/azurite/node_modules/.bin/azurite-table" --tableHost 127.0.0.1 --tablePort 10002 --inMemoryPersistence --silent &
  pids+=($!)
  sleep 2
fi

dotnet build "$root/src/Gorgo.Cli" -c Release -v quiet -nologo
gorgo="$root/src/Gorgo.Cli/bin/Release/net10.0/gorgo.dll"
for region in us-east eu-central ap-northeast; do
  dotnet "$gorgo" node --region "$region" --config "$config" &
  pids+=($!)
  url=$(python3 -c "import json,sys; print(json.load(open('$config'))['Regions']['$region']['IngressUrl'])")
  for _ in $(seq 1 120); do curl -sf "$url/health" >/dev/null && break; sleep 0.5; done
done
echo "Three nodes up: http://127.0.0.1:8080 (us-east), :8081 (eu-central), :8082 (ap-northeast). Ctrl+C to stop."
wait
