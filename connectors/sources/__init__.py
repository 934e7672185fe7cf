"""Where events come from: one class per source type, registered by the ``type:`` a file names."""

from __future__ import annotations

from connectors.sources.base import SourceSpec
from connectors.sources.files import FileSource
from connectors.sources.http import HttpSource
from connectors.sources.mqtt import MqttSource
from connectors.sources.syslog import SyslogSource

SOURCES: dict[str, type[SourceSpec]] = {
    "mqtt": MqttSource,
    "http": HttpSource,
    "syslog": SyslogSource,
    "file": FileSource,
}
