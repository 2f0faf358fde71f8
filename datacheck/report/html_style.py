"""The HTML report's style sheet (inline in the page; ``%(t)d`` is the thumbnail size) and the
small formatting pieces (badges, numbers, breakable paths) every section uses."""

from __future__ import annotations

from .escape import html_text as e
from .escape import plain

STATUS_ORDER = ("fail", "warn", "pass")
#: Nothing from the network: inline style, ``data:`` images, no script.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

CSS = """
:root{--t:%(t)dpx;--fg:#1f2328;--mut:#59636e;--bd:#d1d9e0;--bg:#f6f8fa;--card:#fff}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,
sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1240px;margin:0 auto;padding:20px 24px 48px}
header.top{display:flex;flex-wrap:wrap;align-items:center;gap:12px 18px;margin-bottom:6px}
h1{font-size:22px;margin:0}
h2{font-size:18px;margin:0 0 6px;display:flex;align-items:center;gap:10px}
h2 .meta{font-size:13px;font-weight:400}
h3{font-size:14px;margin:14px 0 6px}
nav{display:flex;flex-wrap:wrap;gap:6px;margin:10px 0 18px}
nav a{color:var(--fg);text-decoration:none;background:var(--card);border:1px solid var(--bd);
border-radius:999px;padding:2px 10px;font-size:13px}
nav a:hover{border-color:#8c959f}
section{background:var(--card);border:1px solid var(--bd);border-radius:10px;padding:16px 18px;
margin:0 0 18px}
.meta{color:var(--mut)}
.note{color:var(--mut);font-size:13px;margin:10px 0 0}
.badge{display:inline-block;border-radius:999px;padding:1px 9px;font-size:12px;font-weight:600;
white-space:nowrap;border:1px solid transparent}
.pass{background:#dafbe1;color:#116329;border-color:#aceebb}
.warn{background:#fff8c5;color:#7d4e00;border-color:#f5e0a0}
.fail{background:#ffebe9;color:#a40e26;border-color:#ffcecb}
.skip,.info{background:#eff2f5;color:#59636e;border-color:#d1d9e0}
table{border-collapse:collapse;width:100%%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e6eaef;vertical-align:top}
th{font-size:12px;text-transform:uppercase;letter-spacing:.03em;color:var(--mut)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.path{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;
overflow-wrap:anywhere}
.grid{display:grid;gap:12px;grid-template-columns:repeat(auto-fill,minmax(calc(2*var(--t) +
150px),1fr))}
.card{border:1px solid var(--bd);border-radius:8px;padding:10px;background:#fff}
.pair{display:grid;grid-template-columns:var(--t) 1fr var(--t);gap:10px;align-items:start}
.side{display:grid;grid-template-columns:var(--t) 1fr;gap:10px;align-items:start}
.mid{text-align:center;font-size:12px;color:var(--mut);padding-top:calc(var(--t)/2 - 26px)}
.mid b{display:block;font-size:15px;color:var(--fg)}
figure{margin:0;width:var(--t)}
figcaption{font-size:11px;color:var(--mut);margin-top:3px;overflow-wrap:anywhere}
figcaption .lab{color:var(--fg);font-weight:600}
figcaption .detail{color:var(--fg);margin-top:2px}
.fid{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:11px;
color:var(--mut);margin-top:4px;user-select:all}
.thumb{display:block;width:var(--t);height:var(--t);object-fit:contain;border-radius:5px;
background:#eef1f4;border:1px solid #e1e6eb}
img.px{image-rendering:pixelated}
.ph{display:flex;align-items:center;justify-content:center;text-align:center;font-size:11px;
color:#8c959f;background:repeating-linear-gradient(45deg,#f3f4f6 0 8px,#e9ecef 8px 16px)}
.row{display:flex;flex-wrap:wrap;gap:10px;margin-top:8px}
.head{display:flex;flex-wrap:wrap;gap:6px 10px;align-items:center}
.arrow{font-weight:600}
.given{color:#a40e26;text-decoration:line-through}
.sugg{color:#116329;font-weight:600}
.track{display:inline-block;vertical-align:middle;width:120px;height:8px;margin-right:8px;
background:#eef1f4;border-radius:4px;overflow:hidden}
.bar{height:8px;background:#54aeff}
.who{display:grid;grid-template-columns:auto 1fr;gap:2px 8px;margin-top:8px;font-size:12px}
.who .path{font-size:11.5px}
.samples th{width:1%%;white-space:nowrap;text-transform:none;font-size:14px;color:var(--fg);
padding-top:26px}
td.pic,th.pic{width:1%%}
.split-group{display:flex;flex-direction:column;gap:4px;margin-right:12px}
.split-group>span{font-size:12px;color:var(--mut)}
details summary{cursor:pointer;color:var(--mut)}
footer{color:var(--mut);font-size:12px;text-align:center}
"""


def document(*, title: str, top: str, sections: list[tuple[str, str, str]], px: int,
             footer: str) -> str:
    """A whole page: ``top`` (HTML) in the header, a nav of the ``sections`` (anchor, nav
    label as text, HTML body), the style sheet for ``px``-pixel thumbnails. ``title`` and
    ``footer`` are HTML (escaped by the caller)."""
    nav = "".join(f'<a href="#{a}">{e(t)}</a>' for a, t, _ in sections)
    body = "".join(f'<section id="{a}">{h}</section>' for a, _, h in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{title}</title><style>{CSS % {'t': px}}</style></head><body><main>"
        f'<header class="top">{top}</header><nav>{nav}</nav>{body}'
        f"<footer>{footer} · generated by datacheck</footer></main></body></html>\n")


def breakable(path: object) -> str:
    """An escaped path that may wrap after each '/'."""
    return "/<wbr>".join(e(part) for part in str(path).split("/"))


def badge(status: object) -> str:
    cls = status if status in STATUS_ORDER else "info"
    return f'<span class="badge {cls}">{e(status if status is not None else "?")}</span>'


def num(value: object) -> str:
    if isinstance(value, bool):
        return e(value)
    if isinstance(value, int):
        return f"{value:,}"
    return e(plain(value))


