"""The fine-tuning study (benchmarks.finetune): a pretraining, three comparisons that resume
from their records, the runs of a seed started from one copy of the pretrained weights, and
the head start of fine-tuning over training from scratch."""
import json
import os
import os.path as osp
import shutil

import pytest

from .test_records import fake_run
from benchmarks import finetune, records

#: the runs' curves are scale * (10 - step): fine-tuned runs start lower than scratch
SCALE = dict(scratch=1.0, full=0.5, lora=0.8, pretrain=2.0)


@pytest.fixture
def study(handco_root, tmp_path, monkeypatch):
    trained, exported = [], []

    def train(config, work_dir, options, iters):
        name = ('pretrain' if osp.basename(work_dir) == 'pretrain'
                else osp.basename(osp.dirname(work_dir)))
        trained.append(name if name == 'pretrain' else f'{name}/{osp.basename(work_dir)}')
        fake_run(work_dir, iters, SCALE[name] * (1.1 if 'temporal' in work_dir else 1.0))
        return 10.0

    def export(config, checkpoint, folder):
        exported.append(checkpoint)
        os.makedirs(osp.join(folder, 'unet'), exist_ok=True)
        with open(osp.join(folder, finetune.WEIGHTS), 'wb') as f:
            f.write(f'weights {len(exported)}'.encode())
    monkeypatch.setattr(records, 'train', train)
    monkeypatch.setattr(finetune, 'train', train)
    monkeypatch.setattr(finetune, 'export_pipeline', export)
    pans = tmp_path / 'pans'
    pans.mkdir()
    argv = ['--seeds', '0', '--iters', '3', '--eval-interval', '1', '--pretrain-iters', '3',
            '--pretrain-data', str(pans), '--data-root', handco_root,
            '--work-dir', str(tmp_path / 'work'), '--results', str(tmp_path / 'results')]
    return argv, trained, exported, tmp_path


def test_the_study_pretrains_once_compares_three_ways_and_reports_the_head_start(study):
    argv, trained, exported, tmp = study
    summary = finetune.main(argv)
    assert trained == ['pretrain', 'scratch/baseline_seed0', 'scratch/temporal_seed0',
                       'full/baseline_seed0', 'full/temporal_seed0', 'lora/baseline_seed0',
                       'lora/temporal_seed0']
    assert exported == [str(tmp / 'work' / 'pretrain' / 'iter_3.pth')]
    pre = summary['pretraining']
    assert pre['record'] and osp.isfile(pre['record'])
    with open(pre['record']) as f:
        assert json.load(f)['weights_sha256'] == pre['weights_sha256']
    # every fine-tuning record keeps the weights it started from; scratch reads none
    for name, want in (('full', pre['weights_sha256']), ('lora', pre['weights_sha256']),
                       ('scratch', None)):
        with open(tmp / 'results' / f'finetune_{name}_runs' / 'temporal_seed0.json') as f:
            rec = json.load(f)
        assert rec['inputs_sha256'].get('pretrained') == want
        assert (f'model.pretrained.path={tmp}/work/pretrained' in rec['options']) == bool(want)
    # FID-train of scratch: 9, 8, 7 (baseline); full 4.5, 4, 3.5 is below 7 from step 1:
    # 3 iterations against 1
    head = summary['head_start']
    assert head['full']['baseline']['FID-train/fid']['mean'] == pytest.approx(3.0)
    # lora 7.2, 6.4, 5.6 crosses 7 between steps 1 and 2: at 1 + (7.2 - 7) / 0.8 = 1.25
    assert head['lora']['baseline']['FID-train/fid']['mean'] == pytest.approx(3 / 1.25)
    # along scratch's curve: full (4.5, 4, 3.5) is below its 9, 8 and 7 from step 1
    along = head['full']['baseline']['FID-train/fid']['at_targets']
    assert {k: v['mean'] for k, v in along.items()} == pytest.approx({'1': 1.0, '2': 2.0,
                                                                      '3': 3.0})
    # lora (7.2, 6.4, 5.6) is below scratch's 9 and 8 from step 1, at its 7 from 1.25
    along = head['lora']['baseline']['FID-train/fid']['at_targets']
    assert {k: v['mean'] for k, v in along.items()} == pytest.approx({'1': 1.0, '2': 2.0,
                                                                      '3': 2.4})
    final = summary['comparisons']['scratch']['final']['FID-train/fid']
    assert final['baseline_mean'] == pytest.approx(7.0)
    assert final['temporal_mean'] == pytest.approx(7.7)
    assert summary['comparisons']['full']['pretrained_sha256_per_seed'] == {
        '0': dict(pretrained=pre['weights_sha256'])}
    assert osp.isfile(tmp / 'results' / 'finetune.png')
    assert osp.isfile(tmp / 'results' / 'finetune_lora_samples.png')


def test_the_head_start_is_none_where_the_fine_tuned_run_never_gets_there():
    # scratch falls past the fine-tuned run: 9, 5, 1 against 6, 4, 3
    def report(values):
        curve = {str(i + 1): v for i, v in enumerate(values)}
        return dict(curves={r: {'0': {m: curve for m in finetune.METRICS}}
                            for r in finetune.RECIPES})
    head = finetune.head_start(report([9, 5, 1]), report([6, 4, 3]), [0])
    fid = head['baseline']['FID-train/fid']
    assert fid['per_seed'] == {'0': None} and fid['mean'] is None
    # scratch's 9 at step 1: the fine-tuned run is there at 1; its 5 at step 2: the
    # fine-tuned run crosses it at 1 + (6 - 5) / (6 - 4) = 1.5; its 1: never
    along = {k: v['mean'] for k, v in fid['at_targets'].items()}
    assert along['1'] == pytest.approx(1.0)
    assert along['2'] == pytest.approx(2 / 1.5)
    assert along['3'] is None


def test_a_later_session_pretrains_again_and_keeps_each_seed_on_one_copy(study):
    argv, trained, exported, tmp = study
    first = finetune.main(argv + ['--only', 'full'])
    assert trained == ['pretrain', 'full/baseline_seed0', 'full/temporal_seed0']
    assert 'scratch' not in first['comparisons']
    shutil.rmtree(tmp / 'work')  # the session ends: the pretrained folder goes with it
    # another copy of the pretraining: seed 0's records keep theirs, and seed 2 trains
    # from the new one
    second = finetune.main(argv[:1] + ['0', '2'] + argv[2:] + ['--only', 'full'])
    assert trained[3:] == ['pretrain', 'full/baseline_seed2', 'full/temporal_seed2']
    copies = second['comparisons']['full']['pretrained_sha256_per_seed']
    assert copies['0'] == first['comparisons']['full']['pretrained_sha256_per_seed']['0']
    assert copies['2']['pretrained'] == second['pretraining']['weights_sha256'] != \
        copies['0']['pretrained']
    # a seed whose runs would start from two copies is refused before anything trains
    shutil.rmtree(tmp / 'work')
    os.remove(tmp / 'results' / 'finetune_full_runs' / 'temporal_seed0.json')
    with pytest.raises(ValueError, match=r'different copies of pretrained .*baseline_seed0'):
        finetune.main(argv + ['--only', 'full'])
    assert trained[6:] == ['pretrain']
    # the summary of a comparison that needs no pretraining keeps the one recorded
    summary = finetune.main(argv + ['--only', 'scratch'])
    assert summary['pretraining']['weights_sha256'] == second['pretraining']['weights_sha256']
    assert set(summary['comparisons']) == {'scratch', 'full'}


def test_seed_inputs_are_named_files():
    from benchmarks import convergence
    with pytest.raises(ValueError, match="'weights': expected NAME=PATH"):
        convergence.seed_inputs(['weights'])
    with pytest.raises(ValueError, match='the name pose_regressor is reserved'):
        convergence.seed_inputs([f'pose_regressor={__file__}'])
    with pytest.raises(ValueError, match='no file /nonexistent'):
        convergence.seed_inputs(['w=/nonexistent'])
    assert convergence.seed_inputs([f'w={__file__}']) == dict(w=__file__)
