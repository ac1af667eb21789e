#!/usr/bin/env bash
# Rebuilds the shipped default models deepmir_tools/models/{hairpin,mature}.npz from ../shared/data, bit for bit
# on the same machine type (x86-64 CPU, same TensorFlow version; seeded, op determinism on).
#   bash benchmarks/train_default_models.sh [WORKDIR]        # default WORKDIR: benchmarks/results/default-models
#   CALIBRATE_ONLY=1 MODELS=hairpin bash benchmarks/train_default_models.sh WORKDIR  # reuse hairpin-uncalibrated.npz
#   CALIBRATE_ONLY=1 MODELS=mature bash benchmarks/train_default_models.sh WORKDIR  # reuse read-model/*-uncalibrated.npz
#   MODELS=hairpin bash benchmarks/train_default_models.sh WORKDIR   # one model only (or MODELS=mature)
# Needs deepmir-tools installed (the README's install command). Takes about 30-40 minutes on 2 CPU cores.
# The mature (read) model: benchmarks/train_read_model.sh, called from here.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=default_models_splits.sh
source "$HERE/default_models_splits.sh"

train() {  # name split description epochs patience [extra deepmir-train arguments]
    deepmir-train "$2/train.fa" --validation "$2/val.fa" --test "$2/test.fa" --name "$1" --description "$3" \
        --epochs "$4" --patience "$5" --seed 7 --threads 2 --float16-weights \
        --log "$1-log.tsv" --curve "$1-curve.png" -o "$1-uncalibrated.npz" "${@:6}"
}
# Background for the hairpin model: every rRNA_5S, riboswitch and group II intron record (those <= 200 nt train) and
# the family-less hairpins kept by the identity filter
"$PY" "$HERE/make_negatives.py" --classes "$HAIRPIN_BACKGROUND" --no-family hairpin-split --per-class 100000 \
    --out background-hairpin >/dev/null
background=()
for class in ${HAIRPIN_BACKGROUND//,/ }; do background+=(--background "background-hairpin/$class.fa"); done
if [ "${CALIBRATE_ONLY:-0}" != 1 ] && [[ " ${MODELS:-hairpin mature} " == *" hairpin "* ]]; then
time train hairpin hairpin-split "miRBase 22.1 hairpins, families >= 10 members, random split seed 7; background: \
$HAIRPIN_BACKGROUND (Rfam; family-less miRBase hairpins)" 40 4 "${background[@]}"
fi

# Calibration: held-out validation members vs real non-miRNA ncRNAs and left-out families, at FPR 0.05, on the max
# softmax at the temperature that separated them best on the validation set (benchmarks/open_set_scores.py): the
# background-trained hairpin model T = 1 (0.9977; T = 0.5 0.9976, T = 2 0.9977; without background T = 2 had been
# best). Held-out figures: benchmarks/evaluate_default_models.sh.
if [[ " ${MODELS:-hairpin mature} " == *" hairpin "* ]]; then
hairpin_ood=$("$PY" "$HERE/make_negatives.py" --ood-fasta hairpin-split/ood.fa --out negatives-hairpin --classes "$HAIRPIN_OOD")
# shellcheck disable=SC2086  # the --ood arguments are meant to split
# The scan threshold (deepmir-scan): on the two real genomes without miRNA genes, at most 0.1 false loci per Mb
# (i.e. none on their 4.99 Mb); Debian packages bowtie-examples and bowtie2-examples.
deepmir-calibrate -m hairpin-uncalibrated.npz --in-dist hairpin-split/val.fa $hairpin_ood -o hairpin.npz --temperature 1 \
    --reference reference/reference.fa --roc hairpin-roc.tsv --metrics hairpin-metrics.tsv --report hairpin-report.html \
    --genomic-background "$ECOLI_GENOME" --genomic-background "$LAMBDA_GENOME" --false-loci-per-mb 0.1 --threads 2
cp hairpin.npz "$REPO/deepmir_tools/models/"
sha256sum hairpin.npz
fi
# The mature model is a read model with its own recipe (trained and calibrated there; ~15 minutes).
if [[ " ${MODELS:-hairpin mature} " == *" mature "* ]]; then
bash "$HERE/train_read_model.sh" read-model  # the current folder is WORK
cp read-model/mature.npz "$REPO/deepmir_tools/models/"
sha256sum read-model/mature.npz
fi
