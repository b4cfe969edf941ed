"""Configuration: the typed schema (:mod:`.schema`), its checks (:mod:`.validation`) and its composition from the
YAML presets (:mod:`.compose`).

Only the schema is re-exported here: :mod:`.validation` reads the method registry, which is built on the schema,
so importing it from the package would import the registry whenever the schema is.
"""

from decomp.config.schema import CHOICES, Config, ConfigError, EnvConfig, MethodConfig, epsilon_at

__all__ = ["CHOICES", "Config", "ConfigError", "EnvConfig", "MethodConfig", "epsilon_at"]
