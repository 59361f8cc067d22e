"""tools/analysis/plot_convergence.py on runs with known curves."""
import json
import os

import cv2
import pytest

from .conftest import load_tool


def load_plot_tool():
    return load_tool('tools/analysis/plot_convergence.py')


def write_run(work_dir, logs):
    """logs: one list of (step, fid) per log file (timestamp folder), oldest first."""
    for k, records in enumerate(logs):
        folder = work_dir / f'2026112{k}_000000' / 'vis_data'
        folder.mkdir(parents=True)
        with open(folder / 'scalars.json', 'w') as f:
            f.write(json.dumps({'loss': 0.5, 'step': 1, 'iter': 1}) + '\n')
            for step, fid in records:
                f.write(json.dumps({'FID-val/fid': fid, 'step': step}) + '\n')


def test_iterations_to_the_baseline_final_fid_and_speedup(tmp_path):
    base, temp = tmp_path / 'baseline', tmp_path / 'temporal'
    write_run(base, [[(100, 9.0), (200, 6.0), (300, 5.0)], [(300, 4.5), (400, 4.0)]])
    write_run(temp, [[(100, 7.0), (200, 3.9), (300, 3.0), (400, 2.5)]])
    out = tmp_path / 'out'
    summary = load_plot_tool().main([str(base), str(temp), '--out-dir', str(out)])
    assert summary['target'] == 4.0  # the baseline's final FID; resumed log replaced step 300
    # reached for good, the crossing interpolated: 7.0 at 100 -> 3.9 at 200 meets 4.0 at
    # 100 + 100 * 3 / 3.1
    assert summary['iterations_to_target'] == {'baseline': 400,
                                               'temporal': pytest.approx(100 + 300 / 3.1)}
    assert summary['speedup'] == {'baseline': 1.0,
                                  'temporal': pytest.approx(400 / (100 + 300 / 3.1))}
    assert summary['iterations_first_crossing'] == {'baseline': 400, 'temporal': 200}
    assert summary['speedup_first_crossing'] == {'baseline': 1.0, 'temporal': 2.0}
    saved = json.load(open(out / 'convergence.json'))
    assert saved['curves']['baseline'] == [[100, 9.0], [200, 6.0], [300, 4.5], [400, 4.0]]
    assert cv2.imread(str(out / 'convergence.png')).shape == (400, 600, 3)


def test_explicit_target_that_a_run_never_reaches(tmp_path):
    base, temp = tmp_path / 'b', tmp_path / 't'
    write_run(base, [[(100, 5.0), (200, 3.0)]])
    write_run(temp, [[(100, 4.0), (200, 3.5)]])
    summary = load_plot_tool().main([str(base), str(temp), '--target', '3.2', '--labels', 'B', 'T',
                                '--out-dir', str(tmp_path)])
    # B: 5.0 at 100 -> 3.0 at 200 meets 3.2 at 190
    assert summary['iterations_to_target'] == {'B': pytest.approx(190), 'T': None}
    assert summary['speedup']['T'] is None


def test_missing_logs_and_metric_are_errors(tmp_path):
    tool = load_plot_tool()
    empty = tmp_path / 'empty'
    os.makedirs(empty)
    with pytest.raises(FileNotFoundError, match='no \\*/vis_data/scalars.json under'):
        tool.main([str(empty)])
    run = tmp_path / 'run'
    write_run(run, [[(100, 5.0)]])
    with pytest.raises(ValueError, match="no record of 'FID-train/fid'"):
        tool.main([str(run), '--metric', 'FID-train/fid'])
