"""Dead letters: how every stage turns a failure into a `DeadLetter` row instead of a crash.

Policy: an input the pipeline understands but will not accept (empty file, wrong language, too
long) raises `Rejected` with a readable reason. Any other exception while processing one element
is a bug or a surprise; it is caught per element, logged once as a warning, and becomes a dead
letter carrying the exception type and the end of the traceback. Neither stops the run.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable, Iterator
from typing import Any, Optional

from apache_beam import pvalue
from apache_beam.metrics import Metrics

from transforms.core import metrics
from transforms.core.ids import stable_id
from transforms.core.records import DeadLetter

DEAD_LETTERS = "dead_letters"

_LOG = logging.getLogger(__name__)


class Rejected(Exception):
    """An input that is understood but not accepted; `reason` is shown to the user as is.

    Fetch failures also say what kind of failure it was, the last HTTP status and the attempts.
    """

    def __init__(
        self,
        reason: str,
        detail: Optional[str] = None,
        *,
        error_type: str = "rejected",
        status: Optional[int] = None,
        attempts: Optional[int] = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.error_type = error_type
        self.status = status
        self.attempts = attempts


def dead_letter(
    stage: str,
    source: str,
    reason: str,
    error_type: str = "rejected",
    detail: Optional[str] = None,
    status: Optional[int] = None,
    attempts: Optional[int] = None,
) -> DeadLetter:
    return DeadLetter(
        dead_letter_id=stable_id(source, stage, reason),
        source=source,
        stage=stage,
        reason=reason,
        error_type=error_type,
        detail=detail,
        status=status,
        attempts=attempts,
    )


def from_exception(stage: str, source: str, exc: BaseException) -> DeadLetter:
    """The dead letter for an exception raised while processing `source` in `stage`."""
    if isinstance(exc, Rejected):
        return dead_letter(stage, source, exc.reason, exc.error_type, exc.detail, exc.status, exc.attempts)
    name = type(exc).__name__
    tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
    _LOG.warning("%s: unexpected %s on %s: %s", stage, name, source, exc)
    return dead_letter(stage, source, f"unexpected {name}: {exc}"[:500], error_type=name, detail=tail[-2000:])


def tagged(letter: DeadLetter) -> pvalue.TaggedOutput:
    """`letter` on the dead-letter output, counted per stage."""
    Metrics.counter(metrics.DEAD_LETTERS, letter.stage).inc()
    return pvalue.TaggedOutput(DEAD_LETTERS, letter)


def guarded(stage: str, source: str, outputs: Iterable[Any]) -> Iterator[Any]:
    """Yield from `outputs`; if producing them raises, yield a dead letter for `source` instead."""
    try:
        yield from outputs
    except Exception as exc:  # pylint: disable=broad-except  # the policy above
        yield tagged(from_exception(stage, source, exc))
