"""Errors raised by :mod:`compute`.

    GovgridError                 base of every govgrid error an analyst can catch
    ├── DataError                a table, file or column does not match the data contract
    │   └── CatalogError         a catalog file is missing, unreadable or inconsistent
    ├── ParameterError           a job or command parameter is wrong (also a ValueError)
    └── JobError                 a job failed while running; nothing was written

Cluster errors (:mod:`cluster.exceptions`) are raised as they are.
"""


class GovgridError(Exception):
    """Base of the errors raised by :mod:`compute`."""


class DataError(GovgridError):
    """A table, file or column does not match the data contract; the message names them."""


class CatalogError(DataError):
    """A catalog is missing, unreadable, or disagrees with the files it describes."""


class ParameterError(GovgridError, ValueError):
    """A parameter is out of range or unknown; raised before any work starts."""


class JobError(GovgridError):
    """A job failed while computing; its output directory was not created."""
