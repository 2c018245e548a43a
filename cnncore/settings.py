"""Server settings a teacher sets: two profiles, a file, environment variables.

Where a value comes from, last one wins:

1. the profile's default: ``laptop`` (the default: one person on their own machine) or ``class``
   (a class of about 30 on one shared server);
2. ``cnn-explorer.toml`` in the folder the app or CLI starts in (or the file named by
   ``$CNN_EXPLORER_CONFIG``), with the same names as below, e.g. ``jobs_at_once = 6``;
3. environment variables ``CNN_EXPLORER_<NAME>`` in capitals, e.g. ``CNN_EXPLORER_JOBS_AT_ONCE=6``.

The profile itself is ``profile = "class"`` in the file or ``CNN_EXPLORER_PROFILE=class``.
A bad value is refused with one plain sentence (``UserError``) naming the setting.

Settings (see ``Settings``): who gets which workspace (``mode``), the address to tell Streamlit to
listen on, jobs running at once and threads per job (their product never exceeds the cores), jobs
per visitor, largest batch size and epochs, memory budgets, runs and disk per workspace.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from cnncore.errors import UserError

PROFILES = ("laptop", "class")
MODES = ("personal", "class")
CONFIG_FILE = "cnn-explorer.toml"
ENV_PREFIX = "CNN_EXPLORER_"


def cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def total_memory_mb() -> int:
    """Physical memory in MB (MemTotal); 4096 if it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 4096


@dataclass(frozen=True)
class Settings:
    """What one server allows. Memory and disk are in MB."""

    profile: str = "laptop"
    mode: str = "personal"  # "personal": the visitor's default workspace is `local` (the CLI's);
    #                         "class": every browser gets its own workspace
    address: str = "localhost"  # where Streamlit should listen (see the README: --server.address)
    jobs_at_once: int = 1  # training jobs running at the same time on the server
    threads_per_job: int = 1  # compute threads each job uses (jobs_at_once x this <= cores)
    job_nice: int = 10  # jobs' threads run this much nicer than the page threads (0 to 19)
    running_per_visitor: int = 1  # jobs one workspace may have running
    queued_per_visitor: int = 1  # and waiting in the queue
    max_batch_size: int = 4096
    max_epochs: int = 1000
    memory_budget_mb: int = 2048  # all running jobs' estimated memory together
    memory_per_job_mb: int = 2048  # one job's estimated memory
    max_runs_per_workspace: int = 1000
    max_disk_mb_per_workspace: int = 5000
    cores: int = 1  # informational: the cores seen when the settings were made

    def describe(self) -> str:
        return (
            f"profile {self.profile}: {self.jobs_at_once} job(s) at once x "
            f"{self.threads_per_job} thread(s) on {self.cores} cores, per visitor "
            f"{self.running_per_visitor} running + {self.queued_per_visitor} queued, batch <= "
            f"{self.max_batch_size}, epochs <= {self.max_epochs}, memory {self.memory_budget_mb} MB "
            f"({self.memory_per_job_mb} MB per job), per workspace {self.max_runs_per_workspace} "
            f"runs / {self.max_disk_mb_per_workspace} MB"
        )


def profile_defaults(profile: str, n_cores: int | None = None, memory_mb: int | None = None):
    """The defaults of a profile on a machine with ``n_cores`` cores and ``memory_mb`` of RAM."""
    n = n_cores or cores()
    mem = memory_mb or total_memory_mb()
    if profile == "laptop":
        # One person: a job takes all cores but one (the browser and the web server redraw the
        # live page); two jobs at once only where that still fits in the cores.
        threads = max(1, n - 1)
        at_once = max(1, n // threads)
        budget = mem // 2
        return Settings(
            profile="laptop",
            mode="personal",
            address="localhost",
            jobs_at_once=at_once,
            threads_per_job=threads,
            running_per_visitor=8,
            queued_per_visitor=8,
            max_batch_size=4096,
            max_epochs=1000,
            memory_budget_mb=budget,
            memory_per_job_mb=budget,
            max_runs_per_workspace=1000,
            max_disk_mb_per_workspace=5000,
            cores=n,
        )
    if profile == "class":
        # Many visitors: small jobs side by side, one core in eight (at least one) left for the
        # web server that answers every tab's polls and slider moves.
        threads = 2 if n >= 8 else 1
        at_once = max(1, (n - max(1, n // 8)) // threads)
        budget = int(mem * 0.6)
        return Settings(
            profile="class",
            mode="class",
            address="0.0.0.0",
            jobs_at_once=at_once,
            threads_per_job=threads,
            running_per_visitor=1,
            queued_per_visitor=1,
            max_batch_size=1024,
            max_epochs=20,
            memory_budget_mb=budget,
            memory_per_job_mb=max(256, min(2048, budget // at_once)),
            max_runs_per_workspace=50,
            max_disk_mb_per_workspace=200,
            cores=n,
        )
    raise UserError(f"profile {profile!r} is not known; use one of {', '.join(PROFILES)}")


def _coerce(name: str, value, kind: type, origin: str):
    if kind is int:
        if isinstance(value, bool):
            value = str(value)
        try:
            number = int(str(value).strip().replace("_", ""))
        except ValueError:
            raise UserError(
                f"setting {name} from {origin} is {value!r}, not a whole number"
            ) from None
        lowest = 0 if name == "job_nice" else 1
        if number < lowest:
            raise UserError(
                f"setting {name} from {origin} is {number}; it must be at least {lowest}"
            )
        return number
    return str(value).strip()


def load_settings(
    environ: dict | None = None, config_file: str | Path | None = None, n_cores: int | None = None
) -> Settings:
    """The server's settings (profile defaults, then the file, then the environment)."""
    env = os.environ if environ is None else environ
    path = Path(config_file or env.get(ENV_PREFIX + "CONFIG") or CONFIG_FILE)
    from_file: dict = {}
    if path.is_file():
        try:
            from_file = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"{path} is not a valid TOML settings file ({exc})") from None
        except OSError as exc:
            raise UserError(f"{path} cannot be read ({exc.strerror})") from None
    elif config_file is not None or env.get(ENV_PREFIX + "CONFIG"):
        raise UserError(f"the settings file {path} does not exist")

    profile = str(env.get(ENV_PREFIX + "PROFILE") or from_file.get("profile") or "laptop").strip()
    base = profile_defaults(profile, n_cores)
    kinds = {f.name: (int if f.type in ("int", int) else str) for f in fields(Settings)}
    values: dict = {}
    for key, value in from_file.items():
        if key == "profile":
            continue
        if key not in kinds or key == "cores":
            raise UserError(f"{path} has an unknown setting {key!r}; see cnncore/settings.py")
        values[key] = _coerce(key, value, kinds[key], str(path))
    legacy = env.get(ENV_PREFIX + "TRAIN_THREADS")  # the name this setting had before
    if legacy:
        values["threads_per_job"] = _coerce(
            "threads_per_job", legacy, int, "CNN_EXPLORER_TRAIN_THREADS"
        )
    for key in kinds:
        if key in ("profile", "cores"):
            continue
        raw = env.get(ENV_PREFIX + key.upper())
        if raw is not None and raw != "":
            values[key] = _coerce(key, raw, kinds[key], ENV_PREFIX + key.upper())
    settings = replace(base, **values)
    return check(settings)


def check(s: Settings) -> Settings:
    """Refuse settings that cannot work, in one sentence each."""
    if s.mode not in MODES:
        raise UserError(f"setting mode is {s.mode!r}; use one of {', '.join(MODES)}")
    if s.jobs_at_once * s.threads_per_job > s.cores:
        raise UserError(
            f"jobs_at_once x threads_per_job is {s.jobs_at_once} x {s.threads_per_job} = "
            f"{s.jobs_at_once * s.threads_per_job} compute threads, more than the {s.cores} "
            "cores of this machine; lower one of them"
        )
    if s.memory_per_job_mb > s.memory_budget_mb:
        raise UserError(
            f"memory_per_job_mb ({s.memory_per_job_mb}) is larger than memory_budget_mb "
            f"({s.memory_budget_mb}); a job could never start"
        )
    if s.job_nice > 19:
        raise UserError(f"setting job_nice is {s.job_nice}; it can be at most 19")
    if s.max_batch_size > 65536:
        raise UserError("max_batch_size can be at most 65536")
    return s


def as_dict(s: Settings) -> dict:
    return asdict(s)
