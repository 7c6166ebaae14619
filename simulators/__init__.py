"""A virtual nursing home that talks MQTT like real firmware. Imports devices only."""
