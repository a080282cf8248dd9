"""The database tables (SQLAlchemy 2). Personal data lives only in encrypted columns.

Times are stored in UTC (naive in the database, aware in Python). Audit rows keep check ids but
no personal data and no foreign keys, so the audit trail outlives a purge. The tables of checks,
steps, subjects and the audit trail are in :mod:`checks.models.core`; associations and review
have modules of their own; every table is importable from here.
"""

from checks.models.associations import (
    Association,
    AssociationEvidence,
    AssociationUse,
    DisassociationNoticeRow,
)
from checks.models.base import Base, UTCDateTime, iso, utcnow
from checks.models.core import (
    ApiToken,
    AuditEvent,
    Check,
    Footprint,
    OutboxMessage,
    Reason,
    ScheduledJob,
    Step,
    Subject,
    SubjectFlag,
    SubjectIdentity,
)
from checks.models.review import FraudCaseRecord, Review

__all__ = [
    "ApiToken",
    "Association",
    "AssociationEvidence",
    "AssociationUse",
    "AuditEvent",
    "Base",
    "Check",
    "DisassociationNoticeRow",
    "Footprint",
    "FraudCaseRecord",
    "OutboxMessage",
    "Reason",
    "Review",
    "ScheduledJob",
    "Step",
    "Subject",
    "SubjectFlag",
    "SubjectIdentity",
    "UTCDateTime",
    "iso",
    "utcnow",
]
