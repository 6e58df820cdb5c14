"""The fence around BAC0's `_write` (t3000gql/collect/drivers/bac0_compat.py): it holds for the installed BAC0
and fails loudly, naming both versions, when `_write` is gone. The write itself is tested against the BACnet
simulator in test_bacnet_driver.py."""

from __future__ import annotations

import pytest
from BAC0.scripts.Lite import Lite

from t3000gql.collect.drivers import bac0_compat
from t3000gql.compat import LibraryChanged, installed_version


def test_the_fence_holds_for_the_installed_bac0() -> None:
    bac0_compat.check()


def test_the_fence_fails_loudly_when_write_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    for cls in Lite.__mro__:
        if "_write" in vars(cls):
            monkeypatch.delattr(cls, "_write")
    with pytest.raises(LibraryChanged, match="_write") as caught:
        bac0_compat.check()
    text = str(caught.value)
    assert f"written against BAC0 {bac0_compat.WRITTEN_AGAINST}" in text
    assert f"installed: BAC0 {installed_version('BAC0')}" in text
