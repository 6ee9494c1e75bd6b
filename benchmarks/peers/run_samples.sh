#!/usr/bin/env bash
# Regenerate benchmarks/peers/results-sample/: every task at smoke size, or the full runs.
#
#   bash benchmarks/peers/run_samples.sh smoke          # seconds per task
#   bash benchmarks/peers/run_samples.sh full [TASK..]  # minutes per task (2 cores: run alone)
#
# Needs the venvs from benchmarks/setup_peers.sh. One JSON file per peer and task:
# results-sample/{sr,synapto}-TASK[-smoke].json; the exact command is in results-sample/COMMANDS.txt.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BENCH="$(cd "$HERE/.." && pwd)"
OUT="$HERE/results-sample"
mkdir -p "$OUT"
SR="$BENCH/.venv-semantic-router/bin/python"
SY="$BENCH/.venv-synaptoroute/bin/python"
export LITELLM_LOCAL_MODEL_COST_MAP=True
MODE="${1:-smoke}"; shift || true
ONLY=" ${*:-} "

# The machine is shared: before each task wait (up to LOAD_WAIT_S) for the 1-minute load
# average to drop below LOAD_MAX. Results record loadavg_start/loadavg_end either way.
LOAD_MAX="${LOAD_MAX:-2.5}"
LOAD_WAIT_S="${LOAD_WAIT_S:-120}"
wait_for_quiet() {
    [ "$MODE" = full ] || return 0
    local waited=0
    while awk -v m="$LOAD_MAX" '{exit !($1 >= m)}' /proc/loadavg && [ "$waited" -lt "$LOAD_WAIT_S" ]; do
        sleep 5; waited=$((waited + 5))
    done
    echo "[run_samples] loadavg $(cut -d' ' -f1-3 /proc/loadavg) after waiting ${waited}s" >&2
}

run() {  # peer-tag python script task json-args suffix
    local tag="$1" py="$2" script="$3" task="$4" args="$5" suffix="$6"
    if [ "$ONLY" != "  " ] && [[ "$ONLY" != *" $task "* ]] && [[ "$ONLY" != *" $tag-$task "* ]]; then return; fi
    local file="$OUT/$tag-$task$suffix.json"
    wait_for_quiet
    local venv; venv="$(basename "$(dirname "$(dirname "$py")")")"
    local cmd="benchmarks/$venv/bin/python benchmarks/peers/$script $task --json-args '$args'"
    echo "[run_samples] $tag: $cmd" >&2
    "$py" "$HERE/$script" "$task" --json-args "$args" > "$file.tmp" 2> "${TMPDIR:-/tmp}/peer-bench-$tag-$task$suffix.stderr"
    local rc=$?
    if [ -s "$file.tmp" ]; then mv "$file.tmp" "$file"; else rm -f "$file.tmp"; fi
    echo "$(date -u +%FT%TZ) rc=$rc $tag-$task$suffix.json: $cmd" >> "$OUT/COMMANDS.txt"
    [ $rc -eq 0 ] || { echo "[run_samples] FAILED rc=$rc, stderr tail:" >&2; tail -5 "${TMPDIR:-/tmp}/peer-bench-$tag-$task$suffix.stderr" >&2; }
}

if [ "$MODE" = smoke ]; then
    S='"per_intent": 5'
    for pair in "sr $SR sr_bench.py" "synapto $SY synapto_bench.py"; do
        set -- $pair
        run "$1" "$2" "$3" encoder_latency '{"n": 50}' -smoke
        run "$1" "$2" "$3" route_latency "{$S, \"n\": 50}" -smoke
        run "$1" "$2" "$3" add_cost "{$S, \"checkpoints\": [1, 100, 300], \"hot_routes\": 50, \"hot_n\": 50}" -smoke
        run "$1" "$2" "$3" concurrency "{$S, \"levels\": [1, 16, 64], \"min_turns\": 64, \"max_turns\": 256}" -smoke
        run "$1" "$2" "$3" quirks '{}' -smoke
        run "$1" "$2" "$3" sync "{$S}" -smoke
        run "$1" "$2" "$3" cold_boot '{"n_routes": 50, "per_route": 20}' -smoke
    done
    run sr "$SR" sr_bench.py accuracy "{\"per_intent\": 10, \"limit_eval\": 300, \"max_iter\": 2}" -smoke
    run synapto "$SY" synapto_bench.py accuracy "{\"per_intent\": 10, \"limit_eval\": 300}" -smoke
elif [ "$MODE" = full ]; then
    # Same task for both peers back to back, so both see similar machine load.
    run sr "$SR" sr_bench.py encoder_latency '{"n": 1000}' ""
    run synapto "$SY" synapto_bench.py encoder_latency '{"n": 1000}' ""
    run sr "$SR" sr_bench.py route_latency '{"n": 1000}' ""
    run synapto "$SY" synapto_bench.py route_latency '{"n": 1000}' ""
    run sr "$SR" sr_bench.py concurrency '{"levels": [1, 16, 64, 256]}' ""
    run synapto "$SY" synapto_bench.py concurrency '{"levels": [1, 16, 64, 256]}' ""
    run sr "$SR" sr_bench.py add_cost '{"checkpoints": [1, 100, 1000, 5000], "time_cap_s": 120}' ""
    run synapto "$SY" synapto_bench.py add_cost '{"checkpoints": [1, 100, 1000, 5000], "time_cap_s": 120}' ""
    run synapto "$SY" synapto_bench.py cold_boot '{"n_routes": 500, "per_route": 100}' ""
    run sr "$SR" sr_bench.py sync '{"location": ":memory:"}' ""
    run sr "$SR" sr_bench.py accuracy '{"max_iter": 10}' ""
    run synapto "$SY" synapto_bench.py accuracy '{"fit": false}' ""
else
    echo "usage: $0 smoke|full [TASK|PEER-TASK ...]" >&2; exit 2
fi
