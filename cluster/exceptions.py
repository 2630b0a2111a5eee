"""Errors raised by :mod:`cluster`.

    ClusterError                 base: anything about starting or reaching a cluster
    ├── BackendUnavailable       backend="gpu" asked for where no GPU or no cuDF is usable
    └── ClusterUnreachable       no scheduler answered at the address within the timeout
"""


class ClusterError(RuntimeError):
    """Base of the errors raised by :mod:`cluster`."""


class BackendUnavailable(ClusterError):
    """The requested backend cannot run here; the message says what is missing."""


class ClusterUnreachable(ClusterError):
    """Nothing answered at the scheduler address within the timeout."""
