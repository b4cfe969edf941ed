"""Mixer shape contracts, VDN = sum, closed-form local weights, malformed inputs."""

from __future__ import annotations

import pytest
import torch

from decomp.core.methods import METHODS, make_mixer
from decomp.core.mixers import QTranJoint, autograd_local_weights

STATE, FEAT, ACTIONS = 5, 4, 3
VALUE_MIXERS = ["iql", "vdn", "qmix", "qatten"]


def inputs(batch: tuple[int, ...], n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return torch.randn(*batch, n), torch.randn(*batch, STATE), torch.randn(*batch, n, FEAT)


@pytest.mark.parametrize("name", VALUE_MIXERS)
@pytest.mark.parametrize("n_agents", [1, 2, 5])
@pytest.mark.parametrize("batch", [(), (7,), (3, 4), (2, 3, 4)])
def test_shape_contract(name: str, n_agents: int, batch: tuple[int, ...]) -> None:
    mixer = make_mixer(name, n_agents, STATE, FEAT, ACTIONS)
    qs, state, feats = inputs(batch, n_agents)
    out = mixer(qs, state, feats)
    expected = (*batch, n_agents) if name == "iql" else (*batch, 1)
    assert out.shape == expected
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("batch", [(), (6,), (2, 3)])
def test_qtran_joint_shapes(batch: tuple[int, ...]) -> None:
    net = make_mixer("qtran", 3, STATE, FEAT, ACTIONS)
    assert isinstance(net, QTranJoint)
    actions = torch.nn.functional.one_hot(torch.randint(0, ACTIONS, (*batch, 3)), ACTIONS).float()
    assert net.q_jt(torch.randn(*batch, STATE), actions).shape == (*batch, 1)
    assert net.v(torch.randn(*batch, STATE)).shape == (*batch, 1)
    with pytest.raises(ValueError, match=r"actions_onehot must have shape"):
        net.q_jt(torch.randn(*batch, STATE), actions[..., :2])


def test_vdn_is_the_sum() -> None:
    mixer = make_mixer("vdn", 4, STATE)
    qs, state, _ = inputs((10, 3), 4)
    torch.testing.assert_close(mixer(qs, state), qs.sum(-1, keepdim=True))
    torch.testing.assert_close(mixer.local_weights(qs, state), torch.ones_like(qs))


@pytest.mark.parametrize("name", ["qmix", "qatten"])
def test_closed_form_local_weights_match_autograd(name: str) -> None:
    mixer = make_mixer(name, 3, STATE, FEAT)
    qs, state, feats = inputs((4, 5), 3)
    torch.testing.assert_close(mixer.local_weights(qs, state, feats), autograd_local_weights(mixer, qs, state, feats),
                               atol=1e-5, rtol=1e-5)


def test_qatten_heads_sum_to_one_and_weights_combine() -> None:
    mixer = make_mixer("qatten", 4, STATE, FEAT, n_heads=3)
    qs, state, feats = inputs((8,), 4)
    lam, w = mixer.attention_weights(qs, state, feats)
    assert lam.shape == (8, 3, 4) and w.shape == (8, 3)
    torch.testing.assert_close(lam.sum(-1), torch.ones(8, 3))
    torch.testing.assert_close(mixer.local_weights(qs, state, feats), (w.unsqueeze(-1) * lam).sum(-2))
    mixer(qs, state, feats)
    assert mixer.extras["head_entropy"].shape == (3,)
    assert mixer.extras["aux_loss"] >= 0


def test_qatten_regulariser_is_the_authors_raw_logits_summed_over_heads() -> None:
    """coef · Σ_h mean_(batch, agents)(query_h(s)·key_h(f_i))², unscaled by √d, dead agents included."""
    n_heads, d, coef = 3, 8, 0.01
    mixer = make_mixer("qatten", 4, STATE, FEAT, n_heads=n_heads, attn_dim=d, reg_coef=coef, mask_dead=True)
    qs, state, feats = inputs((6,), 4)
    feats[:, 1] = 0.0  # a dead agent: masked from the softmax, still in the regulariser (as the authors')
    mixer(qs, state, feats)
    query = mixer.query(state).view(6, n_heads, d)  # (B, H, d)
    keys = mixer.key(feats).view(6, 4, n_heads, d)  # (B, N, H, d)
    raw = torch.einsum("bhd,bnhd->bhn", query, keys).detach()  # (B, H, N)
    expected = coef * sum(float(raw[:, h].pow(2).mean()) for h in range(n_heads))
    aux = float(mixer.extras["aux_loss"].detach())
    assert abs(aux - expected) < 1e-6 * max(1.0, expected)
    # the scaled-and-averaged form it replaced is H·d = 24x smaller: make sure that is not what we compute
    assert aux > 10 * expected / (n_heads * d)


def test_qatten_masks_dead_agents() -> None:
    mixer = make_mixer("qatten", 3, STATE, FEAT, mask_dead=True)
    qs, state, feats = inputs((5,), 3)
    feats[:, 1] = 0.0  # agent 1 is dead
    lam, _ = mixer.attention_weights(qs, state, feats)
    assert torch.all(lam[..., 1] == 0)
    feats[:] = 0.0  # everyone dead: attention falls back to uniform instead of NaN
    lam, _ = mixer.attention_weights(qs, state, feats)
    assert torch.isfinite(lam).all()


@pytest.mark.parametrize("name", ["vdn", "qmix", "qatten", "iql"])
def test_malformed_inputs_name_expected_and_given(name: str) -> None:
    mixer = make_mixer(name, 3, STATE, FEAT)
    qs, state, feats = inputs((4,), 3)
    with pytest.raises(ValueError, match=r"agent_qs must have shape \(\*B, n_agents=3\), got \(4, 2\)"):
        mixer(qs[:, :2], state, feats)
    with pytest.raises(ValueError, match=r"state must have shape .*\(4, 5\).*got \(4, 6\)"):
        mixer(qs, torch.randn(4, 6), feats)
    with pytest.raises(ValueError, match=r"state must have shape"):
        mixer(qs, torch.randn(5, STATE), feats)


def test_qatten_requires_features() -> None:
    mixer = make_mixer("qatten", 3, STATE, FEAT)
    with pytest.raises(ValueError, match=r"per-agent features are required"):
        mixer(torch.randn(2, 3), torch.randn(2, STATE))
    with pytest.raises(ValueError, match=r"feats must have shape"):
        mixer(torch.randn(2, 3), torch.randn(2, STATE), torch.randn(2, 3, FEAT + 1))
    with pytest.raises(ValueError, match=r"needs per-agent features"):
        make_mixer("qatten", 3, STATE, 0)


def test_unknown_mixer_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown method 'qmixx'; valid methods: .*qatten.*qmix.*vdn"):
        make_mixer("qmixx", 2, 3)
    with pytest.raises(ValueError, match=r"method.options of qmix: unknown option\(s\) bogus"):
        make_mixer("qmix", 2, 3, bogus=1)


def test_non_monotone_mixers_refuse_local_weights() -> None:
    with pytest.raises(NotImplementedError, match="not defined"):
        make_mixer("iql", 2, 3).local_weights(torch.randn(2), torch.randn(3))
    nonlinear = make_mixer("qatten", 2, 3, 2, nonlinear=True)
    assert not nonlinear.monotone
    with pytest.raises(NotImplementedError, match="attention weights depend on Q"):
        nonlinear.local_weights(torch.randn(2), torch.randn(3), torch.randn(2, 2))


def test_registry_has_the_foundation_mixers() -> None:
    assert {"iql", "vdn", "qmix", "qatten", "qtran"} <= set(METHODS)
