"""Collection from controllers: drivers (and, beside them, the scheduler and collector)."""
