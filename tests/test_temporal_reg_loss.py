"""TemporalRegLoss against the closed forms of docs/method.md, on B x T clips."""
import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler

from vidreg_mm.models import FlowMatchingScheduler, TemporalRegLoss
from vidreg_mm.models.objectives import build_objective

B, C, H, W = 3, 3, 4, 5
KINDS = ('epsilon', 'sample', 'v_prediction')


def scheduler(prediction_type='epsilon'):
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule='linear',
                         prediction_type=prediction_type)


def objective(prediction_type='epsilon'):
    return build_objective(scheduler(prediction_type))


def closed_form_a(t):
    """alpha_bar_t of the linear schedule, in float64: prod_{s <= t} (1 - beta_s)."""
    betas = np.linspace(1e-4, 0.02, 1000)
    return torch.tensor(np.cumprod(1 - betas), dtype=torch.float64)[t]


def clips(seed=0, frames=2):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.rand(B, frames, C, H, W, generator=g, dtype=torch.float64) * 2 - 1
    pred = torch.randn(B, frames, C, H, W, generator=g, dtype=torch.float64)
    return x0, pred


def bc(a):
    return a[..., None, None, None]


def noised(loss, x0, obj, seed=0):
    """t, eps, x_t (the scheduler's), the objective's target y and the scheduler's a_t."""
    t, eps = loss.sample_noise(x0, obj, torch.Generator().manual_seed(seed))
    eps = eps.double()
    sched = obj.scheduler
    x_t = sched.add_noise(x0.flatten(0, 1), eps.flatten(0, 1), t.flatten()).view_as(x0)
    y = obj.target(x0, eps, t)
    return t, eps, x_t, y, sched.alphas_cumprod.double()[t]


def test_noising_and_targets_are_the_closed_forms():
    loss = TemporalRegLoss(share_timestep=False, share_noise=False)
    x0, _ = clips()
    t, eps = loss.sample_noise(x0, objective(), torch.Generator().manual_seed(0))
    a = bc(closed_form_a(t))
    for kind, expected in (('epsilon', eps), ('sample', x0),
                           ('v_prediction', a.sqrt() * eps - (1 - a).sqrt() * x0)):
        assert torch.allclose(objective(kind).target(x0, eps.double(), t), expected, atol=1e-6)
    terms_x_t = scheduler().add_noise(x0.flatten(0, 1), eps.double().flatten(0, 1), t.flatten())
    assert torch.allclose(terms_x_t.view_as(x0), a.sqrt() * x0 + (1 - a).sqrt() * eps,
                          atol=1e-6)


def test_noise_and_timestep_are_shared_within_clips_as_configured():
    x0, _ = clips(frames=3)
    obj = objective()
    t, eps = TemporalRegLoss(share_noise=True).sample_noise(x0, obj)
    assert t.shape == (B, 3) and eps.shape == x0.shape
    assert (t == t[:, :1]).all() and (eps == eps[:, :1]).all()
    t, eps = TemporalRegLoss(share_timestep=False, share_noise=False).sample_noise(x0, obj)
    assert not (eps == eps[:, :1]).all() and not (t == t[:, :1]).all()
    # shared t with frame-specific noise: the default
    t, eps = TemporalRegLoss().sample_noise(x0, obj)
    assert (t == t[:, :1]).all() and not (eps == eps[:, :1]).all()


def test_shared_noise_makes_the_noisy_frames_differ_by_the_scaled_true_difference():
    x0, _ = clips()
    t, eps, x_t, y, a_t = noised(TemporalRegLoss(share_noise=True), x0, objective())
    expected = bc(a_t[:, 0].sqrt()) * (x0[:, 1] - x0[:, 0])
    assert torch.allclose(x_t[:, 1] - x_t[:, 0], expected, atol=1e-6)


@pytest.mark.parametrize('kind', KINDS)
def test_lambda_zero_is_the_standard_ddpm_loss(kind):
    loss, obj = TemporalRegLoss(lambda_reg=0.0), objective(kind)
    x0, pred = clips()
    t, eps, x_t, y, a_t = noised(loss, x0, obj)
    terms = loss.terms(pred, y, x0, x_t, t, obj)
    assert torch.allclose(terms['loss_simple'], ((pred - y)**2).mean())
    assert terms['loss_temporal'] == 0
    # L_simple is the mean of the two frames' losses: 1/2 (L_a + L_b)
    la, lb = ((pred[:, 0] - y[:, 0])**2).mean(), ((pred[:, 1] - y[:, 1])**2).mean()
    assert torch.allclose(terms['loss_simple'], (la + lb) / 2)


@pytest.mark.parametrize('weight', ['none', 'snr', 'min_snr'])
def test_shared_noise_eps_prediction_regulariser_is_weighted_output_difference(weight):
    loss = TemporalRegLoss(lambda_reg=0.7, weight=weight, min_snr_gamma=2.0,
                           share_noise=True)
    x0, pred = clips(1)
    obj = objective()
    t, eps, x_t, y, a_t = noised(loss, x0, obj, seed=1)
    terms = loss.terms(pred, y, x0, x_t, t, obj)
    a = a_t[:, 0]
    w = {'none': torch.ones_like(a), 'snr': a / (1 - a),
         'min_snr': torch.minimum(a / (1 - a), torch.tensor(2.0, dtype=a.dtype))}[weight]
    expected = (bc(w) * (pred[:, 0] - pred[:, 1])**2).mean()
    assert torch.allclose(terms['temporal_reg'], expected)
    assert torch.allclose(terms['loss_temporal'], 0.7 * expected)


def test_x0_space_is_output_space_with_weight_one_minus_a_over_a():
    x0, pred = clips(2)
    loss_x0 = TemporalRegLoss(space='x0', share_noise=True)
    obj = objective()
    t, eps, x_t, y, a_t = noised(loss_x0, x0, obj, seed=2)
    r_x0 = loss_x0.terms(pred, y, x0, x_t, t, obj)['temporal_reg']
    a = bc(a_t[:, 0])
    assert torch.allclose(r_x0, ((1 - a) / a * (pred[:, 0] - pred[:, 1])**2).mean())
    # and the predicted clean frames differ by the true difference minus the scaled output gap
    x0_hat = obj.predicted_x0(pred, x_t, t)
    assert torch.allclose(x0_hat[:, 0] - x0_hat[:, 1],
                          (x0[:, 0] - x0[:, 1]) - ((1 - a) / a).sqrt() * (pred[:, 0] - pred[:, 1]))


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('space', ['output', 'x0'])
@pytest.mark.parametrize('shared', [True, False])
def test_a_perfect_prediction_has_zero_loss_and_zero_regulariser(kind, space, shared):
    loss = TemporalRegLoss(space=space, share_noise=shared, share_timestep=shared)
    x0, _ = clips(3)
    obj = objective(kind)
    t, eps, x_t, y, a_t = noised(loss, x0, obj, seed=3)
    assert torch.allclose(obj.predicted_x0(y, x_t, t), x0, atol=1e-5)
    terms = loss.terms(y, y, x0, x_t, t, obj)
    assert terms['loss_simple'] == 0
    assert terms['temporal_reg'] < (1e-9 if space == 'x0' else 1e-12)  # roundoff only


def test_single_frames_have_no_regulariser_and_longer_clips_compare_consecutive_frames():
    loss = TemporalRegLoss(lambda_reg=5.0, share_noise=True)
    x0, pred = clips(frames=1)
    obj = objective()
    t, eps, x_t, y, a_t = noised(loss, x0, obj)
    terms = loss.terms(pred, y, x0, x_t, t, obj)
    assert terms['temporal_reg'] == 0 and terms['loss_temporal'] == 0
    x0, pred = clips(frames=3)
    obj = objective()
    t, eps, x_t, y, a_t = noised(loss, x0, obj)
    terms = loss.terms(pred, y, x0, x_t, t, obj)
    pairs = [((pred[:, k + 1] - pred[:, k])**2).mean() for k in (0, 1)]
    assert torch.allclose(terms['temporal_reg'], (pairs[0] + pairs[1]) / 2)


def test_gradient_of_the_regulariser_matches_its_closed_form():
    loss = TemporalRegLoss(lambda_reg=1.0, space='output', weight='snr')
    x0, pred = clips(4)
    obj = objective('sample')
    t, eps, x_t, y, a_t = noised(loss, x0, obj, seed=4)
    pred = pred.clone().requires_grad_(True)
    loss.terms(pred, y, x0, x_t, t, obj)['loss_temporal'].backward()  # lambda = 1
    a = bc(a_t[:, 0])
    d = (pred[:, 1] - pred[:, 0]) - (x0[:, 1] - x0[:, 0])
    g_b = 2 * a / (1 - a) * d / d.numel()
    assert torch.allclose(pred.grad[:, 1], g_b) and torch.allclose(pred.grad[:, 0], -g_b)
    # and autograd agrees with finite differences on the full loss
    f = lambda p: sum(v for k, v in loss.terms(p, y, x0, x_t, t, obj).items()  # noqa
                      if k.startswith('loss'))
    assert torch.autograd.gradcheck(f, (pred.detach().clone().requires_grad_(True), ))


def test_forward_runs_one_network_pass_over_all_frames_of_the_clips():
    calls = []

    def net(x_t, t):
        calls.append((tuple(x_t.shape), tuple(t.shape)))
        return torch.zeros_like(x_t)

    x0, _ = clips()
    terms = TemporalRegLoss()(net, x0.float(), objective())
    assert calls == [((B, 2, C, H, W), (B, 2))]
    assert set(terms) == {'loss_simple', 'loss_temporal', 'temporal_reg', 'temporal_lambda'}
    assert torch.isclose(terms['loss_simple'], torch.tensor(1.0), atol=0.3)  # E||eps||^2 = 1


def test_lambda_schedule_warms_up_and_decays():
    loss = TemporalRegLoss(lambda_reg=2.0, lambda_warmup_iters=100, lambda_decay_iters=(300, 500))
    assert [loss.lambda_at(i) for i in (0, 50, 100, 300, 400, 500, 900)] == [
        0.0, 1.0, 2.0, 2.0, 1.0, 0.0, 0.0]


@pytest.mark.parametrize('kwargs, key', [
    (dict(lambda_reg=-0.1), 'lambda_reg'),
    (dict(space='pixel'), 'space'),
    (dict(weight='p2'), 'weight'),
    (dict(min_snr_gamma=0), 'min_snr_gamma'),
    (dict(lambda_warmup_iters=-1), 'lambda_warmup_iters'),
    (dict(lambda_decay_iters=(5, 2)), 'lambda_decay_iters'),
])
def test_invalid_options_name_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        TemporalRegLoss(**kwargs)


# -- timestep sampling, weighting of the plain term, pairs of a clip -----------------------------
def test_logit_normal_timesteps_follow_their_law_for_ddpm_and_flow():
    x0 = torch.zeros(20000, 1, 1, 1, 1)
    loss = TemporalRegLoss(timestep_sampling='logit_normal', logit_mean=0.5, logit_std=0.8)
    flow = build_objective(FlowMatchingScheduler())
    t, _ = loss.sample_noise(x0, flow, torch.Generator().manual_seed(0))  # flow: (0, 1)
    logit = torch.log(t / (1 - t)).flatten()
    assert 0 < t.min() and t.max() < 1
    assert logit.mean() == pytest.approx(0.5, abs=0.03)
    assert logit.std() == pytest.approx(0.8, abs=0.03)
    t, _ = loss.sample_noise(x0, objective(), torch.Generator().manual_seed(0))  # DDPM: ints
    assert t.dtype == torch.long and 0 <= t.min() and t.max() <= 999
    # the same draws, scaled: floor(1000 sigmoid(n))
    u = torch.sigmoid(0.5 + 0.8 * torch.randn((20000, 1), generator=torch.Generator()
                                              .manual_seed(0)))
    assert torch.equal(t, (u * 1000).long())
    # uniform (the default) is flat: each tenth of the range holds about a tenth
    t, _ = TemporalRegLoss().sample_noise(x0, objective(), torch.Generator().manual_seed(1))
    counts = torch.bincount(t.flatten() // 100, minlength=10).float() / t.numel()
    assert (counts - 0.1).abs().max() < 0.01
    t, _ = TemporalRegLoss().sample_noise(x0, flow, torch.Generator().manual_seed(1))
    counts = torch.bincount((t.flatten() * 10).long(), minlength=10).float() / t.numel()
    assert (counts - 0.1).abs().max() < 0.01


@pytest.mark.parametrize('kind', KINDS)
def test_min_snr_weighting_of_the_plain_term_is_the_closed_form(kind):
    """Hang et al. 2023: min(SNR, gamma) / SNR for eps, min(SNR, gamma) for x0 and
    min(SNR, gamma) / (SNR + 1) for v."""
    loss = TemporalRegLoss(lambda_reg=0.0, simple_weight='min_snr', min_snr_gamma=5.0)
    x0, pred = clips(4)
    sched = scheduler(kind)
    t = torch.tensor([10, 150, 900])[:, None].expand(B, 2)  # SNR about 1e3, 3, 1e-4
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(4), dtype=x0.dtype)
    x_t = sched.add_noise(x0.flatten(0, 1), eps.flatten(0, 1), t.flatten()).view_as(x0)
    obj = build_objective(sched)
    y, a_t = obj.target(x0, eps, t), sched.alphas_cumprod.double()[t]
    snr = a_t / (1 - a_t)
    assert snr[0, 0] > 5 > snr[1, 0]
    clipped = torch.minimum(snr, torch.tensor(5.0, dtype=snr.dtype))
    w = dict(epsilon=clipped / snr, sample=clipped, v_prediction=clipped / (snr + 1))[kind]
    terms = loss.terms(pred, y, x0, x_t, t, obj)
    assert torch.allclose(terms['loss_simple'], (bc(w) * (pred - y)**2).mean())
    plain = TemporalRegLoss(lambda_reg=0.0).terms(pred, y, x0, x_t, t, obj)['loss_simple']
    assert not torch.allclose(terms['loss_simple'], plain)


def test_clips_of_three_frames_compare_consecutive_frames_or_all_pairs():
    x0, pred = clips(5, frames=3)
    obj = objective()
    for pairs, index in (('consecutive', [(0, 1), (1, 2)]),
                         ('all', [(0, 1), (0, 2), (1, 2)])):
        loss = TemporalRegLoss(clip_pairs=pairs, share_noise=True)
        t, eps, x_t, y, a_t = noised(loss, x0, obj, seed=5)
        reg = loss.terms(pred, y, x0, x_t, t, obj)['temporal_reg']
        expected = torch.stack([(pred[:, j] - pred[:, i]).pow(2).mean((1, 2, 3))
                                for i, j in index], 1).mean()
        assert torch.allclose(reg, expected), pairs


@pytest.mark.parametrize('kwargs, match', [
    (dict(simple_weight='snr'), "simple_weight must be one of \\('none', 'min_snr'\\)"),
    (dict(timestep_sampling='cosine'), 'timestep_sampling must be one of'),
    (dict(logit_std=0.0), 'logit_std must be a finite number > 0'),
    (dict(lambda_reg=float('nan')), 'lambda_reg must be a finite number >= 0'),
    (dict(min_snr_gamma=True), 'min_snr_gamma must be a finite number > 0, got True'),
    (dict(clip_pairs='first'), "clip_pairs must be one of \\('consecutive', 'all'\\)"),
])
def test_bad_sampling_and_weighting_options_name_the_key(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TemporalRegLoss(**kwargs)


# -- a new parameterisation is one class ----------------------------------------------------------
@pytest.fixture
def negative_eps():
    """A toy objective, y = -eps, registered for one test by defining it."""
    from vidreg_mm.models import objectives

    class NegativeEpsilon(objectives.DDPMObjective):
        prediction_type = 'toy_negative_epsilon'

        def target(self, x0, eps, t):
            return -eps

        def predicted_x0(self, pred, x_t, t):
            a = bc(self.alpha_bar(t, x_t.dtype))
            return (x_t + (1 - a).sqrt() * pred) / a.sqrt()

    yield NegativeEpsilon
    objectives._OBJECTIVES.pop(NegativeEpsilon.prediction_type)


def test_a_toy_parameterisation_trains_through_the_unchanged_loss_and_model(negative_eps):
    obj = objective('toy_negative_epsilon')
    assert type(obj) is negative_eps
    loss = TemporalRegLoss(space='x0')
    x0, _ = clips(6)
    t, eps, x_t, y, a_t = noised(loss, x0, obj, seed=6)
    assert torch.equal(y, -eps)
    assert torch.allclose(obj.predicted_x0(y, x_t, t), x0, atol=1e-5)
    terms = loss.terms(y, y, x0, x_t, t, obj)
    assert terms['loss_simple'] == 0 and terms['temporal_reg'] < 1e-9
    # the model builds it from its scheduler's prediction type, and refuses what it lacks
    from mmagic.registry import MODELS

    from .test_model import zero_net
    from .test_samples_not_noise import TINY_UNET
    toy = dict(type='DDPMScheduler', num_train_timesteps=1000,
               prediction_type='toy_negative_epsilon')
    model = MODELS.build(dict(type='TemporalDiffusionModel', unet=TINY_UNET,
                              diffusion_scheduler=toy))
    assert type(model.objective) is negative_eps
    seen = {}
    x0 = torch.zeros(4, 2, 3, 16, 16)
    terms = model.loss(zero_net(seen), x0, model.objective,
                       generator=torch.Generator().manual_seed(0))
    assert seen['t'].dtype == torch.long  # a DDPM objective's integer steps
    assert torch.isclose(terms['loss_simple'], torch.tensor(1.0), atol=0.1)  # E||-eps||^2
    with pytest.raises(ValueError, match="simple_weight='min_snr' is a DDPM weighting"):
        MODELS.build(dict(type='TemporalDiffusionModel', unet=TINY_UNET,
                          diffusion_scheduler=toy,
                          loss=dict(type='TemporalRegLoss', simple_weight='min_snr')))


def test_the_defaults_are_the_shipped_recipe():
    """The recipe's loss config states no option that differs from the class defaults."""
    import os.path as osp

    from mmengine.config import Config
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    cfg = Config.fromfile(osp.join(root, 'configs', 'synthetic_hands_temporal_cpu.py'))
    loss = TemporalRegLoss()
    assert (loss.lambda_reg, loss.share_noise, loss.share_timestep, loss.weight,
            loss.space) == (0.3, False, True, 'none', 'output')
    built = TemporalRegLoss(**{k: v for k, v in cfg.model.loss.items() if k != 'type'})
    assert vars(built) == vars(loss)
