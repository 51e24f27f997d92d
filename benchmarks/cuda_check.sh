#!/usr/bin/env bash
# The CUDA paths on a GPU machine, in one pass (CI has no GPU): the CUDA-only tests (they skip
# elsewhere), features on the GPU against librosa, a CNN-LSTM fold with fp16 autocast + gradient
# scaling and without, Whisper tiny.en encoding and top-layer fine-tuning on the GPU.
#
#   DATA=../shared/datasets/ravdess bash benchmarks/cuda_check.sh OUT_DIR
#
# Each step has its own time limit and the script goes on after a failure; figures go to stdout
# and OUT_DIR (runs' metrics.json and log.csv).
set -u
DATA=${DATA:-../shared/datasets/ravdess}
OUT=${1:-cuda-check}
mkdir -p "$OUT"
step() { echo "== $1 ($(date +%T))"; }

step gpu
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"

step tests
timeout 180 python -m pytest -q -p no:cacheprovider -rs tests/features/test_handcrafted.py \
  tests/train tests/models 2>&1 | tail -15

step features
timeout 60 python benchmarks/features.py --data "$DATA" --n 200 --device cuda --batch-size 64 \
  | tail -1

step encode
timeout 40 python benchmarks/encode.py --data "$DATA" --encoder whisper-tiny --device cuda

for amp in auto off; do
  step "cnn_lstm amp=$amp"
  timeout 90 emovox train --model cnn_lstm --data "$DATA" --protocol speaker \
    --fold 1 --labels 8 --device cuda --set amp="\"$amp\"" --set epochs=20 --set variants=0 \
    --out "$OUT/cnn-$amp" 2>&1 | tail -3
done

step "encoder fine-tune (whisper-tiny, top 2 layers)"
timeout 90 emovox train --config configs/encoder_finetune.yaml --data "$DATA" --protocol speaker \
  --fold 1 --labels 8 --device cuda --set encoder='"whisper-tiny"' --set encoder_layers='[2,3,4]' \
  --out "$OUT/encoder-ft" 2>&1 | tail -3
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
for run in sorted(Path(sys.argv[1]).iterdir()):
    m = run / "metrics.json"
    if m.exists():
        d = json.loads(m.read_text())
        log = (run / "log.csv").read_text().splitlines()
        secs = [float(r.split(",")[-1]) for r in log[1:]]
        print(run.name, "accuracy", round(d["accuracy"], 4), "train_seconds", d["train_seconds"],
              "epochs", len(secs), "median_epoch_s", sorted(secs)[len(secs) // 2])
PY
step done
