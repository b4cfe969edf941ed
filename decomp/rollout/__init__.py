"""Acting: the one Policy, the runners that collect and evaluate episodes, its JAX twin, replay export."""
