"""A headless-browser check of a gallery page: `python -m ops.screenshot PAGE.html [--out PNG]`.

Renders the page with headless Chromium (not a project dependency: CI skips this check when no
browser is installed), saves a screenshot, and checks that the thumbnails really rendered: a page
whose images failed shows only text and borders, which are grey; rendered thumbnails are colourful.
Exit status 0 if the images rendered, 1 if not, 2 if no browser was found."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MIN_COLOURED_FRACTION = 0.02


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(page: Path, out: Path, *, width: int = 1400, height: int = 900) -> Path:
    browser = find_browser()
    if browser is None:
        raise FileNotFoundError("no headless browser found (install chromium)")
    out.unlink(missing_ok=True)
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",  # root in containers
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={width},{height}",
            f"--screenshot={out.resolve()}",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    if not out.exists():
        raise RuntimeError("the browser wrote no screenshot")
    return out


def coloured_fraction(png: Path) -> float:
    """Share of pixels that are clearly coloured (not white, grey or black text)."""
    from PIL import Image

    with Image.open(png) as image:
        data = image.convert("RGB").resize((350, 225)).tobytes()
    pixels = [data[i : i + 3] for i in range(0, len(data), 3)]
    coloured = sum(1 for p in pixels if max(p) - min(p) > 24)
    return coloured / len(pixels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.screenshot", description=__doc__)
    parser.add_argument("page", type=Path, help="gallery HTML file")
    parser.add_argument("--out", type=Path, help="screenshot PNG (default: next to the page)")
    args = parser.parse_args(argv)
    out = args.out or args.page.with_suffix(".png")
    try:
        screenshot(args.page, out)
    except FileNotFoundError as missing:
        print(f"skipped: {missing}", file=sys.stderr)
        return 2
    fraction = coloured_fraction(out)
    rendered = fraction >= MIN_COLOURED_FRACTION
    print(f"{out}: {fraction:.0%} coloured pixels: images {'rendered' if rendered else 'MISSING'}")
    return 0 if rendered else 1


if __name__ == "__main__":
    raise SystemExit(main())
