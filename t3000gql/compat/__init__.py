"""Fences around the private internals of our libraries: one small module per library, nothing else reaches in.

Each module names the version it was written against (`WRITTEN_AGAINST`) and has a `check()` that its test calls
(tests/compat/): when an upgrade renames or removes an internal, that test fails with a message naming the
internal, the version the fence was written against and the version installed, instead of the server failing
somewhere else later. BAC0's fence lives in `t3000gql/collect/drivers/bac0_compat.py`: only drivers import BAC0.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


class LibraryChanged(RuntimeError):
    """An internal this project relies on is not what its fence was written against."""

    def __init__(self, distribution: str, written_against: str, what: str) -> None:
        self.distribution = distribution
        self.written_against = written_against
        self.installed = installed_version(distribution)
        super().__init__(
            f"{distribution} changed: {what}. The fence around it was written against {distribution} "
            f"{written_against}; installed: {distribution} {self.installed}. Update the fence (and its test) "
            "for the new version, or pin the tested version in pyproject.toml."
        )


def installed_version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "(not installed)"


def require(condition: bool, distribution: str, written_against: str, what: str) -> None:
    """Raises LibraryChanged naming `what` unless `condition` holds."""
    if not condition:
        raise LibraryChanged(distribution, written_against, what)
