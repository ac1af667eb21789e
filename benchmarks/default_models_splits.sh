# Sourced by train_default_models.sh and evaluate_default_models.sh: the work folder and the miRBase 22.1 splits of
# the shipped models (families >= 10 members, random 70/10/20 per family, seed 7), built there if missing.
# Expects HERE (the benchmarks folder) and the script's first argument (WORKDIR) as $1.
REPO=$(dirname "$HERE")
DATA=${DEEPMIR_DATA:-$REPO/../shared/data}
WORK=${1:-$HERE/results/default-models}
M22=$DATA/mirbase-22.1/derived
PY=${PYTHON:-python3}
# Real genomes without miRNA genes (genomic background of the scan threshold and the scan benchmark):
# apt-get install bowtie-examples bowtie2-examples
ECOLI_GENOME=${ECOLI_GENOME:-/usr/share/doc/bowtie/examples/genomes/NC_008253.fna.gz}
LAMBDA_GENOME=${LAMBDA_GENOME:-/usr/share/doc/bowtie2/examples/reference/lambda_virus.fa.gz}
mkdir -p "$WORK"
cd "$WORK"
common=(--hairpins "$M22/hairpin.fa" --families "$M22/miFam.dat" --min-members 10 --split random
        --test-fraction 0.2 --val-fraction 0.1 --seed 7)
[ -f hairpin-split/test.fa ] || deepmir-dataset mirbase "${common[@]}" -O hairpin-split
# The hairpin model's reference (deepmir-calibrate --reference): every family with a unique hairpin, one held-out
# member of each family of 2-9 hairpins and the test split left out (benchmarks/families/make_reference.py)
[ -f all2-split/test.fa ] || deepmir-dataset mirbase --hairpins "$M22/hairpin.fa" --families "$M22/miFam.dat" \
    --min-members 2 --split random --test-per-family 1 --seed 7 -O all2-split
[ -f reference/reference.fa ] || "$PY" "$HERE/families/make_reference.py" all2-split hairpin-split reference
[ -f mature-split/test.fa ] || deepmir-dataset mirbase "${common[@]}" --matures "$M22/mature.fa" --kind mature -O mature-split
# The hairpin model trains with these classes as background (outlier exposure): non-miRNA Rfam RNAs and the split's
# family-less miRBase hairpins (no_family: make_negatives.py --no-family drops those >= 80% identical to a training
# or unseen-family hairpin); its calibration and held-out figures use the other classes only, so that no figure is
# measured on a class the model was shown.
HAIRPIN_BACKGROUND=rRNA_5S,riboswitch,intron_gpII,no_family
HAIRPIN_OOD=snoRNA_CD,tRNA,tRNA_GtRNAdb,unseen_family
