#!/usr/bin/env bash
# scripts/slurm/extract.sbatch run as Slurm would run a 3-task array (SLURM_ARRAY_TASK_ID 0..2 of 3,
# SLURM_CPUS_PER_TASK) plus a second copy of task 1 at the same time (a requeued task overlapping the
# first): four concurrent `geocorr extract` processes on one cache folder, tiny DINOv2, both
# orientations of the mini AP-10K cross-species images. Each task takes its shard with the allocated
# thread count; together they leave a complete cache in which no file was computed twice; the
# generic form (SHARD_INDEX/SHARDS/THREADS, for other schedulers) runs the same command.
. "$(dirname "$0")/testlib.sh"
if [ -n "${GEOCORR_SANITIZED:-}" ]; then
    echo "SKIP under sanitizers: DINOv2 at 840x840 is slow there (the claims are covered by test_feature_cache)"
    exit 77
fi
SB="$REPO/scripts/slurm/extract.sbatch"
mkdir -p "$T/dino"
cp "$FIXTURES/dinov2_tiny.config.json" "$T/dino/config.json"
ln -s "$FIXTURES/dinov2_tiny.model.safetensors" "$T/dino/model.safetensors"
export DATASET=ap10k ROOT="$FIXTURES/minidata/data/ap-10k" SUBSET=cross-species FLIP=1 CACHE="$T/cache" \
       MODEL_FLAGS="--dinov2 $T/dino" SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=0 SLURM_CPUS_PER_TASK=1
pids=()
for k in 0 1 2 1; do
    SLURM_ARRAY_TASK_ID=$k bash "$SB" >"$T/task$k.${#pids[@]}.out" 2>&1 &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || { cat "$T"/task*.out; fail "an array task failed"; }; done
computed=0
for f in "$T"/task*.out; do
    cat "$f"
    n=$(sed -n 's/^extract: shard [0-2]\/3: [0-9]* files: \([0-9]*\) computed, 0 redone.*/\1/p' "$f")
    [ -n "$n" ] || fail "$f: no summary line"
    computed=$((computed + n))
done
for k in 0 1 2; do contains "$T/task$k.$k.out" "shard $k/3, 1 threads: "; done
contains "$T/task1.3.out" "shard 1/3, 1 threads: "
"$GEOCORR" extract --status --dataset ap10k --subset cross-species --root "$ROOT" --flip --cache "$CACHE" --shard 0/3 >"$T/status"
cat "$T/status"
total=$(sed -n 's/^all: [0-9]*\/\([0-9]*\) done (complete)$/\1/p' "$T/status")
check "the cache is complete" [ -n "$total" ]
check "every file computed once across the four tasks ($computed computed, $total files)" [ "$computed" = "$total" ]
check "no claim or temporary left" [ -z "$(find "$CACHE" -name '*.lock' -o -name '*.tmp.*')" ]
check "one model" [ "$(grep -c '^model ' "$T/status")" = 1 ]

# other schedulers: SHARD_INDEX / SHARDS / THREADS instead of Slurm's variables (shard 2 is done: skipped)
env -u SLURM_ARRAY_TASK_ID -u SLURM_ARRAY_TASK_COUNT -u SLURM_CPUS_PER_TASK SHARD_INDEX=2 SHARDS=3 THREADS=1 \
    bash "$SB" >"$T/generic.out" 2>&1 || { cat "$T/generic.out"; fail "generic run"; }
contains "$T/generic.out" "shard 2/3, 1 threads: "
check "the generic form finds its shard done" grep -Eq "^extract: shard 2/3: [0-9]+ files: 0 computed" "$T/generic.out"
rc=0
env -u SLURM_ARRAY_TASK_ID bash "$SB" >"$T/noarray.out" 2>&1 || rc=$?
check "outside an array without SHARD_INDEX: a clear error" [ $rc != 0 ]
contains "$T/noarray.out" "not an array task: set SHARD_INDEX"
echo "all slurm extract checks passed"
