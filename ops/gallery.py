"""`gallery`: one self-contained HTML page per task, showing per image the source, the translated
(final) and the inpainted background side by side, with the code, message and editor template.

Thumbnails are embedded as `data:` URIs (JPEG, ~320 px), so the page can be mailed or archived; with
`links=True` the images are presigned OSS links instead (smaller page, links expire).

The manifest stores `sourceImageUrl` without its query string (signed URLs are secrets), so a signed
source cannot be fetched from the manifest alone: pass the original URLs (`sources`, e.g. the file
given to `submit`) and they are matched by their query-less form. Anything that cannot be fetched or
decoded is shown as a link with the reason, never fails the page. Every text is HTML-escaped."""

from __future__ import annotations

import base64
import html
import io
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from collector.redaction import redact, strip_query

THUMBNAIL_PIXELS = 320
MAX_FETCH_BYTES = 20 * 1024 * 1024
MAX_TEMPLATE_CHARS = 64 * 1024
SOURCE_TIMEOUT_SECONDS = 10.0


@dataclass
class Picture:
    """One cell of the gallery: a thumbnail, or a link with why there is no thumbnail."""

    label: str
    data_uri: str | None = None
    href: str | None = None
    note: str | None = None


@dataclass
class GalleryRow:
    index: int
    success: bool
    code: Any
    message: str | None
    pictures: list[Picture] = field(default_factory=list)
    template: str | None = None


def thumbnail_data_uri(data: bytes, pixels: int = THUMBNAIL_PIXELS) -> str:
    """A JPEG thumbnail as a data: URI. Raises ValueError if the bytes are not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.thumbnail((pixels, pixels))
            rgb = image.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"not a readable image ({type(exc).__name__})") from None
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def source_map(urls: Iterable[str]) -> dict[str, str]:
    """Query-less URL -> the full (possibly signed) URL, to find what the manifest points at."""
    return {str(strip_query(u)): u for u in urls}


def fetch_url(url: str, timeout: float = SOURCE_TIMEOUT_SECONDS) -> bytes:
    if not url.startswith(("http://", "https://")):
        raise ValueError("not an http(s) URL")
    request = urllib.request.Request(url, headers={"User-Agent": "alimt-collector-gallery"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data: bytes = response.read(MAX_FETCH_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise ValueError(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ValueError(f"unreachable ({type(exc).__name__})") from None
    if len(data) > MAX_FETCH_BYTES:
        raise ValueError("larger than the gallery fetches")
    return data


class GalleryBuilder:
    def __init__(
        self,
        bucket: Any,  # oss2.Bucket of the output bucket
        *,
        links: bool = False,
        link_expiry_seconds: int = 3600,
        sources: dict[str, str] | None = None,
        fetch_sources: bool = True,
    ) -> None:
        self._bucket = bucket
        self._links = links
        self._link_expiry = link_expiry_seconds
        self._sources = sources or {}
        self._fetch_sources = fetch_sources

    def rows(self, manifest: dict[str, Any]) -> list[GalleryRow]:
        rows: list[GalleryRow] = []
        for entry in manifest.get("images") or []:
            if not isinstance(entry, dict):
                continue
            row = GalleryRow(
                index=int(entry.get("index", len(rows))),
                success=entry.get("success") is True,
                code=entry.get("code"),
                message=entry.get("message"),
            )
            row.pictures.append(self._source(entry.get("sourceImageUrl")))
            for kind, label in (("final", "translated"), ("inpainting", "inpainting")):
                row.pictures.append(self._stored(label, entry.get(kind)))
            template = entry.get("template")
            if isinstance(template, dict) and template.get("key"):
                row.template = self._template_text(str(template["key"]))
            rows.append(row)
        return rows

    def _source(self, url: Any) -> Picture:
        if not isinstance(url, str) or not url:
            return Picture("source", note="no source URL in the manifest")
        shown = strip_query(url) or url
        full = self._sources.get(shown, url)
        if not self._fetch_sources:
            return Picture("source", href=shown, note="not fetched")
        try:
            return Picture("source", data_uri=thumbnail_data_uri(fetch_url(full)), href=shown)
        except ValueError as problem:
            hint = "" if shown in self._sources else "; pass the original URLs with --sources"
            return Picture("source", href=shown, note=f"could not fetch: {problem}{hint}")

    def _stored(self, label: str, stored: Any) -> Picture:
        if not isinstance(stored, dict) or not stored.get("key"):
            return Picture(label, note="none (not produced or not requested)")
        key = str(stored["key"])
        if self._links:
            return Picture(label, href=self._bucket.sign_url("GET", key, self._link_expiry))
        try:
            data = self._bucket.get_object(key).read(MAX_FETCH_BYTES + 1)
            if len(data) > MAX_FETCH_BYTES:
                raise ValueError("larger than the gallery embeds")
            return Picture(label, data_uri=thumbnail_data_uri(data), note=key)
        except ValueError as problem:
            return Picture(label, note=f"{key}: {problem}")
        except Exception as exc:  # oss2 errors: show them, keep building the page
            return Picture(label, note=f"{key}: could not read ({type(exc).__name__})")

    def _template_text(self, key: str) -> str:
        try:
            data = self._bucket.get_object(key).read(MAX_TEMPLATE_CHARS + 1)
        except Exception as exc:
            return f"could not read {key}: {type(exc).__name__}"
        text = data.decode("utf-8", "replace")
        if len(data) > MAX_TEMPLATE_CHARS:
            text = text[:MAX_TEMPLATE_CHARS] + "\n…(truncated)"
        return redact(text)  # templates may hold signed URLs: the page is meant to be shared


# --- HTML ----------------------------------------------------------------------------------------
_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em} table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.5em;vertical-align:top;text-align:left}
img{max-width:320px;max-height:320px;display:block}
.fail{background:#fff0f0} .note{color:#666;font-size:.85em;max-width:320px;word-break:break-all}
pre{white-space:pre-wrap;max-width:60em;font-size:.8em}
"""


def render_html(task_id: str, manifest: dict[str, Any], rows: list[GalleryRow]) -> str:
    e = html.escape
    head = [
        f"<p>status <b>{e(str(manifest.get('status')))}</b>, "
        f"{e(str(manifest.get('imageCount', len(rows))))} image(s), "
        f"{e(str(manifest.get('failedCount', 0)))} failed, collected "
        f"{e(str(manifest.get('collectedAt')))}, output <code>{e(str(manifest.get('outputPrefix')))}</code></p>"
    ]
    body = [
        "<table><tr><th>#</th><th>source</th><th>translated</th><th>inpainting</th>"
        "<th>code / message</th></tr>"
    ]
    for row in rows:
        cells = [f"<td>{row.index}</td>"]
        for picture in row.pictures:
            cells.append(f"<td>{_picture_html(picture)}</td>")
        detail = f"<b>{e(str(row.code))}</b> {e(str(row.message or ''))}"
        if row.template is not None:
            detail += (
                f"<details><summary>template JSON</summary><pre>{e(row.template)}</pre></details>"
            )
        cells.append(f"<td>{detail}</td>")
        css = "" if row.success else ' class="fail"'
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
    body.append("</table>")
    title = f"alimt task {e(task_id)}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{title}</h1>{''.join(head)}{''.join(body)}</body></html>\n"
    )


def _picture_html(picture: Picture) -> str:
    e = html.escape
    parts = []
    if picture.data_uri:
        img = f'<img src="{e(picture.data_uri)}" alt="{e(picture.label)}">'
        parts.append(f'<a href="{e(picture.href)}">{img}</a>' if picture.href else img)
    elif picture.href:
        parts.append(f'<a href="{e(picture.href)}">{e(picture.label)}</a>')
    else:
        parts.append(f"<i>{e(picture.label)}</i>")
    if picture.note:
        parts.append(f'<div class="note">{e(picture.note)}</div>')
    return "".join(parts)
