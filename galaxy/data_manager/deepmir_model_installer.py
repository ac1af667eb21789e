"""Data manager helper of deepmir_model_installer.xml: one ``deepmir_models`` data table entry for a checked bundle.

The wrapper has already classified a real hairpin with the bundle (``deepmir-classify -m model.npz``), so the bundle
loads with the package's safe loader and runs; this script reads line 1 of that call table (model name, checksum and
decision rule), works out the entry's kind, ID and label, copies the bundle into the data manager's output folder
(Galaxy then moves it to ``<tool-data>/deepmir_models/`` as data_manager_conf.xml says) and writes the data manager
JSON. Errors are one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys

KINDS = ("hairpin", "mature")


def header_fields(path: str) -> dict[str, str]:
    """``key=value`` fields of line 1 of a deepmir-classify call table."""
    with open(path, encoding="utf-8") as handle:
        first = handle.readline()
    if not first.startswith("# deepmir-classify "):
        raise SystemExit(f"deepmir_model_installer: error: {path}: not a deepmir-classify call table")
    return dict(word.split("=", 1) for word in first.split() if "=" in word)


def is_read_model(fields: dict[str, str]) -> bool:
    """A read model's decision rule has a read-length range (``lengths=``) or a seed check (``seeds=``)."""
    return "lengths" in fields or "seeds" in fields


def safe_id(text: str) -> str:
    """An entry ID: letters, digits and ``._-`` only."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text).strip("._") or "model"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bundle", required=True, help="the checked model bundle (.npz)")
    parser.add_argument("--check", required=True, help="call table of the check classification")
    parser.add_argument("--kind", choices=("auto",) + KINDS, default="auto")
    parser.add_argument("--value", default="", help="entry ID (default: MODELNAME-SHA256[:12])")
    parser.add_argument("--name", default="", help="entry label (default: 'MODELNAME (KIND, sha256 SHA256[:12])')")
    parser.add_argument("--extra-dir", required=True, help="the data manager output's extra files folder")
    parser.add_argument("--json", required=True, help="the data manager JSON to write")
    args = parser.parse_args(argv)

    fields = header_fields(args.check)
    model, sha = fields.get("model", "model"), fields.get("model_sha256", "")
    read_model = is_read_model(fields)
    kind = args.kind if args.kind != "auto" else ("mature" if read_model else "hairpin")
    if kind == "hairpin" and read_model:
        rule = " ".join(f"{key}={fields[key]}" for key in ("lengths", "seeds") if key in fields)
        print(f"deepmir_model_installer: error: model {model} is a read model ({rule}): install it as kind 'mature'",
              file=sys.stderr)
        return 2
    value = safe_id(args.value or f"{model}-{sha[:12]}")
    name = " ".join((args.name or f"{model} ({kind}, sha256 {sha[:12]})").split())  # one line, no tabs
    path = f"{value}.npz"
    os.makedirs(args.extra_dir, exist_ok=True)
    shutil.copyfile(args.bundle, os.path.join(args.extra_dir, path))
    entry = {"value": value, "name": name, "kind": kind, "path": path}
    with open(args.json, "w", encoding="utf-8") as out:
        json.dump({"data_tables": {"deepmir_models": [entry]}}, out, indent=2, sort_keys=True)
        out.write("\n")
    print(f"deepmir_models: {value}\t{name}\t{kind}\t{path} (model {model}, sha256 {sha})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
