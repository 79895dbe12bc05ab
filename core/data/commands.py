"""CLI sub-commands for this area (placeholder until the area lands)."""


def register(subparsers) -> None:
    """Add this area's sub-commands to ``python -m core``."""
