#!/usr/bin/env bash
# The scan benchmark's held-out-species hairpin model: the shipped hairpin model's recipe
# (benchmarks/train_default_models.sh: same split, background classes, epochs, seed, calibration) with every
# Arabidopsis thaliana ('ath-') record removed from training, validation and background, so that the Arabidopsis
# chromosome 1 loci are a species the model never saw. Families known only from ath drop out of the label set
# (no training member); families conserved in other plants stay.
#   bash benchmarks/scan/train_heldout_model.sh [WORKDIR]   # default: benchmarks/results/default-models
# Writes WORKDIR/scan-heldout-ath/hairpin.npz. About 30 minutes on 2 CPU cores (training is skipped when
# hairpin-uncalibrated.npz is there).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../default_models_splits.sh
source "$HERE/default_models_splits.sh"   # cd WORKDIR; builds hairpin-split if missing
SPECIES=${HELDOUT_SPECIES:-ath}
OUT=scan-heldout-$SPECIES
mkdir -p "$OUT"
without_species() {  # FASTA in -> FASTA out, records whose ID starts with "$SPECIES-" dropped (multi-line safe)
    awk -v prefix=">$SPECIES-" '/^>/ { keep = (index($0, prefix) != 1) } keep' "$1" > "$2"
}
without_species hairpin-split/train.fa "$OUT/train.fa"
without_species hairpin-split/val.fa "$OUT/val.fa"
without_species hairpin-split/test.fa "$OUT/test.fa"
"$PY" "$HERE/make_negatives.py" --classes "$HAIRPIN_BACKGROUND" --no-family hairpin-split --per-class 100000 \
    --out background-hairpin >/dev/null
background=()
for class in ${HAIRPIN_BACKGROUND//,/ }; do
    without_species "background-hairpin/$class.fa" "$OUT/background-$class.fa"
    background+=(--background "background-$class.fa")  # relative to $OUT, where training runs
done
cd "$OUT"
if [ ! -f hairpin-uncalibrated.npz ]; then
    deepmir-train train.fa --validation val.fa --test test.fa --name "hairpin-no-$SPECIES" \
        --description "shipped hairpin recipe without $SPECIES records (scan benchmark, held-out species)" \
        --epochs 40 --patience 4 --seed 7 --threads 2 --float16-weights --log train-log.tsv \
        -o hairpin-uncalibrated.npz "${background[@]}"
fi
hairpin_ood=$(cd .. && "$PY" "$HERE/make_negatives.py" --ood-fasta hairpin-split/ood.fa --out negatives-hairpin \
    --classes "$HAIRPIN_OOD" | sed "s#negatives-hairpin/#../negatives-hairpin/#g")
# shellcheck disable=SC2086  # the --ood arguments are meant to split
deepmir-calibrate -m hairpin-uncalibrated.npz --in-dist val.fa $hairpin_ood -o hairpin.npz --temperature 1 -q \
    --genomic-background "$ECOLI_GENOME" --genomic-background "$LAMBDA_GENOME" --false-loci-per-mb 0.1 --threads 2
sha256sum hairpin.npz
