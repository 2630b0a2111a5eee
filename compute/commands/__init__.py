"""One module per ``govgrid`` command; each defines ``register(subparsers)``."""


def parse_pairs(pairs: list[str], option: str, value: str) -> dict[str, str]:
    """Repeated ``--option KEY=VALUE`` strings as a dict; a malformed one is a ValueError
    naming the option and the text."""
    parsed = {}
    for pair in pairs:
        key, sep, given = pair.partition("=")
        if not sep or not key or not given:
            raise ValueError(f"--{option} must be {value}, not {pair!r}")
        parsed[key] = given
    return parsed
