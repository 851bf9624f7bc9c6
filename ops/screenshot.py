"""A headless-browser check of a gallery page: `python -m ops.screenshot PAGE.html [--out PNG]`.

Renders the page with headless Chromium (not a project dependency: CI skips this check when no
browser is installed), saves a screenshot, and checks that the thumbnails really rendered: a page
whose images failed shows only text and borders, which are grey; rendered thumbnails are colourful.
`--width 390` looks at it as a phone would (default 1280). Exit status 0 if the images rendered,
1 if not, 2 if no browser was found."""

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


DESKTOP = (1280, 900)
PHONE = (390, 844)  # CSS pixels of a common phone


def screenshot(
    page: Path, out: Path, *, width: int = DESKTOP[0], height: int = DESKTOP[1], fragment: str = ""
) -> Path:
    """`fragment` (e.g. `full-0-translated`) opens the page at that anchor: a lightbox."""
    out.unlink(missing_ok=True)
    _run_browser(
        [f"--window-size={width},{height}", f"--screenshot={out.resolve()}"], page, fragment
    )
    if not out.exists():
        raise RuntimeError("the browser wrote no screenshot")
    return out


def dump_dom(page: Path, *, width: int, height: int, fragment: str = "") -> str:
    """The DOM after the page's scripts ran at that window size (for measuring layout)."""
    return _run_browser(
        [f"--window-size={width},{height}", "--virtual-time-budget=5000", "--dump-dom"],
        page,
        fragment,
    )


def _run_browser(options: list[str], page: Path, fragment: str) -> str:
    browser = find_browser()
    if browser is None:
        raise FileNotFoundError("no headless browser found (install chromium)")
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",  # root in containers
            "--disable-gpu",
            "--hide-scrollbars",
            *options,
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout


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
    parser.add_argument("--width", type=int, default=DESKTOP[0], help="CSS pixels (phone: 390)")
    args = parser.parse_args(argv)
    out = args.out or args.page.with_suffix(".png")
    height = PHONE[1] if args.width <= PHONE[0] else DESKTOP[1]
    try:
        screenshot(args.page, out, width=args.width, height=height)
    except FileNotFoundError as missing:
        print(f"skipped: {missing}", file=sys.stderr)
        return 2
    fraction = coloured_fraction(out)
    rendered = fraction >= MIN_COLOURED_FRACTION
    print(f"{out}: {fraction:.0%} coloured pixels: images {'rendered' if rendered else 'MISSING'}")
    return 0 if rendered else 1


if __name__ == "__main__":
    raise SystemExit(main())
