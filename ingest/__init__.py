"""MQTT client, spool, dead-letter log and the time-series stores. Imports devices only."""
