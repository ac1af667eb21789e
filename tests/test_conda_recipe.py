"""The bioconda recipe conda-recipe/meta.yaml, checked offline (conda channels are not reachable here).

The recipe is rendered like conda-build does (jinja2 with stand-ins for ``PYTHON`` and ``pin_subpackage``), parsed
as YAML, and compared with the package itself: version, console scripts, the run requirements against the imports
the package really makes and against the version pins in setup.cfg, and the test commands.
"""

from __future__ import annotations

import ast
import configparser
import re
import sys
from pathlib import Path

import pytest

jinja2 = pytest.importorskip("jinja2")
yaml = pytest.importorskip("yaml")
from packaging.requirements import Requirement  # noqa: E402  (after the importorskips)
from packaging.specifiers import SpecifierSet  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RECIPE = REPO / "conda-recipe" / "meta.yaml"
PACKAGE = REPO / "deepmir_tools"

# conda package name -> (PyPI names in setup.cfg, top-level import name)
CONDA_TO_PYPI_IMPORT = {
    "numpy": (("numpy",), "numpy"),
    "tensorflow": (("tensorflow", "tensorflow-cpu"), "tensorflow"),
    "keras": (("keras",), "keras"),
    "viennarna": (("viennarna",), "RNA"),
    "pysam": (("pysam",), "pysam"),
    "python-edlib": (("edlib",), "edlib"),
    "parasail-python": (("parasail",), "parasail"),
    "matplotlib-base": (("matplotlib",), "matplotlib"),
    "matplotlib": (("matplotlib",), "matplotlib"),
    "tqdm": (("tqdm",), "tqdm"),
    "biopython": (("biopython",), "Bio"),
    "numba": (("numba",), "numba"),
    "platformdirs": (("platformdirs",), "platformdirs"),
}


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


def install_requires() -> dict[str, SpecifierSet]:
    """PyPI name -> specifiers, environment markers ignored (tensorflow and tensorflow-cpu share pins)."""
    result = {}
    for line in setup_cfg()["options"]["install_requires"].strip().splitlines():
        requirement = Requirement(line.strip())
        result[requirement.name.lower()] = requirement.specifier
    return result


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
    assert str(meta["package"]["version"]) == version_of_package()
    assert version_of_package() in meta["source"]["url"]
    assert re.fullmatch(r"[0-9a-f]{64}", meta["source"]["sha256"])


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
        assert conda_name in CONDA_TO_PYPI_IMPORT, f"unknown run requirement {conda_name}: add its mapping"
        _, module = CONDA_TO_PYPI_IMPORT[conda_name]
        assert module in imports, f"run requirement {conda_name} (import {module}) is not imported by deepmir_tools"
    covered = {CONDA_TO_PYPI_IMPORT[name][1] for name in run}
    assert imports <= covered, f"imported but not a run requirement: {sorted(imports - covered)}"


def test_run_pins_match_setup_cfg(meta):
    pypi = install_requires()
    for spec in meta["requirements"]["run"]:
        conda_name, specifier = split_spec(spec)
        if conda_name == "python":
            continue
        names = [n for n in CONDA_TO_PYPI_IMPORT[conda_name][0] if n in pypi]
        assert names, f"{conda_name} is not in setup.cfg install_requires"
        assert specifier == pypi[names[0]], f"{conda_name}: recipe {specifier} != setup.cfg {pypi[names[0]]}"


def test_test_section_runs_every_command_and_a_real_classification(meta):
    commands = meta["test"]["commands"]
    for script in console_scripts():
        assert f"{script} --help" in commands
    classify = [c for c in commands if c.startswith("deepmir-classify test-data/") and "-m hairpin" in c]
    assert classify, "no real classification with the shipped model"
    for path in meta["test"]["source_files"]:
        assert (REPO / path).is_file(), f"test source file {path} missing from the repository"
        assert any(path in c for c in commands)
    assert "deepmir_tools" in meta["test"]["imports"]


def test_about_and_identifiers(meta):
    about = meta["about"]
    for key in ("home", "license", "license_file", "summary", "dev_url", "doc_url"):
        assert about.get(key), key
    assert about["license"] == setup_cfg()["metadata"]["license"].strip()
    assert (REPO / about["license_file"]).is_file()
    assert "doi:10.1186/s12859-019-3279-2" in meta["extra"]["identifiers"]


def test_requirement_specs_parse_as_conda_matchspecs(meta):
    rattler = pytest.importorskip("rattler")  # py-rattler, when installed: conda's own spec grammar
    for section in ("host", "run"):
        for spec in meta["requirements"][section]:
            rattler.MatchSpec(spec)
