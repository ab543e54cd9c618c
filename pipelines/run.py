"""`decay-run`: the main job end to end — simulate (demo only), features, tune, train, map, score.

The one command a scheduler calls (docs/scheduling.md):
- holds ``${output.dir}/.decay-run.lock`` for its whole duration (``core.lock``; another run of
  the same output waits ``run.lock_wait_seconds``, then exits 6 without touching anything);
- retrains (tune + train) only when ``train.policy`` says so (``tracking.policy``: always, by the
  champion's age, by the last scoring run's drift), else scores with the current champion;
- each step runs as its own console-script process with the same command-line overrides, so a
  step fails alone with its own exit code, frees its memory, and logs exactly as when run by hand.
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
from core.config import (
    CONF_DIR,
    DataLayout,
    DataSource,
    SimulateWhen,
    Step,
)  # importing core.config registers the schema
from core.errors import DecayError
from core.lock import output_lock
from core.logs import get_logger

log = get_logger(__name__)

#: The steps in the order they run (``run.steps`` only picks; an unknown one fails at start-up).
STEPS = tuple(Step)


class StepFailed(DecayError):
    """A step exited non-zero; its exit code is passed through."""


def _step_command(step: str, overrides: list[str]) -> list[str]:
    return [sys.executable, "-m", f"pipelines.{step}", *overrides]


def plan(cfg: DictConfig) -> list[Step]:
    """Steps to run, in order. Simulation only when the configured events are missing files of
    the canonical layout (the demo); a database or a tracking plan is never simulated over."""
    steps = [s for s in STEPS if s in cfg.run.steps]
    own_source = cfg.data.source != DataSource.files or cfg.data.layout != DataLayout.canonical
    if Step.simulate in steps and own_source and cfg.run.simulate == SimulateWhen.if_missing:
        log.info("data.source=%s data.layout=%s: no simulation", cfg.data.source, cfg.data.layout)
        steps.remove(Step.simulate)
    if Step.simulate in steps and cfg.run.simulate == SimulateWhen.if_missing:
        events = Path(cfg.data.events)
        if events.exists() or any(events.parent.glob(events.name)):
            log.info(
                "demo data found at %s: skipping simulate (run.simulate=always to redo)", events
            )
            steps.remove(Step.simulate)
    return steps


def apply_policy(cfg: DictConfig, steps: list[Step]) -> list[Step]:
    """``steps`` without tune and train when ``train.policy`` says the champion stays."""
    if not {Step.tune, Step.train} & set(steps):
        return steps
    from scoring.history import parse_as_of, past_runs
    from tracking.policy import train_decision

    as_of = parse_as_of(cfg.snapshot.as_of)
    earlier = past_runs(Path(cfg.output.dir), as_of)
    decision = train_decision(cfg, as_of, earlier[-1][1].parent if earlier else None)
    return steps if decision.train else [s for s in steps if s not in (Step.tune, Step.train)]


def run_steps(steps: list[Step], cfg: DictConfig, overrides: list[str], lock_fd: int) -> None:
    """Each step as ``python -m pipelines.<step>``; the first non-zero exit stops the run with
    that code. The steps inherit the lock's descriptor (an orphaned step keeps holding it)."""
    for step in steps:
        extra = list(cfg.run.step_overrides.get(step, []))
        # The user's own overrides come last so they win over the step defaults.
        cmd = _step_command(step, [*extra, *overrides])
        log.info("step %s: %s", step, " ".join(cmd[2:]))
        t0 = time.perf_counter()
        rc = subprocess.call(cmd, pass_fds=(lock_fd,))
        if rc != 0:
            # Killed by a signal (rc = -signal, e.g. the OOM killer's SIGKILL): unexpected, 1.
            why = f"was killed by signal {-rc}" if rc < 0 else f"failed with exit code {rc}"
            err = StepFailed(
                f"step '{step}' {why}",
                hint=f"see the log above; rerun it alone with: decay-{step} {' '.join(overrides)}",
            )
            err.exit_code = rc if rc > 0 else 1
            raise err
        log.info("step %s done in %.1fs", step, time.perf_counter() - t0)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
@job
def _main(cfg: DictConfig) -> None:
    overrides = list(HydraConfig.get().overrides.task)
    overrides = [o for o in overrides if not o.startswith(("run.", "+run."))]
    started = time.perf_counter()
    command = " ".join(["decay-run", *HydraConfig.get().overrides.task])
    with output_lock(cfg.output.dir, cfg.run.lock_wait_seconds, command) as lock:
        steps = apply_policy(cfg, plan(cfg))
        run_steps(steps, cfg, overrides, lock.fd)
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
