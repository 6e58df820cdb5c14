"""The live bus: committed changes published once, fanned out to subscribers with bounded queues."""

from t3000gql.live.bus import LiveBus, LiveMetrics
from t3000gql.live.events import DeviceStatus, RegistryNote
from t3000gql.live.subscriber import Subscriber, SubscriptionClosed

__all__ = ["DeviceStatus", "LiveBus", "LiveMetrics", "RegistryNote", "Subscriber", "SubscriptionClosed"]
