"""Flow matching (rectified flow): noising, targets, the regulariser's identities, the ODE
samplers against closed forms, and the options that do not apply to it."""
import math

import pytest
import torch
from mmagic.registry import MODELS

from vidreg_mm.models import FlowMatchingScheduler, TemporalRegLoss
from vidreg_mm.models.objectives import build_objective

from .test_samples_not_noise import PALETTE, TINY_UNET, flat_and_of_the_palette
from .test_temporal_reg_loss import bc, clips

FLOW = dict(type='FlowMatchingScheduler')
FLOW_OBJECTIVE = build_objective(FlowMatchingScheduler())


def build_model(**kwargs):
    return MODELS.build(dict(type='TemporalDiffusionModel', unet=TINY_UNET,
                             diffusion_scheduler=FLOW, sampler='euler', **kwargs))


# -- training: noising, target, implied x0, regulariser ------------------------------------------
def test_noising_target_and_implied_clean_frame_are_the_closed_forms():
    sched, loss = FlowMatchingScheduler(), TemporalRegLoss(share_timestep=False,
                                                           share_noise=False)
    obj = build_objective(sched)
    x0, _ = clips()
    t, eps = loss.sample_noise(x0.float(), obj, torch.Generator().manual_seed(0))
    assert t.dtype == torch.float32 and 0 <= t.min() and t.max() < 1
    t, eps = t.double(), eps.double()
    x_t = sched.add_noise(x0.flatten(0, 1), eps.flatten(0, 1), t.flatten()).view_as(x0)
    assert torch.allclose(x_t, (1 - bc(t)) * x0 + bc(t) * eps)
    v = obj.target(x0, eps, t)
    assert torch.allclose(v, eps - x0)
    # the true velocity implies the true clean frame: x0_hat = x_t - t v
    assert torch.allclose(obj.predicted_x0(v, x_t, t), x0)
    assert sched.network_timestep(torch.tensor([0.0, 0.25, 1.0])).tolist() == [0, 250, 1000]


def test_forward_feeds_the_network_t_times_num_train_timesteps_and_scores_the_velocity():
    sched, loss = FlowMatchingScheduler(num_train_timesteps=1000), TemporalRegLoss(lambda_reg=0)
    x0, _ = clips(1)
    x0 = x0.float()
    seen = {}

    def net(x_t, t):
        seen['x_t'], seen['t'] = x_t, t
        return torch.zeros_like(x_t)
    obj = build_objective(sched)
    terms = loss(net, x0, obj, generator=torch.Generator().manual_seed(3))
    t, eps = loss.sample_noise(x0, obj, torch.Generator().manual_seed(3))
    assert torch.allclose(seen['t'], t * 1000) and seen['t'].dtype == torch.float32
    assert torch.allclose(seen['x_t'], (1 - bc(t)) * x0 + bc(t) * eps, atol=1e-6)
    # a zero prediction scores the whole velocity eps - x0
    assert torch.allclose(terms['loss_simple'], (eps - x0).pow(2).mean(), atol=1e-6)


def test_shared_noise_makes_the_velocity_difference_minus_the_clean_difference():
    loss, obj = TemporalRegLoss(lambda_reg=0.5, share_noise=True), FLOW_OBJECTIVE
    x0, pred = clips(2)
    t, eps = loss.sample_noise(x0, obj, torch.Generator().manual_seed(2))
    t, eps = t.double(), eps.double()
    y = eps - x0
    assert torch.allclose(y[:, 1] - y[:, 0], -(x0[:, 1] - x0[:, 0]))
    x_t = (1 - bc(t)) * x0 + bc(t) * eps
    terms = loss.terms(pred, y, x0, x_t, t, obj)
    out = ((pred[:, 1] - pred[:, 0]) + (x0[:, 1] - x0[:, 0])).pow(2)
    assert torch.allclose(terms['temporal_reg'], out.mean())
    assert torch.allclose(terms['loss_temporal'], 0.5 * out.mean())
    # x0 space: x0_hat^b - x0_hat^a - (x0^b - x0^a) = -t (output-space difference)
    r_x0 = TemporalRegLoss(space='x0').terms(pred, y, x0, x_t, t, obj)['temporal_reg']
    assert torch.allclose(r_x0, (bc(t[:, 0])**2 * out).mean())
    # SNR weighting: ((1 - t) / t)^2
    r_snr = TemporalRegLoss(weight='snr').terms(pred, y, x0, x_t, t, obj)['temporal_reg']
    s = t[:, 0].clamp(min=1e-3)
    assert torch.allclose(r_snr, (bc(((1 - s) / s)**2) * out).mean())


def test_a_perfect_velocity_has_zero_loss_and_zero_regulariser():
    loss = TemporalRegLoss(lambda_reg=1.0, space='x0')
    x0, _ = clips(3)
    obj = FLOW_OBJECTIVE
    g = torch.Generator().manual_seed(5)
    t, eps = loss.sample_noise(x0, obj, g)
    t, eps = t.double(), eps.double()
    x_t = (1 - bc(t)) * x0 + bc(t) * eps
    y = obj.target(x0, eps, t)
    terms = loss.terms(y.clone(), y, x0, x_t, t, obj)
    assert terms['loss_simple'] == 0 and torch.allclose(terms['temporal_reg'],
                                                        torch.zeros((), dtype=y.dtype))


def test_the_scheduler_refuses_other_prediction_types_and_bad_step_counts():
    with pytest.raises(ValueError, match="prediction_type must be 'flow', got 'epsilon'"):
        FlowMatchingScheduler(prediction_type='epsilon')
    with pytest.raises(ValueError, match='num_train_timesteps must be an integer >= 1'):
        FlowMatchingScheduler(num_train_timesteps=0)
    with pytest.raises(ValueError, match='sampling steps must be an integer >= 1, got 0'):
        FlowMatchingScheduler().set_timesteps(0)


# -- sampling -----------------------------------------------------------------------------------
def test_euler_and_heun_are_exact_for_one_point_of_data():
    """For data that is one frame c, the exact velocity is (x - c) / t and the ODE's paths are
    straight lines: both solvers land on c from any noise, with any number of steps."""
    c = torch.linspace(-0.8, 0.9, 3 * 4 * 4).view(1, 3, 4, 4)
    sched = FlowMatchingScheduler()
    noise = torch.randn((5, 3, 4, 4), generator=torch.Generator().manual_seed(0))
    for solver in ('euler', 'heun'):
        for steps in (1, 3, 10):
            x = sched.sample(lambda x, t: (x - c) / (t.view(-1, 1, 1, 1) / 1000), noise, steps,
                             solver)
            assert torch.allclose(x, c.expand_as(x), atol=1e-5), (solver, steps)


def test_heun_is_second_order_and_euler_first_order():
    """dx/dt = a x from t = 1 to 0: x(0) = x(1) exp(-a). Halving the step quarters Heun's
    error and halves Euler's."""
    a, x1 = 1.5, torch.ones(1, 1, 1, 1, dtype=torch.float64)
    sched, exact = FlowMatchingScheduler(), math.exp(-a)

    def error(solver, steps):
        return abs(float(sched.sample(lambda x, t: a * x, x1, steps, solver)) - exact)
    for solver, order in (('euler', 1), ('heun', 2)):
        ratio = error(solver, 20) / error(solver, 40)
        assert ratio == pytest.approx(2**order, rel=0.1), (solver, ratio)
    assert error('heun', 20) < error('euler', 20) / 20


def ideal_velocity(x_t, net_t):
    """The exact velocity E[eps - x0 | x_t] for data that is one of the flat PALETTE frames
    with equal probability (x_t = (1 - t) c + t eps)."""
    t = (net_t.double() / 1000).clamp(min=1e-6).view(-1, 1, 1, 1)
    x = x_t.double()
    colours = (PALETTE / 127.5 - 1).double()[:, :, None, None]
    sq = torch.stack([((x - (1 - t) * c)**2).flatten(1).sum(1) for c in colours], 1)
    w = torch.softmax(-sq / (2 * t.flatten()[:, None]**2), 1)
    x0 = torch.einsum('nk,kchw->nchw', w, colours.expand(-1, -1, *x.shape[-2:]))
    return ((x - x0) / t).float()  # eps - x0 with eps = (x - (1 - t) x0) / t


@pytest.mark.parametrize('sampler, steps', [('euler', 50), ('heun', 25)])
def test_the_model_samples_frames_of_the_data_with_the_ideal_velocity(sampler, steps):
    model = build_model().eval()
    model.denoise = ideal_velocity
    gens = [torch.Generator().manual_seed(s) for s in range(8)]
    noise = torch.stack([torch.randn((3, 16, 16), generator=g) for g in gens])
    images = (model.sample(noise, steps, sampler) + 1) * 127.5
    flat, dist = flat_and_of_the_palette(images)
    assert flat.max() < 1.0 and dist.max() < 2.0, (flat, dist)
    assert set(torch.cdist(images.mean((2, 3)), PALETTE).argmin(1).tolist()) == {0, 1}


def test_flow_samples_are_deterministic_for_a_seed_and_batch_independent():
    model = build_model(num_sample_steps=3).eval()
    torch.manual_seed(0)
    for p in model.unet.parameters():
        p.data.normal_(0, 0.05)
    a = model.infer(num_samples=4, num_steps=3, sampler='heun', seed=1, batch_size=4)
    b = model.infer(num_samples=4, num_steps=3, sampler='heun', seed=1, batch_size=3)
    assert torch.equal(a, b) and a.float().std() > 1
    assert not torch.equal(a, model.infer(num_samples=4, num_steps=3, sampler='euler',
                                          seed=1))


# -- invalid combinations -----------------------------------------------------------------------
@pytest.mark.parametrize('kwargs, match', [
    (dict(sampler='ddim'), r"model.sampler must be one of \('euler', 'heun'\) for "
     r"FlowMatchingScheduler, got 'ddim'"),
    (dict(loss=dict(type='TemporalRegLoss', simple_weight='min_snr')),
     r"model.loss.simple_weight='min_snr' is a DDPM weighting"),
])
def test_options_that_do_not_apply_to_flow_matching_are_refused_naming_the_key(kwargs, match):
    args = dict(type='TemporalDiffusionModel', unet=TINY_UNET, diffusion_scheduler=FLOW,
                sampler='euler')
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        MODELS.build(args)


def test_ddpm_models_refuse_flow_samplers():
    with pytest.raises(ValueError, match=r"model.sampler must be one of \('ddpm', 'ddim'\) "
                       r"for DDPMScheduler, got 'euler'"):
        MODELS.build(dict(type='TemporalDiffusionModel', unet=TINY_UNET, sampler='euler'))
