import json
import sys
from pathlib import Path

import nbclient
import nbformat

from paynet_core import reports
from paynet_core.reports import ChartFilters
from paynet_core.runtime import prepare_demo
from paynet_core.store import Store

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "support_analysis.ipynb"


def test_notebook_runs_top_to_bottom_and_its_chart_totals_equal_the_dashboards(
    tmp_path, monkeypatch, cache_target
):
    runtime = prepare_demo()  # the conftest points PAYNET_OPS_DB/SANDBOX_DB at tmp files
    runtime.store.close()
    totals_path = tmp_path / "totals.json"
    monkeypatch.setenv("PAYNET_OPS_NOTEBOOK_TOTALS", str(totals_path))

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert errors == []
    written = json.loads(totals_path.read_text(encoding="utf-8"))
    filters = ChartFilters.from_query_params(written["filters"])
    assert filters.day_from is not None and filters.day_to is not None

    with Store.read_only(runtime.settings.cache_target) as store:
        series = reports.outcome_series(store, grain=written["grain"], filters=filters)
    dashboard = {
        f"{p}/{o}": int(n)
        for (p, o), n in series.groupby(["provider", "outcome"])["count"].sum().items()
    }
    assert written["totals"] == dashboard
    assert written["figure_total"] == sum(dashboard.values()) > 0
    # both investigations found something in the demo data and printed it
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "subscription(s) with two or more failed charges" in text
    assert "points)" in text


def test_committed_notebook_is_generated_and_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    sys.path.insert(0, str(NOTEBOOK.parent))
    try:
        import build_notebook
    finally:
        sys.path.remove(str(NOTEBOOK.parent))
    assert NOTEBOOK.read_text(encoding="utf-8") == nbformat.writes(build_notebook.build()) + "\n"


def test_three_line_notebook_usage_gives_the_dashboard_figure():
    from paynet_core import open_cache

    with open_cache() as cache:  # sandbox mode: an empty cache is filled with the demo first
        df = cache.outcomes(grain="month")
        fig = cache.paid_vs_cancelled_figure(grain="month")
        expected = reports.paid_vs_cancelled_figure(
            reports.outcome_series(cache.store, grain="month")
        )
        assert cache.store.is_read_only
    assert int(df["count"].sum()) > 0
    assert fig.to_json() == expected.to_json()
