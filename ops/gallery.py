"""`gallery`: one self-contained HTML page per task, showing per image the source, the translated
(final) and the inpainted background side by side, with the code, message and editor template.

Thumbnails are embedded as `data:` URIs (JPEG, ~320 px), so the page can be mailed or archived; each
opens the full-size image in a lightbox (CSS `:target`, no script), embedded too: the original bytes up
to `FULL_EMBED_MAX_BYTES`, a 2048 px JPEG beyond. With `links=True` the images are presigned OSS links
instead (smaller page, links expire). The page has a viewport and stacks each image's cells at phone
width; object keys break only at `/`. The language pair and field are shown when `submit` recorded them.

The manifest stores `sourceImageUrl` without its query string (signed URLs are secrets), so a signed
source cannot be fetched from the manifest alone: pass the original URLs (`sources`, e.g. the file
given to `submit`) and they are matched by their query-less form. Anything that cannot be fetched or
decoded is shown as a link with the reason, never fails the page. Every text is HTML-escaped."""

from __future__ import annotations

import base64
import html
import io
import re
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from collector.redaction import redact, strip_query

THUMBNAIL_PIXELS = 320
FULL_EMBED_MAX_BYTES = 8 * 1024 * 1024  # larger originals are shown scaled to SCALED_PIXELS
SCALED_PIXELS = 2048
BROWSER_FORMATS = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}
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
    full: FullImage | None = None  # what the thumbnail opens


@dataclass(frozen=True)
class FullImage:
    data_uri: str
    width: int
    height: int
    size: int  # bytes of the original
    scaled: bool  # too large to embed as is: a SCALED_PIXELS JPEG


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
    return _jpeg_uri(rgb)


def full_image(data: bytes) -> FullImage:
    """The image as the lightbox shows it: the original bytes when a browser can show them and they
    are not too large, else a scaled JPEG. Raises ValueError if the bytes are not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            mime = BROWSER_FORMATS.get(str(image.format))
            if mime and len(data) <= FULL_EMBED_MAX_BYTES:
                uri = f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
                return FullImage(uri, width, height, len(data), scaled=False)
            image.thumbnail((SCALED_PIXELS, SCALED_PIXELS))
            rgb = image.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"not a readable image ({type(exc).__name__})") from None
    return FullImage(_jpeg_uri(rgb, quality=85), width, height, len(data), scaled=True)


def _jpeg_uri(rgb: Any, quality: int = 80) -> str:
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=quality)
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
            data = fetch_url(full)
            return Picture(
                "source", data_uri=thumbnail_data_uri(data), href=shown, full=full_image(data)
            )
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
            return Picture(
                label, data_uri=thumbnail_data_uri(data), note=key, full=full_image(data)
            )
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
h1{font-size:1.3em;overflow-wrap:break-word} table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.5em;vertical-align:top;text-align:left}
td img{max-width:min(320px,100%);height:auto;display:block}
a.thumb{display:inline-block;cursor:zoom-in}
.fail{background:#fff0f0} .note{color:#666;font-size:.85em;max-width:320px}
.key{font-family:ui-monospace,monospace;font-size:.95em} .key>span{white-space:nowrap}
.request{font-weight:600}
pre{white-space:pre-wrap;max-width:40em;font-size:.8em;overflow-x:auto}
.lightbox{display:none}
.lightbox:target{display:flex;position:fixed;inset:0;z-index:10;flex-direction:column;
 align-items:center;justify-content:center;gap:.5em;padding:1em;box-sizing:border-box;
 background:rgba(20,20,20,.92);color:#eee;text-decoration:none;cursor:zoom-out}
.lightbox img{max-width:100%;max-height:calc(100vh - 4em);object-fit:contain;background:#fff}
.lightbox span{font-size:.85em;text-align:center}
@media (max-width:700px){
 body{margin:.75em}
 table,tbody,tr,td{display:block} thead{display:none}
 tr{border:1px solid #ccc;margin:0 0 1em}
 td{border:0;border-top:1px solid #eee}
 td:first-child{border-top:0;font-weight:600}
 td::before{content:attr(data-label);display:block;color:#666;font-size:.8em}
 .note{max-width:none;overflow-x:auto}
}
"""
COLUMNS = ("#", "source", "translated", "inpainting", "code / message")


def render_html(
    task_id: str,
    manifest: dict[str, Any],
    rows: list[GalleryRow],
    submission: dict[str, Any] | None = None,
) -> str:
    e = html.escape
    head = []
    asked = _request_line(submission)
    if asked:
        head.append(f'<p class="request">{asked}</p>')
    head.append(
        f"<p>status <b>{e(str(manifest.get('status')))}</b>, "
        f"{e(str(manifest.get('imageCount', len(rows))))} image(s), "
        f"{e(str(manifest.get('failedCount', 0)))} failed, collected "
        f"{e(str(manifest.get('collectedAt')))}, output {_key_html(str(manifest.get('outputPrefix')))}</p>"
    )
    body = [
        "<table><thead><tr>",
        *(f"<th>{e(name)}</th>" for name in COLUMNS),
        "</tr></thead><tbody>",
    ]
    for row in rows:
        cells = [f'<td data-label="image">{row.index}</td>']
        for picture in row.pictures:
            cells.append(
                f'<td data-label="{e(picture.label)}">{_picture_html(row.index, picture)}</td>'
            )
        detail = f"<b>{e(str(row.code))}</b> {e(str(row.message or ''))}"
        if row.template is not None:
            detail += (
                f"<details><summary>template JSON</summary><pre>{e(row.template)}</pre></details>"
            )
        cells.append(f'<td data-label="code / message">{detail}</td>')
        css = "" if row.success else ' class="fail"'
        body.append(f'<tr id="row-{row.index}"{css}>{"".join(cells)}</tr>')
    body.append("</tbody></table>")
    title = f"alimt task {e(task_id)}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{title}</h1>{''.join(head)}{''.join(body)}</body></html>\n"
    )


def _request_line(submission: dict[str, Any] | None) -> str | None:
    """`zh → en · field e-commerce · submitted …`, from the record `submit` wrote (if any)."""
    if not isinstance(submission, dict):
        return None
    source, target = submission.get("sourceLanguage"), submission.get("targetLanguage")
    if not isinstance(source, str) or not isinstance(target, str):
        return None
    e = html.escape
    parts = [f"{e(source)} → {e(target)}"]
    if isinstance(submission.get("field"), str):
        parts.append(f"field {e(submission['field'])}")
    if isinstance(submission.get("submittedAt"), str):
        parts.append(f"submitted {e(submission['submittedAt'])}")
    return " · ".join(parts)


def _key_html(text: str) -> str:
    """An object key or URL that may wrap after a `/` but never inside a name: each part up to a
    `/` is unbreakable (`nowrap`), with a break opportunity (`<wbr>`) between parts."""
    parts = re.findall(r"[^/]*/|[^/]+", text) or [text]
    return (
        '<span class="key">'
        + "<wbr>".join(f"<span>{html.escape(part)}</span>" for part in parts)
        + "</span>"
    )


def _picture_html(index: int, picture: Picture) -> str:
    e = html.escape
    parts = []
    if picture.data_uri:
        img = f'<img src="{e(picture.data_uri)}" alt="{e(picture.label)}">'
        if picture.full is not None:
            target = f"full-{index}-{picture.label}"
            parts.append(f'<a class="thumb" href="#{e(target)}" title="full size">{img}</a>')
            parts.append(_lightbox_html(index, target, picture.label, picture.full))
        else:
            parts.append(img)
        if picture.href:
            parts.append(
                f'<div class="note"><a href="{e(picture.href)}">{_key_html(picture.href)}</a></div>'
            )
    elif picture.href:
        parts.append(f'<a href="{e(picture.href)}">{e(picture.label)}</a>')
    else:
        parts.append(f"<i>{e(picture.label)}</i>")
    if picture.note:
        parts.append(f'<div class="note">{_key_html(picture.note)}</div>')
    return "".join(parts)


def _lightbox_html(index: int, target: str, label: str, full: FullImage) -> str:
    """The full-size image, shown over the page while the URL's fragment names it; a click anywhere
    goes back to the row."""
    e = html.escape
    size = (
        f"{full.size / 1024:.0f} KiB"
        if full.size < 1024 * 1024
        else f"{full.size / 1048576:.1f} MiB"
    )
    scaled = f", shown scaled to {SCALED_PIXELS} px" if full.scaled else ""
    caption = f"#{index} {label}: {full.width}x{full.height} px, {size}{scaled} (click to close)"
    return (
        f'<a class="lightbox" id="{e(target)}" href="#row-{index}">'
        f'<img src="{e(full.data_uri)}" alt="{e(label)}, full size" loading="lazy">'
        f"<span>{e(caption)}</span></a>"
    )
