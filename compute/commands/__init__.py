"""One module per ``govgrid`` command; each defines ``register(subparsers)``."""
