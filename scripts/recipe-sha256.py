#!/usr/bin/env python3
"""Build the sdist of deepmir-tools reproducibly and write its sha256 into conda-recipe/meta.yaml.

    python scripts/recipe-sha256.py                 # sdist of the current tree -> dist/, sha256 -> the recipe
    python scripts/recipe-sha256.py --tag v0.1.0    # sdist of the tag's tree, sha256 and that tag's release URL
    python scripts/recipe-sha256.py --check         # exit 1 if the recipe's sha256 is not this tree's sdist's
    python scripts/recipe-sha256.py --print         # only print the sha256 (nothing written but dist/)
    python scripts/recipe-sha256.py --pip-check     # also: a fresh venv with exactly the recipe's run requirements
                                                    # (their PyPI names) and the sdist, then `pip check` (downloads
                                                    # TensorFlow from the package index: about 1-2 minutes)

The recipe's source is the sdist attached to the GitHub release of the tag (``releases/download/vX.Y.Z/``):
a file we make and upload, so that its digest is known before bioconda fetches it. (GitHub's on-the-fly
``archive/refs/tags`` tarballs are not ours to reproduce.)

How the sdist is made reproducible:

- the files are those of the tree, not of the checkout folder: ``git ls-files`` (tracked files and untracked files
  that git does not ignore) or, with ``--tag``, ``git archive TAG``; caches and build litter that setuptools would
  otherwise pick up (numba's ``__pycache__/*.nbi``, ``*.egg-info``) never get in;
- setuptools' own PEP 517 hook (the installed setuptools, no download, no build isolation) writes the sdist in a
  temporary copy of those files;
- the tarball is then re-packed: members sorted, every mtime ``SOURCE_DATE_EPOCH`` (default: the commit time of
  ``HEAD`` or of the tag), owner 0:0 without names, modes 0644/0755, the top folder and file name in the PEP 625
  form ``deepmir_tools-VERSION``, gzip with no file name and mtime 0;
- it is built twice, in two different temporary folders, and refused unless both digests agree.

The digest then depends only on the files' contents, the setuptools version (it writes PKG-INFO) and zlib's
compressor; both are printed so that a mismatch elsewhere can be traced.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import venv
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RECIPE = REPO / "conda-recipe" / "meta.yaml"
RELEASE_URL = "https://github.com/deepmir-tools/deepmir-tools/releases/download/{tag}/{dist_name}-{{{{ version }}}}.tar.gz"
DIST_NAME = "deepmir_tools"  # PEP 625: the normalised project name, also the sdist's top folder
# [ \t]* rather than \s* at the ends: \s would run on into the next lines
SHA_LINE = re.compile(r'^(\{%[ \t]*set[ \t]+sha256[ \t]*=[ \t]*")([0-9a-fA-F]*)("[ \t]*%\})[ \t]*$', re.M)
VERSION_LINE = re.compile(r'^\{%[ \t]*set[ \t]+version[ \t]*=[ \t]*"([^"]+)"[ \t]*%\}[ \t]*$', re.M)
URL_LINE = re.compile(r"^( +url: *)(.+?) *$", re.M)
RUN_SECTION = re.compile(r"^  run:\n((?:    - .*\n)+)", re.M)

#: conda package of a run requirement -> the PyPI distribution that setup.cfg names (tests/test_conda_recipe.py
#: holds the two lists to this map, one to one)
CONDA_TO_PYPI = {
    "numpy": "numpy",
    "tensorflow": "tensorflow",
    "keras": "keras",
    "viennarna": "viennarna",
    "pysam": "pysam",
    "python-edlib": "edlib",
    "parasail-python": "parasail",
    "matplotlib-base": "matplotlib",
    "tqdm": "tqdm",
    "numba": "numba",
    "platformdirs": "platformdirs",
}


class ScriptError(Exception):
    """A problem the user has to fix (reported as `recipe-sha256.py: error: ...`, exit status 2)."""


def git(*args: str, binary: bool = False) -> str | bytes:
    """Output of ``git ARGS`` in the repository (text unless ``binary``)."""
    result = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, check=False)
    if result.returncode:
        raise ScriptError(f"git {' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout if binary else result.stdout.decode()


def package_version(tree: Path) -> str:
    """``__version__`` of deepmir_tools in a source tree."""
    match = re.search(r'^__version__ = "([^"]+)"', (tree / "deepmir_tools" / "__init__.py").read_text(), re.M)
    if not match:
        raise ScriptError(f"{tree}/deepmir_tools/__init__.py has no __version__ line")
    return match.group(1)


def source_date_epoch(tag: str | None) -> int:
    """SOURCE_DATE_EPOCH if set, else the commit time of the tag, or of the last commit that changed a file outside
    conda-recipe/ (the mtime of every member). Without a tag, committing the new sha256 into the recipe must not
    change the sdist it describes (the recipe is not packaged), or the digest could never be current."""
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return int(os.environ["SOURCE_DATE_EPOCH"])
    if tag:
        return int(str(git("log", "-1", "--format=%ct", f"{tag}^{{commit}}")).strip())
    return int(str(git("log", "-1", "--format=%ct", "HEAD", "--", ".", ":(exclude)conda-recipe")).strip())


def export_tree(tag: str | None, destination: Path) -> None:
    """The files of the tag (``git archive``) or of the working tree (tracked + untracked, not ignored)."""
    destination.mkdir(parents=True)
    if tag:
        with tarfile.open(fileobj=io.BytesIO(git("archive", "--format=tar", tag, binary=True))) as archive:
            archive.extractall(destination, filter="data")
        return
    listed = str(git("ls-files", "-z", "--cached", "--others", "--exclude-standard")).split("\0")
    for name in sorted(filter(None, listed)):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the working tree is not part of the tree
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def setuptools_sdist(tree: Path, out: Path) -> Path:
    """Run setuptools' PEP 517 ``build_sdist`` in ``tree``; the path of the tarball it wrote."""
    code = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    result = subprocess.run([sys.executable, "-c", code, str(out)], cwd=tree, capture_output=True, text=True,
                            check=False)
    if result.returncode:
        raise ScriptError(f"setuptools could not build the sdist:\n{result.stderr.strip()[-2000:]}")
    return out / result.stdout.strip().splitlines()[-1]


def repack(sdist: Path, version: str, epoch: int) -> bytes:
    """The sdist's members re-packed deterministically (see the module docstring) as .tar.gz bytes."""
    top = f"{DIST_NAME}-{version}"
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    with tarfile.open(sdist, "r:gz") as archive:
        for member in archive.getmembers():
            _, _, rest = member.name.partition("/")  # setuptools' own top folder name varies with its version
            if not (member.isfile() or member.isdir()):
                raise ScriptError(f"{sdist.name}: unexpected member {member.name} (links are not packed)")
            info = tarfile.TarInfo(f"{top}/{rest}".rstrip("/"))
            info.type = member.type
            info.mtime = epoch
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            data = None
            if member.isfile():
                data = archive.extractfile(member).read()  # type: ignore[union-attr]
                info.size = len(data)
                info.mode = 0o755 if member.mode & 0o111 else 0o644
            else:
                info.mode = 0o755
            members.append((info, data))
    members.sort(key=lambda pair: pair[0].name)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, compresslevel=9, mtime=0) as compressed:
        compressed.write(raw.getvalue())
    return packed.getvalue()


def build_once(tag: str | None, epoch: int, work: Path) -> tuple[str, bytes]:
    """(version, reproducible sdist bytes) of the tree, built in ``work``."""
    tree = work / "tree"
    export_tree(tag, tree)
    version = package_version(tree)
    sdist = setuptools_sdist(tree, work / "out")
    return version, repack(sdist, version, epoch)


def build(tag: str | None) -> tuple[str, bytes]:
    """Build twice in different folders; the version and the sdist bytes, refused unless both builds agree."""
    epoch = source_date_epoch(tag)
    results = []
    for attempt in (1, 2):
        with tempfile.TemporaryDirectory(prefix=f"deepmir-sdist-{attempt}-") as work:
            results.append(build_once(tag, epoch, Path(work)))
    (version, first), (_, second) = results
    if first != second:
        raise ScriptError("two builds of the same tree gave different sdists: the build is not reproducible "
                          f"({hashlib.sha256(first).hexdigest()} != {hashlib.sha256(second).hexdigest()})")
    return version, first


def update_recipe(text: str, version: str, digest: str, tag: str | None) -> str:
    """The recipe with ``digest`` as its sha256 and, for a tag, that tag's release URL."""
    match = VERSION_LINE.search(text)
    if not match:
        raise ScriptError(f"{RECIPE}: no '{{% set version = \"...\" %}}' line")
    if match.group(1) != version:
        raise ScriptError(f"{RECIPE}: version {match.group(1)} but the package is {version}: update the recipe")
    text, count = SHA_LINE.subn(lambda m: f"{m.group(1)}{digest}{m.group(3)}", text)
    if count != 1:
        raise ScriptError(f"{RECIPE}: expected one '{{% set sha256 = \"...\" %}}' line, found {count}")
    if tag:
        url = RELEASE_URL.format(tag=tag, dist_name=DIST_NAME)
        text, count = URL_LINE.subn(lambda m: f"{m.group(1)}{url}", text)
        if count != 1:
            raise ScriptError(f"{RECIPE}: expected one 'url:' line, found {count}")
    return text


def run_requirements(recipe_text: str) -> list[tuple[str, str]]:
    """(conda name, version constraint) of each run requirement of the recipe, python included."""
    match = RUN_SECTION.search(recipe_text)
    if not match:
        raise ScriptError(f"{RECIPE}: no requirements/run section")
    pairs = []
    for line in match.group(1).splitlines():
        name, _, constraint = line.strip()[2:].partition(" ")
        pairs.append((name, constraint.replace(" ", "")))
    return pairs


def pip_check(sdist: Path) -> int:
    """Exit status of `pip check` in a fresh venv holding the recipe's run requirements (PyPI names) and ``sdist``."""
    requirements = []
    for name, constraint in run_requirements(RECIPE.read_text()):
        if name == "python":
            continue
        if name not in CONDA_TO_PYPI:
            raise ScriptError(f"{RECIPE}: run requirement {name} has no PyPI name in CONDA_TO_PYPI")
        requirements.append(CONDA_TO_PYPI[name] + constraint)
    with tempfile.TemporaryDirectory(prefix="deepmir-pip-check-") as work:
        env = Path(work) / "venv"
        venv.create(env, with_pip=True)
        pip = [str(env / "bin" / "python"), "-m", "pip"]
        for step in ([*pip, "install", "-q", *requirements], [*pip, "install", "-q", "--no-deps", str(sdist)]):
            if subprocess.run(step, check=False).returncode:
                raise ScriptError(f"{' '.join(step[3:])}: pip install failed")
        result = subprocess.run([*pip, "check"], capture_output=True, text=True, check=False)
        print(f"pip check ({', '.join(requirements)} + {sdist.name}): {result.stdout.strip()}", file=sys.stderr)
        return result.returncode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recipe-sha256.py",
        description="Build the sdist of deepmir-tools reproducibly (twice, compared), save it in dist/ and write "
                    "its sha256 into conda-recipe/meta.yaml.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    mode = parser.add_mutually_exclusive_group()
    parser.add_argument("--tag", help="build the tree of this release tag (vX.Y.Z, must equal v + the package "
                                      "version) instead of the working tree, and write its release URL too")
    mode.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 if the recipe's sha256 is not the digest of this sdist")
    mode.add_argument("--print", action="store_true", help="print the digest only; leave the recipe as it is")
    parser.add_argument("--pip-check", action="store_true",
                        help="then install the recipe's run requirements (PyPI names) and the sdist into a fresh "
                             "venv and run `pip check` there; exit 1 if it fails")
    parser.add_argument("--dist", type=Path, default=REPO / "dist", help="folder for the sdist")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # deepmir_tools.atomic from this checkout (the package need not be installed); on sys.path only when run, so
    # that importing this file (tests/test_conda_recipe.py) leaves the import path alone
    sys.path.insert(0, str(REPO))
    from deepmir_tools.atomic import atomic_output

    if args.tag:
        git("rev-parse", "--verify", f"{args.tag}^{{commit}}")
    version, data = build(args.tag)
    if args.tag and args.tag != f"v{version}":
        raise ScriptError(f"tag {args.tag} does not match the package version {version} (expected v{version})")
    digest = hashlib.sha256(data).hexdigest()
    args.dist.mkdir(parents=True, exist_ok=True)
    sdist = args.dist / f"{DIST_NAME}-{version}.tar.gz"
    with atomic_output(str(sdist), "wb") as handle:
        handle.write(data)
    import setuptools

    print(f"{sdist}: sha256 {digest} ({len(data)} bytes; two builds identical; setuptools {setuptools.__version__}, "
          f"zlib {zlib.ZLIB_RUNTIME_VERSION}, SOURCE_DATE_EPOCH {source_date_epoch(args.tag)})", file=sys.stderr)
    if args.pip_check and pip_check(sdist):
        return 1
    if args.print:
        print(digest)
        return 0
    text = RECIPE.read_text()
    if args.check:
        current = SHA_LINE.search(text)
        if not current or current.group(2).lower() != digest:
            print(f"{RECIPE}: sha256 {current.group(2) if current else '(none)'} is not this sdist's {digest}: run "
                  f"scripts/recipe-sha256.py", file=sys.stderr)
            return 1
        print(f"{RECIPE}: sha256 matches", file=sys.stderr)
        return 0
    updated = update_recipe(text, version, digest, args.tag)
    if updated != text:
        with atomic_output(str(RECIPE)) as handle:
            handle.write(updated)
    print(f"{RECIPE}: sha256 {digest}" + (f", url for {args.tag}" if args.tag else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ScriptError as error:
        print(f"recipe-sha256.py: error: {error}", file=sys.stderr)
        sys.exit(2)
