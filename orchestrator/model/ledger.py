"""What retention (search.keep) has measured and deleted: a fold of its journal events.

Theory of operation: every complete checkpoint is measured once (`checkpoint_sized`), and
each deletion journals its intent (with the bytes it frees, measured before its first step)
and then its end (`deleted`). The disk figures are sums over these events, so they cost
nothing to keep current on a huge search folder and a replayed journal gives them back:
`bytes` is what the checkpoints hold now, `peak` the most they held at once, `freed` what
retention removed. Files beside the checkpoints (results, logs, assets) are not counted.
`SearchState` holds one `Disk` and hands it these events; pure, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.model.events import CheckpointSized, Deleted, DeleteIntent, DeleteRefused, Event

ALL = "all"  # the whole checkpoint
TRAINING_STATE = "training_state"  # only what resuming needs: optimizer, scheduler, RNG


@dataclass
class Disk:
    sizes: dict[tuple[int, int], int] = field(default_factory=dict)  # bytes held now
    pending: dict[tuple[int, int], DeleteIntent] = field(default_factory=dict)
    deleted: dict[tuple[int, int], str] = field(default_factory=dict)  # key -> what
    refused: dict[tuple[int, int], str] = field(default_factory=dict)  # key -> why
    bytes: int = 0
    peak: int = 0
    freed: int = 0

    def apply(self, e: Event) -> None:
        key = (getattr(e, "trial", 0), getattr(e, "step", 0))
        if isinstance(e, CheckpointSized):
            self.bytes += e.bytes - self.sizes.get(key, 0)
            self.sizes[key] = e.bytes
            self.peak = max(self.peak, self.bytes)
        elif isinstance(e, DeleteIntent):
            self.pending[key] = e
        elif isinstance(e, Deleted):
            self.pending.pop(key, None)
            if self.deleted.get(key) == ALL:
                return  # a repeat (never journaled twice, but a replay must not count it)
            self.deleted[key] = e.what
            freed = min(e.bytes, self.sizes.get(key, e.bytes))
            self.sizes[key] = self.sizes.get(key, e.bytes) - freed
            self.bytes -= freed
            self.freed += freed
        elif isinstance(e, DeleteRefused):
            self.refused[key] = e.reason

    def forget(self, key: tuple[int, int]) -> None:
        """A later training run wrote the checkpoint again: the new one is measured, kept
        and deleted on its own; the old one's files were moved aside (jobs.train)."""
        self.bytes -= self.sizes.pop(key, 0)
        for held in (self.pending, self.deleted, self.refused):
            held.pop(key, None)

    def gone(self, key: tuple[int, int]) -> bool:
        """The checkpoint is deleted, or being deleted: nothing may read it any more."""
        return self.deleted.get(key) == ALL or (
            key in self.pending and self.pending[key].what == ALL)

    def slim(self, key: tuple[int, int]) -> bool:
        """Its training state is deleted or being deleted."""
        return key in self.deleted or key in self.pending

    def figures(self) -> dict[str, int]:
        """summary.json's `disk`."""
        return {"peak_bytes": self.peak, "final_bytes": self.bytes, "freed_bytes": self.freed}


def human(n: int) -> str:
    """Bytes for people: 1.3 GB, 512 kB (powers of 1000, as `du --si` and quotas show)."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def summary_text(disk: Disk) -> str:
    """One line for the live view and `status`: what the checkpoints hold, what was freed."""
    if not disk.sizes:
        return "checkpoints on disk: none measured yet"
    return (f"checkpoints on disk: {human(disk.bytes)} (peak {human(disk.peak)}), "
            f"freed {human(disk.freed)}")


def event_line(e: Event, disk: Disk | None = None) -> str | None:
    """The view's line for a retention event; None for the bookkeeping ones."""
    total = f"; {summary_text(disk)}" if disk is not None else ""
    if isinstance(e, Deleted):
        if e.what != ALL and not e.bytes:
            return None  # a user's script saved no optimizer or RNG state: nothing to say
        what = "deleted" if e.what == ALL else "optimizer and RNG state deleted"
        return (f"trial {e.trial}: checkpoint {e.step} {what} (search.keep), "
                f"{human(e.bytes)} freed{total}")
    if isinstance(e, DeleteRefused):
        return f"trial {e.trial}: checkpoint {e.step} kept: {e.reason}"
    return None
