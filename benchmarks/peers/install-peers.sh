#!/bin/sh
# Install the peer tools of the benchmark from the package registries (Debian 12 / Ubuntu):
#   BLAST+ (blastn, makeblastdb), Infernal (cmbuild, cmcalibrate, cmpress, cmscan), MAFFT;
#   ViennaRNA's Python module (RNA.alifold) from PyPI when neither it nor RNAalifold is present.
# Run as root (or with sudo). PYTHON selects the interpreter that runs the benchmark.
set -eu
PYTHON=${PYTHON:-python3}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends ncbi-blast+ infernal mafft
if ! command -v RNAalifold >/dev/null 2>&1 && ! "$PYTHON" -c "import RNA" 2>/dev/null; then
    "$PYTHON" -m pip install ViennaRNA
fi
blastn -version | head -1
cmscan -h | sed -n 2p
mafft --version 2>&1
"$PYTHON" -c "import RNA; print('ViennaRNA', RNA.__version__)" 2>/dev/null || RNAalifold --version
