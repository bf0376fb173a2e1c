"""docs/architecture.md opens with a map of the tree, one line per folder: it must stay true."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Folders that hold no code or docs of ours: generated, cached, or the benchmarks' scratch data.
IGNORED = re.compile(r"(^|/)(__pycache__|[^/]*\.egg-info)(/|$)|^benchmarks/data(/|$)")


def mapped_folders() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = text.split("## Map", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    return [line.split()[0].rstrip("/") for line in block.splitlines() if line.strip()]


def tree_folders() -> set[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    folders: set[str] = set()
    for path in listed:
        if not (ROOT / path).exists():
            continue  # deleted in the working tree, not yet committed
        parent = Path(path).parent
        while str(parent) != ".":
            folders.add(parent.as_posix())
            parent = parent.parent
    return {f for f in folders if not IGNORED.search(f)}


def test_the_map_lists_every_folder_once_and_nothing_else() -> None:
    mapped = mapped_folders()
    assert len(mapped) == len(set(mapped)), "a folder is listed twice"
    tree = tree_folders()
    assert set(mapped) - tree == set(), "the map lists folders that do not exist"
    assert tree - set(mapped) == set(), "folders missing from the map in docs/architecture.md"


def test_the_runtime_package_top_holds_at_most_six_modules() -> None:
    package = ROOT / "layers" / "common" / "batchgate"
    modules = sorted(p.name for p in package.glob("*.py") if p.name != "__init__.py")
    assert len(modules) <= 6, modules


def test_only_the_api_and_the_handlers_import_the_api() -> None:
    package = ROOT / "layers" / "common" / "batchgate"
    offenders = [
        str(p.relative_to(package))
        for p in package.rglob("*.py")
        if "api" not in p.relative_to(package).parts[:1]
        and re.search(r"^\s*(from|import) batchgate\.api\b", p.read_text(encoding="utf-8"), re.M)
    ]
    assert offenders == []


def test_the_domain_imports_no_aws_sdk() -> None:
    core = ROOT / "layers" / "common" / "batchgate" / "core"
    for path in core.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from|import) (boto3|botocore)\b", source, re.M), path.name
        assert not re.search(r"^\s*from batchgate\.(?!core\b)", source, re.M), (
            f"{path.name} imports outside core"
        )


def test_only_the_adapters_create_aws_clients() -> None:
    package = ROOT / "layers" / "common" / "batchgate"
    offenders = [
        str(p.relative_to(package))
        for p in package.rglob("*.py")
        if p.relative_to(package).parts[0] != "aws"
        and re.search(
            r"^\s*(from|import) (boto3|botocore|batchgate\.aws\.clients)\b",
            p.read_text(encoding="utf-8"),
            re.M,
        )
    ]
    assert offenders == []
