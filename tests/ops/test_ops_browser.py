"""The gallery in a real headless browser: skipped where no Chromium is installed (CI does not
depend on it); `python -m ops.screenshot PAGE.html` is the same check by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ops.screenshot import MIN_COLOURED_FRACTION, coloured_fraction, find_browser, screenshot
from tests.functional.conftest import HandlerHarness
from tests.ops.conftest import Cli

pytestmark = pytest.mark.skipif(find_browser() is None, reason="no headless Chromium installed")


def test_gallery_images_render_in_a_headless_browser(
    cli: Cli, collector: HandlerHarness, tmp_path: Path
) -> None:
    cloud = cli.cloud
    task_id = cloud.alimt.create_task(cloud.add_images("browser/src", 2), need_editor_data=True)
    collector.invoke({"taskId": task_id})
    page = tmp_path / "gallery.html"
    assert cli("gallery", task_id, "--out", str(page), "--no-source-fetch").code == 0

    with_images = coloured_fraction(screenshot(page, tmp_path / "with.png"))
    # the same page with every thumbnail removed: only text and borders are left
    bare = tmp_path / "bare.html"
    bare.write_text(re.sub(r"<img [^>]*>", "", page.read_text(encoding="utf-8")))
    without_images = coloured_fraction(screenshot(bare, tmp_path / "without.png"))

    assert with_images >= MIN_COLOURED_FRACTION
    assert without_images < MIN_COLOURED_FRACTION / 4
