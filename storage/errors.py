"""Errors that storage raises to adapters and the worker.

Every error carries a message meant for a person (a user in chat or an operator at a console), so
adapters can show `str(error)` without rephrasing it. Callers tell the cases apart by class.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every error raised by storage/."""


class DatabaseUnavailable(StorageError):
    """The database could not be reached or stayed locked; the operation did not happen and may be retried."""


class DatabaseFileChanged(DatabaseUnavailable):
    """The SQLite file was deleted, or another file took its path, while this process had it open.

    Unlike its parent this is not worth retrying: open connections would go on writing into the old
    file, which nobody else sees, and a new connection would start a second history at the path. A
    long-running process stops on it; adapters answer as to any outage (try again later).
    """


class JobNotFound(StorageError, LookupError):
    """No job has this id."""


class InvalidJob(StorageError, ValueError):
    """The submission is malformed (empty prompt, prompt too long, option out of range)."""


class SubmissionRefused(StorageError):
    """The submission is valid but policy refuses it; subclasses say which policy."""


class QueueLimitReached(SubmissionRefused):
    """The requester or the place already has as many waiting jobs as the limits allow."""


class RequesterBanned(SubmissionRefused):
    """The requester or the place is banned."""


class BlockedTermFound(SubmissionRefused):
    """The prompt contains a term that moderators blocked."""


class LeaseLost(StorageError):
    """The worker no longer owns this job (its lease expired and another worker took it, or it was cancelled).

    The worker must drop its result: writing it would make the job finish twice.
    """


class ImageStoreError(StorageError):
    """The image store could not write or read a file."""


class ImageStoreFull(ImageStoreError):
    """The disk holding the image store is full."""


class ImageNotFound(ImageStoreError, LookupError):
    """No file with this content hash is in the store."""


class StyleError(StorageError):
    """A learned style could not be used, stored or removed; the message names the style."""


class StyleNotFound(StyleError, LookupError):
    """No style has this name (it was never learned)."""


class StyleDeleted(StyleNotFound):
    """The style existed but a moderator deleted it; the message says who and when.

    A subclass of StyleNotFound, so a caller that only cares whether the style can be used catches one class.
    """


class StyleExists(StyleError, ValueError):
    """A style with this name exists already (delete it first, or add it with `replace=True`)."""


class InvalidStyle(StyleError, ValueError):
    """The style's name or record is malformed (bad characters, empty embeddings, steps out of range)."""
