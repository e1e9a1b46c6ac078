"""Settings dataclasses as plain data (design rule 9): one ``get_config``/``from_config`` pair."""

from __future__ import annotations

from dataclasses import asdict, fields

from workbench.errors import FormatError


class PlainSettings:
    """Mixin for settings dataclasses: ``get_config`` gives JSON-safe data (tuples as lists),
    ``from_config`` refuses unknown keys, naming the known ones."""

    def get_config(self) -> dict:
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in asdict(self).items()}

    @classmethod
    def from_config(cls, config: dict):
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise FormatError(unknown[0], f"unknown setting; known: {', '.join(sorted(known))}")
        return cls(**config)
