"""Circuit breaker: stop sending to an LLM server that stopped answering in the middle of a run.

The preflight catches a server that is down at the start; this catches one that dies later
(killed, out of memory, network gone). Without it, every remaining call of a 300K-clip job
would still run through all its retries and timeouts, for hours.

One breaker per stage worker (it outlives the per-batch client). It counts the calls in a row
that ended, after their retries, in a *connection-class* failure: connection refused or reset,
timeouts, HTTP 5xx. Any answer of the server (a success, but also a 4xx, a 429, invalid JSON or
an empty answer: the server is alive and talking) resets the count. At `llm.breaker_after`:

- the breaker opens: no call sends anything; calls waiting to send (new ones and those between
  retries) wait for the probe;
- the call whose failure opened it makes one cheap probe after `llm.breaker_probe_s` seconds
  (the preflight's 1-token completion, `server.one_token`: it needs the model to run, not just
  the HTTP front; the probe's request is counted in that call's usage). Any HTTP answer below
  500 closes the breaker and the calls go on. A failed probe,
  or a probe that is off (0), or a breaker opening again before any real call succeeded since
  the last probe (the server answers probes but not real calls) makes it *dead*;
- dead: every later call of this worker fails at once, without sending, with the retriable
  error class `LLMUnavailable`, whose message names the URL, the model and the last cause. The
  command then prints one line and exits 1; a plain rerun redoes exactly those items.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from any2capins.config.captions import LLMConfig
from any2capins.llm.server import one_token, transport_error
from any2capins.models.common import TokenUsage

log = logging.getLogger("any2capins.llm")

UNAVAILABLE = "LLMUnavailable"
# error classes (see server.transport_error) that mean the server is not answering
CONNECTION_CLASSES = frozenset({"ConnectionError", "Timeout", "ServerError"})
_POLL_S = 0.05  # waiting calls look at the state this often (works across event loops)
_CAUSE = re.compile(r"last cause: ([^;]*)")


def one_line(text: str, limit: int = 200) -> str:
    """`text` on one line, without ';' (the separator of captions' per-section messages)."""
    return " ".join(str(text).replace(";", ",").split())[:limit]


def cause_of(message: str) -> str | None:
    """The last cause recorded in an `LLMUnavailable` message, or None."""
    m = _CAUSE.search(message or "")
    return m.group(1).strip() if m else None


class CircuitBreaker:
    """State shared by the calls of one worker: 'closed' (send), 'open' (a probe decides;
    calls wait) or 'dead' (fail at once). Plain attributes under a lock, no asyncio objects:
    each batch runs in its own event loop."""

    def __init__(self, cfg: LLMConfig, label: str = "llm") -> None:
        self.cfg = cfg
        self.label = label
        self.state = "closed"
        self.failures = 0  # calls in a row that ended in a connection-class failure
        self.cause = ""  # the last of them: "ConnectionError: Connection error."
        self.probe_trusted = True  # False after a probe until a real call succeeds
        self._lock = threading.Lock()

    @property
    def dead(self) -> bool:
        return self.state == "dead"

    def alive(self) -> None:
        """The server answered (anything but a connection-class failure): reset the count."""
        with self._lock:
            self.failures = 0
            self.probe_trusted = True

    def failed(self, error_class: str | None, message: str | None) -> bool:
        """Count one call that ended in failure; True when it opened the breaker (the caller
        then runs `probe`). Other failures reset the count: the server was talking."""
        if error_class not in CONNECTION_CLASSES:
            self.alive()
            return False
        with self._lock:
            self.failures += 1
            # (the client's message ends with the URL, which the breaker's message names)
            text = (message or "").removesuffix(f" ({self.cfg.base_url})")
            self.cause = one_line(f"{error_class}: {text}")
            if self.state != "closed" or self.failures < self.cfg.breaker_after:
                return False
            self.state = "open"
        log.warning("%s: %d calls in a row to %s failed (%s): circuit breaker open, nothing "
                    "more is sent%s", self.label, self.failures, self.cfg.base_url, self.cause,
                    f"; one probe in {self.cfg.breaker_probe_s:g} s"
                    if self._may_probe() else "")
        return True

    def _may_probe(self) -> bool:
        return self.cfg.breaker_probe_s > 0 and self.probe_trusted

    async def admit(self) -> bool:
        """Before each request: wait while a probe decides; False when the breaker is dead."""
        while self.state == "open":
            await asyncio.sleep(_POLL_S)
        return self.state == "closed"

    async def probe(self, client: Any) -> tuple[bool, TokenUsage]:
        """Decide an open breaker (called by the call that opened it): wait, send one 1-token
        completion, close on an answer, else die. Returns (closed again, what the probe
        sent)."""
        if not self._may_probe():
            return self._die(), TokenUsage()
        await asyncio.sleep(self.cfg.breaker_probe_s)
        usage, exc = await one_token(client, self.cfg, timeout=self.cfg.preflight_timeout_s)
        if exc is not None:
            cls, _, _ = transport_error(exc)
            if cls in CONNECTION_CLASSES:  # only connection-class failures are fatal
                self.cause = one_line(f"{cls}: {exc}")
                return self._die(), usage
        with self._lock:
            self.state, self.failures, self.probe_trusted = "closed", 0, False
        log.warning("%s: probe answered: %s is back, circuit breaker closed", self.label,
                    self.cfg.base_url)
        return True, usage

    def _die(self) -> bool:
        with self._lock:
            self.state = "dead"
        log.warning("%s: %s", self.label, self.message())
        return False

    def message(self) -> str:
        """The error message of a call refused by a dead breaker."""
        return (f"LLM server {self.cfg.base_url} (model {self.cfg.model}) stopped answering, "
                f"not sent (circuit breaker open after {self.cfg.breaker_after} failed calls "
                f"in a row); last cause: {self.cause}")


@dataclass(frozen=True)
class ServerStopped:
    """What a command says when its LLM server stopped answering during the run."""

    url: str | None
    model: str
    cause: str
    done: int  # items finished in this run
    left: int  # retriable error rows of the stage (what a plain rerun redoes)
    noun: str  # "clips", "prompts"

    def line(self) -> str:
        return (f"LLM server {self.url} (model {self.model}) stopped answering ({self.cause}) "
                f"after {self.done} {self.noun}; {self.left} {self.noun} left retriable; rerun "
                "the same command when it is back")

    def summary(self, stage: str) -> dict[str, Any]:
        """The run record's entry (run.json `summaries`)."""
        return {"stage": f"{stage}-llm-unavailable", "url": self.url, "model": self.model,
                "cause": self.cause, "done": self.done, "left_retriable": self.left,
                "message": self.line()}


def server_stopped(ctx: Any, stage: str, started: datetime, cfg: LLMConfig, *, done: int,
                   noun: str) -> ServerStopped | None:
    """ServerStopped when this run (since `started`) wrote `LLMUnavailable` error rows for
    `stage` (a worker's breaker went dead), also added to the run record of `ctx` (the
    command's RunContext); else None."""
    errors = ctx.store.read_errors(stage)
    mine = [e for e in errors if e.error_class == UNAVAILABLE and e.time >= started]
    if not mine:
        return None
    cause = next((c for e in mine if (c := cause_of(e.message))), "no answer")
    stopped = ServerStopped(cfg.base_url, cfg.model, cause, done,
                            sum(e.retriable for e in errors), noun)
    ctx.add_summary(stopped.summary(stage))
    return stopped
