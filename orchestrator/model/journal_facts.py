"""What the controller asks of its journal besides the search's state: its last event's
time (the heartbeat), its last code snapshot, whether the search ever ended, whether a
notification followed the last end, and which cancel requests are spent.

Theory of operation: a fold beside `state.SearchState`, fed the same events in the same
order, so that a journal's facts are known without holding its events, and are saved with
the state in the state snapshot (journal.state_snapshot) for a resume that replays only the
journal's tail. Each fact is what a scan of the whole event list answered before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from orchestrator.model.events import CancelRequested, CodeSnapshot, Event, Notified, SearchEnded


@dataclass
class JournalFacts:
    events: int = 0  # how many events (0: an empty journal)
    last_t: float = 0.0  # the last event's time (0.0: none)
    code: CodeSnapshot | None = None  # the last code snapshot
    ended: bool = False  # a search_ended anywhere
    notified: bool = False  # a notified after the last search_ended
    # each cancel request journaled -> spent (a search_ended after its last cancel_requested)
    cancels: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def of(cls, events: Iterable[Event]) -> JournalFacts:
        facts = cls()
        for event in events:
            facts.apply(event)
        return facts

    def apply(self, e: Event) -> None:
        self.events, self.last_t = self.events + 1, e.t
        match e:
            case CodeSnapshot():
                self.code = e
            case SearchEnded():
                self.ended, self.notified = True, False
                self.cancels = dict.fromkeys(self.cancels, True)
            case Notified():
                self.notified = True
            case CancelRequested():
                self.cancels[e.request] = False

    def watch(self, stream: Iterable[Event]) -> Iterator[Event]:
        """`stream`, each event applied as it passes."""
        for event in stream:
            self.apply(event)
            yield event
