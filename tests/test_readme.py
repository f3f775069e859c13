"""The README's Python examples run as written (the API-at-a-glance block)."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(heading: str) -> str:
    text = README.read_text()
    section = text.split(f"## {heading}", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_api_at_a_glance_runs():
    namespace: dict = {}
    exec("import retention_lab as rl\n" + _block("Python API at a glance"), namespace)
    bg = namespace["bg"]
    assert bg.params_["r"] == pytest.approx(0.243, abs=5e-4)      # the published CDNOW fit
    assert set(namespace["exp"].truth["effect_on_members"]) >= {"purchases", "retention"}
