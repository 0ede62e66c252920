"""Glob patterns over store keys: ``*`` and ``?`` within one path segment, ``**`` across segments."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

_MAGIC = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class FilePattern:
    """A glob relative to a store's root, such as ``events/**/*.parquet``.

    It matches keys with ``/`` separators the way ``pathlib`` globs paths: ``*`` never crosses a
    ``/``, and a ``**`` segment stands for zero or more whole segments.
    """

    text: str

    @cached_property
    def segments(self) -> tuple[str, ...]:
        """The pattern's ``/``-separated parts (empty ones dropped)."""
        return tuple(part for part in self.text.strip("/").split("/") if part and part != ".")

    @cached_property
    def literal_prefix(self) -> str:
        """The leading segments without wildcards, joined with ``/`` and ending in ``/`` (or empty).

        Listing only below this prefix is what keeps a glob over a large bucket cheap.
        """
        literal: list[str] = []
        for part in self.segments[:-1]:
            if _MAGIC.search(part):
                break
            literal.append(part)
        return "".join(f"{part}/" for part in literal)

    @cached_property
    def max_depth(self) -> int | None:
        """How many segments below the literal prefix a match has at most; None with ``**``."""
        if "**" in self.segments:
            return None
        return len(self.segments) - self.literal_prefix.count("/")

    @cached_property
    def _regex(self) -> re.Pattern[str]:
        body = ""
        for index, part in enumerate(self.segments):
            last = index == len(self.segments) - 1
            if part == "**":
                body += ".*" if last else "(?:[^/]+/)*"
                continue
            body += _segment(part) + ("" if last else "/")
        return re.compile(body + r"\Z", re.S)

    def matches(self, key: str) -> bool:
        """Whether ``key`` (relative to the root, ``/``-separated) matches the whole pattern."""
        return bool(self._regex.match(key))


def _segment(part: str) -> str:
    """One segment's wildcards as a regular expression that stays inside the segment."""
    out, index = "", 0
    while index < len(part):
        char = part[index]
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = part.find("]", index + 2 if part[index + 1 : index + 2] in ("!", "]") else index + 1)
            if end == -1:
                out += re.escape(char)
            else:
                inner = part[index + 1 : end]
                negate = inner.startswith("!")
                inner = re.escape(inner[1:] if negate else inner).replace(r"\-", "-")
                out += f"[{'^' if negate else ''}{inner}]"
                index = end
        else:
            out += re.escape(char)
        index += 1
    return out
