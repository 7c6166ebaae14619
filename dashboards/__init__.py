"""The HTTP API and the duty-room screen. Imports devices and alerting (read side) only."""
