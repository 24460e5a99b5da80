#!/usr/bin/env bash
# Every CUDA number of the project, in one run on one GPU (about 7.5 minutes on one H100).
#
#   bash bench/gpu.sh [RESULTS_DIR]          # default bench/results/gpu
#   DEVICE=cpu QUICK=1 bash bench/gpu.sh /tmp/gpu-dry   # the same steps, tiny, on the CPU
#
# Steps, each under its own time limit so that one that hangs cannot take the rest with it,
# each writing <step>.txt (and .json where it has numbers) into RESULTS_DIR:
#   environment  GPU model, driver, torch, CUDA, cuDNN, CPU cores
#   tests        the CUDA tests (tests/runners/test_cuda.py)
#   throughput   bench/train_throughput.py: plain loop vs eager vs CUDA-graph trainer,
#                ResNet-20 with none/SE/ECA/GC/CA/CBAM at batch 128 and 512
#   latency      bench/latency_repeatability.py: CUDA-event latency, two passes, batch 1
#   jobs         bench/search_jobs.py: trials/hour of the default space for --jobs 1, 2, 4, 8
#   search       the default search (attention.yaml) with --jobs auto: wall time, run.log
#   multifidelity  bench/multifidelity.py --proxy large (issue #15's comparison at the scale
#                where a cheap rung ranks), 8 processes on the GPU; only when STEPS names it:
#                  STEPS=multifidelity bash bench/gpu.sh
#                MF_PROXY=clutter-cheap (cluttered images, where the architecture matters; the
#                one proxy where rungs lean ahead on the CPU) and MF_BUDGET=20 (so that TPE
#                models the space in every search) choose another
#                its training cache stays in RESULTS_DIR, so a run cut off by its limit
#                goes on where it stopped when run again
#   longtruth    bench/long_truth.py --device cuda: issue 30's long-training truth (12
#                architectures x 2 seeds, 10 epochs on 45,000 images); only when STEPS names it
#                (STEPS=longtruth); cached per training in RESULTS_DIR, so a cut-off run goes on;
#                copy long_truth*.json to bench/results/ to use it
#   fulltraining bench/full_training.py --device cuda: issue 32's lever table (plain ResNet-20,
#                30 epochs, default / random erasing x last / averaged weights x TTA, 2 seeds,
#                held-out split of the training files) and the target (runners.train's defaults,
#                test set, plain backbone and the search step's best.yaml, 2 seeds); only when
#                STEPS names it (STEPS="search fulltraining"); cached per training and resumable
#                per epoch in RESULTS_DIR; copy full_training*.json to bench/results/
#   finetunefolder bench/finetune_folder.py --device cuda: issue 33's user path at 96 px (a
#                ResNet-18 with the ImageNet stem trained on classes 0-4, classes 5-9 as a folder
#                of PNG files, spaces/finetune.yaml's search under a 6-minute budget, then
#                runners.train on the folders, 2 seeds); only when STEPS names it
#                (STEPS=finetunefolder); writes finetune_folder.json
# steps.txt lists each step's exit code and seconds.
set -u
cd "$(dirname "$0")/.."
R=${1:-bench/results/gpu}
DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-tests throughput latency jobs search}
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
mkdir -p "$R"
: > "$R/steps.txt"

step() {  # step NAME LIMIT_S COMMAND...: runs when STEPS names it
    local name=$1 limit=$2
    case " $STEPS " in *" $name "*) ;; *) return 0 ;; esac
    shift 2
    local t0=$SECONDS
    echo "== $name (limit ${limit} s)"
    timeout -k 10 "$limit" "$@" > "$R/$name.txt" 2>&1
    local rc=$?
    echo "$name rc=$rc $((SECONDS - t0)) s" | tee -a "$R/steps.txt"
    tail -n 30 "$R/$name.txt"
}

if [ -n "${QUICK:-}" ]; then
    MODULES=none,se BATCHES=64 REPEATS=1 JOBS=1,2 NTRIALS=3 SEARCH_TRIALS=(--n-trials 3 --time-budget 90)
    SIZES=(--train-images 500 --epochs 1)
    MF=(--proxy tiny --seeds 2 --budget 3 --jobs 2)
else
    MODULES=none,se,eca,gc,ca,cbam BATCHES=128,512 REPEATS=2 JOBS=1,2,4,8 NTRIALS=16 SEARCH_TRIALS=()
    SIZES=()
    MF=(--proxy "${MF_PROXY:-large}" --seeds 5 --budget "${MF_BUDGET:-10}" --jobs 8)
fi

{
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
    $PY -c "import torch; print('torch', torch.__version__, '| CUDA', torch.version.cuda, '| cuDNN',
torch.backends.cudnn.version(), '|', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')"
    echo "CPU cores: $(nproc)"
} > "$R/environment.txt" 2>&1
cat "$R/environment.txt"

step tests 110 $PY -m pytest -q -p no:cacheprovider tests/runners/test_cuda.py
step throughput 150 $PY -m bench.train_throughput --device "$DEVICE" --batch-sizes $BATCHES \
    --modules $MODULES --repeats $REPEATS "${SIZES[@]}" --json "$R/throughput.json"
step latency 45 $PY -m bench.latency_repeatability --device "$DEVICE" --json "$R/latency.json"
step jobs 200 $PY -m bench.search_jobs --device "$DEVICE" --jobs $JOBS --n-trials $NTRIALS \
    --json "$R/jobs.json"
rm -rf /tmp/attnas-gpu-search
step search 130 $PY -m search.run --space attention.yaml --device "$DEVICE" --jobs auto --quiet \
    --out /tmp/attnas-gpu-search "${SEARCH_TRIALS[@]}"
cp /tmp/attnas-gpu-search/run.log "$R/search_run.log" 2>/dev/null
step multifidelity 420 $PY -m bench.multifidelity --device "$DEVICE" "${MF[@]}" \
    --json "$R/multifidelity.json" --cache "$R/multifidelity_cache.json"
step longtruth 560 $PY -m bench.long_truth --device "$DEVICE" --out-dir "$R"
BEST=(); [ -f /tmp/attnas-gpu-search/best.yaml ] && BEST=(--arch /tmp/attnas-gpu-search/best.yaml)
FT=(); [ -n "${QUICK:-}" ] && FT=(--epochs 0.02 --seeds 2)
step fulltraining 560 $PY -m bench.full_training --device "$DEVICE" --out-dir "$R" "${FT[@]}" "${BEST[@]}"
FF=(); [ -n "${QUICK:-}" ] && FF=(--smoke --device "$DEVICE")
step finetunefolder 560 $PY -m bench.finetune_folder --device "$DEVICE" --out-dir "$R/finetune_folder" "${FF[@]}"
echo "== done"; cat "$R/steps.txt"
