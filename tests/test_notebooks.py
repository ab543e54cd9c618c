"""Every notebook in notebooks/ (jupytext percent format) executes top to bottom on small demo data.

Each notebook reads its inputs from environment variables (``ADOPTION_DECAY_OUTPUT``, ...):
``01_leading_indicators`` needs only the features of the small world, ``02_model_diagnostics``
a trained model in an MLflow store and a scoring run (``scored_world``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.py"))
#: notebook -> (the fixture it runs on, the least number of figures it must draw, texts its
#: printed output must hold).
EXPECTED: dict[str, tuple[str, int, tuple[str, ...]]] = {
    "01_leading_indicators.py": ("small_world", 3, ()),
    "02_model_diagnostics.py": (
        "scored_world",
        4,
        ("refit evaluation model: test ROC-AUC", "Brier score", "Why this risk?"),
    ),
}


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ should hold at least one jupytext notebook"
    assert sorted(EXPECTED) == [p.name for p in NOTEBOOKS], "say what each notebook must show"


def _environment(fixture: str, world: Any) -> dict[str, str]:
    if fixture == "scored_world":
        return {
            "ADOPTION_DECAY_OUTPUT": str(world.world.output_dir),
            "ADOPTION_DECAY_TRACKING_URI": world.world.tracking_uri,
        }
    return {"ADOPTION_DECAY_OUTPUT": str(world.output_dir)}


def _text(output: Any) -> str:
    if output.get("output_type") == "stream":
        return str(output.get("text", ""))
    return str(output.get("data", {}).get("text/plain", ""))


@pytest.mark.xdist_group("e2e")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(
    path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixture, min_images, texts = EXPECTED[path.name]
    for key, value in _environment(fixture, request.getfixturevalue(fixture)).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend shows the plots
    nb = jupytext.read(path)
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent.parent)}},
    )
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors
    # The notebook must show plots, not just run: its figures rendered as images.
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= min_images, f"expected >= {min_images} plots, got {len(images)}"
    printed = "".join(_text(o) for o in outputs)
    for text in texts:
        assert text in printed, f"{path.name} printed no {text!r}"
    nbformat.validate(nb)
