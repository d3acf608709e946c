"""The widget assets ship as the package llmops_nb.widgets and load by path."""

from __future__ import annotations

from importlib.resources import files

from llmops_nb.annotation._assets import asset_path, asset_text


def test_assets_are_package_data():
    pkg = files("llmops_nb.widgets")
    for name in ("annotate.js", "annotate.css", "trace_view.js", "trace_view.css"):
        assert (pkg / name).is_file(), name
        assert asset_path(name).read_text() == (pkg / name).read_text()
    js = asset_text("annotate.js")
    assert "export default" in js and "data-lm-suppress-shortcuts" in js and "stopPropagation" in js


def test_widget_loads_its_files():
    import tempfile

    import pandas as pd

    import llmops_nb as lo

    w = lo.annotate(pd.DataFrame({"trace_id": ["a"]}), "correct", tempfile.mkdtemp(), "me")
    assert "render" in w._esm and ".lo-ann" in w._css and ".lo-trace" in w.trace_css
