"""A local Ray instance that nobody else can reach: Ray has no authentication, so the instance the harness (and
its tests) start listens on 127.0.0.1 only, with no dashboard and no job-submission server."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from harness.core.errors import HarnessError

# Ray has no authentication: whoever reaches a node's ports can run code as its user
# (https://docs.ray.io/en/latest/ray-security/index.html). Ray resolves ``_node_ip_address="127.0.0.1"`` to the
# machine's network address and then binds its gRPC servers (GCS, raylet, object manager, workers, agents) on every
# interface, unless its "no cluster" switch is off: then the node is 127.0.0.1 and every server binds loopback only
# (measured with psutil.net_connections, NOTES.md issue 24). The switch is read from the environment when ray is
# imported and by the daemons this starts, so both are set for the start only.
LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
LOOPBACK = "127.0.0.1"


@contextlib.contextmanager
def _local_only(**env: str) -> Iterator[None]:
    """Ray's "no cluster" switch off (and ``env`` set) for the block only: in the environment, which the daemons
    Ray starts read, and in the already imported ``ray_constants``."""
    from ray._private import ray_constants

    env = {LOCAL_ONLY_ENV: "0", **env}
    old_env, old_flag = {k: os.environ.get(k) for k in env}, ray_constants.ENABLE_RAY_CLUSTER
    os.environ.update(env)
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = old_flag
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def is_loopback(address: str) -> bool:
    """Whether a ``--ray-address`` names an instance on this machine's loopback (host:port, ``ray://`` allowed)."""
    return address.removeprefix("ray://").rsplit(":", 1)[0] in (LOOPBACK, "localhost")


def join_local(ray: Any, address: str, **kwargs: Any) -> None:
    """``ray.init`` of a driver joining an instance that :func:`init_local` started (another process's): with the
    same switch off, so that Ray does not look for the instance on the machine's network address, and with Ray's
    token authentication, which such an instance requires (Ray keeps the token in ``~/.ray/auth_token``)."""
    with _local_only(RAY_AUTH_MODE="token"):
        ray.init(address=address, **kwargs)


def init_local(ray: Any, **kwargs: Any) -> None:
    """``ray.init`` of a new local instance that listens on 127.0.0.1 only, without dashboard; refused (one line,
    the instance stopped) if Ray still put the node on another address."""
    with _local_only():
        ray.init(_node_ip_address=LOOPBACK, include_dashboard=False, **kwargs)
    node = ray.get_runtime_context().gcs_address.rsplit(":", 1)[0]
    if node != LOOPBACK:
        ray.shutdown()
        raise HarnessError(f"a local Ray instance: Ray put the node on {node}, not {LOOPBACK}; not started, since "
                           "Ray has no authentication (run with --executor local, or join a private cluster with "
                           "--ray-address)")
