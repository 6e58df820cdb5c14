"""Power-station readings from outside: the station service, the log-file import, the live WebSocket monitor
with its buffer and on-disk spool."""
