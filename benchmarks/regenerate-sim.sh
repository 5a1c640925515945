#!/usr/bin/env bash
# Regenerates every committed simulated result under benchmarks/results from today's code (about 10 minutes on
# 2 cores). The live results (*-live) come from gorgo bench; benchmarks/README.md gives their commands.
# A test (CommittedResultsTests) re-simulates smoke, paper-3region and paper-setup and fails when their results are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build src/Gorgo.Cli -c Release -v quiet -nologo
gorgo() { dotnet run --project src/Gorgo.Cli -c Release --no-build -- "$@"; }
fresh() { rm -rf "benchmarks/results/$1"; echo "benchmarks/results/$1"; }

gorgo sim --scenario benchmarks/scenarios/smoke.json --out "$(fresh smoke-sim)"
gorgo sim --scenario benchmarks/scenarios/paper-3region.json --out "$(fresh paper-3region-sim)"
gorgo sim --scenario benchmarks/scenarios/paper-setup.json --out "$(fresh paper-setup-sim)"
gorgo sim --scenario benchmarks/scenarios/faults-3region.json --out "$(fresh faults-3region-sim)"
gorgo sim --scenario benchmarks/scenarios/kv-views.json --out "$(fresh kv-views-sim)"
gorgo sim --scenario benchmarks/scenarios/aws-6region.json --out "$(fresh aws-6region-sim)"
gorgo sim --scenario benchmarks/scenarios/calibration.json --out "$(fresh calibration-sim)"
gorgo sim --scenario benchmarks/scenarios/calibration-degraded.json --out "$(fresh calibration-degraded-sim)"
gorgo sim --scenario benchmarks/scenarios/calibration.json --out "$(fresh calibration-seeds)" --sweep seed=1,2,3,4
gorgo sim --scenario benchmarks/scenarios/calibration-degraded.json --out "$(fresh calibration-degraded-seeds)" --sweep seed=1,2,3,4
gorgo sim --scenario benchmarks/scenarios/burst.json --out "$(fresh burst-sim)"
gorgo sim --scenario benchmarks/scenarios/paper-3region.json --out "$(fresh paper-3region-load-sweep)" \
    --sweep trace.rateMultiplier=0.5,0.75,1,1.25,1.5
gorgo sim --scenario benchmarks/scenarios/paper-3region.json --out "$(fresh paper-3region-budget-sweep)" \
    --run mesh-gorgo --run mesh-gorgo-sync --run mesh-gorgo-no-relay --run mesh-gorgo-sync-no-relay \
    --sweep gossip.digestBudgetBytes=65536,262144,1048576
gorgo sim --scenario benchmarks/scenarios/paper-3region.json --out "$(fresh paper-3region-sweep)" \
    --sweep gossip.intervalMs=50,200,1000,5000
gorgo sim --scenario benchmarks/scenarios/paper-3region-mismatch.json --out "$(fresh paper-3region-mismatch-sim)"
gorgo sim --scenario benchmarks/scenarios/paper-3region-mismatch.json --out "$(fresh paper-3region-mismatch-seeds)" \
    --sweep seed=1,2,3,4
gorgo sim --scenario benchmarks/scenarios/paper-3region.json --out "$(fresh paper-3region-seeds)" \
    --run mesh-gorgo --run mesh-gorgo-no-relay --run mesh-gorgo-sync --run mesh-gorgo-sync-no-relay \
    --run mesh-least-load-local-first --run proxy-gorgo \
    --sweep seed=1,2,3,4,5,6,7,8
gorgo sim --scenario benchmarks/scenarios/scale-100x10.json --out "$(fresh scale-100x10-sim)"
gorgo sim --scenario benchmarks/scenarios/scale-100x10-consistency.json --out "$(fresh scale-100x10-consistency-sim)"
gorgo sim --scenario benchmarks/scenarios/scale-100x10-lite.json --out "$(fresh scale-100x10-lite-budget)" \
    --run mesh-gorgo --run mesh-gorgo-shared --sweep gossip.digestBudgetBytes=4096,6144,8192
