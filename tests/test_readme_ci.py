"""The README's two set-up commands exist and .ci/run runs the README's test command verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text):
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_ci_runs_readme_test_command():
    blocks = _bash_blocks((ROOT / "README.md").read_text())
    test_cmds = [b for b in blocks if "pytest" in b and "\n" not in b]
    main_cmds = [b for b in blocks if b.endswith("proxybench eval") and "\n" not in b]
    assert len(test_cmds) == 1 and len(main_cmds) == 1
    assert "torch==2.13.0" in test_cmds[0] and "torch==2.13.0" in main_cmds[0]
    ci_lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_cmds[0] in ci_lines
