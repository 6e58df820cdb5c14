"""Local subscribers of one kind, indexed by device so that an event is offered only to those that may want it."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

from t3000gql.domain.samples import StoredSample
from t3000gql.live.events import DeviceStatus
from t3000gql.live.subscriber import Subscriber

E = TypeVar("E", StoredSample, DeviceStatus)


def point_key(change: StoredSample) -> Hashable:
    return change.point


def point_stamp(change: StoredSample) -> int:
    return change.ts_ms


def device_key(status: DeviceStatus) -> Hashable:
    return status.device_id


def device_stamp(status: DeviceStatus) -> int:
    return status.at_ms


class Registry(Generic[E]):
    """Subscribers watching everything, and the others under each device they watch."""

    def __init__(self) -> None:
        self.everything: set[Subscriber[E]] = set()
        self.by_device: dict[int, set[Subscriber[E]]] = {}
        self._devices: dict[Subscriber[E], frozenset[int]] = {}

    def add(self, subscriber: Subscriber[E], devices: Iterable[int] | None) -> None:
        if devices is None:
            self.everything.add(subscriber)
            return
        self._devices[subscriber] = frozenset(devices)
        for device_id in self._devices[subscriber]:
            self.by_device.setdefault(device_id, set()).add(subscriber)

    def remove(self, subscriber: Subscriber[E]) -> None:
        self.everything.discard(subscriber)
        for device_id in self._devices.pop(subscriber, ()):
            group = self.by_device.get(device_id)
            if group is not None:
                group.discard(subscriber)
                if not group:
                    del self.by_device[device_id]

    def all(self) -> list[Subscriber[E]]:
        return list(self.everything) + list(self._devices)
