"""Look at the built documentation site as a reader would: headless Chromium screenshots of the front page and
an API reference page, checked for the theme's header bar and for a page with content on it.

python scripts/docs_check.py site runs/docs-check     # (make docs-check: builds the site first)

Exit 0 when both pages look right (or, with a one-line reason, when no Chromium can be found or installed),
1 when a page is blank, unstyled or lost its API reference.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WIDTH, HEIGHT = 1280, 900
PAGES = {"front": "index.html", "api": "api/index.html"}


def screenshot(browser: str, page: Path, out: Path) -> np.ndarray:
    """``page`` rendered at ``WIDTH x HEIGHT`` into ``out``; returns its pixels ``[HEIGHT, WIDTH, 3]`` (uint8)."""
    subprocess.run(
        [
            browser,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={WIDTH},{HEIGHT}",
            f"--screenshot={out}",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return np.asarray(Image.open(out).convert("RGB"))


def problems(name: str, pixels: np.ndarray) -> list[str]:
    """What is wrong with a screenshot of a Material page: no coloured header bar (the theme did not load), or
    too little ink below it (an empty page)."""
    found = []
    if pixels.shape[:2] != (HEIGHT, WIDTH):
        return [f"{name}: screenshot is {pixels.shape[1]}x{pixels.shape[0]}, expected {WIDTH}x{HEIGHT}"]
    header = pixels[4:40].reshape(-1, 3).astype(float)
    colour = header.mean(axis=0)
    spread = header.max(axis=1) - header.min(axis=1)  # per pixel: 0 for grey, white and black
    if np.median(spread) < 40:
        found.append(f"{name}: the header bar is not coloured (mean RGB {colour.round().tolist()}): theme missing?")
    body = pixels[80:].reshape(-1, 3).astype(int)
    background = np.median(body, axis=0)
    ink = np.abs(body - background).sum(axis=1) > 60
    if ink.mean() < 0.01:
        found.append(f"{name}: only {ink.mean():.2%} of the page below the header differs from its background")
    return found


def main(site: str, out: str) -> int:
    browser = next((b for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        print("docs-check: skipped: no Chromium found (install it: apt-get install chromium)")
        return 0
    site_dir, out_dir = Path(site), Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    found = []
    for name, rel in PAGES.items():
        page = site_dir / rel
        if not page.is_file():
            found.append(f"{name}: {page} was not built")
            continue
        found += problems(name, screenshot(browser, page, out_dir / f"{name}.png"))
    front = (site_dir / PAGES["front"]).read_text() if (site_dir / PAGES["front"]).is_file() else ""
    if 'class="md-header' not in front:
        found.append("front: no Material header in the HTML (built with another theme?)")
    api = (site_dir / PAGES["api"]).read_text() if (site_dir / PAGES["api"]).is_file() else ""
    if api.count('class="doc doc-object') < 5:
        found.append("api: fewer than 5 objects documented from docstrings (mkdocstrings rendered nothing?)")
    for line in found:
        print(f"docs-check: {line}")
    if not found:
        print(f"docs-check: the front page and the API page look right (screenshots in {out_dir})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
