"""The HTML report of a run: ``AutoML.report(path)`` and ``forgeml report RUN_DIR --out FILE``.

One self-contained file (inline CSS and matplotlib charts as inline SVG; no script, nothing fetched): the dataset,
the leaderboard, the search over time, the ensemble, feature importance, out-of-fold diagnostics and the final
pipeline. ``capture.py`` collects at ``fit`` the little a saved model needs for it (``report_data_``);
``render.py`` draws the page; ``charts.py`` the figures.
"""
from forgeml.report.render import render_report, write_report

__all__ = ["render_report", "write_report"]
