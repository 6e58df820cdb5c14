"""The fences around our libraries' internals (t3000gql/compat/): each holds for the installed version, and
each fails loudly (naming the internal, the version it was written against and the installed one) when the
internal is gone. Breaking an internal on purpose here is the one place a test patches a library."""

from __future__ import annotations

from typing import Any

import pytest
from broadcaster import Broadcast
from graphql.execution.executor import Executor

from t3000gql.api.execution import SubscriptionSafeExecutionContext
from t3000gql.api.view import GraphQLView
from t3000gql.api.websocket import LegacyWSHandler, TransportWSHandler
from t3000gql.compat import LibraryChanged, installed_version
from t3000gql.compat import broadcaster as broadcaster_fence
from t3000gql.compat import graphql_core as graphql_core_fence
from t3000gql.compat import strawberry as strawberry_fence

FENCES = [broadcaster_fence, graphql_core_fence, strawberry_fence]

OUR_OWN_METHODS: dict[type, set[str]] = {
    GraphQLView: {"_error"},
    TransportWSHandler: {"_ping_forever", "_send_shared"},
    LegacyWSHandler: set(),
    strawberry_fence.TextWebSocketAdapter: {"send_text"},
    SubscriptionSafeExecutionContext: {
        "_list_plan",
        "_object_plan",
        "_plans_enabled",
        "_new_plan",
        "_complete_planned",
        "_direct_calls",
        "_converted",
        "_complete_mixed",
        "_await_mixed",
        "_complete_item",
        "_settle",
        "_gathered",
    },
}
"""Methods of our strawberry subclasses that are ours; every other method must override strawberry's."""


@pytest.mark.parametrize("fence", FENCES, ids=lambda fence: fence.DISTRIBUTION)
def test_each_fence_holds_for_the_installed_version(fence: Any) -> None:
    fence.check()


@pytest.mark.parametrize("cls", list(OUR_OWN_METHODS), ids=lambda cls: cls.__name__)
def test_our_strawberry_overrides_each_override_a_method_of_the_same_shape(cls: type) -> None:
    strawberry_fence.require_overrides(cls, OUR_OWN_METHODS[cls])


def test_an_override_of_a_renamed_hook_is_reported() -> None:
    class Renamed(GraphQLView):
        async def get_subresponse(self, request: Any) -> Any:  # strawberry calls it get_sub_response
            return None

    with pytest.raises(LibraryChanged, match=r"Renamed\.get_subresponse overrides nothing in strawberry"):
        strawberry_fence.require_overrides(Renamed, set())


def assert_names_versions(error: LibraryChanged, distribution: str, written_against: str) -> None:
    text = str(error)
    assert f"written against {distribution} {written_against}" in text
    assert f"installed: {distribution} {installed_version(distribution)}" in text
    assert installed_version(distribution) != "(not installed)"


def test_graphql_core_fence_fails_loudly_without_the_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Executor.__init__

    def without_memo(self: Executor, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        del self._relevant_sub_fields

    monkeypatch.setattr(Executor, "__init__", without_memo)
    with pytest.raises(LibraryChanged, match="_relevant_sub_fields") as caught:
        graphql_core_fence.check()
    assert_names_versions(caught.value, "graphql-core", graphql_core_fence.WRITTEN_AGAINST)


def test_broadcaster_fence_fails_loudly_without_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Broadcast.__init__

    def renamed(self: Broadcast, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.backend = self.__dict__.pop("_backend")

    monkeypatch.setattr(Broadcast, "__init__", renamed)
    with pytest.raises(LibraryChanged, match="_backend") as caught:
        broadcaster_fence.check()
    assert_names_versions(caught.value, "broadcaster", broadcaster_fence.WRITTEN_AGAINST)


async def test_broadcaster_fence_closes_what_a_failed_connect_left() -> None:
    broadcast = Broadcast("redis://127.0.0.1:1")  # nothing listens on port 1
    with pytest.raises(Exception, match=r"127\.0\.0\.1"):
        await broadcast.connect()
    with pytest.raises(AttributeError):  # why the fence exists: disconnect() cannot close it
        await broadcast.disconnect()
    await broadcaster_fence.disconnect_backend(broadcast)


def test_strawberry_fence_fails_loudly_when_a_constructor_attribute_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attributes = dict(strawberry_fence.CONSTRUCTOR_ATTRIBUTES)
    attributes[strawberry_fence.ASGIWebSocketAdapter] = ("ws", "websocket_that_is_not_there")
    monkeypatch.setattr(strawberry_fence, "CONSTRUCTOR_ATTRIBUTES", attributes)
    with pytest.raises(LibraryChanged, match="websocket_that_is_not_there") as caught:
        strawberry_fence.check()
    assert_names_versions(caught.value, "strawberry-graphql", strawberry_fence.WRITTEN_AGAINST)
