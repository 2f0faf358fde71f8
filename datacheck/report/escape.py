"""Escaping for untrusted text (file names, labels) in Markdown and HTML."""

from __future__ import annotations

import html
import re

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def _printable(text: object) -> str:
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in str(text))


def md(text: object) -> str:
    """Text safe inside a GitHub Markdown table cell: no markup, links, mentions or HTML."""
    s = _MD_SPECIAL.sub(r"\\\1", _printable(text))
    s = html.escape(s, quote=False)
    return s.replace("@", "&#64;").replace(":", "&#58;")


def html_text(text: object) -> str:
    """Text safe inside HTML element content and quoted attributes."""
    return html.escape(_printable(text), quote=True)


def plain(value: object) -> str:
    """A finding's value as short text: None -> '', floats to 3 significant digits, lists
    comma-separated."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(v) for v in value)
    return str(value)
