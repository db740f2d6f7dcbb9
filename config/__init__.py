"""Configuration: settings from the environment and source definitions from YAML.

Both are loaded once at the process edge (``load_settings()``, ``load_sources()``) and passed
down explicitly; nothing deeper in the code reads the environment.
"""

from config.settings import Settings, load_settings
from config.sources import Source, load_sources

__all__ = ["Settings", "Source", "load_settings", "load_sources"]
