"""`riskstream config`: every setting, its environment variable, current value and meaning."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from streams.settings import Settings, get_settings


def config() -> None:
    """Show the effective settings and the RISKSTREAM_* variable that overrides each."""
    settings = get_settings()
    table = Table(title="riskstream settings", show_lines=False)
    table.add_column("variable", style="bold")
    table.add_column("value")
    table.add_column("meaning", style="dim")
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name)
        if isinstance(value, list):
            value = ":".join(map(str, value))
        table.add_row(f"RISKSTREAM_{name.upper()}", str(value), info.description or "")
    Console().print(table)
