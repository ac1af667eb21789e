"""Checks of the benchmark's own code (metrics, k-mer baseline, Stockholm writer, TSV parsing).

Not part of CI (pyproject's testpaths is tests/); run with
    /work/venv/bin/pytest benchmarks/peers/test_peers.py
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import kmer_baseline  # benchmarks/peers/ (pytest puts the test's folder on sys.path)
import metrics
from datasets import PRESETS
from infernal_peer import _tblout_hits, stockholm
from peers import read_classify_tsv
from proc import PeerError, run_parallel
import report
from report import read_tsv
from run_peers import given_model, linear_fit, parse_args, write_background
from run_peers import main as run_peers_main
from seqs import read_fasta

HERE = os.path.dirname(os.path.abspath(__file__))

LABELLED = os.path.join(HERE, "..", "..", "test-data", "hairpins-hsa30-labelled.fa")


def test_auroc_matches_pairwise_definition_with_ties():
    rng = np.random.default_rng(1)
    pos, neg = np.round(rng.normal(1, 1, 200)), np.round(rng.normal(0, 1, 300))
    pairwise = np.mean(pos[:, None] > neg[None, :]) + 0.5 * np.mean(pos[:, None] == neg[None, :])
    assert metrics.auroc(pos, neg) == pytest.approx(pairwise)
    assert metrics.auroc([2, 3], [0, 1]) == 1.0
    assert np.isnan(metrics.auroc([], [1.0]))


def test_fpr_at_95_tpr_keeps_95_percent_of_positives():
    pos = np.arange(1, 21, dtype=float)  # threshold must keep 19 of 20: 2.0
    assert metrics.fpr_at_tpr(pos, [0, 1, 2, 5]) == 0.5
    assert metrics.fpr_at_tpr(pos, [0.5]) == 0.0


def test_accuracy_and_macro_f1_count_no_answer_as_wrong():
    truth, predicted = ["a", "a", "b"], ["a", "b", None]
    assert metrics.accuracy(truth, predicted) == pytest.approx(1 / 3)
    # a: tp 1, fn 1 -> 2/3; b: tp 0 -> 0
    assert metrics.macro_f1(truth, predicted) == pytest.approx(1 / 3)
    assert metrics.macro_f1(["a", "b"], ["a", "b"]) == 1.0


def test_kmer_counts_skip_ambiguous_letters():
    counts = kmer_baseline.kmer_counts("ACGUACGNACGUAC", k=6)
    # N at position 7: only the windows starting at 0 (ACGUAC), 1 (CGUACG) and 8 (ACGUAC) are N-free
    assert counts.sum() == 3
    assert counts[kmer_baseline.kmer_counts("ACGUAC", 6).argmax()] == 2
    assert kmer_baseline.kmer_counts("ACG", 6).sum() == 0
    assert np.array_equal(kmer_baseline.kmer_counts("ACGTAC", 6), kmer_baseline.kmer_counts("ACGUAC", 6))


def test_kmer_baseline_recovers_training_families(tmp_path):
    records = [r for r in read_fasta(LABELLED) if r.family]
    names, centroids = kmer_baseline.fit([r.seq for r in records], [r.family for r in records])
    best, score, second, _ = kmer_baseline.predict(names, centroids, [r.seq for r in records])
    # a training sequence is nearest to its own family's centroid for (almost) all of them
    assert np.mean([b == r.family for b, r in zip(best, records)]) >= 0.9
    assert np.all((score > 0) & (score <= 1.0 + 1e-6))
    model = tmp_path / "m.npz"
    kmer_baseline.save(str(model), names, centroids, 6)
    names2, centroids2, k = kmer_baseline.load(str(model))
    assert k == 6 and list(names2) == list(names) and np.allclose(centroids2, centroids)


def test_stockholm_drops_pairs_outside_reference_columns():
    aligned = ["GGG-AAAA-CCC", "GGGUAAAA-CCC", "GGG-AAAAUCCC"]
    text = stockholm(aligned, "(((.....))).")
    ss = next(line for line in text.splitlines() if line.startswith("#=GC SS_cons")).split()[-1]
    rf = next(line for line in text.splitlines() if line.startswith("#=GC RF")).split()[-1]
    assert rf == "xxx.xxxx.xxx"
    # pairs 0-10 and 1-9 stay; 2-8 goes because column 8 is mostly gaps (an insert column)
    assert ss == "<<:.::::.>>:"


def test_read_classify_tsv_v1(tmp_path):
    path = tmp_path / "calls.tsv"
    path.write_text("# deepmir-classify 0.1.0 format=deepmir-classify-tsv/1\n"
                    "id\tlength\tfamily_accession\tfamily_name\tscore\tstatus\tsecond_family\tsecond_score\n"
                    "q1\t80\tMIPF0000002\tlet-7\t0.99\taccepted\tMIPF0000001\t0.01\n"
                    "q2\t90\t\t\t0.20\trejected\tMIPF0000001\t0.10\n")
    assert read_classify_tsv(str(path)) == {"q1": ("MIPF0000002", 0.99), "q2": (None, 0.20)}


def test_linear_fit_of_scaling_times():
    a, b = linear_fit({10: 100.0, 20: 110.0, 40: 130.0})
    assert a == pytest.approx(90.0) and b == pytest.approx(1.0)
    assert linear_fit({25: 50.0}) == (0.0, 2.0)
    assert linear_fit({10: 100.0, 20: 90.0})[1] == 0.0


def test_background_takes_only_its_classes_and_never_a_scored_one(tmp_path):
    negatives = tmp_path / "negatives.fa"
    negatives.write_text(">tRNA|src|1\nGGGA\n>rRNA_5S|src|2\nCCCU\n>riboswitch|src|3\nAAAG\n>rRNA_5S|src|4\nUUUC\n")
    out = tmp_path / "work" / "background.fa"
    assert write_background(str(negatives), ["rRNA_5S", "riboswitch"], str(out)) == 3
    assert [r.id for r in read_fasta(str(out))] == ["rRNA_5S|src|2", "riboswitch|src|3", "rRNA_5S|src|4"]
    with pytest.raises(SystemExit):
        parse_args(["--dataset", "x", "--neg-classes", "tRNA,rRNA_5S", "--deepmir-background", "rRNA_5S"])
    assert parse_args(["--dataset", "x", "--deepmir-background", ""]).deepmir_background == ""


def test_dataset_all_expands_to_every_preset_once():
    args = parse_args(["--dataset", "all", "--dataset", "rfam-60"])
    assert args.dataset == list(PRESETS)
    with pytest.raises(SystemExit):  # a model is trained on one split
        parse_args(["--dataset", "all", "--deepmir-model", "m.npz"])


def test_shipped_model_is_used_only_on_the_split_it_was_trained_on(tmp_path):
    split = tmp_path / "split"
    split.mkdir()
    (split / "train.fa").write_text(">x family=MIPF0000002 name=let-7\nUGAGGUAGUAGGUUGUAUAGUU\n")
    args = parse_args(["--dataset", "mirbase22-hairpin-min10"])
    with pytest.raises(PeerError, match="not trained on"):
        given_model(args, "mirbase22-hairpin-min10", str(split))
    assert given_model(parse_args(["--dataset", "x", "--train-shipped"]), "mirbase22-hairpin-min10", str(split)) is None
    assert given_model(args, "rfam-60", str(split)) is None  # no shipped model for that split: train


# cmscan 1.1.4 --tblout of two let-7 and two mir-17 hairpins (test-data/hairpins-hsa30-labelled.fa) against a let-7
# CM built from the seven other let-7 hairpins there (mafft, RNAalifold, cmbuild --hand); the mir-17 ones have no hit
CMSCAN_TBLOUT = """\
#target name         accession query name           accession mdl mdl from   mdl to seq from   seq to strand trunc \
pass   gc  bias  score   E-value inc description of target
#------------------- --------- -------------------- --------- --- -------- -------- -------- -------- ------ ----- \
---- ---- ----- ------ --------- --- ---------------------
MIPF0000002          -         hsa-let-7f-1         -         hmm        5       42        6       47      +     -  \
  6 0.40   0.3   30.2     2e-11 !   -
MIPF0000002          -         hsa-let-7f-2         -         hmm        2       56        4       60      +     -  \
  6 0.40   0.0   44.1   9.1e-16 !   -
#
# Program:         cmscan
# Version:         1.1.4 (Dec 2020)
# [ok]
"""


def test_cmscan_tblout_parsing(tmp_path):
    tbl = tmp_path / "hits.tbl"
    tbl.write_text(CMSCAN_TBLOUT)
    assert list(_tblout_hits(str(tbl))) == [("MIPF0000002", "hsa-let-7f-1", 30.2, 2e-11),
                                            ("MIPF0000002", "hsa-let-7f-2", 44.1, 9.1e-16)]


def test_parallel_commands_add_their_cpu_time():
    burn = [sys.executable, "-c", "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"]
    timing = run_parallel([burn, burn])
    assert timing.cpu_s >= 0.6  # both children counted, not just one
    with pytest.raises(PeerError):
        run_parallel([burn, [sys.executable, "-c", "raise SystemExit(3)"]])


def test_a_labelled_run_writes_its_tables(tmp_path):
    """End to end on a real 4-family miRBase 22.1 subset, with the (fast) k-mer baseline only."""
    data = os.path.join(HERE, "..", "..", "test-data")
    split = tmp_path / "split"
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "deepmir-dataset"), "mirbase", "--hairpins",
                    os.path.join(data, "dataset", "mirbase22-hairpin.fa"), "--families",
                    os.path.join(data, "dataset", "mirbase22-miFam.dat"), "--min-members", "10", "-q", "-O",
                    str(split)], check=True)
    results = tmp_path / "results"
    assert run_peers_main(["--split-dir", str(split), "--tools", "kmer", "--label", "smoke", "--scaling", "2,all",
                           "--scaling-queries", "20", "--large-queries", "30", "--neg-classes", "tRNA,unseen_family",
                           "--negatives", os.path.join(data, "trna-hsa-Ala-AGC-1-1.fa"), "--results-dir",
                           str(results), "--results-md", str(tmp_path / "RESULTS.md")]) == 0
    meta, _, rows = read_tsv(str(results / "peers-smoke.tsv"))
    assert meta["dataset"] == "smoke" and [r["tool"] for r in rows] == ["kmer6-centroid"]
    distinct = {r.seq for name in ("test.fa", "ood.fa") for r in read_fasta(str(split / name))}
    distinct |= {r.seq for r in read_fasta(os.path.join(data, "trna-hsa-Ala-AGC-1-1.fa"))}
    assert int(rows[0]["n_large"]) == min(30, len(distinct))
    assert 0.0 <= float(rows[0]["accuracy"]) <= 1.0
    _, _, scaling = read_tsv(str(results / "peers-smoke-scaling.tsv"))
    assert sorted(int(r["families"]) for r in scaling) == [2, 4]
    assert "## smoke" in (tmp_path / "RESULTS.md").read_text()


def test_results_md_keeps_data_sets_without_a_tsv(tmp_path):
    """results/ is not in git: a run on a fresh clone rewrites its own section and keeps the others."""
    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("# Peer benchmark results\n\nintro\n\n## older-set\n\n| tool | accuracy |\n|---|---|\n"
                          "| blastn | 0.9 |\n\n## new-set\n\nstale line\n")
    columns = ["tool", "accuracy"]
    report.write_tsv(str(tmp_path / "peers-new-set.tsv"), [{"tool": "deepmir", "accuracy": "0.97"}], columns,
                     {"dataset": "new-set"})
    report.write_results_md(str(tmp_path), str(results_md))
    text = results_md.read_text()
    assert "## older-set\n\n| tool | accuracy |\n|---|---|\n| blastn | 0.9 |\n" in text
    assert "| deepmir | 0.97 |" in text and "stale line" not in text
    assert text.index("## older-set") > text.index("## new-set")  # sections in name order (n < o)
