# The CPU recipe with flow matching (rectified flow) instead of DDPM: x_t = (1 - t) x0 + t eps,
# t in [0, 1], the same DenoisingUnet predicts the velocity eps - x0 (called with timestep
# t * 1000), the same temporal regulariser and loss defaults, and samples by the Euler ODE
# solver (50 steps; 'heun' for Heun). Config changes only; see docs/method.md, and
# docs/results.md for its measurements.
_base_ = ['./synthetic_hands_temporal_cpu.py']

model = dict(
    diffusion_scheduler=dict(_delete_=True, type='FlowMatchingScheduler',
                             num_train_timesteps=1000),
    # t drawn uniformly in [0, 1); 'logit_normal' (logit_mean, logit_std) is the other option
    loss=dict(timestep_sampling='uniform'),
    sampler='euler',
    num_sample_steps=50)
