"""`decay-run`: the main job end to end — simulate (demo only), features, train, tune, score.

Each step runs as its own console-script process with the same command-line overrides, so a step
fails alone with its own exit code, frees its memory, and logs exactly as when run by hand.
``run.steps`` picks the steps; demo data is simulated only when it is missing (or ``run.simulate=always``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from core.cli import console, job
from core.config import CONF_DIR, SimulateWhen, Step  # importing core.config registers the schema
from core.errors import DecayError
from core.logs import get_logger

log = get_logger(__name__)

#: The steps in the order they run (``run.steps`` only picks; an unknown one fails at start-up).
STEPS = tuple(Step)


class StepFailed(DecayError):
    """A step exited non-zero; its exit code is passed through."""


def _step_command(step: str, overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", f"pipelines.{step}", *overrides]


def plan(cfg: DictConfig) -> list[Step]:
    """Steps to run, in order. Simulation only when the configured events are missing."""
    steps = [s for s in STEPS if s in cfg.run.steps]
    if Step.simulate in steps and cfg.run.simulate == SimulateWhen.if_missing:
        events = Path(cfg.data.events)
        if events.exists() or any(events.parent.glob(events.name)):
            log.info(
                "demo data found at %s: skipping simulate (run.simulate=always to redo)", events
            )
            steps.remove(Step.simulate)
    return steps


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
@job
def _main(cfg: DictConfig) -> None:
    overrides = list(HydraConfig.get().overrides.task)
    overrides = [o for o in overrides if not o.startswith(("run.", "+run."))]
    started = time.perf_counter()
    for step in plan(cfg):
        extra = list(cfg.run.step_overrides.get(step, []))
        # The user's own overrides come last so they win over the step defaults.
        cmd = _step_command(step, [*extra, *overrides])
        log.info("step %s: %s", step, " ".join(cmd[2:]))
        t0 = time.perf_counter()
        rc = subprocess.call(cmd)
        if rc != 0:
            err = StepFailed(
                f"step '{step}' failed with exit code {rc}",
                hint=f"see the log above; rerun it alone with: decay-{step} {' '.join(overrides)}",
            )
            err.exit_code = rc
            raise err
        log.info("step %s done in %.1fs", step, time.perf_counter() - t0)
    report = (
        Path(cfg.output.dir) / "scores" / f"as_of={cfg.snapshot.as_of}" / "report" / "index.html"
    )
    print(f"\ndecay-run finished in {time.perf_counter() - started:.0f}s")
    if report.exists():
        print(f"CSM report: {report.resolve()}")


#: The console script (pyproject): Hydra's config errors exit 2 like the job's own.
main = console(_main)

if __name__ == "__main__":
    main()
