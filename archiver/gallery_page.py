"""The gallery page: one self-contained HTML file, its data embedded as JSON.

Nothing in the page comes from elsewhere: the CSS and the script are inline, and a Content
Security Policy allows exactly those two (by hash) plus the archive's own files, so the page
makes no request outside its folder even if the data were hostile. User content never becomes
markup: the data sits in a `<script type="application/json">` block with `<`, `>` and `&`
escaped (a title cannot close the block), and the script puts it into the page with
`textContent` and element properties only. The script renders cards in batches as the reader
scrolls, so 5,000 clips open as fast as 60.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from datetime import UTC, datetime
from typing import Any

from .gallery_script import SCRIPT

__all__ = ["STYLE", "embed_json", "render_page"]

STYLE = """
:root{color-scheme:light dark;--bg:#f4f5f8;--card:#fff;--text:#1a1c22;--muted:#626a78;
--line:#e2e5eb;--chip:#eceef3;--accent:#5a4fd8;--on-accent:#fff;--warn:#b7700f;--bad:#d03b3b;
--shadow:0 1px 2px rgb(20 20 40/.06),0 4px 14px rgb(20 20 40/.05)}
@media (prefers-color-scheme:dark){:root{--bg:#0e1014;--card:#171a21;--text:#e6e8ee;
--muted:#99a1b0;--line:#272c36;--chip:#222733;--accent:#9d94ff;--on-accent:#15131f;
--warn:#e0a23a;--bad:#ff6b6b;--shadow:none}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
a{color:var(--accent)}
.top{position:sticky;top:0;z-index:5;border-bottom:1px solid var(--line);
background:color-mix(in srgb,var(--bg) 88%,transparent);backdrop-filter:blur(10px)}
.bar{max-width:1440px;margin:0 auto;padding:12px 20px;display:flex;flex-wrap:wrap;
gap:10px 16px;align-items:center}
.brand{flex:1 1 auto;min-width:0;display:flex;flex-wrap:wrap;align-items:baseline;gap:2px 14px}
h1{font-size:19px;margin:0;overflow-wrap:anywhere}
.stats{margin:0;color:var(--muted);font-size:13px}
.playlist{font-size:13px;white-space:nowrap}
.controls{display:flex;flex-wrap:wrap;gap:8px;flex:1 1 100%}
.controls input,.controls select{font:inherit;font-size:14px;padding:8px 11px;color:inherit;
border:1px solid var(--line);border-radius:10px;background:var(--card)}
.controls input{flex:1 1 280px;min-width:160px}
.controls select{flex:0 1 auto;max-width:240px}
.controls input:focus,.controls select:focus{outline:2px solid var(--accent);outline-offset:-1px}
main{max-width:1440px;margin:0 auto;padding:16px 20px 40px}
.count{margin:0 0 12px;color:var(--muted);font-size:13px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:16px}
.card{display:flex;flex-direction:column;min-width:0;background:var(--card);
border:1px solid var(--line);border-radius:14px;overflow:hidden;box-shadow:var(--shadow);
content-visibility:auto;contain-intrinsic-size:auto 560px}
.art{position:relative;aspect-ratio:1;background:var(--chip)}
.art a,.art img{display:block;width:100%;height:100%}
.art img{object-fit:cover}
.art.placeholder{display:grid;place-items:center;--hue:250;
background:linear-gradient(135deg,hsl(var(--hue) 55% 58%),hsl(calc(var(--hue) + 50) 55% 34%))}
.glyph{font-size:64px;color:rgb(255 255 255/.85)}
.badge{position:absolute;top:10px;left:10px;padding:3px 10px;border-radius:999px;
font-size:12px;font-weight:600;color:#fff;background:var(--warn)}
.badge.lost,.badge.error{background:var(--bad)}
.dur{position:absolute;right:10px;bottom:10px;padding:2px 7px;border-radius:6px;
font-size:12px;color:#fff;background:rgb(0 0 0/.62);font-variant-numeric:tabular-nums}
.body{display:flex;flex-direction:column;gap:8px;flex:1;padding:12px 14px 14px}
.title{margin:0;font-size:16px;line-height:1.3;overflow-wrap:anywhere;display:-webkit-box;
-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden}
.meta{margin:0;color:var(--muted);font-size:13px;overflow-wrap:anywhere}
.tags{display:flex;flex-wrap:wrap;gap:6px;margin:0;padding:0;list-style:none}
.tag{font:inherit;font-size:12px;line-height:1;padding:5px 9px;border:0;border-radius:999px;
background:var(--chip);color:inherit;cursor:pointer}
.tag:hover,.tag.on{background:var(--accent);color:var(--on-accent)}
audio,video{display:block;width:100%}
audio{height:36px}
audio:not([controls]){display:none}
.play{display:flex;align-items:center;gap:6px;width:100%;height:36px;padding:0 16px;
font:inherit;font-size:14px;font-weight:600;color:inherit;cursor:pointer;
border:1px solid var(--line);border-radius:999px;background:var(--chip)}
.play:hover,.play:focus-visible{background:var(--accent);color:var(--on-accent);
border-color:var(--accent)}
video{margin-top:8px;border-radius:8px;background:#000}
.noaudio{margin:0;color:var(--muted);font-size:13px;font-style:italic}
.notes{margin:0;padding:8px 10px;list-style:none;font-size:13px;overflow-wrap:anywhere;
border-radius:8px;background:color-mix(in srgb,var(--bad) 12%,transparent)}
.card[data-state=pending] .notes{background:color-mix(in srgb,var(--warn) 14%,transparent)}
details{font-size:13px}
summary{cursor:pointer;color:var(--muted);user-select:none}
summary:hover{color:var(--text)}
pre{margin:8px 0 0;max-height:320px;overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere;
font:inherit;font-size:13.5px}
.files{margin-top:auto;padding-top:4px;display:flex;flex-wrap:wrap;gap:4px 12px;
font-size:12.5px;color:var(--muted)}
.files .id{margin-left:auto;font-family:ui-monospace,monospace}
.empty{padding:60px 0;text-align:center;color:var(--muted)}
.more{height:1px}
footer{max-width:1440px;margin:0 auto;padding:0 20px 30px;color:var(--muted);font-size:12px}
@media (max-width:560px){.top{position:static}.bar,main{padding-left:12px;padding-right:12px}
.controls select{flex:1 1 28%;min-width:0}
.grid{grid-template-columns:1fr 1fr;gap:10px}.body{padding:10px}}
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="generator" content="suno-archiver {version}">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header class="top"><div class="bar">
<div class="brand"><h1>{title}</h1><p class="stats" id="stats">{stats}</p></div>
<a class="playlist" href="playlist.m3u8" title="Every saved audio">playlist.m3u8</a>
<div class="controls" role="search">
<input id="search" type="search" autocomplete="off" spellcheck="false"
 placeholder="Search title, creator, style, lyrics  ( / )" aria-label="Search">
<select id="tag" aria-label="Style"><option value="">All styles</option></select>
<select id="state" aria-label="Show"><option value="">Everything</option>
<option value="ok">Saved</option><option value="pending">Pending</option>
<option value="problem">Lost or failed</option></select>
<select id="sort" aria-label="Sort"><option value="new">Newest first</option>
<option value="old">Oldest first</option><option value="title">Title A-Z</option></select>
</div></div></header>
<main>
<p class="count" id="count" aria-live="polite"></p>
<noscript><p class="empty">This page lists the clips with JavaScript.
The files are in this folder, and playlist.m3u8 lists the audio.</p></noscript>
<div class="grid" id="grid"></div>
<p class="empty" id="empty" hidden>No clip matches.</p>
<div class="more" id="more"></div>
</main>
<footer>Written by suno-archiver {version} on {date}. Open it from the archive folder;
it needs no network.</footer>
<script type="application/json" id="gallery-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""


def render_page(items: list[dict[str, Any]], *, title: str, version: str) -> str:
    """The whole page for these cards (in archive order; the page sorts them itself)."""
    return _PAGE.format(
        csp=_policy(),
        version=html.escape(version),
        title=html.escape(title),
        stats=html.escape(_stats(items)),
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        style=STYLE,
        data=embed_json({"items": items}),
        script=SCRIPT,
    )


def embed_json(value: object) -> str:
    """JSON that is inert inside `<script>`: no `</script>`, `<!--` or `]]>` can appear."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _stats(items: list[dict[str, Any]]) -> str:
    clips = [item for item in items if item["kind"] == "clip"]
    parts = [f"{len(clips)} clips", f"{sum('audio' in item for item in clips)} with audio",
             f"{sum('video' in item for item in clips)} with video"]
    for state, label in (("lost", "with losses"), ("error", "failed"), ("pending", "pending")):
        if count := sum(item.get("state") == state for item in items):
            parts.append(f"{count} {label}")
    return " · ".join(parts)


def _policy() -> str:
    """Only this page's own script and style run; media and images only from its folder."""
    return "; ".join([
        "default-src 'none'",
        f"script-src {_digest(SCRIPT)}",
        f"style-src {_digest(STYLE)}",
        "img-src 'self' file: data:",
        "media-src 'self' file:",
        "base-uri 'none'",
        "form-action 'none'",
    ])


def _digest(source: str) -> str:
    hashed = base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii")
    return f"'sha256-{hashed}'"
