"""The gallery in a real headless browser, at desktop (1280 px) and phone (390 px) width: skipped
where no Chromium is installed (CI does not depend on it); `python -m ops.screenshot PAGE.html
[--width 390]` is the same check by hand.

Screenshots are kept in `out/gallery-screenshots/` (git-ignored) to be looked at; the layout is
measured in the browser itself: a copy of the page carries a small script that reports what the
browser laid out (page width, how each key wrapped, the lightbox's image)."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from ops.screenshot import (
    DESKTOP,
    MIN_COLOURED_FRACTION,
    PHONE,
    coloured_fraction,
    dump_dom,
    find_browser,
    screenshot,
)
from tests.functional.conftest import HandlerHarness
from tests.ops.conftest import Cli

pytestmark = pytest.mark.skipif(find_browser() is None, reason="no headless Chromium installed")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "out" / "gallery-screenshots"

# Reports the layout as JSON in <pre id="measured">, once images are decoded.
MEASURE = """<script>
addEventListener("load", async () => {
  const shown = document.querySelector(".lightbox:target");
  const images = [...document.images].filter((im) => !im.closest(".lightbox") || im.closest(":target"));
  const settled = (im) => Promise.race([im.decode().catch(() => null), new Promise((ok) => setTimeout(ok, 3000))]);
  await Promise.all(images.map(settled));
  const keys = [...document.querySelectorAll(".key")];
  const result = {
    viewport: innerWidth,
    pageWidth: document.documentElement.scrollWidth,
    thumbnails: images.filter((im) => !im.closest(".lightbox")).map((im) => [im.naturalWidth, im.getBoundingClientRect().width]),
    keySegmentsBroken: keys.flatMap((k) => [...k.children].filter((s) => s.getClientRects().length > 1).map((s) => s.textContent)),
    keyLines: keys.map((k) => new Set([...k.children].map((s) => Math.round(s.getBoundingClientRect().top))).size),
    request: (document.querySelector(".request") || {}).textContent || null,
    lightbox: shown && {
      natural: [shown.querySelector("img").naturalWidth, shown.querySelector("img").naturalHeight],
      box: (({left, top, right, bottom}) => [left, top, right, bottom])(shown.querySelector("img").getBoundingClientRect()),
      fixed: getComputedStyle(shown).position,
      caption: shown.querySelector("span").textContent,
    },
  };
  parent.postMessage(JSON.stringify(result), "*");
});
</script>"""

# Chromium's window is at least 500 px wide when it dumps the DOM (screenshots are not limited):
# the page is measured in a frame of the exact size, which is its viewport, as on a phone.
FRAME = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="{src}" style="border:0;width:{width}px;height:{height}px"></iframe>
<script>addEventListener("message", (e) => {{
  const out = document.createElement("pre"); out.id = "measured"; out.textContent = e.data;
  document.body.appendChild(out);
}});</script></body></html>"""


def measure(page: Path, size: tuple[int, int], fragment: str = "") -> dict[str, Any]:
    probe = page.with_name("measured-" + page.name)
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"))
    frame = page.with_name(f"frame-{size[0]}.html")
    src = probe.name + (f"#{fragment}" if fragment else "")
    frame.write_text(FRAME.format(src=src, width=size[0], height=size[1]), encoding="utf-8")
    dom = dump_dom(frame, width=max(size[0], 500) + 20, height=size[1] + 20)
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found, "the measuring script did not run"
    return dict(json.loads(found.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')))  # fmt: skip


LARGE = (1600, 1200)


def large_png(size: tuple[int, int]) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, (250, 240, 200))
    draw = ImageDraw.Draw(image)
    for i in range(12):
        box = (i * 120, i * 90, i * 120 + 300, i * 90 + 200)
        draw.rectangle(box, fill=(40 + i * 15, 120, 220 - i * 12))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def keep(png: Path) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    kept = SCREENSHOTS / png.name
    shutil.copyfile(png, kept)
    print(f"screenshot: {kept}")
    return kept


@pytest.fixture
def gallery_page(cli: Cli, collector: HandlerHarness, tmp_path: Path) -> Path:
    cloud = cli.cloud
    sources = cloud.add_images("browser/src", 2)
    submitted = cli("submit", "--from", "zh", "--to", "en", "--scene", "e-commerce", *sources)
    assert submitted.code == 0, submitted.err
    task_id = submitted.out.strip()
    collector.invoke({"taskId": task_id})
    # the emulator's results are thumbnail-sized (320x240); real ones are larger: store one
    cloud.bucket().put_object(f"translated/{task_id}/000-final.png", large_png(LARGE))
    source_file = tmp_path / "sources.txt"
    source_file.write_text("\n".join(sources), encoding="utf-8")
    page = tmp_path / "gallery.html"
    assert cli("gallery", task_id, "--out", str(page), "--sources", str(source_file)).code == 0
    return page


def test_gallery_images_render_in_a_headless_browser(gallery_page: Path, tmp_path: Path) -> None:
    with_images = coloured_fraction(keep(screenshot(gallery_page, tmp_path / "desktop-1280.png")))
    # the same page with every thumbnail removed: only text and borders are left
    bare = tmp_path / "bare.html"
    bare.write_text(re.sub(r"<img [^>]*>", "", gallery_page.read_text(encoding="utf-8")))
    without_images = coloured_fraction(screenshot(bare, tmp_path / "without.png"))

    assert with_images >= MIN_COLOURED_FRACTION
    assert without_images < MIN_COLOURED_FRACTION  # what is left: text, borders, blue links
    assert with_images > 10 * without_images


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_gallery_layout_fits_the_width_and_keeps_keys_whole(
    gallery_page: Path, tmp_path: Path, size: tuple[int, int]
) -> None:
    png = keep(screenshot(gallery_page, tmp_path / f"gallery-{size[0]}.png", width=size[0], height=size[1]))  # fmt: skip
    assert coloured_fraction(png) >= MIN_COLOURED_FRACTION
    layout = measure(gallery_page, size)
    assert layout["viewport"] == size[0]
    assert layout["pageWidth"] <= size[0], "the page scrolls sideways"
    thumbnails = layout["thumbnails"]
    assert len(thumbnails) == 6  # 2 images x (source, translated, inpainting)
    assert all(natural > 0 and 0 < shown <= min(320, size[0]) for natural, shown in thumbnails)
    assert layout["keySegmentsBroken"] == []  # keys wrap after a "/" only
    assert layout["request"] == "zh → en · field e-commerce · " + layout["request"].split(" · ")[2]
    if size == PHONE:
        assert max(layout["keyLines"]) > 1  # long keys do wrap there, at a "/"


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_a_thumbnail_opens_the_full_size_image(
    gallery_page: Path, tmp_path: Path, size: tuple[int, int]
) -> None:
    page = gallery_page.read_text(encoding="utf-8")
    assert 'href="#full-0-translated"' in page  # what clicking the translated thumbnail does
    png = keep(screenshot(gallery_page, tmp_path / f"lightbox-{size[0]}.png", width=size[0], height=size[1], fragment="full-0-translated"))  # fmt: skip
    layout = measure(gallery_page, size, fragment="full-0-translated")
    lightbox = layout["lightbox"]
    assert lightbox is not None and lightbox["fixed"] == "fixed"
    assert lightbox["natural"] == list(LARGE)  # the stored original, not the 320 px thumbnail
    width, height = LARGE
    assert f"{width}x{height} px" in lightbox["caption"]
    left, top, right, bottom = lightbox["box"]
    assert 0 <= left < right <= size[0] and 0 <= top < bottom <= size[1]  # fits the screen
    fit = min(1.0, size[0] / width, size[1] / height)
    assert right - left >= 0.8 * width * fit  # as large as the screen allows (less the margins)
    assert coloured_fraction(png) >= MIN_COLOURED_FRACTION
