"""The local Ray instance the harness starts (``--executor ray`` without ``--ray-address``) listens on loopback
only: Ray has no authentication, so a port on the machine's network address lets anyone who reaches it run code
as the user. Started with the harness's own code (:func:`harness.run.ray_executor.connect`), its own instance."""

from __future__ import annotations

import ipaddress

import psutil
import pytest

from harness.run import ray_executor


def _listening(pids: set[int] | None = None) -> set[tuple[str, int, int]]:
    """(address, port, pid) of every listening TCP socket (of ``pids`` only, when given)."""
    return {(c.laddr.ip, c.laddr.port, c.pid or 0) for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and (pids is None or c.pid in pids)}


def _loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback


def test_a_local_ray_instance_listens_on_loopback_only() -> None:
    import ray

    if ray.is_initialized():
        pytest.skip("this process already holds a Ray instance")
    before = _listening()
    with ray_executor.connect(None):
        tree = {psutil.Process().pid, *(p.pid for p in psutil.Process().children(recursive=True))}
        assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
        ours = _listening(tree)
        new = _listening() - before
    assert len({pid for _, _, pid in ours}) >= 3  # at least the GCS, the raylet and a worker listen
    exposed = sorted((ip, port) for ip, port, _ in ours | new if not _loopback(ip))
    assert exposed == []
