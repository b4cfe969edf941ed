"""Configuration: the typed schema (:mod:`.schema`) and its composition from the YAML presets (:mod:`.compose`)."""

from decomp.config.schema import CHOICES, Config, ConfigError, EnvConfig, MixerConfig, epsilon_at, validate

__all__ = ["CHOICES", "Config", "ConfigError", "EnvConfig", "MixerConfig", "epsilon_at", "validate"]
