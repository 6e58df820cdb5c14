"""t3000gql: a GraphQL server for building-automation data (T3000 controllers, trend logs, history)."""

__version__ = "0.2.0"
