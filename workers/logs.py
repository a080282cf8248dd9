"""Logging set-up: structlog events through the standard library, always to stderr.

Log events carry ids (check, step, agency) and codes, never personal data: the domain logs
no names, dates of birth or addresses, and agency bodies are never logged.
"""

from __future__ import annotations

import logging
import os
import sys

import structlog

_configured = False


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each line.

    A handler holding the stderr of the moment it was made writes a "Logging error" traceback
    once that stream is replaced and closed (a test runner capturing one command's output).
    """

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr  # handle() holds the handler's lock around emit()
        super().emit(record)


def configure_logging(level: str | None = None, *, json_lines: bool | None = None) -> None:
    """Send every log line to stderr (stdout is reserved for command output)."""
    global _configured
    if _configured:
        return
    _configured = True
    level = (level or os.environ.get("CHECKS_LOG_LEVEL", "WARNING")).upper()
    if json_lines is None:
        json_lines = os.environ.get("CHECKS_LOG_FORMAT", "console") == "json"
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json_lines
        # Plain tracebacks: rich ones print local variables, which may hold personal data.
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[
            # An event below its logger's level is dropped first, before the context, level
            # and timestamp are added to it (the standard library would drop it only at the
            # end): most of a worker's info events at the default level.
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *([structlog.processors.format_exc_info] if json_lines else []),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = _CurrentStderr()
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(processor=renderer))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO; URLs carry no personal data, but they are noise.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    # pika logs each failed connection attempt as an error with its traceback; a broker that
    # is down is reported once, by whoever tried to send (the outbox names the broker).
    logging.getLogger("pika").setLevel(max(logging.CRITICAL, root.level))
