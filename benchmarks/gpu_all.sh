#!/usr/bin/env bash
# Everything README's GPU tables need, in one command on a GPU machine, most important first:
#
#     bash benchmarks/gpu_all.sh [OUT_DIR] [SECONDS]      # OUT_DIR defaults to benchmarks/results
#
# 1. benchmarks/gpu_speedups.py: what each speed-up gains on the pipeline's model;
# 2. benchmarks/run.py --save: the pipeline comparison and every chapter in full mode, each in a fresh kernel;
# 3. benchmarks/cuda_checks.py: seeded reruns on the GPU, and GPU against CPU;
# 4. the reference runs, as long as the time allows (SECONDS in all, default 570): their results are saved as
#    <name>_gpu.json beside the CPU ones, so README's quality table keeps quoting the CPU runs.
# Each step has its own time limit and the script goes on when one fails, so a cut-short run still leaves what it
# measured. The machine needs what README's requirements name for running chapters (ipykernel, nbclient, jupytext,
# ipywidgets, bm3d); where it has no package registry, carry them as wheels, e.g. for Python 3.12:
#   pip download -d .whl --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     ipykernel nbclient jupytext ipywidgets bm3d
# then delete the wheels the machine already has (numpy, scipy, pyyaml, ...) and install the rest there with
#   pip install --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
# Back on the development machine, copy OUT_DIR's JSON files into benchmarks/results and run
# `python benchmarks/run.py --from-build --write-readme` to render them.
set -u
out=${1:-benchmarks/results}
deadline=$((SECONDS + ${2:-570}))
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

# step LIMIT COMMAND...: run COMMAND for at most LIMIT seconds, or for what is left of the whole budget if less
step() {
  local limit=$1 left=$((deadline - SECONDS)); shift
  if ((left < 20)); then echo "== skipped (out of time): $*"; return; fi
  ((limit > left)) && limit=$left
  echo "== $(date +%T) at most ${limit} s: $*"
  local start=$SECONDS
  timeout "$limit" "$@"
  echo "== exit $? after $((SECONDS - start)) s"
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null
python3 -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__)"
step 150 python3 benchmarks/gpu_speedups.py --json "$out/gpu_speedups.json"
step 300 python3 benchmarks/run.py --save "$out/gpu.json"
step 60 python3 benchmarks/cuda_checks.py --json "$out/cuda_checks.json"
step 100 python3 benchmarks/ae30_reference.py --json "$out/ae30_reference_gpu.json"
step 150 python3 benchmarks/anomaly_reference.py --json "$out/anomaly_reference_gpu.json"
step 200 python3 benchmarks/vae_reference.py --epochs 20 --ks 1 100 1000 5000 --test-images 1000 \
  --json "$out/vae_reference_gpu.json"
