"""The bioconda recipe conda-recipe/meta.yaml, checked offline (conda channels are not reachable here).

The recipe is rendered like conda-build does (jinja2 with stand-ins for ``PYTHON`` and ``pin_subpackage``), parsed
as YAML, and compared with the package itself: version, console scripts, the run requirements against the imports
the package really makes and against setup.cfg (names, versions and markers: one list), the test commands and their
files. scripts/recipe-sha256.py, which writes the recipe's sha256, is run for real: its sdist must come out
byte-identical twice and carry the same requirements, and `pip check` must pass in this venv.
"""

from __future__ import annotations

import ast
import configparser
import email
import hashlib
import importlib.util
import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

jinja2 = pytest.importorskip("jinja2")
yaml = pytest.importorskip("yaml")
from packaging.requirements import Requirement  # noqa: E402  (after the importorskips)
from packaging.specifiers import SpecifierSet  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RECIPE = REPO / "conda-recipe" / "meta.yaml"
PACKAGE = REPO / "deepmir_tools"

SCRIPT = REPO / "scripts" / "recipe-sha256.py"


def load_script():
    """scripts/recipe-sha256.py as a module (its file name is no identifier)."""
    spec = importlib.util.spec_from_file_location("recipe_sha256", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


recipe_sha256 = load_script()
#: conda package name -> PyPI name in setup.cfg: the script's map, the one the fresh-venv `pip check` uses
CONDA_TO_PYPI = recipe_sha256.CONDA_TO_PYPI
#: PyPI name -> top-level module it provides, where the two differ
PYPI_TO_IMPORT = {"viennarna": "RNA"}


def import_name(conda_name: str) -> str:
    pypi = CONDA_TO_PYPI[conda_name]
    return PYPI_TO_IMPORT.get(pypi, pypi)


def render(text: str) -> dict:
    """conda-build's rendering, reduced to what the recipe uses."""
    def pin_subpackage(name: str, max_pin: str = "x.x.x", exact: bool = False) -> str:
        return f"{name} >={version_of_package()},<{next_version(version_of_package(), max_pin)}"

    template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text)
    rendered = template.render(PYTHON="python", pin_subpackage=pin_subpackage, environ={})
    return yaml.safe_load(re.sub(r"#\s*\[[^\]]*\]", "", rendered))  # drop selectors such as "# [linux]"


def next_version(version: str, max_pin: str) -> str:
    """The upper bound pin_subpackage puts on a version: 0.1.0 with x.x -> 0.2."""
    parts = [int(p) for p in version.split(".")[: max_pin.count("x")]]
    parts[-1] += 1
    return ".".join(map(str, parts))


def version_of_package() -> str:
    match = re.search(r'^__version__ = "([^"]+)"', (PACKAGE / "__init__.py").read_text(), re.M)
    assert match, "deepmir_tools/__init__.py has no __version__"
    return match.group(1)


def setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    return config


def console_scripts() -> dict[str, str]:
    lines = setup_cfg()["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict(tuple(part.strip() for part in line.split("=", 1)) for line in lines if line.strip())


def requirement_table(lines: list[str]) -> dict[str, tuple[SpecifierSet, str | None, frozenset[str]]]:
    """PyPI name -> (specifiers, environment marker or None, extras); a name listed twice is an error."""
    result = {}
    for line in lines:
        requirement = Requirement(line)
        name = requirement.name.lower()
        assert name not in result, f"{name} listed twice (per-platform variants cannot match a noarch recipe)"
        marker = str(requirement.marker) if requirement.marker else None
        result[name] = (requirement.specifier, marker, frozenset(requirement.extras))
    return result


def install_requires() -> dict[str, tuple[SpecifierSet, str | None, frozenset[str]]]:
    """setup.cfg's install_requires as a requirement table."""
    return requirement_table(setup_cfg()["options"]["install_requires"].strip().splitlines())


def recipe_run_requires(meta: dict) -> dict[str, tuple[SpecifierSet, str | None, frozenset[str]]]:
    """The recipe's run requirements (python left out) under their PyPI names, as a requirement table.

    A noarch recipe has no platform selectors, so every marker is None; a selector left in the recipe text is caught
    by test_recipe_run_requirements_have_no_selectors.
    """
    table = {}
    for spec in meta["requirements"]["run"]:
        conda_name, specifier = split_spec(spec)
        if conda_name == "python":
            continue
        assert conda_name in CONDA_TO_PYPI, f"unknown run requirement {conda_name}: add it to CONDA_TO_PYPI"
        table[CONDA_TO_PYPI[conda_name]] = (specifier, None, frozenset())
    return table


def third_party_imports() -> set[str]:
    """Top-level modules that deepmir_tools imports and that neither it nor the standard library provides."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name != "deepmir_tools"}


def split_spec(spec: str) -> tuple[str, SpecifierSet]:
    name, _, constraint = spec.partition(" ")
    return name, SpecifierSet(constraint.replace(" ", ""))


@pytest.fixture(scope="module")
def meta() -> dict:
    return render(RECIPE.read_text())


def test_sections_and_version(meta):
    for section in ("package", "source", "build", "requirements", "test", "about", "extra"):
        assert section in meta, section
    assert meta["package"]["name"] == "deepmir-tools"
    version = version_of_package()
    assert str(meta["package"]["version"]) == version
    # the sdist that scripts/recipe-sha256.py builds, as attached to the release of tag v<version>
    assert meta["source"]["url"] == (f"https://github.com/deepmir-tools/deepmir-tools/releases/download/v{version}/"
                                     f"deepmir_tools-{version}.tar.gz")
    assert re.fullmatch(r"[0-9a-f]{64}", meta["source"]["sha256"])
    assert set(meta["source"]["sha256"]) != {"0"}, "placeholder sha256: run scripts/recipe-sha256.py"


def test_build_follows_bioconda_practice(meta):
    build = meta["build"]
    assert build["noarch"] == "python"
    assert isinstance(build["number"], int)
    assert build["script"] == "python -m pip install . --no-deps --no-build-isolation -vvv"
    version = version_of_package()
    assert build["run_exports"] == [f"deepmir-tools >={version},<{next_version(version, 'x.x')}"]
    host = [split_spec(s)[0] for s in meta["requirements"]["host"]]
    assert {"python", "pip"} <= set(host)


def test_entry_points_equal_setup_cfg(meta):
    recipe = dict(tuple(p.strip() for p in line.split("=", 1)) for line in meta["build"]["entry_points"])
    assert recipe == console_scripts()


def test_run_requirements_are_imports_the_package_uses(meta):
    run = dict(split_spec(spec) for spec in meta["requirements"]["run"])
    assert run.pop("python") == SpecifierSet(">=3.10")
    assert str(setup_cfg()["options"]["python_requires"]).strip() == ">=3.10"
    imports = third_party_imports()
    for conda_name in run:
        assert conda_name in CONDA_TO_PYPI, f"unknown run requirement {conda_name}: add its mapping"
        module = import_name(conda_name)
        assert module in imports, f"run requirement {conda_name} (import {module}) is not imported by deepmir_tools"
    covered = {import_name(name) for name in run}
    assert imports <= covered, f"imported but not a run requirement: {sorted(imports - covered)}"


def test_run_requirements_equal_setup_cfg_in_names_versions_and_markers(meta):
    """One list: every setup.cfg requirement is a recipe run requirement with the same pins, and back; no markers.

    A marker (say tensorflow-cpu on Linux x86-64 only) cannot be expressed in a noarch recipe, and the conda
    package's `pip check` fails on any name the recipe does not install.
    """
    setup, recipe = install_requires(), recipe_run_requires(meta)
    assert sorted(setup) == sorted(recipe), "names differ between setup.cfg and the recipe"
    for name, (specifier, marker, extras) in setup.items():
        assert (specifier, marker, extras) == recipe[name], (
            f"{name}: setup.cfg {specifier} {marker or ''} {sorted(extras) or ''} != recipe {recipe[name][0]}")
    assert sorted(CONDA_TO_PYPI.values()) == sorted(setup), "CONDA_TO_PYPI holds names setup.cfg does not list"


def test_recipe_run_requirements_have_no_selectors():
    """noarch: python packages are built once for every platform; a '# [linux]' selector would be dropped silently."""
    section = recipe_sha256.RUN_SECTION.search(RECIPE.read_text())
    assert section and "#" not in section.group(1)


def test_gpu_extra_is_tensorflow_with_cuda_and_the_same_pins():
    extras = setup_cfg()["options.extras_require"]
    gpu = requirement_table(extras["gpu"].strip().splitlines())
    tensorflow_pins = install_requires()["tensorflow"][0]
    assert gpu == {"tensorflow": (tensorflow_pins, None, frozenset({"and-cuda"}))}
    test_extra = requirement_table(extras["test"].strip().splitlines())
    assert "py-rattler" in test_extra  # test_requirement_specs_parse_as_conda_matchspecs runs, never skips


def test_pip_check_passes_in_this_venv(tmp_path):
    """The installed deepmir-tools declares what setup.cfg says, and the environment satisfies it."""
    # what pip sees: an isolated interpreter outside the checkout, so that no deepmir_tools.egg-info left in the
    # repository by an in-tree build is read instead of the installed metadata
    code = "import json, importlib.metadata as m; print(json.dumps(m.distribution('deepmir-tools').requires))"
    found = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True,
                           check=True)
    installed = requirement_table([r for r in json.loads(found.stdout) or [] if "extra ==" not in r])
    assert installed == install_requires(), "the installed deepmir-tools is older than setup.cfg: reinstall it"
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_test_section_runs_every_command_and_a_real_classification(meta):
    commands = meta["test"]["commands"]
    for script in console_scripts():
        assert f"{script} --help" in commands
    classify = [c for c in commands if c.startswith("deepmir-classify test-data/") and "-m hairpin" in c]
    assert classify, "no real classification with the shipped model"
    assert "source_files" not in meta["test"]  # the sdist holds no test-data/: the files come with the recipe
    for path in meta["test"]["files"]:
        copy = RECIPE.parent / path
        assert copy.is_file(), f"test file {path} missing from conda-recipe/"
        assert copy.read_bytes() == (REPO / path).read_bytes(), f"conda-recipe/{path} differs from {path}"
        assert any(path in c for c in commands)
    assert "deepmir_tools" in meta["test"]["imports"]
    assert "pip check" in commands and "pip" in meta["test"]["requires"]


def test_about_and_identifiers(meta):
    about = meta["about"]
    for key in ("home", "license", "license_file", "summary", "dev_url", "doc_url"):
        assert about.get(key), key
    assert about["license"] == setup_cfg()["metadata"]["license"].strip()
    assert (REPO / about["license_file"]).is_file()
    assert "doi:10.1186/s12859-019-3279-2" in meta["extra"]["identifiers"]


def test_requirement_specs_parse_as_conda_matchspecs(meta):
    import rattler  # py-rattler (the [test] extra): conda's own match-spec grammar

    for section in ("host", "run"):
        for spec in meta["requirements"][section]:
            parsed = rattler.MatchSpec(spec)
            assert parsed.name.normalized == split_spec(spec)[0]


# --- scripts/recipe-sha256.py -----------------------------------------------------------------------------------


def build_sdist(dist: Path) -> tuple[str, Path]:
    """Run the script for real (--print): the digest it prints and the sdist it wrote."""
    result = subprocess.run([sys.executable, str(SCRIPT), "--print", "--dist", str(dist)], capture_output=True,
                            text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "two builds identical" in result.stderr
    return result.stdout.strip(), dist / f"deepmir_tools-{version_of_package()}.tar.gz"


@pytest.mark.slow
def test_script_builds_a_reproducible_sdist_of_the_package(tmp_path):
    digest, sdist = build_sdist(tmp_path / "a")
    again, second = build_sdist(tmp_path / "b")
    assert digest == again == hashlib.sha256(sdist.read_bytes()).hexdigest() == hashlib.sha256(
        second.read_bytes()).hexdigest()
    top = f"deepmir_tools-{version_of_package()}"
    with tarfile.open(sdist) as archive:
        members = archive.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names) and names[0] == top
        assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(members[0].mtime, 0, 0, "", "")}
        assert {f"{top}/setup.cfg", f"{top}/pyproject.toml", f"{top}/PKG-INFO", f"{top}/LICENSE",
                f"{top}/deepmir_tools/models/hairpin.npz", f"{top}/deepmir_tools/models/mature.npz"} <= set(names)
        assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".nbi", ".nbc"))]
        shipped = {n.removeprefix(top + "/") for n in names if n.startswith(f"{top}/deepmir_tools/")
                   and n.endswith(".py")}
        assert shipped == {str(p.relative_to(REPO)) for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
        packed_cfg = archive.extractfile(f"{top}/setup.cfg").read().decode()
        pkg_info = email.message_from_bytes(archive.extractfile(f"{top}/PKG-INFO").read())
        # install_requires as pip will read them: the lines of requires.txt before its first [extra] section
        requires_txt = archive.extractfile(f"{top}/deepmir_tools.egg-info/requires.txt").read().decode()
    packed = configparser.ConfigParser()
    packed.read_string(packed_cfg)  # setuptools rewrites setup.cfg (adds [egg_info]), so compare its contents
    assert requirement_table(packed["options"]["install_requires"].strip().splitlines()) == install_requires()
    requires = requires_txt.split("\n[", 1)[0].split()
    assert requirement_table(requires) == install_requires()
    assert pkg_info["Version"] == version_of_package()
    # the gzip header carries neither a file name nor a time
    header = sdist.read_bytes()[:10]
    assert header[:3] == b"\x1f\x8b\x08" and header[3] == 0 and header[4:8] == b"\0\0\0\0"


def test_update_recipe_writes_the_digest_and_the_release_url():
    text = RECIPE.read_text()
    version = version_of_package()
    digest = hashlib.sha256(b"deepmir").hexdigest()
    updated = recipe_sha256.update_recipe(text, version, digest, f"v{version}")
    rendered = render(updated)
    assert rendered["source"]["sha256"] == digest
    assert rendered["source"]["url"] == (f"https://github.com/deepmir-tools/deepmir-tools/releases/download/v{version}/"
                                         f"deepmir_tools-{version}.tar.gz")
    # only the sha256 line changes without a tag; the rest of the recipe is kept byte for byte
    plain = recipe_sha256.update_recipe(text, version, digest, None)
    changed = [(a, b) for a, b in zip(text.splitlines(), plain.splitlines()) if a != b]
    assert len(changed) <= 1 and len(plain.splitlines()) == len(text.splitlines())
    assert f'{{% set sha256 = "{digest}" %}}' in plain
    with pytest.raises(recipe_sha256.ScriptError, match="the package is 9.9.9"):
        recipe_sha256.update_recipe(text, "9.9.9", digest, None)


def test_run_requirements_as_the_script_reads_them(meta):
    parsed = recipe_sha256.run_requirements(RECIPE.read_text())
    assert [(n, SpecifierSet(c)) for n, c in parsed] == [split_spec(s) for s in meta["requirements"]["run"]]
