"""A deterministic stand-in for ``smac.env.StarCraft2Env`` that follows SMAC's documented API.

Rules (integer hit points, no randomness except start positions drawn from ``seed``):
  * every unit starts with ``HP`` hit points; actions 0 no-op (dead only), 1 stop, 2-5 move N/S/E/W,
    ``6 + j`` attack enemy j (available while enemy j is alive);
  * each attack deals ``ALLY_DAMAGE`` to its target; then each alive enemy deals ``ENEMY_DAMAGE`` to
    the lowest-index alive ally that did NOT move this step (moving dodges);
  * battle ends when one side is dead (won if the enemies are, allies alive); otherwise SMAC's time
    limit ends it after ``episode_limit`` steps (``info["episode_limit"]`` only if
    ``continuing_episode``, exactly as SMAC).
So: always attack -> win; always stop -> loss; always move -> time-out.
The state layout mirrors SMAC: ally rows of ``4 + shield_bits_ally + unit_type_bits``
(health, cooldown, x, y, [shield], [type one-hot]), enemy rows, then last actions.
"""

from __future__ import annotations

import numpy as np

HP = 10
ALLY_DAMAGE = 3
ENEMY_DAMAGE = 1
MOVES = {2: (0.0, 1.0), 3: (0.0, -1.0), 4: (1.0, 0.0), 5: (-1.0, 0.0)}

# name: (n_agents, n_enemies, race ("P" has shields), unit_type_bits, episode_limit)
MAPS = {
    "3m": (3, 3, "T", 0, 15),
    "2s3z": (5, 5, "P", 2, 15),
}


class StarCraft2Env:
    def __init__(
        self,
        map_name="8m",
        seed=None,
        continuing_episode=False,
        obs_instead_of_state=False,
        state_last_action=True,
        reward_scale=True,
        reward_scale_rate=20,
        restart_at_steps=(),
        **_ignored,
    ):
        if map_name not in MAPS:
            raise ValueError(f"fake SMAC knows maps {sorted(MAPS)}, got {map_name!r}")
        self.map_name = map_name
        self.n_agents, self.n_enemies, race, self.unit_type_bits, self.episode_limit = MAPS[map_name]
        self.shield_bits_ally = 1 if race == "P" else 0
        self.shield_bits_enemy = self.shield_bits_ally
        self.n_actions = 6 + self.n_enemies
        self.continuing_episode = continuing_episode
        self.obs_instead_of_state = obs_instead_of_state
        self.state_last_action = state_last_action
        self.reward_scale = reward_scale
        self.reward_scale_rate = reward_scale_rate
        self.max_reward = self.n_enemies * HP + 20.0  # SMAC: all enemy health (+ death values) + the win
        self._seed = seed
        # total step counts at which SC2 "crashes": like oxwhirl's env after a ProtocolError, step
        # then calls full_restart() and returns (0, True, {}) in the middle of an episode
        self.restart_at_steps = set(restart_at_steps)
        self.total_steps = 0
        self.full_restarts = 0
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self.resets = 0
        self.closed = False
        self._started = False

    # --- documented API -------------------------------------------------------------------
    def get_env_info(self):
        return {
            "state_shape": self.get_state_size(),
            "obs_shape": self.get_obs_size(),
            "n_actions": self.n_actions,
            "n_agents": self.n_agents,
            "episode_limit": self.episode_limit,
        }

    def reset(self):
        self._started = True
        self.resets += 1
        self._t = 0
        self.ally_hp = np.full(self.n_agents, HP)
        self.enemy_hp = np.full(self.n_enemies, HP)
        self.ally_pos = self._rng.uniform(-0.5, 0.0, size=(self.n_agents, 2))
        self.enemy_pos = self._rng.uniform(0.0, 0.5, size=(self.n_enemies, 2))
        self.last_action = np.zeros((self.n_agents, self.n_actions))
        return self.get_obs(), self.get_state()

    def step(self, actions):
        assert self._started, "reset() must be called first"
        actions = [int(a) for a in actions]
        avail = self.get_avail_actions()
        for i, a in enumerate(actions):
            assert avail[i][a] == 1, f"Agent {i} cannot perform action {a}"
        self.last_action = np.eye(self.n_actions)[np.array(actions)]
        self.total_steps += 1
        if self.total_steps in self.restart_at_steps:
            self.full_restarts += 1
            self._started = False  # a new game: the caller must reset()
            return 0, True, {}
        before = int(self.enemy_hp.sum())
        moved = np.zeros(self.n_agents, dtype=bool)
        for i, a in enumerate(actions):
            if a in MOVES:
                self.ally_pos[i] += 0.1 * np.asarray(MOVES[a])
                moved[i] = True
            elif a >= 6:
                j = a - 6
                self.enemy_hp[j] = max(0, self.enemy_hp[j] - ALLY_DAMAGE)
        for _ in range(int((self.enemy_hp > 0).sum())):
            targets = np.flatnonzero((self.ally_hp > 0) & ~moved)
            if targets.size:
                self.ally_hp[targets[0]] = max(0, self.ally_hp[targets[0]] - ENEMY_DAMAGE)
        self._t += 1
        reward = float(before - self.enemy_hp.sum())
        info = {"battle_won": False}
        allies_alive, enemies_alive = (self.ally_hp > 0).any(), (self.enemy_hp > 0).any()
        terminated = False
        if not enemies_alive or not allies_alive:
            terminated = True
            if allies_alive:
                info["battle_won"] = True
                reward += 20.0
        elif self._t >= self.episode_limit:
            terminated = True
            if self.continuing_episode:
                info["episode_limit"] = True
        if self.reward_scale:  # SMAC: an episode's return is at most reward_scale_rate
            reward /= self.max_reward / self.reward_scale_rate
        return reward, terminated, info

    def get_obs(self):
        return [self.get_obs_agent(i) for i in range(self.n_agents)]

    def get_obs_agent(self, i):
        if self.ally_hp[i] == 0:
            return np.zeros(self.get_obs_size(), dtype=np.float32)
        own = [self.ally_hp[i] / HP, *self.ally_pos[i]]
        allies = (self.ally_hp / HP)[np.arange(self.n_agents) != i]
        enemies = self.enemy_hp / HP
        return np.concatenate([own, allies, enemies, np.eye(self.n_agents)[i]]).astype(np.float32)

    def get_obs_size(self):
        return 3 + (self.n_agents - 1) + self.n_enemies + self.n_agents

    def get_state(self):
        if self.obs_instead_of_state:
            return np.concatenate(self.get_obs()).astype(np.float32)
        nf_al = 4 + self.shield_bits_ally + self.unit_type_bits
        nf_en = 3 + self.shield_bits_enemy + self.unit_type_bits
        ally = np.zeros((self.n_agents, nf_al))
        enemy = np.zeros((self.n_enemies, nf_en))
        for i in range(self.n_agents):
            if self.ally_hp[i] > 0:
                ally[i, 0] = self.ally_hp[i] / HP
                ally[i, 1] = 0.0  # cooldown
                ally[i, 2:4] = self.ally_pos[i]
                ind = 4
                if self.shield_bits_ally:
                    ally[i, ind] = 1.0
                    ind += 1
                if self.unit_type_bits:
                    ally[i, ind + i % self.unit_type_bits] = 1.0
        for j in range(self.n_enemies):
            if self.enemy_hp[j] > 0:
                enemy[j, 0] = self.enemy_hp[j] / HP
                enemy[j, 1:3] = self.enemy_pos[j]
        state = np.append(ally.flatten(), enemy.flatten())
        if self.state_last_action:
            state = np.append(state, self.last_action.flatten())
        return state.astype(np.float32)

    def get_state_size(self):
        if self.obs_instead_of_state:
            return self.get_obs_size() * self.n_agents
        nf_al = 4 + self.shield_bits_ally + self.unit_type_bits
        nf_en = 3 + self.shield_bits_enemy + self.unit_type_bits
        size = self.n_agents * nf_al + self.n_enemies * nf_en
        if self.state_last_action:
            size += self.n_agents * self.n_actions
        return size

    def get_avail_agent_actions(self, i):
        if self.ally_hp[i] == 0:
            return [1] + [0] * (self.n_actions - 1)
        return [0, 1, 1, 1, 1, 1] + [int(hp > 0) for hp in self.enemy_hp]

    def get_avail_actions(self):
        return [self.get_avail_agent_actions(i) for i in range(self.n_agents)]

    def get_total_actions(self):
        return self.n_actions

    def close(self):
        self.closed = True
