"""The repository stands alone: no file in it points at documents outside it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = ("../" + "shared", "/" + "work" + "/")
"""A sibling checkout's design notes and the absolute path of a developer's machine, spelt in two
pieces so that this file does not name them itself."""


def repository_text_files() -> Iterator[tuple[str, str]]:
    """(path, text) of every file git tracks or would track (new, not ignored); binaries left out."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout
    for name in sorted({n for n in listed.decode().split("\0") if n}):
        path = ROOT / name
        if not path.is_file():
            continue  # deleted in the working tree, not yet in the index
        data = path.read_bytes()
        if b"\0" not in data[:8192]:
            yield name, data.decode("utf-8", errors="replace")


def test_no_file_in_the_repository_refers_to_files_outside_it() -> None:
    found = [
        f"{name}:{number}: {line.strip()}"
        for name, text in repository_text_files()
        for number, line in enumerate(text.splitlines(), start=1)
        if any(outside in line for outside in OUTSIDE)
    ]
    assert found == [], "\n".join(found)


def test_the_domain_notes_the_packs_cite_are_in_the_repository() -> None:
    packs = sorted((ROOT / "rules" / "packs").glob("*.yaml"))
    citing = [p.name for p in packs if "docs/domain.md" in p.read_text(encoding="utf-8")]
    assert (ROOT / "docs" / "domain.md").is_file()
    assert citing == [p.name for p in packs]
