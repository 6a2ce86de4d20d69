"""Error policy shared by every reward: bounded retries for transient errors, per-sample isolation.

* A transient error (out of memory, timeout, lost connection to a remote scorer) is retried up to
  `max_retries` times with a short backoff.
* Any other error on a batch makes the caller re-run the samples one by one, so one bad sample costs
  one `None`, not the whole batch; each `None` is counted.
* A scorer that returns the wrong number of results raises `RewardLengthError` at once: that is a bug,
  never a sample-level failure.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch

from expander.errors import ExpanderError

logger = logging.getLogger(__name__)

__all__ = ["RewardLengthError", "RewardModelError", "call_with_retry", "check_length", "is_transient", "map_isolated"]

T = TypeVar("T")
R = TypeVar("R")


class RewardLengthError(ExpanderError, ValueError):
    """A scorer returned a different number of results than it was given inputs."""


class RewardModelError(ExpanderError, RuntimeError):
    """A reward model (or the renderer) cannot be loaded; the message names the ref and what was tried."""


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying as-is: out-of-memory, timeouts and connection failures."""
    if isinstance(exc, (TimeoutError, ConnectionError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def call_with_retry(fn: Callable[[], R], max_retries: int, what: str, backoff_s: float = 0.05) -> R:
    """Call `fn()`; retry up to `max_retries` times while it raises a transient error."""
    for attempt in range(max_retries + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt >= max_retries or not is_transient(exc):
                raise
            logger.warning("%s: transient error (%s), retry %d/%d", what, exc, attempt + 1, max_retries)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            time.sleep(backoff_s * (2**attempt))
    raise AssertionError("unreachable")


def check_length(results: Sequence, expected: int, what: str) -> None:
    """Raise `RewardLengthError` unless `results` has `expected` items."""
    if len(results) != expected:
        raise RewardLengthError(f"{what} returned {len(results)} results for {expected} inputs")


def map_isolated(
    fn: Callable[[list[T]], Sequence[R]], items: list[T], max_retries: int, what: str
) -> tuple[list[R | None], int]:
    """Apply a batch function, isolating failures to single items.

    Args:
        fn: maps a list of items to a sequence of the same length.
        items: the inputs.
        max_retries: retries of each call on a transient error.
        what: name used in log messages and errors.

    Returns:
        (results with `None` where an item failed, number of failed items).

    Raises:
        RewardLengthError: `fn` returned the wrong number of results.
    """
    if not items:
        return [], 0
    try:
        out = call_with_retry(lambda: fn(items), max_retries, what)
        check_length(out, len(items), what)
        return list(out), 0
    except RewardLengthError:
        raise
    except Exception as exc:
        if len(items) == 1:
            logger.warning("%s failed on one sample: %s", what, exc)
            return [None], 1
        logger.warning("%s failed on a batch of %d (%s); scoring one by one", what, len(items), exc)
    results: list[R | None] = []
    failures = 0
    for item in items:
        try:
            one = call_with_retry(functools.partial(fn, [item]), max_retries, what)
            check_length(one, 1, what)
            results.append(one[0])
        except RewardLengthError:
            raise
        except Exception as exc:
            logger.warning("%s failed on one sample: %s", what, exc)
            results.append(None)
            failures += 1
    return results, failures
