"""Vocabulary, device-type table, site registry and decoders. Imports nothing of ours."""
