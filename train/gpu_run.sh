#!/bin/bash
# One run on a GPU machine, from the repository root after `python -m train.pack` here: fine-tune the reader
# and leave its fp16 state in 15 MiB parts under $OUT (default out/); join them with `cat` and run
# `python -m train.export` (docs/trained-reader.md). Packages missing there travel as wheels in .whl/.
# Arguments go on to `python -m train.reader` (say `--question-dropout 0.3`).
set -o pipefail
OUT=$(realpath -m "${OUT:-out}"); mkdir -p "$OUT"
if [ -d .whl ]; then python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3; fi
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
nvidia-smi -L; nproc
python3 -c "import torch, transformers, tokenizers, sklearn; print(torch.__version__, transformers.__version__, tokenizers.__version__, torch.cuda.is_available())"
python3 -c "import train.reader" || exit 4
timeout 450 python3 -m train.reader --data train/pack/pairs.jsonl.gz --out /tmp/o --max-pairs 1000000 --epochs 2 \
  --batch-size 32 --threads 8 --device cuda --base-model train/base --state-only "$@" 2>&1 | tee $OUT/train.log | grep -v "pairs/s"
tail -2 $OUT/train.log
cd /tmp/o && split -b 15M reader-state.pt $OUT/state.part- && cp reader.json $OUT/ && ls -la $OUT
