#!/usr/bin/env bash
# The encoder kind's rows (frozen Whisper-base, the kind's defaults): ensembles of
# 3 on the three protocols, speaker normalisation (reported apart), and the layer ablation.
#   bash benchmarks/encoder_table.sh [OUT_DIR]      (about 40 minutes on 2 CPU cores)
set -euo pipefail
D=${DATA:-../shared/datasets/ravdess}
O=${1:-runs/encoder}
cv() { emovox cv --model encoder --data "$D" "$@"; }
cv --protocol speaker --labels 8 --ensemble 3 --out "$O/speaker-8"
cv --protocol speaker --labels 7 --ensemble 3 --out "$O/speaker-7"
cv --protocol random --labels 7 --ensemble 3 --out "$O/random-7"
# speaker normalisation: each test speaker standardised with 10 of their own unlabelled clips
cv --protocol speaker --labels 8 --ensemble 3 --set speaker_norm=10 --out "$O/speaker-8-norm10"
cv --protocol speaker --labels 7 --ensemble 3 --set speaker_norm=10 --out "$O/speaker-7-norm10"
# which hidden states to pool (single models, speaker 6-fold, 8 classes)
for L in "[3]" "[6]" "[2,3]" "[2,3,4,5]" "[0,1,2,3,4,5,6]"; do
  cv --protocol speaker --labels 8 --set "encoder_layers=$L" --out "$O/layers-${L//[\[\],]/}"
done
