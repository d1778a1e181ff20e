"""Helpers for the web UI tests: Debian's Chromium through Playwright, artefacts, PDF pixels.

Playwright drives the system browser at /usr/bin/chromium (apt package `chromium`); nothing is
downloaded. Screenshots and rendered PDF pages go to $CALCINOSIS_TEST_ARTIFACTS (default
build/test-artifacts/ in the repository) so a person can look at what the tests saw.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
REPOSITORY = Path(__file__).resolve().parent.parent
SHARED = REPOSITORY.parent / "shared"
VIGNETTES = SHARED / "dev-vignettes"
SEED_BUNDLE = VIGNETTES / "bundles" / "dev-seed-palanivel-2026.json"
EXPECTED = VIGNETTES / "expected.json"

# Runs in the page: every visible form control has a label (or an aria name).
UNLABELLED_CONTROLS = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
  .map(el => el.name || el.id || el.outerHTML.slice(0, 60))"""

# Runs in the page: heading levels never skip downwards (h2 -> h4) and there is one h1.
HEADING_PROBLEMS = """() => {
  const levels = Array.from(document.querySelectorAll('h1,h2,h3,h4,h5,h6'))
    .map(h => Number(h.tagName[1]));
  const problems = [];
  if (levels.filter(l => l === 1).length !== 1) problems.push('not exactly one h1');
  levels.forEach((l, i) => {
    if (i && l > levels[i - 1] + 1) problems.push(`h${levels[i - 1]} -> h${l}`);
  });
  return problems;
}"""

# Runs in the page: text whose contrast with its background is below WCAG AA (4.5:1, 3:1 for
# large text). The background is the nearest ancestor's opaque background colour.
LOW_CONTRAST = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
    .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = el => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    const style = getComputedStyle(el);
    if (!own || style.visibility === 'hidden' || style.display === 'none') continue;
    if (el.closest('.visually-hidden, .skip-link')) continue;
    const fg = lum(rgb(style.color).slice(0, 3)), bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const text = el.textContent.trim().slice(0, 30);
    if (ratio < needed) out.push(`${el.tagName} ${ratio.toFixed(2)} "${text}"`);
  }
  return out;
}"""


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def artifacts_dir() -> Path:
    default = REPOSITORY / "build" / "test-artifacts"
    path = Path(os.environ.get("CALCINOSIS_TEST_ARTIFACTS") or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def screenshot(page: Page, name: str) -> Path:
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def pdf_first_page_dark_fraction(pdf: Path) -> float:
    """Share of the first page's pixels that are not near-white, from a 30 dpi greyscale render.

    `pdftoppm -gray` writes a binary PGM (P5), simple enough to read with the standard library;
    a PNG of the same page at 50 dpi is kept as an artefact for people.
    """
    prefix = artifacts_dir() / pdf.stem
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "50",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(pdf),
            str(prefix),
        ],
        check=True,
        timeout=60,
    )
    done = subprocess.run(
        ["pdftoppm", "-gray", "-r", "30", "-f", "1", "-l", "1", str(pdf)],  # PGM on stdout
        check=True,
        capture_output=True,
        timeout=60,
    )
    width, height, pixels = read_pgm(done.stdout)
    dark = sum(1 for value in pixels if value < 200)
    return dark / (width * height)


def read_pgm(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and 8-bit pixels of a binary PGM ("P5", maxval below 256)."""
    fields: list[bytes] = []
    position = 0
    while len(fields) < 4:
        while data[position : position + 1].isspace():
            position += 1
        if data[position : position + 1] == b"#":
            position = data.index(b"\n", position) + 1
            continue
        end = position
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[position:end])
        position = end
    magic, width, height, maxval = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
    if magic != b"P5" or maxval > 255:
        raise ValueError(f"not an 8-bit binary PGM: {magic!r}, maxval {maxval}")
    pixels = data[position + 1 : position + 1 + width * height]
    if len(pixels) != width * height:
        raise ValueError("truncated PGM")
    return width, height, pixels


def pdf_text(pdf: Path) -> str:
    done = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, timeout=60
    )
    return done.stdout.decode("utf-8")
