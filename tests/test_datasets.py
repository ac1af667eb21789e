"""deepmir_tools.datasets and deepmir-dataset, on real miRBase/Rfam data.

Small copies live in test-data/dataset/ (see test-data/README.md); the checks on whole
databases (the paper's Table 2 counts, the miRBase 22.1 groups, the mature -> family
assignment against miRBase's own precursor table) read ../shared/data (beside the checkout) and are skipped
where it is absent.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from conftest import blastn_hits, blastn_relatives, independent_end_to_end_hit

from deepmir_tools import datasets as ds
from deepmir_tools.cli.common import run
from deepmir_tools.cli.dataset import PROG, main
from deepmir_tools.labels import header_fields
from deepmir_tools.relatives import Relation
from deepmir_tools.seqio import read_records

DATA = Path(__file__).resolve().parent.parent / "test-data" / "dataset"
HAIRPINS = str(DATA / "mirbase22-hairpin.fa")
MATURES = str(DATA / "mirbase22-mature.fa")
MIFAM = str(DATA / "mirbase22-miFam.dat")
RFAM_LABELLED = str(DATA / "rfam-labelled.fa")
RFAM_DIR = str(DATA / "rfam")

# The project's shared data lies beside the checkout (../shared/data), in CI as in development.
SHARED = Path(os.environ.get("DEEPMIR_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
RFAM_ALL = SHARED / "rfam-mirna" / "rfam_mirna_all_labeled.fa.gz"
MIRBASE22 = SHARED / "mirbase-22.1" / "derived"
MIRBASE18 = SHARED / "mirbase-18"
needs_shared = pytest.mark.skipif(not RFAM_ALL.exists() or not MIRBASE22.exists(), reason="needs ../shared/data")


def build(tmp_path: Path, *args: str, name: str = "out") -> Path:
    outdir = tmp_path / name
    assert run(PROG, main, [*args, "-q", "-O", str(outdir)]) == 0
    return outdir


def mirbase_args(*extra: str) -> list[str]:
    return ["mirbase", "--hairpins", HAIRPINS, "--families", MIFAM, *extra]


def fasta(path: Path) -> list[tuple[str, dict[str, str], str]]:
    """(id, header fields, sequence) of an output file, read with the package reader."""
    return [(r.id, header_fields(r.description), r.seq) for r in read_records(str(path), allow_empty=True)]


def families_tsv(path: Path) -> dict[str, dict[str, str]]:
    with open(path) as handle:
        return {row["accession"]: row for row in csv.DictReader(handle, delimiter="\t")}


# ------------------------------------------------------------------------- miRBase names and families


def test_mature_stem_follows_mirbase_names():
    assert ds.mature_stem("hsa-miR-21-5p") == "hsa-mir-21"
    assert ds.mature_stem("hsa-let-7a-5p") == "hsa-let-7a"
    assert ds.mature_stem("hsa-let-7a-2-3p") == "hsa-let-7a-2"
    assert ds.mature_stem("rno-miR-322*") == "rno-mir-322"  # miRBase 18 star name
    assert ds.mature_stem("ath-miR161.1") == "ath-mir161"  # plant isoform suffix
    assert ds.mature_stem("ath-miR172b*") == "ath-mir172b"


def test_matures_find_their_hairpins_and_family():
    hairpins = ds.load_mirbase_hairpins(HAIRPINS, MIFAM)
    index = ds.HairpinIndex(hairpins)
    matures = {r.id: r for r in read_records(MATURES)}
    let7a = index.sources(matures["hsa-let-7a-5p"])
    assert sorted(item.record.id for item in let7a) == ["hsa-let-7a-1", "hsa-let-7a-2", "hsa-let-7a-3"]
    assert ds.mature_family(let7a) == (ds.Family("MIPF0000002", "let-7"), False)
    assert [item.record.id for item in index.sources(matures["hsa-let-7a-2-3p"])] == ["hsa-let-7a-2"]
    mir21 = index.sources(matures["hsa-miR-21-5p"])
    assert [item.record.id for item in mir21] == ["hsa-mir-21"]
    assert ds.mature_family(mir21)[0] == ds.Family("MIPF0000060", "mir-21")
    # every mature of the subset comes from a hairpin whose sequence contains it
    for record in matures.values():
        sources = index.sources(record)
        assert sources and all(record.seq in item.record.seq for item in sources), record.id


def test_read_mifam_reads_accession_name_and_members():
    members = ds.read_mifam(MIFAM)
    assert members["MI0000077"] == ds.Family("MIPF0000060", "mir-21")  # hsa-mir-21
    assert members["MI0000060"] == ds.Family("MIPF0000002", "let-7")  # hsa-let-7a-1
    with open(MIFAM) as handle:
        assert len(members) == sum(line.startswith("MI ") for line in handle)


@needs_shared
def test_mature_families_agree_with_mirbase_precursor_table():
    """The name-stem rule against miRBase 22.1's own precursor -> mature table (an independent source)."""
    hairpins = ds.load_mirbase_hairpins(str(MIRBASE22 / "hairpin.fa"), str(MIRBASE22 / "miFam.dat"))
    family_of = {item.record.description.split()[0]: item.family for item in hairpins}
    precursors = defaultdict(set)
    table = SHARED / "mirbase-22.1" / "original_sources" / "smallrnaseq-0.6.0_miRBase_all.csv.gz"
    with gzip.open(table, "rt") as handle:
        for row in csv.DictReader(handle):
            for key in ("mature1_acc", "mature2_acc"):
                if row[key]:
                    precursors[row[key]].add(row["accession"])
    matures, ambiguous = ds.load_mirbase_matures(str(MIRBASE22 / "mature.fa"), hairpins)
    disagree = 0
    for item in matures:
        truth = {family_of[acc] for acc in precursors[item.record.description.split()[0]]} - {None}
        if truth and item.family not in truth:
            disagree += 1
    assert ambiguous <= 5
    assert len(matures) > 48_800 and disagree / len(matures) < 0.001


# ------------------------------------------------------------------------------------ Table 2 groups


def _plain_rfam_counts() -> Counter:
    """Distinct sequences of at most 200 nt per family, read with plain Python (no package code)."""
    sequences: dict[str, set[str]] = defaultdict(set)
    with gzip.open(RFAM_ALL, "rt") as handle:
        family = ""
        for line in handle:
            if line.startswith(">"):
                family = line[1:].split("|", 1)[0]
            elif len(line.strip()) <= 200:
                sequences[family].add(line.strip().upper().replace("T", "U"))
    return Counter({family: len(seqs) for family, seqs in sequences.items()})


@needs_shared
def test_rfam_table2_groups():
    """Paper: 47/106/165/241 families; the data here lacks RF00906, so one fewer per group."""
    plain = _plain_rfam_counts()
    prepared = ds.prepare(ds.load_rfam(str(RFAM_ALL)), ds.DEFAULT_MAX_LEN)
    assert prepared.duplicates == 0  # the authors' files are already deduplicated
    found = {}
    for group, (members, test) in ds.GROUPS.items():
        options = ds.group_options(group)
        selection = ds.select_families(prepared.items, options.min_members, options.per_family, options.seed)
        assert sorted(f.accession for f in selection.chosen) == sorted(f for f, n in plain.items() if n >= members)
        split = ds.split_random(selection.chosen, options.test, options.val, options.seed)
        assert set(Counter(item.family for item in split.test).values()) == {test}
        assert set(Counter(item.family for item in split.train).values()) == {members - test}
        found[group] = len(selection.chosen)
    assert found == {"rfam-300": 46, "rfam-120": 105, "rfam-60": 164, "rfam-30": 240}
    # families.tsv of the data folder: a family whose longest sequence is <= 200 nt keeps all members
    with open(SHARED / "rfam-mirna" / "families.tsv") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    for row in rows:
        if int(row["len_max"]) <= 200:
            assert plain[row["rfam_acc"]] == int(row["n_seqs"])


@needs_shared
def test_mirbase22_groups_have_fewer_families():
    prepared = ds.prepare(
        ds.load_mirbase_hairpins(str(MIRBASE22 / "hairpin.fa"), str(MIRBASE22 / "miFam.dat")), ds.DEFAULT_MAX_LEN
    )
    sizes = ds.family_sizes(prepared.items)
    counts = {group: sum(n >= members for n in sizes.values()) for group, (members, _) in ds.GROUPS.items()}
    assert counts == {"rfam-300": 2, "rfam-120": 27, "rfam-60": 53, "rfam-30": 117}


# ----------------------------------------------------------------------------------------- splitting


def test_random_split_is_stratified_per_family(tmp_path):
    out = build(tmp_path, *mirbase_args("--min-members", "10", "--test-fraction", "0.2", "--val-fraction", "0.1"))
    rows = families_tsv(out / "families.tsv")
    assert set(rows) == {"MIPF0000001", "MIPF0000002", "MIPF0000033", "MIPF0000038"}  # mir-21 has 4 < 10
    for accession, row in rows.items():
        n = int(row["n_total"])
        assert int(row["n_test"]) == int(n * 0.2 + 0.5)
        assert int(row["n_val"]) == int(n * 0.1 + 0.5)
        assert int(row["n_train"]) + int(row["n_val"]) + int(row["n_test"]) == n
    for split in ("train", "val", "test"):
        per_family = Counter(fields["family"] for _, fields, _ in fasta(out / f"{split}.fa"))
        assert per_family == Counter({acc: int(row[f"n_{split}"]) for acc, row in rows.items()})


def test_outputs_have_no_duplicates_across_splits(tmp_path):
    out = build(tmp_path, *mirbase_args("--min-members", "10", "--val-fraction", "0.1"))
    seqs = [seq for name in ("train.fa", "val.fa", "test.fa", "ood.fa") for _, _, seq in fasta(out / name)]
    assert len(seqs) == len(set(seqs))
    total = sum(1 for _ in read_records(HAIRPINS))
    summary = dict(line.rstrip("\n").split("\t") for line in open(out / "summary.tsv"))
    assert len(seqs) + int(summary["duplicates_removed"]) + int(summary["too_long_removed"]) == total


def test_ood_file_labels_unseen_families_and_family_less(tmp_path):
    out = build(tmp_path, *mirbase_args("--min-members", "10"))
    ood = fasta(out / "ood.fa")
    classes = Counter(fields["class"] for _, fields, _ in ood)
    assert classes == {"unseen_family": 4, "no_family": 12}  # 4 mir-21 hairpins, 12 family-less
    unseen = [fields for _, fields, _ in ood if fields["class"] == "unseen_family"]
    assert all(f["family"] == "MIPF0000060" and f["name"] == "mir-21" for f in unseen)
    assert all(fields["family"] for _, fields, _ in fasta(out / "train.fa"))


def test_same_seed_same_files_other_seed_other_split(tmp_path):
    args = mirbase_args("--min-members", "10", "--val-fraction", "0.1", "--seed", "11")
    first, second = build(tmp_path, *args, name="a"), build(tmp_path, *args, name="b")
    for name in ("train.fa", "val.fa", "test.fa", "ood.fa", "families.tsv", "summary.tsv"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    other = build(tmp_path, *mirbase_args("--min-members", "10", "--val-fraction", "0.1", "--seed", "12"), name="c")
    assert (other / "test.fa").read_bytes() != (first / "test.fa").read_bytes()


def test_mature_data_set_has_the_hairpin_families(tmp_path):
    hairpin = build(tmp_path, *mirbase_args("--min-members", "10"), name="h")
    mature = build(tmp_path, *mirbase_args("--matures", MATURES, "--kind", "mature", "--min-members", "10"), name="m")
    assert set(families_tsv(mature / "families.tsv")) == set(families_tsv(hairpin / "families.tsv"))
    train = fasta(mature / "train.fa")
    assert all(len(seq) < 30 for _, _, seq in train)
    assert ("hsa-let-7a-5p", "MIPF0000002") in {(name, f["family"]) for name, f, _ in train + fasta(mature / "test.fa")}


def test_rfam_directory_and_labelled_file_give_the_same_data_set(tmp_path):
    common = ["--min-members", "30", "--per-family", "30", "--test-per-family", "5"]
    labelled = build(tmp_path, "rfam", "--labelled-fasta", RFAM_LABELLED, *common, name="lab")
    directory = build(tmp_path, "rfam", "--fasta-dir", RFAM_DIR, *common, name="dir")
    for name in ("train.fa", "test.fa", "ood.fa", "unsampled.fa", "families.tsv"):
        assert (labelled / name).read_bytes() == (directory / name).read_bytes(), name
    rows = families_tsv(labelled / "families.tsv")
    assert {acc: (row["n_train"], row["n_test"]) for acc, row in rows.items()} == {
        "RF00027": ("25", "5"), "RF00047": ("25", "5"), "RF00051": ("25", "5")
    }
    assert len(fasta(labelled / "unsampled.fa")) == 10 + 5  # RF00027 and RF00047 beyond 30
    summary = (labelled / "summary.tsv").read_text()
    assert hashlib.sha256(Path(RFAM_LABELLED).read_bytes()).hexdigest() in summary
    assert "too_long_removed\t3\n" in summary  # the three RF00885 sequences (206-410 nt)


def _blastn_relatives_of_test_data() -> set[frozenset]:
    """Pairs of mirbase22-hairpin.fa that BLASTN relates (the BLASTN output is test-data, see
    test-data/README.md): the independent truth for the local rule."""
    return blastn_relatives(blastn_hits())


def _check_remote(split: ds.Split, chosen: dict, identity: float, blastn: set[frozenset] | None = None) -> None:
    for held_out in (split.test, split.val):
        for item in held_out:
            for other in split.train:
                pair = (item.record.id, other.record.id)
                assert not independent_end_to_end_hit(item.record.seq, other.record.seq, identity), pair
                assert blastn is None or frozenset(pair) not in blastn, pair
    placed = split.train + split.val + split.test + split.dropped
    assert sorted(i.record.id for i in placed) == sorted(i.record.id for m in chosen.values() for i in m)


def test_remote_split_keeps_test_away_from_training(tmp_path):
    prepared = ds.prepare(ds.load_mirbase_hairpins(HAIRPINS, MIFAM), 200)
    selection = ds.select_families(prepared.items, 10)
    # (these 5 families hold few clusters: a 20%/10% quota fits no whole cluster into validation)
    split = ds.split_remote(selection.chosen, ds.Quota(0.3), ds.Quota(0.2), Relation(0.8), seed=7)
    assert split.test and split.val
    blastn = _blastn_relatives_of_test_data()
    _check_remote(split, selection.chosen, 0.8, blastn)
    # test holds whole clusters: at most the quota per family
    for family, n in Counter(item.family for item in split.test).items():
        assert n <= int(len(selection.chosen[family]) * 0.3 + 0.5)
    # the end-to-end rule alone leaves test hairpins that BLASTN relates to training ones (the leak of issue 17)
    leaky = ds.split_remote(selection.chosen, ds.Quota(0.3), ds.Quota(0.2), Relation(0.8, None), seed=7)
    train = {item.record.id for item in leaky.train}
    assert any(frozenset((item.record.id, other)) in blastn for item in leaky.test for other in train)


def test_remote_split_drops_held_out_sequences_similar_to_another_family():
    """let-7 hairpins relabelled as two families by species: the cross-family check must drop matches."""
    prepared = ds.prepare(ds.load_mirbase_hairpins(HAIRPINS, MIFAM), 200)
    let7 = [item for item in prepared.items if item.family and item.family.name == "let-7"]
    mammals, fish = ds.Family("X1", "let-7-hsa-mmu"), ds.Family("X2", "let-7-dre")
    chosen = {
        mammals: [item._replace(family=mammals) for item in let7 if not item.record.id.startswith("dre-")],
        fish: [item._replace(family=fish) for item in let7 if item.record.id.startswith("dre-")],
    }
    split = ds.split_remote(chosen, ds.Quota(0.3), ds.Quota(0.2), Relation(0.8), seed=3)
    assert split.dropped and split.test
    _check_remote(split, chosen, 0.8, _blastn_relatives_of_test_data())


def test_verification_pass_counts_relatives_of_a_random_split():
    prepared = ds.prepare(ds.load_mirbase_hairpins(HAIRPINS, MIFAM), 200)
    selection = ds.select_families(prepared.items, 10)
    options = ds.DatasetOptions(min_members=10, test=ds.Quota(0.2), check_relatives=True)
    split = ds.make_split(selection.chosen, options)
    blastn = _blastn_relatives_of_test_data()
    train = [item.record for item in split.train]
    related = Relation(0.8)
    expected = sum(any(related.related(item.record.seq, other.seq) for other in train) for item in split.test)
    assert split.relatives["test_with_train_relative"] == expected
    # BLASTN's relatives are a lower bound (the rule also takes end-to-end hits and exhaustive local alignment)
    by_blastn = sum(any(frozenset((item.record.id, other.id)) in blastn for other in train) for item in split.test)
    assert 0 < by_blastn <= expected <= len(split.test)
    remote = ds.make_split(selection.chosen, ds.DatasetOptions(min_members=10, mode="remote"))
    assert remote.relatives == {"test_with_train_relative": 0, "val_with_train_relative": 0}


@pytest.mark.skipif(not MIRBASE18.exists(), reason="needs ../shared/data")
def test_remote_split_on_mirbase18_families(tmp_path):
    """The invariant on real families of miRBase 18 (those of 30-45 members), checked pair by pair, and by
    BLASTN (as issue 17 measured the leak) where BLAST+ is installed."""
    items = ds.load_mirbase_hairpins(str(MIRBASE18 / "hairpin.fa"), str(MIRBASE18 / "miFam.dat"))
    prepared = ds.prepare(items, 200)
    sizes = ds.family_sizes(prepared.items)
    subset = [item for item in prepared.items if item.family and 30 <= sizes[item.family.accession] <= 45]
    selection = ds.select_families(subset, 30)
    assert len(selection.chosen) >= 15
    split = ds.split_remote(selection.chosen, ds.Quota(0.2), relation=Relation(0.8), seed=7, threads=2)
    assert len(split.test) > 50
    _check_remote(split, selection.chosen, 0.8)
    if shutil.which("blastn") and shutil.which("makeblastdb"):
        assert _blastn_leaks(split, tmp_path) == 0


def _blastn_leaks(split: ds.Split, workdir: Path) -> int:
    """Test sequences with a training hit at >= 80% identity over >= 80% of the shorter (BLASTN, as issue 17)."""
    for name, items in (("train", split.train), ("test", split.test)):
        (workdir / f"{name}.fa").write_text("".join(f">{i.record.id}\n{i.record.seq}\n" for i in items))
    subprocess.run(["makeblastdb", "-in", str(workdir / "train.fa"), "-dbtype", "nucl", "-out", str(workdir / "db")],
                   check=True, capture_output=True)
    hits = subprocess.run(
        ["blastn", "-task", "blastn", "-word_size", "7", "-strand", "plus", "-evalue", "10",
         "-max_target_seqs", "5000", "-query", str(workdir / "test.fa"), "-db", str(workdir / "db"),
         "-outfmt", "6 qseqid sseqid pident length qlen slen"], check=True, capture_output=True, text=True).stdout
    leaked = set()
    for line in hits.splitlines():
        query, _, pident, length, qlen, slen = line.split()
        if float(pident) >= 80.0 and int(length) >= 0.8 * min(int(qlen), int(slen)):
            leaked.add(query)
    return len(leaked)


def test_family_less_background_drops_near_copies_of_known_and_scored_hairpins(tmp_path):
    hairpins = {r.id: r.seq for r in read_records(HAIRPINS)}
    (tmp_path / "train.fa").write_text(f">hsa-let-7a-1 family=MIPF0000002 name=let-7\n{hairpins['hsa-let-7a-1']}\n")
    ood = [("mmu-let-7a-1", "no_family"), ("hsa-mir-21", "unseen_family family=MIPF0000060 name=mir-21"),
           ("mmu-mir-21a", "no_family"), ("hsa-mir-206", "no_family"), ("hsa-mir-10a", "no_family")]
    (tmp_path / "ood.fa").write_text("".join(f">{name} class={fields}\n{hairpins[name]}\n" for name, fields in ood))
    # independent check of the expectation: the mouse let-7a-1 / miR-21a are >= 80% identical to the human ones
    # (a known and a scored unseen-family hairpin); miR-206 and miR-10a to neither
    references = [hairpins["hsa-let-7a-1"], hairpins["hsa-mir-21"]]
    similar = {name: any(independent_end_to_end_hit(hairpins[name], ref, 0.8) for ref in references)
               for name, kind in ood if kind == "no_family"}
    assert similar == {"mmu-let-7a-1": True, "mmu-mir-21a": True, "hsa-mir-206": False, "hsa-mir-10a": False}
    for threads in (1, 2):
        kept, dropped = ds.family_less_background(str(tmp_path / "ood.fa"), str(tmp_path / "train.fa"),
                                                  threads=threads)
        assert [r.id for r in kept] == ["hsa-mir-206", "hsa-mir-10a"] and dropped == 2
        assert [r.seq for r in kept] == [hairpins["hsa-mir-206"], hairpins["hsa-mir-10a"]]


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_missing_file_is_a_one_line_error(tmp_path, capsys):
    code = run(PROG, main, ["mirbase", "--hairpins", str(tmp_path / "nope.fa"), "--families", MIFAM,
                            "--min-members", "10", "-O", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "nope.fa: no such file" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "args, message",
    [
        (mirbase_args("--min-members", "10", "--kind", "mature"), "--kind mature needs --matures"),
        (mirbase_args(), "give --min-members"),
        (mirbase_args("--min-members", "1000"), "no family has at least 1000 members"),
        (mirbase_args("--min-members", "10", "--identity", "0.2"), "--identity must be between"),
        (["mirbase", "--hairpins", MIFAM, "--families", MIFAM, "--min-members", "5"], "not a FASTA or FASTQ file"),
        (["mirbase", "--hairpins", HAIRPINS, "--families", HAIRPINS, "--min-members", "5"], "not a miFam.dat line"),
        (["rfam", "--labelled-fasta", HAIRPINS, "--group", "rfam-30"], "does not start with an Rfam accession"),
        (["rfam", "--labelled-fasta", RFAM_LABELLED, "--group", "rfam-30", "--min-members", "5"], "rfam-30 sets"),
        (["rfam", "--fasta-dir", str(DATA / "missing"), "--group", "rfam-30"], "no such directory"),
    ],
)
def test_cli_bad_input(tmp_path, capsys, args, message):
    assert run(PROG, main, [*args, "-O", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_console_script_help_and_summary(tmp_path):
    script = Path(sys.executable).with_name("deepmir-dataset")
    fallback = [sys.executable, "-c", "from deepmir_tools.cli.dataset import entry; entry()"]
    command = [str(script)] if script.exists() else fallback
    helped = subprocess.run([*command, "rfam", "--help"], capture_output=True, text=True, check=True)
    assert "--group" in helped.stdout and "examples:" in helped.stdout
    done = subprocess.run([*command, "rfam", "--labelled-fasta", RFAM_LABELLED, "--min-members", "30",
                           "--per-family", "30", "--test-per-family", "5", "-O", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "3 families; train 75, val 0, test 15" in done.stderr
    assert not os.path.exists(tmp_path / "o" / "val.fa")
