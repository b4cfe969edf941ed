"""Value-level checks of each method's defining ingredient (issue 12, "checks that can fail").

Every test feeds a tiny hand-made batch (a few agents and actions, one terminal step) or a mixer with
hand-set parameters, and compares a loss, weight or Q_tot with a number computed here independently,
in plain Python from the paper's formula. Each one fails when its ingredient is removed or altered
(COMA without its counterfactual baseline, CW-QMIX with weight α everywhere, QTRAN-alt with a
base-style L_nopt, QPLEX with λ ≡ 1, Qatten with w_h ≡ 1, QMIX without abs, ...);
``python -m tests.mutations`` applies those mutations to a copy of the sources and checks that this
file goes red for each.

The learners are real; only the agent network (a fixed per-sample Q table) and, for the learner
tests, the joint networks (a fixed payoff lookup) are replaced, so the numbers are known exactly.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from decomp.core.buffer import EpisodeBatch
from decomp.envs.base import EnvInfo
from decomp.core.learners import ComaLearner, QTranAltLearner, QTranLearner, TDLearner, WQMixLearner
from decomp.core.learners.base import LearnerConfig
from decomp.core.mixers import ComaCritic, QattenMixer, QMixMixer, QPlexMixer, QTranJoint, WQMixMixer

torch.set_num_threads(1)
TOL = {"rel": 1e-5, "abs": 1e-5}
QTRAN_GAME = [[8.0, -12.0, -12.0], [-12.0, 0.0, 0.0], [-12.0, 0.0, 0.0]]


# ---- fixtures: a fixed agent, one-step batches, fixed joint networks --------------------------------
class TableAgent(nn.Module):
    """Agent whose utilities are a fixed table per batch element, the same at every time step."""

    recurrent = False

    def __init__(self, table: list[list[list[float]]]) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.tensor(table))  # (B, N, A)

    def forward(self, inputs: torch.Tensor, h0: torch.Tensor | None = None,
                lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs (B, T, N, in) -> q (B, T, N, A), hidden (B, T, N, 1) (unused zeros)."""
        b, t, n, _ = inputs.shape
        q = self.table.unsqueeze(1).expand(b, t, n, self.table.shape[-1])  # (B, T, N, A)
        return q, inputs.new_zeros(b, t, n, 1)


def one_step_batch(actions: list[list[int]], reward: list[float], n_actions: int,
                   avail: list[list[list[bool]]] | None = None,
                   feats: list[list[float]] | None = None) -> EpisodeBatch:
    """B one-step episodes that terminate, so every TD target is the reward itself."""
    b, n = len(actions), len(actions[0])
    av = torch.ones(b, 2, n, n_actions, dtype=torch.bool)  # (B, T+1, N, A)
    if avail is not None:
        av[:, 0] = torch.tensor(avail)
    ft = torch.ones(b, 2, n, 1) if feats is None else torch.tensor(feats).expand(b, 2, n, len(feats[0]))
    return EpisodeBatch(
        obs=torch.zeros(b, 2, n, 1), state=torch.zeros(b, 2, 1), avail=av, feats=ft.clone(),
        actions=torch.tensor(actions).view(b, 1, n), reward=torch.tensor(reward).view(b, 1),
        terminated=torch.ones(b, 1), mask=torch.ones(b, 1),
    )


def info(n_agents: int, n_actions: int, feat_dim: int = 1) -> EnvInfo:
    return EnvInfo(n_agents=n_agents, n_actions=n_actions, obs_dim=1, state_dim=1, feat_dim=feat_dim,
                   episode_limit=1, n_envs=1)


def set_output(module: nn.Module, bias: list[float]) -> None:
    """Make a (hyper)network output the constant ``bias``: zero its last linear layer's weight."""
    last = [m for m in module.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor(bias))


def softmax(xs: list[float]) -> list[float]:
    m = max(xs)
    es = [math.exp(x - m) for x in xs]
    return [e / sum(es) for e in es]


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def elu(x: float) -> float:
    return x if x > 0 else math.exp(x) - 1.0


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def payoff_lookup(payoff: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
    """payoff (A, A), onehot (*B, 2, A) -> R(u^1, u^2) (*B, 1)."""
    return torch.einsum("...i,ij,...j->...", onehot[..., 0, :], payoff, onehot[..., 1, :]).unsqueeze(-1)


class PayoffQTran(QTranJoint):
    """QTRAN's joint networks replaced by the payoff table (Q_jt = R(u)) and a constant V(s)."""

    def __init__(self, payoff: list[list[float]], v: float) -> None:
        super().__init__(2, 1, len(payoff))
        self.register_buffer("payoff", torch.tensor(payoff))
        self.v0 = nn.Parameter(torch.tensor(v))

    def q_jt(self, state: torch.Tensor, actions_onehot: torch.Tensor,
             hidden: torch.Tensor | None = None) -> torch.Tensor:
        return payoff_lookup(self.payoff, actions_onehot)  # (*B, 1)

    def v(self, state: torch.Tensor) -> torch.Tensor:
        return self.v0.expand(*state.shape[:-1], 1)  # (*B, 1)


class PayoffComaCritic(ComaCritic):
    """COMA critic Q(s, (u^{-i}, a)) read from a payoff table R(u^1, u^2)."""

    def __init__(self, payoff: list[list[float]]) -> None:
        super().__init__(2, 1, len(payoff))
        self.register_buffer("payoff", torch.tensor(payoff))

    def forward(self, state: torch.Tensor, actions_onehot: torch.Tensor) -> torch.Tensor:
        """-> (*B, 2, A): row 0 = R(·, u^2) (agent 0 varies), row 1 = R(u^1, ·)."""
        q0 = torch.einsum("ij,...j->...i", self.payoff, actions_onehot[..., 1, :])  # (*B, A)
        q1 = torch.einsum("...i,ij->...j", actions_onehot[..., 0, :], self.payoff)  # (*B, A)
        return torch.stack([q0, q1], dim=-2)


# ---- COMA: the counterfactual baseline ---------------------------------------------------------------
COMA_PAYOFF = [[4.0, -1.0, 0.0], [2.0, 3.0, -2.0], [-3.0, 1.0, 5.0]]
COMA_LOGITS = [[[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]], [[-0.5, 0.3, 1.2], [0.0, 0.0, 2.5]]]  # (B, N, A)
COMA_ACTIONS = [[0, 1], [2, 0]]
COMA_REWARD = [0.5, -2.0]


def test_coma_advantage_uses_the_counterfactual_baseline() -> None:
    """A^i = Q(s,u) − Σ_a π^i(a) Q(s,(u^{-i},a)); pg = −mean log π^i(u^i) A^i; critic on r."""
    learner = ComaLearner(TableAgent(COMA_LOGITS), PayoffComaCritic(COMA_PAYOFF), info(2, 3), LearnerConfig(),
                          critic_per_step=False)
    batch = one_step_batch(COMA_ACTIONS, COMA_REWARD, 3)
    loss, logs = learner.loss(batch)

    R = COMA_PAYOFF
    adv, pg_terms, adv_no_baseline, td = [], [], [], []
    for logits, (u0, u1), r in zip(COMA_LOGITS, COMA_ACTIONS, COMA_REWARD):
        q_u = R[u0][u1]
        counterfactual = [[R[a][u1] for a in range(3)], [R[u0][a] for a in range(3)]]  # agent i varies
        for i, ui in enumerate((u0, u1)):
            pi = softmax(logits[i])
            a_i = q_u - sum(p * q for p, q in zip(pi, counterfactual[i]))
            adv.append(a_i)
            adv_no_baseline.append(q_u)
            pg_terms.append(-math.log(pi[ui]) * a_i)
            td.append((q_u - r) ** 2)
    assert abs(mean(adv) - mean(adv_no_baseline)) > 0.5  # the baseline matters on this batch
    assert logs["coma/advantage_mean"] == pytest.approx(mean(adv), **TOL)
    assert logs["losses/pg"] == pytest.approx(mean(pg_terms), **TOL)
    assert logs["losses/td"] == pytest.approx(mean(td), **TOL)
    assert float(loss.detach()) == pytest.approx(mean(pg_terms) + mean(td), **TOL)
    # critic_per_step (the default): the critic is fitted before, so the step's loss is the actor's alone
    fitted = ComaLearner(TableAgent(COMA_LOGITS), PayoffComaCritic(COMA_PAYOFF), info(2, 3), LearnerConfig())
    assert float(fitted.loss(batch)[0].detach()) == pytest.approx(mean(pg_terms), **TOL)


def test_coma_mixed_policy_uses_the_behaviour_policy_in_baseline_and_score() -> None:
    """mixed_policy: μ^i = (1 − ε) π^i + ε/|A|; A^i = Q(s,u) − Σ_a μ^i(a) Q(s,(u^{-i},a)); pg = −mean log μ^i(u^i) A^i.
    At ε = 0 (greedy evaluation, or a trainer that has not set it) it is plain COMA."""
    eps, R = 0.3, COMA_PAYOFF
    learner = ComaLearner(TableAgent(COMA_LOGITS), PayoffComaCritic(COMA_PAYOFF), info(2, 3), LearnerConfig(),
                          mixed_policy=True)
    batch = one_step_batch(COMA_ACTIONS, COMA_REWARD, 3)
    plain = learner.loss(batch)[1]["losses/pg"]
    logs = learner.loss(batch, behaviour_epsilon=eps)[1]
    pg_terms = []
    for logits, (u0, u1) in zip(COMA_LOGITS, COMA_ACTIONS):
        counterfactual = [[R[a][u1] for a in range(3)], [R[u0][a] for a in range(3)]]
        for i, ui in enumerate((u0, u1)):
            mu = [(1 - eps) * p + eps / 3 for p in softmax(logits[i])]
            a_i = R[u0][u1] - sum(m * q for m, q in zip(mu, counterfactual[i]))
            pg_terms.append(-math.log(mu[ui]) * a_i)
    assert logs["losses/pg"] == pytest.approx(mean(pg_terms), **TOL)
    assert abs(plain - logs["losses/pg"]) > 0.05  # ε changes it


def test_coma_policy_gradient_is_the_advantage_weighted_score() -> None:
    """∂pg/∂logit^i_a = −(1/BN) A^i (1[a = u^i] − π^i(a)): the baseline shifts every gradient."""
    agent = TableAgent(COMA_LOGITS)
    learner = ComaLearner(agent, PayoffComaCritic(COMA_PAYOFF), info(2, 3), LearnerConfig())
    reward = [COMA_PAYOFF[u0][u1] for u0, u1 in COMA_ACTIONS]
    loss, _ = learner.loss(one_step_batch(COMA_ACTIONS, reward, 3))
    # reward = Q(s,u): the critic's TD error is 0, so only the policy gradient reaches the logits
    (grad,) = torch.autograd.grad(loss, agent.table)  # (B, N, A)
    R = COMA_PAYOFF
    for b, (logits, (u0, u1)) in enumerate(zip(COMA_LOGITS, COMA_ACTIONS)):
        counterfactual = [[R[a][u1] for a in range(3)], [R[u0][a] for a in range(3)]]
        for i, ui in enumerate((u0, u1)):
            pi = softmax(logits[i])
            a_i = R[u0][u1] - sum(p * q for p, q in zip(pi, counterfactual[i]))
            # the agent table feeds both time slots, but only t = 0 enters the loss
            expect = [-(a_i / 4) * ((1.0 if a == ui else 0.0) - pi[a]) for a in range(3)]
            assert grad[b, i].tolist() == pytest.approx(expect, **TOL)


@pytest.mark.parametrize(("per_step", "critic_steps"), [(False, 1), (True, 6)])
def test_coma_critic_per_step_fits_the_critic_before_the_single_actor_step(per_step: bool, critic_steps: int) -> None:
    """critic_per_step: one critic step per live time step of the batch (T = 6 here), then one actor step;
    otherwise one joint step. Either way the actor steps once and the run counts one update."""
    from decomp.core.agents import RNNAgent, agent_input_dim
    from tests.test_learner_reference import INFO, replay_batch

    torch.manual_seed(0)
    agent = RNNAgent(agent_input_dim(INFO.obs_dim, INFO.n_agents, INFO.n_actions, True, True), INFO.n_actions, 8)
    critic = ComaCritic(INFO.n_agents, INFO.state_dim, INFO.n_actions, embed_dim=8)
    learner = ComaLearner(agent, critic, INFO, LearnerConfig(lr=0.01), critic_per_step=per_step)
    learner.train(replay_batch([6, 4, 3, 2], [True, False, True, True], seed=2))

    def steps(module: nn.Module) -> set[int]:
        return {int(learner.optimizer.state[p]["step"]) for p in module.parameters()}

    assert steps(agent) == {1}
    assert steps(critic) == {critic_steps}
    assert learner.updates == 1


def test_coma_critic_local_inputs_are_each_agents_obs_and_the_previous_joint_action() -> None:
    """local_inputs (pymarl's COMACritic): slot t adds obs^i_t and the one-hot joint action of t − 1
    (zeros at t = 0); the critic refuses to run without them, and a step trains on them."""
    from decomp.core.agents import RNNAgent, agent_input_dim
    from decomp.core.methods import BadOptions, get_method
    from decomp.core.mixers.base import Dims
    from tests.test_learner_reference import INFO, replay_batch

    dims = Dims(INFO.n_agents, INFO.state_dim, INFO.feat_dim, INFO.n_actions, INFO.obs_dim)
    critic = get_method("coma").build_mixer(dims, {"local_inputs": True, "embed_dim": 8})
    assert critic.local_dim == INFO.obs_dim + INFO.n_agents * INFO.n_actions
    with pytest.raises(ValueError, match="reads local inputs"):
        critic(torch.zeros(2, INFO.state_dim), torch.zeros(2, INFO.n_agents, INFO.n_actions))
    with pytest.raises(BadOptions, match="unknown option"):
        get_method("coma").build_mixer(dims, {"obs_dim": 3})  # an env fact, not an option

    torch.manual_seed(0)
    agent = RNNAgent(agent_input_dim(INFO.obs_dim, INFO.n_agents, INFO.n_actions, True, True), INFO.n_actions, 8)
    learner = ComaLearner(agent, critic, INFO, LearnerConfig(lr=0.01))
    batch = replay_batch([6, 4, 3, 2], [True, False, True, True], seed=2)
    local = learner._local(batch)  # (B, T+1, N, obs + N·A)
    n, a, o = INFO.n_agents, INFO.n_actions, INFO.obs_dim
    assert torch.equal(local[..., :o], batch.obs)
    assert torch.equal(local[:, 0, :, o:], torch.zeros_like(local[:, 0, :, o:]))
    for i in range(n):  # every agent sees the same previous joint action
        assert torch.equal(local[:, 3, i, o:].reshape(-1, n, a).argmax(-1), batch.actions[:, 2])
    before = [p.detach().clone() for p in critic.parameters()]
    assert math.isfinite(learner.train(batch)["losses/pg"])
    assert any(not torch.equal(p, q) for p, q in zip(before, critic.parameters()))


def test_coma_fitted_critic_lowers_its_td_error_on_the_batch() -> None:
    """fit_critic's steps are descent steps on the critic's TD(λ) loss (the actor is not touched)."""
    from decomp.core.agents import RNNAgent, agent_input_dim
    from tests.test_learner_reference import INFO, replay_batch

    torch.manual_seed(0)
    agent = RNNAgent(agent_input_dim(INFO.obs_dim, INFO.n_agents, INFO.n_actions, True, True), INFO.n_actions, 8)
    learner = ComaLearner(agent, ComaCritic(INFO.n_agents, INFO.state_dim, INFO.n_actions, embed_dim=16), INFO,
                          LearnerConfig(lr=0.01))
    batch = replay_batch([6, 4, 3, 2], [True, False, True, True], seed=2)
    actor = [p.detach().clone() for p in agent.parameters()]
    before = learner.loss(batch)[1]["losses/td"]
    for _ in range(5):
        learner.fit_critic(batch)
    assert learner.loss(batch)[1]["losses/td"] < 0.5 * before
    assert all(torch.equal(a, p) for a, p in zip(actor, agent.parameters()))


def test_coma_train_equals_fit_then_an_actor_step_on_the_loss() -> None:
    """train() shares one unroll between the critic fit and the actor step: the same update as fitting
    the critic, then stepping on loss() computed afresh (the fit changes neither the agent nor the
    target critic, so the greedy bootstrap actions and the targets are the same)."""
    from decomp.core.agents import RNNAgent, agent_input_dim
    from decomp.core.learners.base import Learner
    from tests.test_learner_reference import INFO, replay_batch

    def make() -> ComaLearner:
        torch.manual_seed(0)
        agent = RNNAgent(agent_input_dim(INFO.obs_dim, INFO.n_agents, INFO.n_actions, True, True), INFO.n_actions, 8)
        critic = ComaCritic(INFO.n_agents, INFO.state_dim, INFO.n_actions, embed_dim=8)
        return ComaLearner(agent, critic, INFO, LearnerConfig(lr=0.01, target_update_interval=2))

    shared, separate = make(), make()
    for seed in range(3):  # the third update starts after a target copy
        batch = replay_batch([6, 4, 3, 2], [True, False, True, True], seed=seed)
        logs = shared.train(batch)
        separate.fit_critic(batch)
        expect = Learner.train(separate, batch)  # the base step: loss() unrolls again
        assert logs == pytest.approx(expect, rel=1e-6)
    for (a, b) in zip(shared.params, separate.params):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


# ---- OW / CW-QMIX: the weighting ---------------------------------------------------------------------
class SumWQMix(WQMixMixer):
    """Weighted-QMIX mixer with both mixings replaced by sums, so Q_tot and Q̂* are known exactly."""

    class Sum(nn.Module):
        def forward(self, agent_qs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
            return agent_qs.sum(-1, keepdim=True)  # (*B, 1)

    def __init__(self) -> None:
        super().__init__(2, 1, feat_dim=1)
        self.central = self.Sum()

    def mix(self, qs: torch.Tensor, state: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
        return qs.sum(-1, keepdim=True)  # (M, 1)


ALPHA = 0.1
WQ_AGENT = [[1.0, 0.0], [2.0, 0.5]]  # QMIX utilities Q^i(a): greedy joint action û = (0, 0)
WQ_CENTRAL = [[0.5, 0.0], [1.0, 0.0]]  # central utilities: Q̂*(s, û) = 1.5
# (u, r): Q_tot(u) = Σ_i WQ_AGENT[i][u^i]; comments give (OW weight, CW weight)
WQ_CASES = [
    ((0, 0), 1.2),  # greedy, Q_tot 3 > r ≤ Q̂*(û):  OW α, CW 1 (only because u = û)
    ((1, 1), 2.0),  # Q_tot 0.5 < r, r > Q̂*(û):     OW 1, CW 1
    ((0, 1), 1.0),  # Q_tot 1.5 > r, r ≤ Q̂*(û):     OW α, CW α
    ((1, 1), 1.0),  # Q_tot 0.5 < r, r ≤ Q̂*(û):     OW 1, CW α
    ((1, 0), 1.8),  # Q_tot 2.0 > r, r > Q̂*(û):     OW α, CW 1
]


def expected_wqmix(weighting: str) -> tuple[list[float], float, float]:
    """Weights, weighted QMIX loss and central loss from the WQMIX paper's definitions."""
    greedy = tuple(max(range(2), key=lambda a: q[a]) for q in WQ_AGENT)
    star_greedy = sum(WQ_CENTRAL[i][greedy[i]] for i in range(2))
    ws, qmix, central = [], [], []
    for u, r in WQ_CASES:
        q_tot = sum(WQ_AGENT[i][u[i]] for i in range(2))
        if weighting == "ow":
            full = q_tot < r
        else:
            full = u == greedy or r > star_greedy
        w = 1.0 if full else ALPHA
        ws.append(w)
        qmix.append(w * (q_tot - r) ** 2)
        central.append((sum(WQ_CENTRAL[i][u[i]] for i in range(2)) - r) ** 2)
    return ws, mean(qmix), mean(central)


@pytest.mark.parametrize(("weighting", "weights"), [("ow", [ALPHA, 1, ALPHA, 1, ALPHA]),
                                                    ("cw", [1, 1, ALPHA, ALPHA, 1])])
def test_wqmix_weights_and_weighted_loss(weighting: str, weights: list[float]) -> None:
    """OW: w = 1 where Q_tot < y; CW: w = 1 where u = û or y > Q̂*(s, û); α elsewhere."""
    b = len(WQ_CASES)
    learner = WQMixLearner(TableAgent([WQ_AGENT] * b), SumWQMix(), info(2, 2), LearnerConfig(),
                           weighting=weighting, alpha=ALPHA)
    with torch.no_grad():
        for central in (learner.central_agent, learner.target_central_agent):
            central.table.copy_(torch.tensor([WQ_CENTRAL] * b))
    batch = one_step_batch([list(u) for u, _ in WQ_CASES], [r for _, r in WQ_CASES], 2)
    loss, logs = learner.loss(batch)
    ws, qmix, central = expected_wqmix(weighting)
    assert ws == pytest.approx(weights)  # the hand-made cases cover both branches of the rule
    assert logs["wqmix/weight_mean"] == pytest.approx(mean(ws), **TOL)
    assert logs["losses/td"] == pytest.approx(qmix, **TOL)
    assert logs["losses/central"] == pytest.approx(central, **TOL)
    assert float(loss.detach()) == pytest.approx(qmix + central, **TOL)


# ---- QTRAN-base: L_opt and L_nopt; QTRAN-alt: the counterfactual min ---------------------------------
QT_AGENT = [[0.0, 1.0, 0.5], [0.2, 0.9, 1.1]]  # Q^1, Q^2; greedy ū = (1, 2)
QT_V = 1.5
QT_ACTIONS = [[0, 0], [1, 2], [2, 0], [1, 1]]
QT_REWARD = [7.0, 1.0, -12.0, 0.5]


def qtran_expected(avail: list[list[list[bool]]] | None) -> dict[str, float]:
    """td, opt, nopt (clamped, at u) and nopt-min (counterfactual, per agent) by the QTRAN paper."""
    R, Q, n_act = QTRAN_GAME, QT_AGENT, 3
    td, opt, nopt, nopt_min = [], [], [], []
    for b, (u, r) in enumerate(zip(QT_ACTIONS, QT_REWARD)):
        ok = avail[b] if avail is not None else [[True] * n_act] * 2
        greedy = [max((a for a in range(n_act) if ok[i][a]), key=lambda a: Q[i][a]) for i in range(2)]
        td.append((R[u[0]][u[1]] - r) ** 2)
        opt.append((Q[0][greedy[0]] + Q[1][greedy[1]] - R[greedy[0]][greedy[1]] + QT_V) ** 2)
        nopt.append(min(Q[0][u[0]] + Q[1][u[1]] - R[u[0]][u[1]] + QT_V, 0.0) ** 2)
        per_agent = []
        for i in range(2):
            gaps = []
            for a in range(n_act):
                if not ok[i][a]:
                    continue
                v = list(u)
                v[i] = a
                gaps.append(Q[0][v[0]] + Q[1][v[1]] - R[v[0]][v[1]] + QT_V)
            per_agent.append(min(gaps) ** 2)
        nopt_min.append(mean(per_agent))
    return {"td": mean(td), "opt": mean(opt), "nopt": mean(nopt), "nopt_min": mean(nopt_min)}


@pytest.mark.parametrize(("w_opt", "w_nopt"), [(1.0, 1.0), (0.5, 2.0)])
def test_qtran_base_losses_match_the_paper(w_opt: float, w_nopt: float) -> None:
    """L = L_td + w_opt·(Q'(ū) − Q̂_jt(ū) + V)² + w_nopt·min(Q'(u) − Q̂_jt(u) + V, 0)²."""
    b = len(QT_ACTIONS)
    learner = QTranLearner(TableAgent([QT_AGENT] * b), PayoffQTran(QTRAN_GAME, QT_V), info(2, 3), LearnerConfig(),
                           opt_weight=w_opt, nopt_weight=w_nopt)
    loss, logs = learner.loss(one_step_batch(QT_ACTIONS, QT_REWARD, 3))
    ex = qtran_expected(None)
    unclamped = mean([(sum(QT_AGENT[i][u[i]] for i in range(2)) - QTRAN_GAME[u[0]][u[1]] + QT_V) ** 2
                      for u in QT_ACTIONS])
    assert ex["opt"] > 1 and ex["nopt"] > 1 and unclamped > ex["nopt"] + 1  # every term is visible
    assert logs["losses/td"] == pytest.approx(ex["td"], **TOL)
    assert logs["losses/opt"] == pytest.approx(ex["opt"], **TOL)
    assert logs["losses/nopt"] == pytest.approx(ex["nopt"], **TOL)
    assert float(loss.detach()) == pytest.approx(ex["td"] + w_opt * ex["opt"] + w_nopt * ex["nopt"], **TOL)


def test_qtran_opt_loss_moves_v_towards_the_greedy_gap() -> None:
    """∂L/∂V = 2·mean(Q'(ū) − Q̂_jt(ū) + V) + 2·mean(min(gap(u), 0)): V is trained by opt and nopt only."""
    b = len(QT_ACTIONS)
    mixer = PayoffQTran(QTRAN_GAME, QT_V)
    learner = QTranLearner(TableAgent([QT_AGENT] * b), mixer, info(2, 3), LearnerConfig())
    loss, _ = learner.loss(one_step_batch(QT_ACTIONS, QT_REWARD, 3))
    (grad_v,) = torch.autograd.grad(loss, mixer.v0)
    Q, R = QT_AGENT, QTRAN_GAME
    opt_gap = Q[0][1] + Q[1][2] - R[1][2] + QT_V  # ū = (1, 2)
    nopt_gaps = [min(Q[0][u[0]] + Q[1][u[1]] - R[u[0]][u[1]] + QT_V, 0.0) for u in QT_ACTIONS]
    assert float(grad_v) == pytest.approx(2 * opt_gap + 2 * mean(nopt_gaps), **TOL)


@pytest.mark.parametrize("double_q", [True, False])
def test_qtran_td_target_honours_double_q(double_q: bool) -> None:
    """Non-terminal step: target = r + γ Q_jt^target(ū'), ū' greedy for the online agents (double_q, as
    pymarl's qtran_learner) or for the target agents; here the two greedy joint actions differ."""
    b, gamma = len(QT_ACTIONS), 0.9
    learner = QTranLearner(TableAgent([QT_AGENT] * b), PayoffQTran(QTRAN_GAME, QT_V), info(2, 3),
                           LearnerConfig(gamma=gamma, double_q=double_q))
    target_table = [[2.0, 0.0, 0.0], [0.0, 0.0, 1.0]]  # target greedy ū' = (0, 2); online greedy (1, 2)
    with torch.no_grad():
        learner.target_agent.table.copy_(torch.tensor([target_table] * b))
    batch = one_step_batch(QT_ACTIONS, QT_REWARD, 3)
    batch.terminated.zero_()  # bootstrap from the next state
    _, logs = learner.loss(batch)
    nxt = (1, 2) if double_q else (0, 2)
    R = QTRAN_GAME
    expected = mean([(R[u[0]][u[1]] - (r + gamma * R[nxt[0]][nxt[1]])) ** 2 for u, r in zip(QT_ACTIONS, QT_REWARD)])
    other = (0, 2) if double_q else (1, 2)
    assert R[nxt[0]][nxt[1]] != R[other[0]][other[1]]  # the choice changes the target
    assert logs["losses/td"] == pytest.approx(expected, **TOL)


def _agent_grads(learner: QTranLearner, batch: EpisodeBatch) -> float:
    """Sum of |∂L/∂θ| over the agent network's parameters (0 when no loss term reaches them)."""
    loss, _ = learner.loss(batch)
    grads = torch.autograd.grad(loss, list(learner.agent.parameters()), allow_unused=True)
    return sum(float(g.abs().sum()) for g in grads if g is not None)


@pytest.mark.parametrize("hidden_grad", [False, True])
def test_qtran_hidden_grad_lets_only_l_td_reach_the_agents_features(hidden_grad: bool) -> None:
    """With opt and nopt switched off, L_td trains the agents only through Q_jt's hidden-state inputs, and
    only when ``hidden_grad`` (pymarl's qtran_learner) lifts the paper's stop-gradient."""
    from decomp.core.agents import RNNAgent, agent_input_dim
    from tests.test_learner_reference import INFO, replay_batch

    torch.manual_seed(0)
    agent = RNNAgent(agent_input_dim(INFO.obs_dim, INFO.n_agents, INFO.n_actions, True, True), INFO.n_actions, 8)
    mixer = QTranJoint(INFO.n_agents, INFO.state_dim, INFO.n_actions, hidden_dim=8)
    learner = QTranLearner(agent, mixer, INFO, LearnerConfig(), opt_weight=0.0, nopt_weight=0.0, use_hidden=True,
                           hidden_grad=hidden_grad)
    total = _agent_grads(learner, replay_batch([6, 4, 3, 2], [True, False, True, True], seed=1))
    assert (total > 0) is hidden_grad


def test_qtran_l_opt_trains_the_agents_and_v() -> None:
    """L_opt alone (no hidden inputs, nopt off) reaches the agents' greedy Q^i and V(s) (as in pymarl,
    whose max over ``mac_out.clone()`` keeps the graph); Q̂_jt is held fixed."""
    b = len(QT_ACTIONS)
    mixer = PayoffQTran(QTRAN_GAME, QT_V)
    learner = QTranLearner(TableAgent([QT_AGENT] * b), mixer, info(2, 3), LearnerConfig(), opt_weight=1.0,
                           nopt_weight=0.0)
    batch = one_step_batch(QT_ACTIONS, QT_REWARD, 3)
    assert _agent_grads(learner, batch) > 0
    loss, _ = learner.loss(batch)
    (grad_v,) = torch.autograd.grad(loss, mixer.v0)
    assert float(grad_v) == pytest.approx(2 * (QT_AGENT[0][1] + QT_AGENT[1][2] - QTRAN_GAME[1][2] + QT_V), **TOL)


def test_qtran_hidden_grad_without_hidden_inputs_is_refused() -> None:
    with pytest.raises(ValueError, match="hidden_grad=true needs use_hidden=true"):
        QTranLearner(TableAgent([QT_AGENT]), PayoffQTran(QTRAN_GAME, QT_V), info(2, 3), LearnerConfig(),
                     hidden_grad=True)


QT_AVAIL = [[[True, True, True], [True, True, False]]] + [[[True] * 3] * 2] * 3  # sample 0: agent 1 lacks action 2


@pytest.mark.parametrize("w_nopt", [1.0, 3.0])
def test_qtran_alt_counterfactual_min_matches_the_paper(w_nopt: float) -> None:
    """L_nopt-min = mean_i (min_{a available} [Q'(a, u^{-i}) − Q̂_jt(a, u^{-i}) + V])², not the clamp at u."""
    b = len(QT_ACTIONS)
    learner = QTranAltLearner(TableAgent([QT_AGENT] * b), PayoffQTran(QTRAN_GAME, QT_V), info(2, 3),
                              LearnerConfig(), nopt_weight=w_nopt)
    batch = one_step_batch(QT_ACTIONS, QT_REWARD, 3, avail=QT_AVAIL)
    loss, logs = learner.loss(batch)
    ex = qtran_expected(QT_AVAIL)
    assert abs(ex["nopt_min"] - ex["nopt"]) > 1  # the counterfactual form differs from base on this batch
    assert float(learner.nopt_min(batch).detach()) == pytest.approx(ex["nopt_min"], **TOL)
    assert logs["losses/nopt"] == pytest.approx(ex["nopt_min"], **TOL)
    assert float(loss.detach()) == pytest.approx(ex["td"] + ex["opt"] + w_nopt * ex["nopt_min"], **TOL)


# ---- QPLEX: λ_i(s, u) weighting the advantages ------------------------------------------------------
def qplex_fixture(w_floor: float = 1.0) -> QPlexMixer:
    """2 agents, 2 actions, one head of dimension 1; hand-set so that
    w = |(0.5, −1)| + w_floor, b = (0.2, −0.3), query = 2, key_i(a) = ±0.5 (agent) + (1 if a = 0 else −1),
    w_h = 1.5, so λ_i = 1.5·σ(2·key_i) + 0.01."""
    mixer = QPlexMixer(2, 1, 2, n_heads=1, attn_dim=1, embed_dim=4, w_floor=w_floor)
    set_output(mixer.w_net, [0.5, -1.0])
    set_output(mixer.b_net, [0.2, -0.3])
    set_output(mixer.query, [2.0])
    set_output(mixer.head_w, [1.5])
    with torch.no_grad():  # key input: [state, id_0, id_1, a_0, a_1]
        mixer.key.weight.copy_(torch.tensor([[0.0, 0.5, -0.5, 1.0, -1.0]]))
        mixer.key.bias.zero_()
    return mixer


def qplex_expected(q: list[list[float]], u: tuple[int, int]) -> tuple[list[float], float]:
    """λ_i and Q_tot = Σ_i V_i + Σ_i λ_i A_i with V_i = w_i max Q_i + b_i, A_i = w_i (Q_i(u_i) − max Q_i)."""
    w, bias = [1.5, 2.0], [0.2, -0.3]
    lam = [1.5 * sigmoid(2.0 * ((0.5 if i == 0 else -0.5) + (1.0 if u[i] == 0 else -1.0))) + 0.01 for i in range(2)]
    q_tot = sum(w[i] * max(q[i]) + bias[i] + lam[i] * w[i] * (q[i][u[i]] - max(q[i])) for i in range(2))
    return lam, q_tot


def test_qplex_q_tot_weights_each_advantage_by_lambda() -> None:
    q = [[1.0, -2.0], [0.5, 3.0]]  # greedy (0, 1)
    mixer = qplex_fixture()
    joint = list(itertools.product(range(2), repeat=2))
    onehot = torch.nn.functional.one_hot(torch.tensor(joint), 2).float()  # (K, N, A)
    chosen = torch.tensor([[q[0][u0], q[1][u1]] for u0, u1 in joint])  # (K, N)
    max_q = torch.tensor([[max(q[0]), max(q[1])]]).expand(len(joint), 2)  # (K, N)
    state = torch.zeros(len(joint), 1)
    with torch.no_grad():
        q_tot = mixer(chosen, state, None, onehot, max_q)[:, 0]  # (K,)
        lam = mixer.lambdas(state, onehot)  # (K, N)
    for k, u in enumerate(joint):
        lam_ex, q_tot_ex = qplex_expected(q, u)
        assert lam[k].tolist() == pytest.approx(lam_ex, **TOL)
        assert float(q_tot[k]) == pytest.approx(q_tot_ex, **TOL)
    # λ ≠ 1 changes the value away from the greedy joint action (where every A_i = 0)
    lam_11, q_tot_11 = qplex_expected(q, (1, 0))
    plain = sum([1.5, 2.0][i] * [q[0][1], q[1][0]][i] + [0.2, -0.3][i] for i in range(2))
    assert abs(q_tot_11 - plain) > 1.0 and min(lam_11) != pytest.approx(1.0)


def test_qplex_default_w_is_the_reference_abs_and_gets_its_true_gradient() -> None:
    """Default w_i = |f_i(s)| + 1e-10 (the reference's ε, no floor of 1). The utilities' advantage is
    detached, so ∂Q_tot/∂Q_i(u_i) = w_i, but w keeps its true gradient through the advantage:
    ∂Q_tot/∂w_i = λ_i Q_i(u_i) + (1 − λ_i) max Q_i (with w detached too it would be Q_i(u_i) alone)."""
    q = [[1.0, -2.0], [0.5, 3.0]]  # greedy (0, 1)
    mixer = QPlexMixer(2, 1, 2, n_heads=1, attn_dim=1, embed_dim=4)
    assert mixer.w_floor == pytest.approx(1e-10) and mixer.advantage_trains_w
    ref = qplex_fixture(w_floor=1e-10)
    w_bias = [m for m in ref.w_net.modules() if isinstance(m, nn.Linear)][-1].bias  # = (0.5, −1): w = |bias|
    for u in itertools.product(range(2), repeat=2):
        chosen = torch.tensor([[q[0][u[0]], q[1][u[1]]]], requires_grad=True)  # (1, N)
        onehot = torch.nn.functional.one_hot(torch.tensor([u]), 2).float()  # (1, N, A)
        max_q = torch.tensor([[max(q[0]), max(q[1])]])
        q_tot = ref(chosen, torch.zeros(1, 1), None, onehot, max_q)[0, 0]
        g_bias, g_q = torch.autograd.grad(q_tot, [w_bias, chosen])
        lam, _ = qplex_expected(q, u)
        sign = [1.0, -1.0]
        expected_w = [sign[i] * (lam[i] * q[i][u[i]] + (1 - lam[i]) * max(q[i])) for i in range(2)]
        assert g_bias.tolist() == pytest.approx(expected_w, **TOL)
        assert g_q[0].tolist() == pytest.approx([0.5, 1.0], **TOL)  # w_i, the reference's utility gradient
        if u != (0, 1):  # off the greedy joint action the two forms differ
            assert any(abs(expected_w[i] - sign[i] * q[i][u[i]]) > 0.2 for i in range(2))


# ---- Qatten: head weights w_h and the attention regulariser ------------------------------------------
QA_FEATS = [[1.0, 0.0], [0.0, 1.0]]  # agent 0, agent 1
QA_QUERY = [[1.0, 0.5], [-1.0, 0.0]]  # per head, attn_dim 2
QA_KEY = [[[1.0, 0.0], [0.0, 1.0]], [[0.0, 2.0], [1.0, 1.0]]]  # key_h(f) = QA_KEY[h] @ f (a d-vector)
QA_HEAD_W = [2.0, -0.5]  # raw head weights; w_h = |·|
QA_C = 0.3


def qatten_fixture(reg_coef: float) -> QattenMixer:
    mixer = QattenMixer(2, 1, 2, n_heads=2, attn_dim=2, hypernet_embed=4, reg_coef=reg_coef)
    set_output(mixer.query, [x for row in QA_QUERY for x in row])
    set_output(mixer.head_w, QA_HEAD_W)
    set_output(mixer.c, [QA_C])
    with torch.no_grad():
        mixer.key.weight.copy_(torch.tensor([row for head in QA_KEY for row in head]))  # (H*d, F), head-major
    return mixer


def qatten_expected(q: list[float], reg_coef: float) -> tuple[float, list[float], float]:
    """Q_tot = c + Σ_h |w_h| Σ_i λ_{i,h} Q^i with λ_{·,h} = softmax_i(query_h·key_h(f_i)/√d);
    λ_i = Σ_h |w_h| λ_{i,h}; regulariser (Qatten's code) = coef · Σ_h mean_i (query_h·key_h(f_i))²."""
    d = len(QA_QUERY[0])
    raw = [[sum(QA_QUERY[h][k] * sum(w * f for w, f in zip(QA_KEY[h][k], QA_FEATS[i])) for k in range(d))
            for i in range(2)] for h in range(2)]
    lam_h = [softmax([x / math.sqrt(d) for x in row]) for row in raw]
    w = [abs(x) for x in QA_HEAD_W]
    q_tot = QA_C + sum(w[h] * sum(lam_h[h][i] * q[i] for i in range(2)) for h in range(2))
    lam = [sum(w[h] * lam_h[h][i] for h in range(2)) for i in range(2)]
    reg = reg_coef * sum(mean([x**2 for x in row]) for row in raw)
    return q_tot, lam, reg


def test_qatten_q_tot_uses_head_weights_and_attention() -> None:
    mixer = qatten_fixture(reg_coef=0.5)
    q = [1.0, 3.0]
    with torch.no_grad():
        out = mixer(torch.tensor([q]), torch.zeros(1, 1), torch.tensor([QA_FEATS]))
        local = mixer.local_weights(torch.tensor([q]), torch.zeros(1, 1), torch.tensor([QA_FEATS]))
    q_tot, lam, reg = qatten_expected(q, 0.5)
    assert float(out) == pytest.approx(q_tot, **TOL)
    assert local[0].tolist() == pytest.approx(lam, **TOL)
    assert float(mixer.extras["aux_loss"]) == pytest.approx(reg, **TOL)
    assert sum(lam) != pytest.approx(2.0)  # w_h ≡ 1 would give Σ_i λ_i = H = 2


def test_qatten_regulariser_enters_the_td_loss() -> None:
    """TD learner: L = mean (Q_tot − r)² + reg_coef · mean(attention logits²)."""
    reg_coef = 0.25
    agent_q = [[1.0, -1.0], [3.0, 0.5]]  # Q^i(a), 2 actions
    actions, reward = [[0, 0], [1, 1]], [2.0, -1.0]
    learner = TDLearner(TableAgent([agent_q] * 2), qatten_fixture(reg_coef), info(2, 2, feat_dim=2),
                        LearnerConfig())
    loss, logs = learner.loss(one_step_batch(actions, reward, 2, feats=QA_FEATS))
    td = mean([(qatten_expected([agent_q[0][u[0]], agent_q[1][u[1]]], reg_coef)[0] - r) ** 2
               for u, r in zip(actions, reward)])
    reg = qatten_expected([0.0, 0.0], reg_coef)[2]
    assert reg > 0.1
    assert logs["losses/td"] == pytest.approx(td, **TOL)
    assert logs["losses/aux"] == pytest.approx(reg, **TOL)
    assert float(loss.detach()) == pytest.approx(td + reg, **TOL)


# ---- QMIX: monotonicity through abs on the hypernetwork weights -------------------------------------
QM_W1 = [[-1.0, 2.0], [0.5, -3.0]]  # raw W1 (agent, unit)
QM_B1 = [0.1, -1.0]
QM_W2 = [-2.0, 1.0]  # raw w2
QM_V = 0.25


def qmix_fixture() -> QMixMixer:
    mixer = QMixMixer(2, 1, embed_dim=2, hypernet_layers=1)
    set_output(mixer.hyper_w1, [x for row in QM_W1 for x in row])
    set_output(mixer.hyper_b1, QM_B1)
    set_output(mixer.hyper_w2, QM_W2)
    set_output(mixer.hyper_v, [QM_V])
    return mixer


def qmix_expected(q: list[float]) -> tuple[float, list[float]]:
    """Q_tot = Σ_k |w2_k| ELU(Σ_i |W1_ik| Q^i + b1_k) + V and λ_i = Σ_k |w2_k| ELU'(pre_k) |W1_ik|."""
    pre = [sum(abs(QM_W1[i][k]) * q[i] for i in range(2)) + QM_B1[k] for k in range(2)]
    q_tot = sum(abs(QM_W2[k]) * elu(pre[k]) for k in range(2)) + QM_V
    d_elu = [1.0 if p > 0 else math.exp(p) for p in pre]
    lam = [sum(abs(QM_W2[k]) * d_elu[k] * abs(QM_W1[i][k]) for k in range(2)) for i in range(2)]
    return q_tot, lam


QM_POINTS = [[1.0, -0.5], [-2.0, 0.3], [0.0, 0.0], [2.5, 1.5]]


def test_qmix_value_and_gradient_use_absolute_hypernet_weights() -> None:
    mixer = qmix_fixture()
    qs = torch.tensor(QM_POINTS)  # (K, N)
    state = torch.zeros(len(QM_POINTS), 1)
    with torch.no_grad():
        out = mixer(qs, state)[:, 0]  # (K,)
    lam = mixer.local_weights(qs, state)  # (K, N)
    for k, q in enumerate(QM_POINTS):
        q_tot, lam_ex = qmix_expected(q)
        assert float(out[k]) == pytest.approx(q_tot, **TOL)
        assert lam[k].tolist() == pytest.approx(lam_ex, **TOL)
        assert min(lam_ex) > 0


def test_qmix_is_monotone_although_raw_hypernet_weights_are_negative() -> None:
    """Raising any Q^i never lowers Q_tot, though W1 and w2 have negative raw entries."""
    mixer = qmix_fixture()
    state = torch.zeros(1, 1)
    with torch.no_grad():
        for q, i in itertools.product(QM_POINTS, range(2)):
            up = list(q)
            up[i] += 0.5
            low, high = float(mixer(torch.tensor([q]), state)), float(mixer(torch.tensor([up]), state))
            assert high > low, f"Q_tot fell from {low} to {high} when Q^{i} rose at {q}"
