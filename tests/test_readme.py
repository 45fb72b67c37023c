"""The README a maintainer reads first and the docs/ pages it links to: the two commands, and every image and
link between them, point at something real."""

import functools
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
README = (REPO_ROOT / "README.md").read_text()
PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation other than hyphens dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(markdown: str) -> list[str]:
    """The Markdown headings, leaving out lines of fenced code (a shell comment there is not a heading)."""
    found, fenced = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"#{1,6} (.+)", line)):
            found.append(match[1])
    return found


def test_the_readme_opens_with_the_two_commands_ci_runs():
    first_block = README.split("```bash\n", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in first_block.strip().splitlines()] == ["bash scripts/app.sh", "bash scripts/test.sh"]
    assert "bash scripts/test.sh" in (REPO_ROOT / ".ci" / "run").read_text()


@functools.cache  # a page is read once, however many links lead to it
def anchors_of(page: Path) -> set[str]:
    return {github_anchor(h) for h in headings(page.read_text())}


def leads_somewhere(link: str, page: Path) -> bool:
    """A link as GitHub renders it on `page`: a path relative to the page's folder, perhaps with a #heading."""
    if link.startswith(("http://", "https://")):
        return True  # not reachable from here
    path, _, anchor = link.partition("#")
    target = (page.parent / path).resolve() if path else page
    if not target.is_file():
        return False
    return not anchor or anchor in anchors_of(target)


def test_every_link_in_the_readme_and_its_pages_leads_somewhere():
    readme_links = LINK.findall(README)
    assert any(link.startswith("#") for link in readme_links) and any(link.endswith(".png") for link in readme_links)
    assert {f"docs/{page.name}" for page in PAGES[1:]} <= set(readme_links), "a docs/ page the README never links to"
    broken = [(page.name, link) for page in PAGES for link in LINK.findall(page.read_text()) if not leads_somewhere(link, page)]
    assert broken == [], broken


def test_github_anchors_are_made_as_github_makes_them():
    assert github_anchor("Pushing to the Hub (and running as a Space)") == "pushing-to-the-hub-and-running-as-a-space"
    assert github_anchor("The model and its input") == "the-model-and-its-input"
    assert headings("# a\n```bash\n# not a heading\n```\n## b") == ["a", "b"]
