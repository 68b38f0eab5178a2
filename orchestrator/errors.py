"""The small hierarchy of errors a user can see. Each message is one actionable line."""

from __future__ import annotations


class OrchestratorError(Exception):
    """Base of every error the CLI turns into a one-line message."""

    exit_code = 1


class ConfigError(OrchestratorError):
    """The configuration cannot work; nothing was submitted."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class SearchDirError(OrchestratorError):
    """search.dir is held by another controller, cannot be created, or holds what its
    journal does not account for."""

    exit_code = 2


class SearchLocked(SearchDirError):
    """Another live process (a controller, a clean) holds the search folder's lock."""


class JournalCorrupt(OrchestratorError):
    exit_code = 2


class SchedulerError(OrchestratorError):
    """A scheduler call failed in a way that retrying will not fix."""

    exit_code = 3  # the search stopped with jobs already run: it failed (exit_codes.FAILED)


class SchedulerUnavailable(SchedulerError):
    """The scheduler did not answer (slurmctld down or restarting): the same call can be
    made again later. The controller waits and retries instead of ending."""


class SubmitLimited(SchedulerUnavailable):
    """The scheduler refused a job for a per-user or per-account limit on queued jobs
    (SLURM's MaxSubmitJobs of a QOS or association): it takes more once some of ours end, so
    the controller waits and tries again, as for a scheduler that does not answer."""


class SubmissionRefused(SchedulerError):
    """The scheduler refused the search's very first submission: nothing ever ran, so it is
    a usage error (a wrong account, partition or QOS), not a failed search."""

    exit_code = 2


class Interrupted(KeyboardInterrupt):
    """Ctrl-C while a search ran, carrying what to tell the user (which jobs keep running,
    how to resume). A KeyboardInterrupt, so that nothing on the way up swallows it."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines

