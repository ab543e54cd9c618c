"""Every notebook in notebooks/ (jupytext percent format) executes top to bottom on small demo data."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.py"))


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ should hold at least one jupytext notebook"


@pytest.mark.xdist_group("e2e")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path: Path, small_world, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADOPTION_DECAY_OUTPUT", str(small_world.output_dir))
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
    # The notebook must show plots, not just run: at least three figures rendered as images.
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3, f"expected >= 3 plots, got {len(images)}"
    nbformat.validate(nb)
