"""Scenarios, one module per area (storage, api, live, collect, stations). Every function decorated with
`benchlib.registry.scenario` in a module here is a scenario: `registry.load()` imports them all, so a new scenario,
or a new area module, needs no list updated anywhere. Keep this file free of imports: child processes import
single modules of this package."""
