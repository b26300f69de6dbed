"""A local Ray instance that nobody else can reach: Ray has no authentication, so the instance the harness (and
its tests) start listens on 127.0.0.1 only, with no dashboard and no job-submission server."""

from __future__ import annotations

import os
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


def init_local(ray: Any, **kwargs: Any) -> None:
    """``ray.init`` of a new local instance that listens on 127.0.0.1 only, without dashboard; refused (one line,
    the instance stopped) if Ray still put the node on another address."""
    from ray._private import ray_constants

    old_env, old_flag = os.environ.get(LOCAL_ONLY_ENV), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[LOCAL_ONLY_ENV] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(_node_ip_address=LOOPBACK, include_dashboard=False, **kwargs)
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = old_flag
        if old_env is None:
            os.environ.pop(LOCAL_ONLY_ENV, None)
        else:
            os.environ[LOCAL_ONLY_ENV] = old_env
    node = ray.get_runtime_context().gcs_address.rsplit(":", 1)[0]
    if node != LOOPBACK:
        ray.shutdown()
        raise HarnessError(f"a local Ray instance: Ray put the node on {node}, not {LOOPBACK}; not started, since "
                           "Ray has no authentication (run with --executor local, or join a private cluster with "
                           "--ray-address)")
