# The CPU recipe with flow matching (rectified flow) instead of DDPM: x_t = (1 - t) x0 + t eps,
# t in [0, 1], the same DenoisingUnet predicts the velocity eps - x0 (called with timestep
# t * 1000), the same temporal regulariser (lambda 0.3, w(t) = none, output space: with
# shared noise the true velocity difference of two frames is -(x0^a - x0^b)), and samples by
# the Euler ODE solver (50 steps; 'heun' for Heun). Config changes only; see docs/method.md.
_base_ = ['./synthetic_hands_temporal_cpu.py']

model = dict(
    diffusion_scheduler=dict(_delete_=True, type='FlowMatchingScheduler',
                             num_train_timesteps=1000),
    # t drawn uniformly in [0, 1); 'logit_normal' (logit_mean, logit_std) is the other option
    # shared noise: the default when this was measured (docs/results.md)
    loss=dict(timestep_sampling='uniform', share_noise=True),
    sampler='euler',
    num_sample_steps=50)
