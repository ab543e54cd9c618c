"""What a served baseline shares with a LightGBM booster, beyond ``predict``: persistence.

Why one base: ``RoutedModel`` saves each segment model next to the others and reads it back by
its ``kind`` (``models.router``); a baseline scorer is a dataclass of plain numbers, so it is
stored as JSON with a ``format`` tag (``<kind>_scorer/<version>``) and rebuilt field by field.
``best_iteration`` / ``current_iteration`` answer the booster questions the training asks of
every serving model (it has no boosting rounds).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar, Self


class JsonScorer:
    """Mixin for dataclass scorers: ``to_dict``/``from_dict`` and ``save_model``/``load_model``."""

    FORMAT: ClassVar[str] = "scorer/1"

    def refit(self, X: Any, y: Any, seed: int) -> Self:
        """The same scorer (kind, inputs, settings) fit again on rows ``X``/``y``: how the served
        model is refit on every labelled cutoff (``models.train.refit_routed``)."""
        raise NotImplementedError

    @property
    def best_iteration(self) -> int:
        return 0

    def current_iteration(self) -> int:
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.FORMAT, **dataclasses.asdict(self)}  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        return cls(**{k: v for k, v in d.items() if k != "format"})

    def save_model(self, path: str) -> None:
        """Plain JSON next to the booster files of a ``RoutedModel`` folder."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load_model(cls, path: str) -> Self:
        return cls.from_dict(json.loads(Path(path).read_text()))
