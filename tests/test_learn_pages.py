"""The Learn pages' code runs, so the pages cannot rot.

Each page's ```python blocks run in order in one namespace (like one script), in a temporary working
directory; an error points at the page's own line numbers. A block right after an HTML comment is
treated differently (the comment is invisible on the site):

- ``<!-- norun: why -->``: a fragment that is not run (it needs names the page does not define);
- ``<!-- excerpt: path/in/repo.py -->``: a quote of the library's source, not run; the test checks it is
  still word for word in that file (consecutive lines, dedented).

The pictures the pages include are drawn by ``docs/make_figures.py``; it runs here too (into a temporary
folder), and every picture a page links must be one it draws and one that is committed under docs/.
"""

from __future__ import annotations

import re
import runpy
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = ["autograd.md", "sequence-models.md", "convolution.md", "optimizers.md", "autograd-from-scratch.md",
         "debugging.md", "backends.md", "learn/making-models-smaller.md"]

BLOCK = re.compile(r"(?:^<!-- (?P<kind>norun|excerpt):\s*(?P<arg>.*?)\s*-->\n)?^```python\n(?P<code>.*?)^```\s*$",
                   re.M | re.S)


def blocks(page: str) -> list[tuple[str | None, str, str, int]]:
    """(kind, arg, code, first line of the code in the page) for every ```python block of the page."""
    text = (DOCS / page).read_text()
    return [(m["kind"], m["arg"], m["code"], text.count("\n", 0, m.start("code")) + 1) for m in BLOCK.finditer(text)]


def test_the_extractor_sees_every_python_block():
    for page in PAGES:
        fences = len(re.findall(r"^```python\s*$", (DOCS / page).read_text(), re.M))
        assert len(blocks(page)) == fences, page
        for kind, arg, _, line in blocks(page):
            assert kind != "norun" or arg, f"{page}:{line}: say why a block does not run (<!-- norun: why -->)"


@pytest.mark.parametrize("page", PAGES)
def test_page_code_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # whatever a page writes lands here
    namespace: dict = {"__name__": f"learn_page_{Path(page).stem}"}
    ran = 0
    for kind, _, code, line in blocks(page):
        if kind is None:
            # padded with newlines so that tracebacks give the page's line numbers
            exec(compile("\n" * (line - 1) + code, str(DOCS / page), "exec"), namespace)
            ran += 1
    assert ran > 0, f"{page}: no block runs"


@pytest.mark.parametrize("page", PAGES)
def test_page_excerpts_match_the_source(page):
    for kind, arg, code, line in blocks(page):
        if kind == "excerpt":
            lines, n = (ROOT / arg).read_text().splitlines(keepends=True), code.count("\n")
            found = any(textwrap.dedent("".join(lines[i:i + n])) == code for i in range(len(lines) - n + 1))
            assert found, f"docs/{page}:{line}: the excerpt is no longer in {arg} (dedented); copy it again"


def test_figures_are_drawn_by_make_figures(tmp_path):
    pytest.importorskip("matplotlib")
    runpy.run_path(str(DOCS / "make_figures.py"), run_name="make_figures")["main"](str(tmp_path))
    drawn = {p.name for p in tmp_path.glob("*.png")}
    linked = {name for page in PAGES for name in re.findall(r"\]\(img/([\w.-]+\.png)\)", (DOCS / page).read_text())}
    assert linked and linked <= drawn, f"pictures linked but not drawn by make_figures.py: {linked - drawn}"
    assert all((DOCS / "img" / name).is_file() for name in linked), "run python docs/make_figures.py and commit"
