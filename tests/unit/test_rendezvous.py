"""A several-task job's rendezvous: its port is the job's and step's own, and ranks that do
not all meet fail at once with one line (jobs.rendezvous)."""

from __future__ import annotations

import socket
import threading
from datetime import timedelta

import pytest

from orchestrator.scheduler.rendezvous import PORT_LOW, PORT_SPAN, STEPS, port_for


@pytest.mark.parametrize("job_id, step, port", [
    ("0", "0", PORT_LOW),
    ("1", "0", PORT_LOW + STEPS),
    ("1", "1", PORT_LOW + STEPS + 1),
    ("5000", "0", PORT_LOW),  # PORT_SPAN / STEPS ids apart: the same port again
    ("4999", "3", PORT_LOW + PORT_SPAN - 1),
    ("123_4", "0", PORT_LOW + 123 * STEPS),
    ("42", "batch", PORT_LOW + 42 * STEPS),  # not a number: step 0
])
def test_the_port_is_a_function_of_job_and_step(job_id: str, step: str, port: int) -> None:
    assert port_for(job_id, step) == port


def test_jobs_fewer_than_5000_ids_apart_never_share_a_port() -> None:
    ports = {port_for(str(job), str(step)) for job in range(70000, 75000) for step in range(4)}
    assert len(ports) == 20000
    assert min(ports) >= PORT_LOW and max(ports) < 32768  # below Linux's ephemeral range


def test_a_non_numeric_job_id_is_hashed_into_the_range() -> None:
    port = port_for("DEBUG-job")
    assert PORT_LOW <= port < PORT_LOW + PORT_SPAN
    assert port == port_for("DEBUG-job")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(monkeypatch: pytest.MonkeyPatch, rank: int, world: int, port: int) -> None:
    for key, value in {"RANK": rank, "WORLD_SIZE": world, "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": port}.items():
        monkeypatch.setenv(key, str(value))


@pytest.mark.parametrize("rank", [0, 1])
def test_ranks_that_do_not_all_meet_fail_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                                       rank: int) -> None:
    pytest.importorskip("torch")
    from jobs import rendezvous

    port = _free_port()
    _env(monkeypatch, rank, 2, port)  # rank 0 waits for 1 that never comes; 1 for no master
    with pytest.raises(rendezvous.RanksDidNotMeet) as caught:
        rendezvous.meet(timeout_s=1.0)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"rank {rank} of WORLD_SIZE=2 at 127.0.0.1:{port}: ")
    assert ("1 ranks met within 1 s" if rank == 0 else "no ranks met within 1 s") in message


def test_a_single_task_forms_no_group(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from jobs import rendezvous

    monkeypatch.setenv("WORLD_SIZE", "1")
    assert rendezvous.meet(timeout_s=1.0) is False


def test_every_rank_counts_in_and_sees_all() -> None:
    dist = pytest.importorskip("torch.distributed")
    from jobs import rendezvous

    port, counts = _free_port(), {}
    stores = [dist.TCPStore("127.0.0.1", port, 2, is_master=True,
                            timeout=timedelta(seconds=5), wait_for_workers=False)]
    stores.append(dist.TCPStore("127.0.0.1", port, 2, is_master=False,
                                timeout=timedelta(seconds=5)))

    def count(rank: int) -> None:
        counts[rank] = rendezvous._count_in(stores[rank], 2, deadline=1e18)

    threads = [threading.Thread(target=count, args=(rank,)) for rank in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert counts == {0: 2, 1: 2}
