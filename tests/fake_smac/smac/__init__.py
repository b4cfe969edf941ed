"""FAKE ``smac`` (oxwhirl's StarCraft Multi-Agent Challenge) for tests: no StarCraft II needed."""
