"""``datacheck review``: a local page to go through an audit's findings and record decisions.

A Flask app served by werkzeug on 127.0.0.1 only. Every request needs the per-session token
from the URL the command prints (constant-time compare); the one write it makes is the
decisions file, through :func:`decisions.save`, for ids of the audited findings only. The
page: a card per finding (thumbnails, pairs side by side with their difference), filters by
check, kind and transform, progress, and keys (j/k move, o ok, d drop, e keep one, r relabel,
m move). Thumbnails are asked for as the page scrolls (``loading=lazy``) and kept in the
feature cache by content digest.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageChops

from .. import checks as registry
from ..features.cache import FeatureCache
from ..features.samples import make_thumbnail
from ..sources.source import Source
from ..sources.split_names import SPLITS
from . import decisions as decided
from .fixes import decision_for

THUMB_PX = 192
IMAGE_KEYS = ("a", "b", "path", "paths")


def findings_of(report: Mapping) -> list[dict]:
    """The page's rows: every finding of every check, with its images and one line of text."""
    rows = []
    for check, result in report["checks"].items():
        for row in result["findings"]:
            images = [p for key in IMAGE_KEYS for p in _paths(row.get(key))]
            text = registry.line(check, row)
            rows.append({"id": row["id"], "check": check, "kind": row.get("kind"),
                         "transform": row.get("transform"), "images": images[:6],
                         "labels": [row.get("label_a"), row.get("label_b")]
                         if "label_a" in row else [row.get("label") or row.get("given")],
                         "suggested": row.get("suggested"), "text": text,
                         "review": row.get("review")})
    return rows


def make_app(report: Mapping, findings: Mapping[str, pd.DataFrame], images: pd.DataFrame,
             source: Source, file: Path, cache_dir: str | None = None,
             token: str | None = None):
    """The Flask app for one audit: ``findings`` by check (with ``id``), ``images`` its image
    table (path, digest, split, ...), ``file`` the decisions file to write, ``cache_dir`` the
    feature cache that keeps thumbnails by content digest (as the HTML report's)."""
    from flask import Flask, Response, abort, request

    app = Flask(__name__)
    app.config["TOKEN"] = token or secrets.token_urlsafe(16)
    rows = findings_of(report)
    by_id = {r["id"]: r for r in rows}
    raw = {row["id"]: (check, row) for check, frame in findings.items()
           for row in frame.to_dict("records")}
    known = set(images["path"])
    digest_of = {p: d for p, d in zip(images["path"], images["digest"], strict=True)
                 if isinstance(d, str)}

    def thumbnail(path: str) -> Image.Image | None:
        return _thumbnail(source, path, digest_of.get(path), cache_dir)

    @app.before_request
    def _token():
        given = request.args.get("token") or request.headers.get("X-Token") or ""
        if not secrets.compare_digest(given, app.config["TOKEN"]):
            abort(403)

    @app.get("/")
    def page():
        data = json.dumps({"findings": rows, "token": app.config["TOKEN"]}).replace("</", "<\\/")
        return Response(PAGE.replace("/*DATA*/null", data), mimetype="text/html")

    @app.get("/thumb")
    def thumb():
        path = request.args.get("path", "")
        if path not in known:
            abort(404)
        return _jpeg(thumbnail(path))

    @app.get("/diff")
    def diff():
        a, b = request.args.get("a", ""), request.args.get("b", "")
        if a not in known or b not in known:
            abort(404)
        left, right = thumbnail(a), thumbnail(b)
        if left is None or right is None:
            abort(404)
        right = right.resize(left.size)
        return _jpeg(Image.fromarray(np.asarray(ImageChops.difference(left, right)) * 2
                                     ).convert("RGB"))

    @app.post("/decide")
    def decide():
        body = request.get_json(silent=True) or {}
        finding_id, choice = str(body.get("id", "")), str(body.get("decision", ""))
        value = body.get("value") or None
        if finding_id not in raw or choice not in decided.DECISIONS or (
                choice in ("relabel", "move") and not value) or (
                choice == "move" and value not in SPLITS) or (
                choice == "keep-one" and raw[finding_id][0] != "duplicates"):
            abort(400)
        check, row = raw[finding_id]
        entries = decided.load(file)
        entries.pop(finding_id, None)
        entries[finding_id] = decision_for(finding_id, check, row, choice,
                                           None if value is None else str(value),
                                           str(body.get("note") or ""), images)
        decided.save(file, entries)
        by_id[finding_id]["review"] = "ok" if choice == "ok" else f"fix pending: {choice}"
        done = sum(1 for r in rows if r["review"])
        return {"id": finding_id, "review": by_id[finding_id]["review"], "reviewed": done,
                "total": len(rows)}

    return app


def _paths(value) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value if isinstance(v, str)]
    return [value] if isinstance(value, str) else []


def _thumbnail(source: Source, path: str, digest: str | None,
               cache_dir: str | None) -> Image.Image | None:
    """The thumbnail from the feature cache, else made from the file (and kept)."""
    store = FeatureCache(cache_dir) if cache_dir and digest else None
    try:
        uri = (store.previews([digest], THUMB_PX).get(digest) or (None,))[0] if store else None
        if uri is None:
            uri, _, (width, height) = make_thumbnail(source, path, THUMB_PX)
            if uri is not None and store is not None:
                store.store_previews(THUMB_PX, [(digest, uri, width, height)])
    finally:
        if store is not None:
            store.close()
    if uri is None:
        return None
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")


def _jpeg(img: Image.Image | None):
    from flask import Response, abort

    if img is None:
        abort(404)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return Response(buf.getvalue(), mimetype="image/jpeg")


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>datacheck review</title>
<style>
body{font:14px system-ui,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{position:sticky;top:0;background:#fff;border-bottom:1px solid #d0d7de;padding:10px 16px;
display:flex;gap:12px;align-items:center;z-index:1}
#progress{font-weight:600}.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;
margin:12px 16px;padding:10px}.card.focus{outline:3px solid #54aeff}
.card.done{opacity:.6}.imgs{display:flex;gap:8px;flex-wrap:wrap}
.imgs img{width:192px;height:192px;object-fit:contain;background:#eef1f4;border-radius:4px}
.id{font-family:monospace;color:#57606a}.review{font-weight:600;color:#116329}
button{margin-right:6px}
</style></head><body>
<header><b>datacheck review</b><span id="progress"></span>
<select id="f-check"><option value="">every check</option></select>
<select id="f-kind"><option value="">every kind</option></select>
<select id="f-transform"><option value="">every transform</option></select>
<span>keys: j/k move, o ok, d drop, e keep one, r relabel, m move</span></header>
<main id="list"></main>
<script>
const DATA = /*DATA*/null;
const T = encodeURIComponent(DATA.token);
const list = document.getElementById("list");
let focus = 0;
function esc(s){return String(s ?? "").replace(/[&<>"']/g,
  c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));}
function img(src){return `<img loading="lazy" src="${src}">`;}
function card(f){
  const pics = f.images.map(p => img(`thumb?token=${T}&path=${encodeURIComponent(p)}`));
  if (f.images.length === 2 && f.check === "leakage")
    pics.push(img(`diff?token=${T}&a=${encodeURIComponent(f.images[0])}` +
                  `&b=${encodeURIComponent(f.images[1])}`));
  const labels = f.labels.filter(x => x != null).map(esc).join(" / ");
  return `<div class="card${f.review ? " done" : ""}" data-id="${esc(f.id)}">
    <div><span class="id">${esc(f.id)}</span> · ${esc(f.check)} · ${esc(f.kind)}
    ${f.transform ? "· " + esc(f.transform) : ""} ·
    <span class="review">${esc(f.review)}</span></div>
    <div>${esc(f.text)}</div><div>${labels}${f.suggested != null ?
      " → suggested " + esc(f.suggested) : ""}</div>
    <div class="imgs">${pics.join("")}</div>
    <div><button data-d="ok">ok (o)</button><button data-d="drop">drop (d)</button>
    <button data-d="keep-one">keep one (e)</button><button data-d="relabel">relabel (r)</button>
    <button data-d="move">move (m)</button></div></div>`;
}
function shown(){
  const [c,k,t] = ["check","kind","transform"].map(n => document.getElementById("f-"+n).value);
  return DATA.findings.filter(f => (!c || f.check === c) && (!k || f.kind === k) &&
                                   (!t || f.transform === t));
}
function progress(){
  const done = DATA.findings.filter(f => f.review).length;
  document.getElementById("progress").textContent =
    `${done.toLocaleString()} of ${DATA.findings.length.toLocaleString()} reviewed`;
}
function render(){
  list.innerHTML = shown().map(card).join("");
  focus = Math.min(focus, Math.max(0, list.children.length - 1));
  if (list.children[focus]) list.children[focus].classList.add("focus");
  progress();
}
async function decide(id, decision){
  let value = null;
  if (decision === "relabel") value = prompt("new label");
  if (decision === "move") value = prompt("move to split (train, val, test, ...)");
  if ((decision === "relabel" || decision === "move") && !value) return;
  const r = await fetch(`decide?token=${T}`, {method: "POST",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({id, decision, value})});
  if (!r.ok) { alert("not recorded: " + r.status); return; }
  const answer = await r.json();
  const f = DATA.findings.find(f => f.id === id);
  f.review = answer.review;
  const old = list.querySelector(`.card[data-id="${CSS.escape(id)}"]`);
  if (old) {  // redraw this card only: a page of 1,000 stays quick
    const focused = old.classList.contains("focus");
    old.outerHTML = card(f);
    if (focused) list.querySelector(`.card[data-id="${CSS.escape(id)}"]`).classList.add("focus");
  }
  progress();
}
list.addEventListener("click", e => {
  const b = e.target.closest("button[data-d]");
  if (b) decide(b.closest(".card").dataset.id, b.dataset.d);
});
document.addEventListener("keydown", e => {
  if (e.target.tagName === "SELECT") return;
  const keys = {o: "ok", d: "drop", e: "keep-one", r: "relabel", m: "move"};
  const cards = list.children;
  if (e.key === "j" || e.key === "k") {
    if (cards[focus]) cards[focus].classList.remove("focus");
    focus = Math.max(0, Math.min(cards.length - 1, focus + (e.key === "j" ? 1 : -1)));
    cards[focus].classList.add("focus"); cards[focus].scrollIntoView({block: "nearest"});
  } else if (keys[e.key] && cards[focus]) decide(cards[focus].dataset.id, keys[e.key]);
});
for (const name of ["check","kind","transform"]) {
  const sel = document.getElementById("f-"+name);
  [...new Set(DATA.findings.map(f => f[name]).filter(x => x))].sort().forEach(v => {
    const o = document.createElement("option"); o.value = v; o.textContent = v; sel.append(o);
  });
  sel.addEventListener("change", () => { focus = 0; render(); });
}
render();
</script></body></html>"""
