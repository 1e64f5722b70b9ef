"""The documentation's links resolve: every relative link (and #anchor, as GitHub makes them) of README.md,
docs/*.md, stacks/README.md and policies/README.md, and every repository path or module it names in code."""

import importlib.util
import re
from pathlib import Path

import pytest

from resilient_stack.components.reference import anchors
from tests.conftest import ROOT

DOCS = sorted(
    [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), ROOT / "stacks" / "README.md", ROOT / "policies" / "README.md"]
)

FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(\s|$)")
HREF = re.compile(r"""<a\s[^>]*href=["']([^"']+)["']""", re.I)
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
# a repository path or a module of the package written in code: `resilient_stack/core/rules.py`, `tests/integration/engine`
REPO_PATH = re.compile(r"^(?:\.ci|bench|docs|examples|policies|resilient_stack|scripts|stacks|tests)/[\w./-]*$")
MODULE = re.compile(r"^(?:resilient_stack|resilient_policies|bench)(?:\.\w+)+$")


def prose_lines(text: str):
    """(line number, line) outside fenced code blocks."""
    fenced = False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield n, line


def headings(text: str) -> list[str]:
    return [m.group(2) for _, line in prose_lines(text) if (m := HEADING.match(line))]


def links(text: str):
    """(line number, target) of every link in prose (not in code)."""
    for n, line in prose_lines(text):
        bare = CODE_SPAN.sub("", line)
        for rx in (LINK, HREF):
            for m in rx.finditer(bare):
                yield n, m.group(1)
        if m := REF_DEF.match(bare):
            yield n, m.group(1)


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """One line per link of ``path`` that does not resolve."""
    text = path.read_text(encoding="utf-8")
    problems = []
    for n, target in links(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto: ...: not checked (no network)
            continue
        where = f"{path.relative_to(root)}:{n}: {target}"
        file_part, _, fragment = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.is_relative_to(root.resolve()):
            problems.append(f"{where}: leaves the repository")
            continue
        if not dest.exists():
            problems.append(f"{where}: no such file or directory")
            continue
        if fragment:
            if dest.suffix != ".md" or not dest.is_file():
                problems.append(f"{where}: an anchor into a file that is not markdown")
            elif fragment not in anchors(headings(dest.read_text(encoding="utf-8"))):
                problems.append(f"{where}: no heading with that anchor in {dest.relative_to(root.resolve())}")
    return problems


def stale_names(path: Path, root: Path = ROOT) -> list[str]:
    """Repository paths and package modules named in code spans that do not exist."""
    problems = []
    for n, line in prose_lines(path.read_text(encoding="utf-8")):
        for m in CODE_SPAN.finditer(line):
            word = m.group(2).strip().split()[0] if m.group(2).strip() else ""
            word = word.split("::")[0].rstrip(",.:;")
            if REPO_PATH.match(word):
                if not (root / word).exists():
                    problems.append(f"{path.relative_to(root)}:{n}: `{word}` does not exist")
            elif MODULE.match(word) and not _importable(word):
                problems.append(f"{path.relative_to(root)}:{n}: `{word}` is not a module or a name in one")
    return problems


def _importable(dotted: str) -> bool:
    """A module, or a name defined in a module (``resilient_stack.core.rules.evaluate``)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        module = ".".join(parts[:i])
        try:
            spec = importlib.util.find_spec(module)
        except ModuleNotFoundError:
            spec = None
        if spec is None:
            continue
        obj = importlib.import_module(module)
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_the_documentation_set_is_there():
    names = {str(p.relative_to(ROOT)) for p in DOCS}
    for page in (
        "auditing",
        "configuration",
        "configuration-reference",
        "operations",
        "firedrill",
        "catalog",
        "performance",
        "development",
        "costs",
    ):
        assert f"docs/{page}.md" in names


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path):
    assert broken_links(path) == []


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_and_module_named_in_code_exists(path):
    assert stale_names(path) == []


def test_the_readme_is_short():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250


def test_the_checker_finds_what_is_broken(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## A `code` heading\n", encoding="utf-8")
    page = tmp_path / "README.md"
    page.write_text(
        "# Title\n\n"
        "[fine](docs/other.md) [fine anchor](docs/other.md#a-code-heading) [self](#title) [web](https://x.example)\n"
        "[missing file](docs/nope.md)\n"
        "[missing anchor](docs/other.md#no-such-heading)\n"
        "[missing self anchor](#nothing)\n"
        "[outside](../../etc/passwd)\n"
        "`[in code](docs/nope.md)` and `resilient_stack/core/rules.py` and `resilient_stack/nope.py`\n"
        "`resilient_stack.core.rules.evaluate` and `resilient_stack.core.rules.nothing`\n"
        "```\n[in a fence](docs/nope.md)\n```\n",
        encoding="utf-8",
    )
    problems = broken_links(page, tmp_path)
    assert [p.split(": ")[1] for p in problems] == [
        "docs/nope.md",
        "docs/other.md#no-such-heading",
        "#nothing",
        "../../etc/passwd",
    ]
    names = stale_names(page, tmp_path)
    assert len(names) == 3 and "`resilient_stack/core/rules.py`" in names[0]  # not in tmp_path
    assert "resilient_stack/nope.py" in names[1] and "resilient_stack.core.rules.nothing" in names[2]
