"""Errors a user can act on. The CLI prints their message on one line and exits with code 2."""


class DatacheckError(Exception):
    """Base class: the message says what is wrong and what to fix."""


class BadInputError(DatacheckError):
    """The dataset, manifest or an option is unusable as given."""
