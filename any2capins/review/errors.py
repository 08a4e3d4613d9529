"""Why the queue refused a request. Each message says what happened and what to do."""

from __future__ import annotations

from any2capins.errors import Any2CapInsError, InputError


class ReviewError(Any2CapInsError):
    """Base of the queue's refusals; `kind` is the short name used in JSON output."""

    kind = "review_error"


class AnnotatorError(InputError):
    """The annotator name is empty, or not on the configured roster."""

    kind = "annotator"


class StaleDecisionError(ReviewError):
    """The decision names a caption version that is not the current one, or the item was
    already decided: nothing is overwritten."""

    kind = "stale"


class LeaseError(ReviewError):
    """The annotator does not hold the lease the request needs."""

    kind = "lease"


class InvalidEditError(ReviewError):
    """An edited section failed validation, or an accept lacks sections."""

    kind = "invalid"


class UnknownItemError(ReviewError):
    kind = "unknown_item"


class QueueUnavailableError(ReviewError):
    """The SQLite file could not be locked for writing (busy past review.busy_timeout_s)."""

    kind = "unavailable"
