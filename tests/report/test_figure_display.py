"""Every figure of retention_lab.report.figures appears exactly once in an executed notebook, whatever the
cell ends with (``;``, a DataFrame, the figure itself, an explicit ``display``), and no figure
stays open in pyplot after its cell (batch runs leak nothing)."""
from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

CELLS = {
    "semicolon": "rl.report.figures.nps_bar(res);",
    "then_dataframe": "rl.report.figures.nps_bar(res)\npd.DataFrame({'a': [1]})",
    "value": "rl.report.figures.nps_bar(res)",
    "display": "display(rl.report.figures.nps_bar(res))\nprint('after')",
    "two_in_a_loop": "for _ in range(2):\n    display(rl.report.figures.nps_bar(res))",
    "user_axes": "fig, axes = plt.subplots(1, 2)\nrl.plots.nps_bar(res, ax=axes[0]);",
    "shown_in_a_later_cell": "later = rl.report.figures.nps_bar(res);",
    "later": "later",
    "open_figures": "print(len(plt.get_fignums()))",
}
EXPECTED_IMAGES = {"semicolon": 1, "then_dataframe": 1, "value": 1, "display": 1,
                   "two_in_a_loop": 2, "user_axes": 1, "shown_in_a_later_cell": 1, "later": 1,
                   "open_figures": 0}


@pytest.fixture(scope="module")
def executed():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import pandas as pd\nimport matplotlib.pyplot as plt\nfrom IPython.display import display\n"
        "import retention_lab as rl\n"
        "res = rl.metrics.nps(pd.Series([0, 5, 7, 8, 9, 10, 10, 3, 9, 9]))")]
    nb.cells += [nbformat.v4.new_code_cell(src, metadata={"name": name})
                 for name, src in CELLS.items()]
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    return {c.metadata["name"]: c.outputs for c in nb.cells[1:]}


@pytest.mark.parametrize("name", list(CELLS))
def test_each_figure_is_shown_once(executed, name):
    images = [o for o in executed[name] if "image/png" in o.get("data", {})]
    assert len(images) == EXPECTED_IMAGES[name], executed[name]


def test_figure_is_shown_where_it_is_displayed(executed):
    kinds = ["image" if "image/png" in o.get("data", {}) else o.get("text", "").strip()
             for o in executed["display"]]
    assert kinds == ["image", "after"]


def test_no_figure_outlives_its_cell(executed):
    assert executed["open_figures"][0]["text"].strip() == "0"


def test_scripts_keep_no_figure_open():
    import matplotlib.pyplot as plt
    import pandas as pd

    import retention_lab as rl
    before = len(plt.get_fignums())
    fig = rl.report.figures.nps_bar(rl.metrics.nps(pd.Series([0, 9, 10])))
    assert len(plt.get_fignums()) == before
    assert fig.axes  # still drawable and savable
