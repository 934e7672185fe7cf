"""Parsers that turn a source's bytes into records a mapping reads."""
