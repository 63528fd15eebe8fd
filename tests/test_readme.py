"""The README's commands and engine example stay true."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_command() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert first_block is not None and README.index("```bash") < 40
    commands = [line.split("#")[0].strip() for line in first_block.group(1).strip().splitlines()]
    assert commands == ["bash scripts/studio.sh", "bash scripts/test.sh"]
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_five_minute_engine_example_runs() -> None:
    section = README[README.index("## The engine in five minutes") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    proc = subprocess.run(
        [sys.executable, "-c", code.group(1)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "['hi', 'hello ada', 'HELLO ADA']" in proc.stdout


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_local_links_and_images_point_at_files_that_exist() -> None:
    targets = re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", README)
    local = [t for t in targets if not re.match(r"[a-z]+:", t)]
    assert len(local) > 20
    assert [t for t in local if not (ROOT / t).exists()] == []


def test_every_screenshot_is_shown_or_linked() -> None:
    shots = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "resources" / "screenshots").glob("*.png"))
    assert any(s.endswith("/queue.png") for s in shots) and any(s.endswith("/inbox.png") for s in shots)
    assert [s for s in shots if f"]({s})" not in README] == []


def test_in_page_links_name_a_heading() -> None:
    headings = {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", README, re.M)}
    anchors = re.findall(r"\]\(#([^)]+)\)", README)
    assert anchors and [a for a in anchors if a not in headings] == []
