"""The error decomposition (:func:`datacheck.learning.decomposition.decompose`) as Markdown."""

from __future__ import annotations

from .escape import md


def render_decomposition(result: dict) -> str:
    """Markdown: error per split, then the components with their intervals."""
    lines = ["| split | images | error | ±95% |", "|---|---:|---:|---:|",
             f"| goal | | {result['goal']:.2%} | |"]
    for s, v in result["splits"].items():
        lines.append(f"| {md(s)} | {v['n']:,} | {v['error']:.2%} | {v['resolution']:.2%} |")
    lines += ["", "| component | value | 95% interval |", "|---|---:|---|"]
    for name, v in result["components"].items():
        label = name.replace("_", " ")
        lines.append(f"| {label} | n/a | split missing |" if v is None else
                     f"| {label} | {v['value']:+.2%} | {v['low']:+.2%} to {v['high']:+.2%} |")
    return "\n".join(lines) + "\n"
