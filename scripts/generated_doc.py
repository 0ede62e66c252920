"""Shared by the docs generators: write a generated page, or with ``--check`` report whether it is stale."""

from __future__ import annotations

from pathlib import Path


def write_or_check(output: Path, text: str, argv: list[str], repo: Path, script: str) -> int:
    """Write ``text`` to ``output`` (exit code 0), or with ``--check`` return 1 when the file differs."""
    if "--check" in argv:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            print(f"{output.relative_to(repo)} is stale: run python scripts/{script}")
            return 1
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output.relative_to(repo)}")
    return 0
