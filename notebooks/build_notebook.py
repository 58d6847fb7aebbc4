"""Write notebooks/support_analysis.ipynb from the cells below (outputs cleared).

Edit the cells here, then run ``uv run python notebooks/build_notebook.py``: the .ipynb is
generated, so its diff stays reviewable and it never carries outputs or customer data.
tests/reports/test_notebook.py executes it against a seeded sandbox cache.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOK = Path(__file__).with_name("support_analysis.ipynb")

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# Support analysis: the cache, the dashboard's numbers, two investigations

This notebook reads the paynet-ops cache **read-only** through `paynet_core`, the same
functions the dashboard calls, so every number here matches a chart there.

* The cache is `$PAYNET_OPS_DB` (default `data/paynet_ops.db`). Without credentials
  (sandbox mode) a cache that was never synced is first filled with the sandbox's demo data.
* Money is integer kuruş (`*_kurus`); `format_amount` shows it as `1.234,56 ₺`.
* Tables and columns are described in "The cache database" in the README.""",
    ),
    (
        "code",
        """import json
import os
from datetime import timedelta

import pandas as pd

from paynet_core import open_cache, reports
from paynet_core.money import format_amount

cache = open_cache()
LAST_DAY = cache.last_day("payofin")  # the latest day the cache has payments for
print(cache.store, "· last payment day:", LAST_DAY)""",
    ),
    (
        "md",
        """## 1. The dashboard's paid-vs-cancelled chart

The charts page's filters are a `ChartFilters`; here the last 90 days, by week, both
providers. `cache.outcomes(...)` is `reports.outcome_series` and
`cache.paid_vs_cancelled_figure(...)` is the page's figure, built from the same data.""",
    ),
    (
        "code",
        """GRAIN = "week"
filters = cache.filters(LAST_DAY - timedelta(days=89), LAST_DAY)
series = cache.outcomes(grain=GRAIN, filters=filters)
fig = cache.paid_vs_cancelled_figure(
    grain=GRAIN, filters=filters, title="Paid vs cancelled, last 90 days"
)
fig""",
    ),
    (
        "code",
        """totals = series.groupby(["provider", "outcome"])["count"].sum()
figure_total = int(sum(sum(trace.y) for trace in fig.data))
assert figure_total == int(totals.sum()), "the figure draws every record of the series"
print("Filters:", filters.to_query_params())
print(totals.to_string())
print("All records in the chart:", figure_total)

# The test suite compares these with the dashboard's function for the same filters.
if os.environ.get("PAYNET_OPS_NOTEBOOK_TOTALS"):
    with open(os.environ["PAYNET_OPS_NOTEBOOK_TOTALS"], "w", encoding="utf-8") as f:
        json.dump(
            {
                "filters": filters.to_query_params(),
                "grain": GRAIN,
                "totals": {f"{p}/{o}": int(n) for (p, o), n in totals.items()},
                "figure_total": figure_total,
            },
            f,
        )""",
    ),
    (
        "md",
        """## 2. Subscriptions with repeated failed charges

A Paynet invoice in status **4 (Done unsucceed)** is a charge that failed (card declined,
insufficient funds...). One failure happens; **two or more on the same subscription** usually
mean an expired card or a customer who should be contacted before the next charge.

The query groups the invoices that are failed *now* by subscription and keeps those with at
least two. (`invoice_status_history` only holds changes the cache *saw*, so invoices that were
already failed at their first sync have no history row: count the invoices, not the history.)""",
    ),
    (
        "code",
        """repeated = cache.sql(
    \"\"\"
    SELECT i.subscription_id, s.reference_no, s.name_surname, s.agent_id,
           COUNT(*) AS failed_charges, SUM(i.amount_kurus) AS failed_kurus,
           MIN(i.val_day) AS first_failed_day, MAX(i.val_day) AS last_failed_day
    FROM invoices AS i
    LEFT JOIN subscriptions AS s USING (subscription_id)
    WHERE i.status = 4
    GROUP BY i.subscription_id, s.reference_no, s.name_surname, s.agent_id
    HAVING COUNT(*) >= 2
    ORDER BY failed_charges DESC, failed_kurus DESC
    \"\"\"
)
repeated["failed_tl"] = [format_amount(int(k)) for k in repeated["failed_kurus"]]
print(f"{len(repeated)} subscription(s) with two or more failed charges")
repeated""",
    ),
    (
        "md",
        """Every invoice of the worst subscription, oldest first: did a paid charge come between
the failures, and is another charge waiting (status 0) that will probably fail too?""",
    ),
    (
        "code",
        """if repeated.empty:
    print("No subscription has two failed charges.")
else:
    worst = repeated.iloc[0]["subscription_id"]
    invoices = cache.sql(
        \"\"\"SELECT invoice_no, val_day, status, status_label, amount_kurus
           FROM invoices WHERE subscription_id = ? ORDER BY val_date\"\"\",
        (worst,),
    )
    invoices["amount"] = [format_amount(int(k)) for k in invoices["amount_kurus"]]
    print("Subscription", worst)
    display(invoices)""",
    ),
    (
        "md",
        """## 3. The institution whose cancellation rate rose most in the last 30 days

Cancellation rate = cancelled ÷ settled payments (the dashboard's definition, from
`reports.breakdown`). We compare the last 30 days the cache knows about with the 30 days
before, per Payofin institution. Small institutions swing wildly, so only institutions with
at least `MIN_SETTLED` settled payments in **both** windows compete.""",
    ),
    (
        "code",
        """MIN_SETTLED = 10
recent = cache.filters(LAST_DAY - timedelta(days=29), LAST_DAY, providers="payofin")
before = cache.filters(LAST_DAY - timedelta(days=59), LAST_DAY - timedelta(days=30), providers="payofin")


def rates(window):
    counts = cache.breakdown("institution", filters=window).pivot_table(
        index="institution", columns="outcome", values="count", aggfunc="sum", fill_value=0
    )
    counts = counts.reindex(columns=["paid", "cancelled", "failed"], fill_value=0)
    settled = counts.sum(axis=1)
    return pd.DataFrame({"settled": settled, "cancelled": counts["cancelled"], "rate": counts["cancelled"] / settled})


comparison = rates(recent).add_suffix("_last30").join(rates(before).add_suffix("_prev30"), how="outer")
comparison[["settled_last30", "settled_prev30"]] = comparison[["settled_last30", "settled_prev30"]].fillna(0).astype(int)
comparison["change_pts"] = 100 * (comparison["rate_last30"] - comparison["rate_prev30"])
eligible = comparison[
    (comparison["settled_last30"] >= MIN_SETTLED) & (comparison["settled_prev30"] >= MIN_SETTLED)
].sort_values("change_pts", ascending=False)
print("Windows:", recent.day_from, "–", recent.day_to, "vs", before.day_from, "–", before.day_to)
eligible.style.format({"rate_last30": "{:.1%}", "rate_prev30": "{:.1%}", "change_pts": "{:+.1f}"})""",
    ),
    (
        "md",
        """The top row is the institution to look at. Its weekly cancellation rate over the last
90 days shows whether the rise is one bad week or a trend; the headline numbers come from
`reports.kpis`, the page's KPI row, and must agree with the table above.""",
    ),
    (
        "code",
        """if eligible.empty:
    print(f"No institution has {MIN_SETTLED} settled payments in both windows.")
else:
    top = eligible.index[0]
    row = eligible.iloc[0]
    print(f"{top}: {row.rate_prev30:.1%} → {row.rate_last30:.1%} ({row.change_pts:+.1f} points)")
    headline = cache.kpis(filters=cache.filters(recent.day_from, recent.day_to, institutions=top))
    assert abs(headline["cancellation_rate"] - row.rate_last30) < 1e-12
    print("Cancelled in the last 30 days:", headline["cancelled_count"], "payments,",
          format_amount(headline["cancelled_kurus"]))
    trend = cache.cancellation_rate(
        "week", filters=cache.filters(LAST_DAY - timedelta(days=89), LAST_DAY, institutions=top)
    )
    display(reports.cancellation_rate_figure(trend, title=f"{top}: weekly cancellation rate"))""",
    ),
    (
        "md",
        """Next steps for a support engineer: list that institution's cancelled payments of the
last 30 days (`cache.records("payments", filters=...)`, or `paynet-ops export payments
--institution ...`), and look one up at Payofin with `paynet-ops lookup payment ID --refresh`.""",
    ),
    (
        "code",
        """cancelled = cache.records("payments", filters=recent)
if not eligible.empty:
    cancelled = cancelled[(cancelled["institution"] == top) & (cancelled["outcome"] == "cancelled")]
cancelled.head(10)""",
    ),
]


def build() -> nbformat.NotebookNode:
    cells = [new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in CELLS]
    for number, cell in enumerate(cells, start=1):
        cell.id = f"cell-{number:02d}"  # stable ids: regenerating gives the same file
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main() -> None:
    nb = build()
    nbformat.validate(nb)
    NOTEBOOK.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    print(f"wrote {NOTEBOOK}")


if __name__ == "__main__":
    main()
