"""benchmarks.combine: one report over seeds measured by separate invocations, refused when
the invocations measured different things."""
import json

import pytest

from benchmarks import combine

STEPS = (500, 1000, 1500)
METRICS = ('FID-train/fid', 'FID-val/fid', 'KID-train/kid', 'KID-val/kid')


def curve(values):
    return {str(k): v for k, v in zip(STEPS, values)}


def report(seeds, base, temp, **over):
    """A report of benchmarks.convergence's shape: FID curves per recipe and seed."""
    out = dict(
        command='x', iters=1500, feature_extractor='inception',
        configs=dict(baseline='configs/a_baseline.py', temporal='configs/a_temporal.py'),
        labels=['baseline', 'temporal'], seeds=seeds, cfg_options=['model.sampler=ddpm'],
        curves={r: {str(s): {m: curve(c) for m in METRICS}
                    for s, c in zip(seeds, cs)} for r, cs in (('baseline', base),
                                                               ('temporal', temp))})
    out.update(over)
    return out


def write(tmp_path, name, rep):
    path = tmp_path / name
    path.write_text(json.dumps(rep))
    return str(path)


def test_combined_gap_and_speedup_are_over_all_seeds(tmp_path):
    a = write(tmp_path, 'a.json', report([2, 3], [[300, 40, 30], [320, 44, 34]],
                                         [[300, 60, 33], [330, 50, 38]]))
    b = write(tmp_path, 'b.json', report([0], [[310, 42, 32]], [[290, 45, 31]]))
    out = combine.combine([a, b])
    assert out['seeds'] == [2, 3, 0]
    assert out['sampler'] == 'ddpm'
    gap = out['final_gap']['FID-train/fid']
    assert gap['baseline_minus_temporal'] == {'2': -3, '3': -4, '0': 1}
    assert gap['baseline_minus_temporal_mean'] == pytest.approx(-2.0)
    assert gap['baseline_spread'] == 4 and gap['temporal_spread'] == 7
    # seed 0's temporal run reaches its baseline's final 32 between 1000 (45) and 1500 (31)
    assert out['speedup_per_seed']['0'] == pytest.approx(1500 / (1000 + 500 * 13 / 14))
    assert out['speedup_per_seed']['2'] is None and out['speedup'] is None
    assert [s['seeds'] for s in out['sources']] == [[2, 3], [0]]


def test_repeated_seed_is_refused(tmp_path):
    a = write(tmp_path, 'a.json', report([2], [[300, 40, 30]], [[300, 60, 33]]))
    b = write(tmp_path, 'b.json', report([2], [[300, 40, 30]], [[300, 60, 33]]))
    with pytest.raises(ValueError, match=r'seed 2 is in both .*a\.json and .*b\.json'):
        combine.combine([a, b])


@pytest.mark.parametrize('over, key', [
    (dict(cfg_options=['model.sampler=ddim']), 'sampler'),
    (dict(iters=4000), 'iters'),
    (dict(labels=['baseline', 'temporal lambda=1']), 'labels'),
])
def test_reports_of_other_settings_are_refused(tmp_path, over, key):
    a = write(tmp_path, 'a.json', report([2], [[300, 40, 30]], [[300, 60, 33]]))
    b = write(tmp_path, 'b.json', report([0], [[300, 40, 30]], [[300, 60, 33]], **over))
    with pytest.raises(ValueError, match=rf'b\.json measures something else \({key}:'):
        combine.combine([a, b])


def test_sampler_is_read_from_the_config_without_an_option(tmp_path):
    config = tmp_path / 'a_temporal.py'
    config.write_text("model = dict(type='X', sampler='ddpm')\n")
    rep = report([0], [[300, 40, 30]], [[300, 60, 33]], cfg_options=[],
                 configs=dict(baseline=str(tmp_path / 'a_baseline.py'), temporal=str(config)))
    assert combine.sampler_of('r.json', rep) == 'ddpm'
    rep['configs']['temporal'] = str(tmp_path / 'gone.py')
    with pytest.raises(ValueError, match=r'r\.json: no model.sampler in its cfg_options'):
        combine.sampler_of('r.json', rep)
