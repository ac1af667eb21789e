#!/usr/bin/env bash
# classify-parallel.sh: classify a large FASTA/FASTQ file in parallel chunks and merge the tables.
#
#   scripts/classify-parallel.sh [-j JOBS] [-n RECORDS] INPUT OUTPUT.tsv [deepmir-classify options ...]
#
#   -j JOBS     chunks classified at the same time (default: the number of CPUs)
#   -n RECORDS  records per chunk (default 200000)
#   INPUT       FASTA or FASTQ (4-line records), plain or gzip; for BAM, convert first (samtools fastq)
#   OUTPUT.tsv  the merged table: the same bytes as one `deepmir-classify INPUT -o OUTPUT.tsv ...` run,
#               i.e. the '#' comment line and the column line once, then every row in input order
#   options     passed to every deepmir-classify run (e.g. -m mature --top-k 3 --no-reject);
#               --counts is refused: per-family counts of chunks must be summed, run it once instead
#
# Example:
#   scripts/classify-parallel.sh -j 4 -n 500000 reads.fastq.gz calls.tsv -m mature
#
# Each chunk is one deepmir-classify process with one thread (TensorFlow start-up costs a few seconds per
# process, so keep chunks large). Record IDs are checked for duplicates within a chunk only.
set -euo pipefail

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
JOBS=$(nproc 2>/dev/null || echo 2)
RECORDS=200000
while getopts "j:n:h" opt; do
  case $opt in
    j) JOBS=$OPTARG ;;
    n) RECORDS=$OPTARG ;;
    h) usage 0 ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || usage
INPUT=$1 OUTPUT=$2
shift 2
for value in "$JOBS" "$RECORDS"; do
  [[ $value =~ ^[1-9][0-9]*$ ]] || { echo "classify-parallel.sh: -j and -n take positive integers" >&2; exit 2; }
done
for arg in "$@"; do
  case $arg in
    --counts|--counts=*) echo "classify-parallel.sh: --counts is not supported (chunk counts would need summing); run deepmir-classify once" >&2; exit 2 ;;
    -o|--output|--output=*) echo "classify-parallel.sh: give the output as the second argument, not $arg" >&2; exit 2 ;;
  esac
done
[ -f "$INPUT" ] || { echo "classify-parallel.sh: $INPUT: no such file" >&2; exit 2; }
command -v deepmir-classify >/dev/null || { echo "classify-parallel.sh: deepmir-classify not on PATH" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/classify-parallel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# 1. split: records stay whole and in order; chunk files are numbered 000001, 000002, ...
if [ "$(head -c 2 "$INPUT" | od -An -tx1 | tr -d ' \n')" = "1f8b" ]; then DECOMPRESS=(gzip -cd); else DECOMPRESS=(cat); fi
"${DECOMPRESS[@]}" "$INPUT" | awk -v n="$RECORDS" -v dir="$WORK" '
  function next_chunk() { if (out) close(out); chunk++; out = sprintf("%s/%06d.chunk", dir, chunk) }
  NR == 1 { fastq = ($0 ~ /^@/) }
  fastq {                                   # 4-line FASTQ records
    if ((NR - 1) % 4 == 0) { if (records % n == 0) next_chunk(); records++ }
    print > out; next
  }
  /^>/ { if (records % n == 0) next_chunk(); records++ }
  { if (!out) next_chunk(); print > out }   # FASTA (text before the first ">" goes to chunk 1: the CLI reports it)
  END { if (out) close(out) }'
mapfile -t CHUNKS < <(find "$WORK" -name '*.chunk' | sort)
if [ "${#CHUNKS[@]}" -eq 0 ]; then               # empty input: let deepmir-classify report it as usual
  : > "$WORK/000001.chunk"; CHUNKS=("$WORK/000001.chunk")
fi

# 2. classify the chunks, JOBS at a time; any failure fails the whole run
export WORK
printf '%s\n' "${CHUNKS[@]}" | xargs -P "$JOBS" -I{} sh -c '
  chunk=$1; shift
  deepmir-classify "$chunk" --quiet --threads 1 --output "${chunk%.chunk}.tsv" "$@" 2> "${chunk%.chunk}.err" \
    || { echo "classify-parallel.sh: chunk $(basename "$chunk") failed:" >&2; cat "${chunk%.chunk}.err" >&2; exit 255; }
' sh {} "$@"

# 3. merge: the header (comment line + column line) once, then the rows of every chunk in order
FIRST=${CHUNKS[0]%.chunk}.tsv
for chunk in "${CHUNKS[@]}"; do
  if ! cmp -s <(head -n 2 "$FIRST") <(head -n 2 "${chunk%.chunk}.tsv"); then
    echo "classify-parallel.sh: chunk headers differ (model or threshold changed during the run?)" >&2; exit 1
  fi
done
{
  head -n 2 "$FIRST"
  for chunk in "${CHUNKS[@]}"; do tail -n +3 "${chunk%.chunk}.tsv"; done
} > "$WORK/merged.tsv"
# replace OUTPUT in one step: a temporary file beside it, then a rename
TMP_OUT=$(mktemp "$(dirname "$OUTPUT")/.$(basename "$OUTPUT").XXXXXX")
cat "$WORK/merged.tsv" > "$TMP_OUT" && mv "$TMP_OUT" "$OUTPUT"
echo "classify-parallel.sh: ${#CHUNKS[@]} chunk(s) of up to $RECORDS records, $(($(wc -l < "$OUTPUT") - 2)) row(s) -> $OUTPUT" >&2
