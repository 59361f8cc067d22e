"""The convergence benchmark's figures: metric curves of both recipes and their samples beside
real frames."""
import statistics

from .runs import RECIPES, SPEEDUP_METRICS


def plot(report: dict, path: str):
    """Curves of both recipes (mean over seeds, band = min..max) and the speed-ups at targets
    along the baseline's curves."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    panels = ['FID-train/fid', 'FID-val/fid', 'Roughness/roughness', 'KID-train/kid',
              'KID-val/kid']
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), dpi=80)
    seeds = [str(s) for s in report['seeds']]
    for ax, metric in zip(axes.flat, panels):
        labels = dict(zip(RECIPES, report.get('labels', RECIPES)))
        for recipe, color in zip(RECIPES, ('tab:gray', 'tab:red')):
            per_seed = [report['curves'][recipe][s].get(metric) for s in seeds]
            if any(c is None for c in per_seed):
                continue
            steps = sorted(int(k) for k in per_seed[0])
            vals = [[c[str(k)] for c in per_seed] for k in steps]
            ax.fill_between(steps, [min(v) for v in vals], [max(v) for v in vals],
                            color=color, alpha=0.2, linewidth=0)
            ax.plot(steps, [statistics.fmean(v) for v in vals], marker='o', color=color,
                    label=f'{labels[recipe]} (mean, min-max over {len(seeds)} seeds)')
        real = report['curves']['baseline'][seeds[0]].get('Roughness/real_roughness')
        if metric == 'Roughness/roughness' and real:
            ax.axhline(statistics.fmean(real.values()), color='tab:green', linestyle='--',
                       label='real frames')
        ax.set_title(f"{metric.split('/')[0]} ({report['feature_extractor']})"
                     if 'Roughness' not in metric else 'roughness of samples (0..255)',
                     fontsize=9)
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax = axes.flat[-1]
    for metric, suffix in SPEEDUP_METRICS.items():
        along = report.get(f'speedup{suffix}_at_targets', {})
        steps = [int(k) for k in along if along[k]['mean'] is not None]
        ax.plot(steps, [along[str(k)]['mean'] for k in steps], marker='o',
                label=metric.split('/')[0])
    ax.axhline(1.0, color='black', linewidth=0.8)
    ax.set_title("speed-up to the baseline's value at iteration x\n(mean over seeds, "
                 'reached for good, interpolated)', fontsize=9)
    ax.set_xlabel('iteration of the baseline')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fmt = (lambda v: f'{v:.2f}x' if v else 'not reached in every seed')  # noqa: E731
    names = report.get('labels', RECIPES)
    fig.suptitle(f"iterations to the {names[0]} run's final FID-train, {names[0]} / {names[1]}: "
                 f"{fmt(report.get('speedup'))} (mean over seeds), min "
                 f"{fmt(report.get('speedup_min'))}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def val_frames(config: str, num: int, data_root=None):
    """``num`` val frames of the config (its val dataset, evenly spaced), N x C x H x W as the
    pipeline gives them (RGB uint8)."""
    import numpy as np
    import torch
    from mmagic.registry import DATASETS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import vidreg_mm  # noqa: F401  registers the modules
    init_default_scope('mmagic')
    cfg = Config.fromfile(config).val_dataloader.dataset
    if data_root:
        cfg.data_root, cfg.generate_if_missing = data_root, None
    dataset = DATASETS.build(cfg)
    picks = np.linspace(0, len(dataset) - 1, min(num, len(dataset))).round().astype(int)
    return torch.stack([dataset[int(i)]['inputs'][0] for i in picks])


def real_frame_grid(config: str, data_root=None, num: int = 16):
    """A grid of ``num`` val frames (:func:`val_frames`), laid out as SampleGridHook lays out
    samples: RGB uint8."""
    from torchvision.utils import make_grid
    imgs = val_frames(config, num, data_root)
    nrow = max(1, int(round(num**0.5)))
    return make_grid(imgs, nrow=nrow, padding=2, pad_value=255).permute(1, 2, 0).numpy()


def sample_figure(report: dict, grids: dict, path: str, scale: int = 3) -> str:
    """The last sample grids of both recipes (``grids``: recipe to PNG; SampleGridHook, EMA
    weights) next to a grid of real val frames, enlarged ``scale`` times."""
    labelled = [(label, grids[recipe])
                for recipe, label in zip(RECIPES, report.get('labels', RECIPES))]
    return grids_figure(labelled, report['configs']['temporal'], path,
                        report.get('data_root_option'), scale)


def grids_figure(grids, config: str, path: str, data_root=None, scale: int = 3) -> str:
    """Sample grids (``(label, PNG path)`` pairs) side by side, then a grid of the config's
    real val frames, enlarged ``scale`` times, each under its label."""
    import cv2
    import numpy as np
    tiles = []
    for label, png in grids:
        grid = cv2.imread(png)
        if grid is None:
            raise FileNotFoundError(f'no sample grid {png}')
        tiles.append((label, cv2.cvtColor(grid, cv2.COLOR_BGR2RGB)))
    tiles.append(('real val frames', real_frame_grid(config, data_root)))
    h = max(g.shape[0] for _, g in tiles)
    row = []
    for label, grid in tiles:
        grid = np.pad(grid, ((0, h - grid.shape[0]), (0, 0), (0, 0)), constant_values=255)
        big = cv2.resize(grid, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        head = np.full((28, big.shape[1], 3), 255, np.uint8)
        cv2.putText(head, label, (4, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1,
                    cv2.LINE_AA)
        row += [np.concatenate([head, big]), np.full((h * scale + 28, 12, 3), 255, np.uint8)]
    cv2.imwrite(path, cv2.cvtColor(np.concatenate(row[:-1], axis=1), cv2.COLOR_RGB2BGR))
    return path
