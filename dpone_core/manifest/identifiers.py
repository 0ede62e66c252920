"""Table names as users write them: ``schema.table``, with SQL double quotes where a part needs them.

``public."Order Items"`` is the schema ``public`` and the table ``Order Items``; a quoted part keeps
its case and may hold dots (``"my.schema".t``) and doubled quotes (``"a""b"``). A name in which
no part starts with a quote keeps dpone's plain form: the first dot separates the schema, the rest
is the table, and quote characters inside it belong to the name (``Mixed "Quoted" Table``).
"""

from __future__ import annotations


def split_table_name(text: str) -> tuple[str | None, str]:
    """Split ``text`` into (schema or None, table); ``ValueError`` names what is malformed.

    >>> split_table_name('public."Order Items"')
    ('public', 'Order Items')
    >>> split_table_name("analytics.orders")
    ('analytics', 'orders')
    >>> split_table_name('"a.b"')
    (None, 'a.b')
    """
    if "\x00" in text:
        raise ValueError("a table name cannot contain a NUL character")
    if not text.startswith('"') and '."' not in text:
        schema, dot, name = text.partition(".")
        parts = [schema, name] if dot else [text]
    else:
        parts = _quoted_parts(text)
    if any(not part.strip() for part in parts):
        raise ValueError(f"'{text}' has an empty part; write schema.table or table")
    if len(parts) > 2:
        raise ValueError(f"'{text}' has {len(parts)} parts; write schema.table (quote a part that holds a dot)")
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def _quoted_parts(text: str) -> list[str]:
    parts: list[str] = []
    index = 0
    while True:
        if index < len(text) and text[index] == '"':
            part, index = _read_quoted(text, index + 1)
        else:
            end = text.find(".", index)
            end = len(text) if end == -1 else end
            part = text[index:end]  # unquoted: taken as written, quote characters included
            index = end
        parts.append(part)
        if index == len(text):
            return parts
        if text[index] != ".":
            raise ValueError(f"'{text}': expected a dot after the quoted part at position {index + 1}")
        index += 1


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """The content of a quoted part opened before ``start`` and the index after its closing quote."""
    chars: list[str] = []
    index = start
    while index < len(text):
        if text[index] == '"':
            if index + 1 < len(text) and text[index + 1] == '"':
                chars.append('"')
                index += 2
                continue
            return "".join(chars), index + 1
        chars.append(text[index])
        index += 1
    raise ValueError(f"'{text}': a quoted part is not closed")
