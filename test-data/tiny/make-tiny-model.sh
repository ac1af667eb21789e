#!/usr/bin/env bash
# Rebuilds test-data/tiny-model.npz, the small model used by the unit and Galaxy tests.
# Data: test-data/tiny/train.fa and test.fa, the first 40 (train) and 8 (test) hairpins of five miRBase 22.1
# families (mir-10 MIPF0000033, let-7 MIPF0000002, MIR156 MIPF0000008, mir-17 MIPF0000001, mir-9 MIPF0000014)
# taken in file order from the split `deepmir-dataset mirbase --hairpins ../shared/data/mirbase-22.1/derived/hairpin.fa
# --families .../miFam.dat --min-members 10 --test-fraction 0.2 --val-fraction 0.1 --seed 7`.
set -euo pipefail
cd "$(dirname "$0")/../.."
deepmir-train test-data/tiny/train.fa --val-fraction 0.1 --test test-data/tiny/test.fa \
    --filters 32 --dense 64 --dropout 0.3 --learning-rate 0.005 --epochs 25 --patience 0 --seed 7 \
    --name tiny --description "test model: 5 miRBase 22.1 families, 40 hairpins each" -o test-data/tiny-model.npz
