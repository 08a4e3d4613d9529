"""Connecting to Ray: the embedded local cluster, or an existing cluster (RAY_ADDRESS).

- No address (neither `runtime.ray_address` nor $RAY_ADDRESS): start an embedded cluster for
  this process with `address="local"`, so a cluster someone started on the same machine with
  `ray start` is never joined by accident.
- An address: probe its TCP port first (a dead address costs `connect_timeout_s`, not Ray's
  retries), then let Ray read the address from $RAY_ADDRESS: that is the path on which Ray
  picks up token authentication by itself (~/.ray/auth_token, $RAY_AUTH_TOKEN,
  $RAY_AUTH_TOKEN_PATH). The embedded-cluster settings (num_cpus, object store, temp dir) are
  ignored when attaching, with one INFO line.
Every way of failing is one ConfigError line (exit 2).

Logs: Ray's own logger (its notices, e.g. about token authentication) and the output of its
workers (print, warnings, library progress bars, the actors' log records) go to this process's
logging, so into the command's log file, not onto the console (`runlog.quiet_console`; on
stderr too with --verbose). Worker lines are logged as 'any2capins.workers' with the worker's
pid and actor name: INFO for stdout, WARNING for stderr.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from any2capins.config.base import RuntimeConfig, StageResources
from any2capins.errors import ConfigError
from any2capins.runtime.signals import keep_sigterm_handler

log = logging.getLogger(__name__)

AUTH_HINT = ("the cluster uses token authentication: copy its token (`ray get-auth-token` on "
             "the head node) to ~/.ray/auth_token, or set RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH")


def cluster_address(runtime: RuntimeConfig) -> tuple[str | None, str]:
    """(address, where it came from); (None, '') for the embedded cluster."""
    if runtime.ray_address:
        return runtime.ray_address, "runtime.ray_address"
    env = os.environ.get("RAY_ADDRESS", "").strip()
    return (env, "RAY_ADDRESS") if env else (None, "")


def ensure_ray(runtime: RuntimeConfig) -> None:
    """Attach to the configured cluster or start the embedded one (once per process)."""
    address, source = cluster_address(runtime)
    if address is not None:
        _token_auth()  # before Ray reads its configuration where possible
    import ray

    if ray.is_initialized():
        return
    # Ray's logger propagates to ours; workers' output comes to the driver and is logged there
    _ray_logger_to_ours()
    kwargs: dict[str, Any] = {"include_dashboard": False, "configure_logging": False,
                              "log_to_driver": True}
    if address is None:
        kwargs["address"] = "local"
        if runtime.num_cpus:
            kwargs["num_cpus"] = runtime.num_cpus
        if runtime.object_store_memory_gb:
            kwargs["object_store_memory"] = int(runtime.object_store_memory_gb * 2**30)
        if runtime.temp_dir:
            kwargs["_temp_dir"] = runtime.temp_dir
    else:
        _note_ignored(runtime, address)
        if address != "auto":
            probe(address, source, runtime.connect_timeout_s)
        os.environ["RAY_ADDRESS"] = address
        _token_auth()
    with keep_sigterm_handler(), _connect_budget(address, runtime.connect_timeout_s):
        try:
            ray.init(**kwargs)
        except Exception as exc:  # noqa: BLE001 - every failure to start or attach is one line
            raise ConfigError(_init_error(exc, address, source)) from None
    _worker_output_to_log()


WORKER_LOG = "any2capins.workers"
_DISPATCH = "any2capins_worker_logs"


def _ray_logger_to_ours() -> None:
    """Ray gives its 'ray' logger a console handler of its own, not propagating, when it is
    imported; with `configure_logging=False` it adds none at init: propagate instead."""
    ray_logger = logging.getLogger("ray")
    ray_logger.handlers.clear()
    ray_logger.propagate = True
    # never Python's last-resort handler (stderr) when no log file is set up (a script, or
    # the moments after a command's log file closed): Ray's and its workers' lines go to the
    # log file or nowhere
    for name in ("ray", WORKER_LOG):
        lg = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in lg.handlers):
            lg.addHandler(logging.NullHandler())


def _worker_output_to_log() -> None:
    """Hand the lines Ray forwards from its workers to logging instead of printing them
    (Ray's own printer, with its deduplication notices, is removed). Through Ray's private
    dispatcher: when that is gone, Ray's printing stays, with a note in the log."""
    try:
        from ray._private.ray_logging import global_worker_stdstream_dispatcher as dispatch
    except ImportError:
        log.info("Ray's worker output dispatcher was not found: Ray prints worker output")
        return
    dispatch.remove_handler("ray_print_logs")
    dispatch.remove_handler(_DISPATCH)  # an earlier init of this process
    dispatch.add_handler(_DISPATCH, _log_worker_lines)


def _log_worker_lines(data: dict[str, Any]) -> None:
    """One batch of a worker's stdout or stderr lines (Ray's dict: lines, pid, is_err...)."""
    out = logging.getLogger(WORKER_LOG)
    level = logging.WARNING if data.get("is_err") else logging.INFO
    who = data.get("actor_name") or data.get("task_name") or "worker"
    lines = data.get("lines") or []
    if data.get("pid") == "autoscaler":  # its status dumps: only its events, as Ray prints
        try:
            from ray._private.worker import filter_autoscaler_events
        except ImportError:
            return
        lines, who = list(filter_autoscaler_events(lines)), "autoscaler"
    for line in lines:
        if line.strip():
            out.log(level, "(%s pid=%s) %s", who, data.get("pid"), line.rstrip())


def token_source() -> str | None:
    """Where Ray would read an auth token from, if anywhere: $RAY_AUTH_TOKEN,
    $RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token."""
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return "RAY_AUTH_TOKEN"
    path = os.environ.get("RAY_AUTH_TOKEN_PATH", "").strip()
    if path and Path(path).expanduser().is_file():
        return path
    default = Path.home() / ".ray" / "auth_token"
    return str(default) if default.is_file() else None


def _token_auth() -> None:
    """Turn token authentication on for an explicit address when a token is available.

    Ray enables it by itself only for a cluster it finds on its own; for an address given
    explicitly (argument or RAY_ADDRESS) it needs RAY_AUTH_MODE=token, as its docs say. An
    explicit RAY_AUTH_MODE (e.g. 'disabled') is respected."""
    if os.environ.get("RAY_AUTH_MODE"):
        return
    source = token_source()
    if source:
        os.environ["RAY_AUTH_MODE"] = "token"
        log.info("Ray token authentication on, token from %s", source)
        if "ray._raylet" in sys.modules:  # Ray read its configuration already: refresh it
            try:
                from ray._raylet import Config

                Config.initialize("")
            except Exception as exc:  # noqa: BLE001 - private API; the attach error will say
                log.warning("could not refresh Ray's configuration: %s", exc)


@contextmanager
def _connect_budget(address: str | None, timeout: float) -> Iterator[None]:
    """Bound Ray's connection retries (by default ~20 one-second tries, e.g. on a rejected
    auth token) to about `timeout` seconds while attaching."""
    key = "RAY_gcs_server_port_wait_time_s"
    if address is None or key in os.environ:
        yield
        return
    os.environ[key] = str(max(1, math.ceil(timeout)))
    try:
        yield
    finally:
        os.environ.pop(key, None)


def _note_ignored(runtime: RuntimeConfig, address: str) -> None:
    ignored = [name for name, value in (("runtime.num_cpus", runtime.num_cpus),
                                        ("runtime.object_store_memory_gb",
                                         runtime.object_store_memory_gb),
                                        ("runtime.temp_dir", runtime.temp_dir)) if value]
    if ignored:
        log.info("attaching to the Ray cluster at %s: %s apply to the embedded cluster only "
                 "and are ignored", address, ", ".join(ignored))


def probe(address: str, source: str, timeout: float) -> None:
    """One TCP connect to host:port; ConfigError when nothing answers."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"{source}={address!r}: expected host:port of a Ray head node "
                          "(e.g. 10.0.0.5:6379)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise ConfigError(
            f"cannot reach the Ray cluster at {address} ({source}): "
            f"{exc.strerror or type(exc).__name__}; start it with `ray start --head`, or unset "
            f"{source} to run on an embedded local cluster") from None


def _init_error(exc: Exception, address: str | None, source: str) -> str:
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    if address is None:
        return f"cannot start the embedded Ray cluster: {type(exc).__name__}: {text}"
    where = f"cannot attach to the Ray cluster at {address} ({source})"
    chain, cause = [], exc
    while cause is not None and len(chain) < 5:
        chain.append(repr(cause).lower())
        cause = cause.__cause__ or cause.__context__
    if any("auth" in c or "token" in c for c in chain):
        return f"{where}: {AUTH_HINT} ({text})"
    return f"{where}: {type(exc).__name__}: {text}"


def actor_options(res: StageResources) -> dict[str, Any]:
    """Ray actor options reserving what one worker of a stage asks for."""
    options: dict[str, Any] = {"num_cpus": res.num_cpus, "num_gpus": res.num_gpus}
    if res.memory_gb:
        options["memory"] = int(res.memory_gb * 2**30)
    if res.resources:
        options["resources"] = dict(res.resources)
    return options


def needs(options: dict[str, Any]) -> dict[str, float]:
    """What one actor with these Ray options reserves, by Ray resource name."""
    out = {"CPU": options.get("num_cpus") or 0.0, "GPU": options.get("num_gpus") or 0.0,
           "memory": options.get("memory") or 0.0, **(options.get("resources") or {})}
    return {k: float(v) for k, v in out.items() if v and v > 0}


def workers_that_fit(label: str, options: dict[str, Any], wanted: int) -> int:
    """How many of `wanted` actors with these Ray options the cluster's alive nodes hold at
    once. An actor that fits on no node is a ConfigError (it would wait forever); fewer than
    wanted is an INFO line and the pool is made that size (a pool waiting for actors that
    never start would never finish its setup)."""
    import ray

    need = needs(options)
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    fits = [min(math.floor(node.get(k, 0.0) / v + 1e-9) for k, v in need.items())
            for node in nodes] if need else [wanted]
    total = sum(fits)
    if total == 0:
        have = {k: max((node.get(k, 0.0) for node in nodes), default=0.0) for k in need}
        short = [f"{_amount(k, need[k])} (largest node has {_amount(k, have[k])})"
                 for k in need if have[k] < need[k]] or [str(need)]
        raise ConfigError(f"{label}: no node of the cluster can hold one worker, which asks "
                          f"for {', '.join(short)}: lower {label} resources (num_cpus, "
                          "num_gpus, memory_gb, resources) or add such nodes")
    if total < wanted:
        log.info("%s: the cluster holds %d of %d workers asked for at once; using %d",
                 label, total, wanted, total)
    return min(total, wanted)


def _amount(key: str, value: float) -> str:
    return f"{value / 2**30:.1f} GiB memory" if key == "memory" else f"{value:g} {key}"
