"""Rules, the rule engine, alert lifecycle and the alert store. Imports devices only."""
