"""Exceptions with messages that name the problem (file, line, field)."""


class HybridIEError(Exception):
    """Base class for every error the toolkit raises on bad input or configuration."""


class InputError(HybridIEError):
    """Input data (a JSONL line, a text file, a dataset) is malformed."""


class SchemaError(HybridIEError):
    """A schema file is invalid or a schema name is unknown."""


class EncoderLoadError(HybridIEError):
    """An encoder checkpoint could not be found or read."""
