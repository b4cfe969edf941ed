"""The models and the maths: the method registry, agents, mixers, learners and the replay buffer."""
