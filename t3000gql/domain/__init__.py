"""Plain types and rules of the building-automation domain. No I/O lives here."""
