#!/usr/bin/env bash
# Held-out evaluation of the shipped hairpin model (project issue 3, item 3): on its split's test.fa (never
# seen in training or calibration) against negatives disjoint from the calibration ones (make_negatives.py --part 2:
# the next block of the same seeded shuffle), at the model's own threshold and temperature.
# The shipped mature model is a read model trained on the split's test matures too: its held-out figures are the read
# benchmark's (benchmarks/reads/run_reads.py, a held-out species included) and, for its recipe on unseen matures,
# TRAIN_SETS=train bash benchmarks/train_read_model.sh DIR (accuracy on the split's test.fa).
#   bash benchmarks/evaluate_default_models.sh [WORKDIR]     # default WORKDIR: benchmarks/results/default-models
# Writes WORKDIR/hairpin-heldout-{metrics.tsv,roc.tsv,report.html} and prints a summary. ~1 minute on 2 cores.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=default_models_splits.sh
source "$HERE/default_models_splits.sh"

for kind in hairpin; do
    ood=$("$PY" "$HERE/make_negatives.py" --ood-fasta "$kind-split/ood.fa" --out "negatives-$kind-heldout" --part 2 \
        --classes "$HAIRPIN_OOD")  # not its background classes
    threshold=$("$PY" -c "from deepmir_tools.bundle import load_bundle; print(repr(load_bundle('$kind').decision.threshold))")
    # shellcheck disable=SC2086  # the --ood arguments are meant to split
    deepmir-calibrate -m "$kind" --in-dist "$kind-split/test.fa" $ood --method fixed --threshold "$threshold" \
        -o "$kind-heldout.npz" --metrics "$kind-heldout-metrics.tsv" --roc "$kind-heldout-roc.tsv" \
        --report "$kind-heldout-report.html" --threads 2 -q
    "$PY" - "$kind" "$kind-heldout-metrics.tsv" <<'PY'
import csv, sys
v = {(r["scope"], r["name"], r["metric"]): r["value"] for r in csv.DictReader(open(sys.argv[2]), delimiter="\t")}
get = lambda *key: float(v[key])
classes = sorted({k[1] for k in v if k[0] == "ood"})
print(f"{sys.argv[1]}: held-out accuracy {get('overall', 'in-distribution', 'accuracy'):.4f}, macro F1 "
      f"{get('overall', 'in-distribution', 'macro_f1'):.4f} (n={int(get('overall', 'in-distribution', 'n'))}); at its "
      f"threshold {get('overall', 'threshold', 'softmax'):.4g} (T={v['overall', 'threshold', 'temperature']}): TPR "
      f"{get('overall', 'threshold', 'tpr'):.3f}, FPR {get('overall', 'threshold', 'fpr'):.3f}; AUROC pooled "
      f"{get('overall', 'pooled-ood/softmax', 'auroc'):.4f}, "
      + ", ".join(f"{c} {get('ood', c, 'auroc_softmax'):.4f} (n={int(get('ood', c, 'n'))})" for c in classes))
PY
done
