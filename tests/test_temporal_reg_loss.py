"""TemporalRegLoss against the closed forms of docs/method.md."""
import numpy as np
import pytest
import torch

from vidreg_mm.models import TemporalRegLoss

B, C, H, W = 3, 3, 4, 5


def schedule(n=1000):
    betas = np.linspace(1e-4, 0.02, n)
    return torch.tensor(np.cumprod(1 - betas), dtype=torch.float64)


def pair_batch(seed=0, num_frames=2):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.rand(num_frames * B, C, H, W, generator=g, dtype=torch.float64) * 2 - 1
    pred = torch.randn(num_frames * B, C, H, W, generator=g, dtype=torch.float64)
    return x0, pred


def noised(loss, x0, num_frames=2, seed=0):
    t, eps = loss.sample_noise(x0, num_frames, 1000, torch.Generator().manual_seed(seed))
    eps = eps.double()
    a_t = schedule()[t]
    return t, eps, a_t, loss.q_sample(x0, eps, a_t)


def test_q_sample_matches_mmagic_ddpm_add_noise():
    from mmagic.models.diffusion_schedulers import EditDDPMScheduler
    sched = EditDDPMScheduler(num_train_timesteps=1000)
    x0, _ = pair_batch()
    loss = TemporalRegLoss(share_timestep=False, share_noise=False)
    t, eps, a_t, x_t = noised(loss, x0)
    for k in range(len(t)):
        ref = sched.add_noise(x0[k], eps[k], int(t[k]))
        assert torch.allclose(x_t[k], ref.to(x_t.dtype), atol=1e-6)


def test_noise_and_timestep_are_shared_within_pairs_as_configured():
    x0, _ = pair_batch()
    t, eps = TemporalRegLoss().sample_noise(x0, 2, 1000)
    assert torch.equal(t[:B], t[B:]) and torch.equal(eps[:B], eps[B:])
    t, eps = TemporalRegLoss(share_timestep=False, share_noise=False).sample_noise(x0, 2, 1000)
    assert not torch.equal(eps[:B], eps[B:]) and eps.shape == x0.shape and t.shape == (2 * B, )
    # shared t with pair-specific noise: pairs differ by noise and by the clean frames
    t, eps = TemporalRegLoss(share_noise=False).sample_noise(x0, 2, 1000)
    assert torch.equal(t[:B], t[B:]) and not torch.equal(eps[:B], eps[B:])


def test_shared_noise_makes_the_noisy_pair_differ_by_the_scaled_true_difference():
    x0, _ = pair_batch()
    t, eps, a_t, x_t = noised(TemporalRegLoss(), x0)
    expected = a_t[:B].sqrt().view(-1, 1, 1, 1) * (x0[:B] - x0[B:])
    assert torch.allclose(x_t[:B] - x_t[B:], expected, atol=1e-12)


@pytest.mark.parametrize('prediction_type', ['eps', 'x0', 'v'])
def test_lambda_zero_is_the_standard_ddpm_loss(prediction_type):
    loss = TemporalRegLoss(lambda_reg=0.0, prediction_type=prediction_type)
    x0, pred = pair_batch()
    t, eps, a_t, x_t = noised(loss, x0)
    terms = loss.terms(pred, x0, eps, x_t, a_t, 2)
    sa, sb = a_t.sqrt().view(-1, 1, 1, 1), (1 - a_t).sqrt().view(-1, 1, 1, 1)
    y = {'eps': eps, 'x0': x0, 'v': sa * eps - sb * x0}[prediction_type]
    assert torch.allclose(terms['loss_simple'], ((pred - y)**2).mean())
    assert terms['loss_temporal'] == 0
    # L_simple is the mean of the two frames' losses: 1/2 (L_a + L_b)
    la, lb = ((pred[:B] - y[:B])**2).mean(), ((pred[B:] - y[B:])**2).mean()
    assert torch.allclose(terms['loss_simple'], (la + lb) / 2)


@pytest.mark.parametrize('weight', ['none', 'snr', 'min_snr'])
def test_shared_noise_eps_prediction_regulariser_is_weighted_output_difference(weight):
    loss = TemporalRegLoss(lambda_reg=0.7, weight=weight, min_snr_gamma=2.0)
    x0, pred = pair_batch(1)
    t, eps, a_t, x_t = noised(loss, x0, seed=1)
    terms = loss.terms(pred, x0, eps, x_t, a_t, 2)
    a = a_t[:B]
    w = {'none': torch.ones_like(a), 'snr': a / (1 - a),
         'min_snr': torch.minimum(a / (1 - a), torch.tensor(2.0, dtype=a.dtype))}[weight]
    expected = (w.view(-1, 1, 1, 1) * (pred[:B] - pred[B:])**2).mean()
    assert torch.allclose(terms['temporal_reg'], expected)
    assert torch.allclose(terms['loss_temporal'], 0.7 * expected)


def test_x0_space_is_output_space_with_weight_one_minus_a_over_a():
    x0, pred = pair_batch(2)
    loss_x0 = TemporalRegLoss(space='x0')
    t, eps, a_t, x_t = noised(loss_x0, x0, seed=2)
    r_x0 = loss_x0.terms(pred, x0, eps, x_t, a_t, 2)['temporal_reg']
    a = a_t[:B].view(-1, 1, 1, 1)
    assert torch.allclose(r_x0, ((1 - a) / a * (pred[:B] - pred[B:])**2).mean())
    # and the predicted clean frames differ by the true difference minus the scaled output gap
    x0_hat = loss_x0.predicted_x0(pred, x_t, a_t)
    assert torch.allclose(x0_hat[:B] - x0_hat[B:],
                          (x0[:B] - x0[B:]) - ((1 - a) / a).sqrt() * (pred[:B] - pred[B:]))


@pytest.mark.parametrize('prediction_type', ['eps', 'x0', 'v'])
@pytest.mark.parametrize('space', ['output', 'x0'])
@pytest.mark.parametrize('shared', [True, False])
def test_a_perfect_prediction_has_zero_loss_and_zero_regulariser(prediction_type, space, shared):
    loss = TemporalRegLoss(prediction_type=prediction_type, space=space, share_noise=shared,
                           share_timestep=shared)
    x0, _ = pair_batch(3)
    t, eps, a_t, x_t = noised(loss, x0, seed=3)
    perfect = loss.target(x0, eps, a_t)
    assert torch.allclose(loss.predicted_x0(perfect, x_t, a_t), x0, atol=1e-9)
    terms = loss.terms(perfect, x0, eps, x_t, a_t, 2)
    assert terms['loss_simple'] < 1e-12 and terms['temporal_reg'] < 1e-12  # roundoff only


def test_single_frame_batches_have_no_regulariser():
    loss = TemporalRegLoss(lambda_reg=5.0)
    x0, pred = pair_batch(num_frames=1)
    t, eps, a_t, x_t = noised(loss, x0, num_frames=1)
    terms = loss.terms(pred, x0, eps, x_t, a_t, 1)
    assert terms['temporal_reg'] == 0 and terms['loss_temporal'] == 0
    with pytest.raises(ValueError, match='1 frame or a pair, got 3'):
        loss.terms(pred, x0, eps, x_t, a_t, 3)


def test_gradient_of_the_regulariser_matches_its_closed_form():
    loss = TemporalRegLoss(lambda_reg=1.0, prediction_type='x0', space='output', weight='snr')
    x0, pred = pair_batch(4)
    t, eps, a_t, x_t = noised(loss, x0, seed=4)
    pred = pred.clone().requires_grad_(True)
    loss.terms(pred, x0, eps, x_t, a_t, 2)['loss_temporal'].backward()  # lambda = 1
    a = a_t[:B].view(-1, 1, 1, 1)
    d = (pred[:B] - pred[B:]) - (x0[:B] - x0[B:])
    g_a = 2 * a / (1 - a) * d / d.numel()
    assert torch.allclose(pred.grad[:B], g_a) and torch.allclose(pred.grad[B:], -g_a)
    # and autograd agrees with finite differences on the full loss
    f = lambda p: sum(v for k, v in loss.terms(p, x0, eps, x_t, a_t, 2).items()  # noqa: E731
                      if k.startswith('loss'))
    assert torch.autograd.gradcheck(f, (pred.detach().clone().requires_grad_(True), ))


def test_forward_runs_one_network_pass_over_all_frames():
    calls = []

    def net(x_t, t):
        calls.append(x_t.shape[0])
        return torch.zeros_like(x_t)

    x0, _ = pair_batch()
    terms = TemporalRegLoss()(net, x0.float(), 2, schedule().float())
    assert calls == [2 * B]
    assert set(terms) == {'loss_simple', 'loss_temporal', 'temporal_reg', 'temporal_lambda'}
    assert torch.isclose(terms['loss_simple'], torch.tensor(1.0), atol=0.3)  # E||eps||^2 = 1


def test_lambda_schedule_warms_up_and_decays():
    loss = TemporalRegLoss(lambda_reg=2.0, lambda_warmup_iters=100, lambda_decay_iters=(300, 500))
    assert [loss.lambda_at(i) for i in (0, 50, 100, 300, 400, 500, 900)] == [
        0.0, 1.0, 2.0, 2.0, 1.0, 0.0, 0.0]


@pytest.mark.parametrize('kwargs, key', [
    (dict(lambda_reg=-0.1), 'lambda_reg'),
    (dict(prediction_type='noise'), 'prediction_type'),
    (dict(space='pixel'), 'space'),
    (dict(weight='p2'), 'weight'),
    (dict(min_snr_gamma=0), 'min_snr_gamma'),
    (dict(lambda_warmup_iters=-1), 'lambda_warmup_iters'),
    (dict(lambda_decay_iters=(5, 2)), 'lambda_decay_iters'),
])
def test_invalid_options_name_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        TemporalRegLoss(**kwargs)
