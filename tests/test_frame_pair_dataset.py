"""The frame-pair dataset: pair invariants, sampling distribution, sources, splits, bad input."""
import json
import os
import os.path as osp
import shutil
from collections import Counter

import cv2
import numpy as np
import pytest

from vidreg_mm.datasets import VideoFramePairDataset, check_offset_range

from .conftest import TINY, clip_frames, sample_indices, write_video

LOAD_AND_PACK = [dict(type='LoadClipFrames'), dict(type='PackFrames')]


def build(root, pipeline=(), **kwargs):
    return VideoFramePairDataset(root, pipeline=list(pipeline), **kwargs)


# -- pairs -------------------------------------------------------------------------------------
def test_handco_pairs_are_two_frames_of_one_clip_at_an_allowed_offset(handco_root):
    ds = build(handco_root, LOAD_AND_PACK, offset_range=(-2, 3))
    assert ds.num_clips == 3 * 2  # 3 train sequences x 2 cameras
    np.random.seed(0)
    for idx in sample_indices(ds, 40):
        out = ds[idx]
        meta = out['data_samples'].metainfo
        i, j = meta['frame_inds']
        assert j - i == meta['offset'] and meta['offset'] != 0 and -2 <= meta['offset'] <= 3
        assert 0 <= i < TINY['clip_length'] and 0 <= j < TINY['clip_length']
        assert out['inputs'].shape == (2, 3, 32, 32) and str(out['inputs'].dtype) == 'torch.uint8'
        # The packed frames are exactly the clip's files i and j (same sequence, same camera).
        seq, cam = int(meta['sequence']), meta['camera']
        assert meta['clip_id'] == f'{seq:04d}/cam{cam}' and meta['split'] == 'train'
        files = clip_frames(handco_root, seq, cam)
        for k, t in enumerate((i, j)):
            expected = cv2.cvtColor(files[t], cv2.COLOR_BGR2RGB)
            got = out['inputs'][k].permute(1, 2, 0).numpy()
            assert np.abs(got.astype(int) - expected).max() <= 1


def test_offsets_cover_the_range_uniformly_and_never_zero(frames_root):
    ds = build(frames_root, split='all', offset_range=(-3, 3))
    np.random.seed(1)
    counts = Counter(ds[i]['offset'] for i in sample_indices(ds, 3000))
    assert 0 not in counts and set(counts) == {-3, -2, -1, 1, 2, 3}
    # A 6-frame clip allows |d| = 1 for more anchors than |d| = 3; each anchor draws
    # uniformly among its own valid offsets, so the exact law is known: compare to it.
    expected = Counter()
    for i in range(6):
        valid = [d for d in range(-3, 4) if d != 0 and 0 <= i + d < 6]
        for d in valid:
            expected[d] += 1 / (6 * len(valid))
    total = sum(counts.values())
    for d, p in expected.items():
        assert abs(counts[d] / total - p) < 0.03, (d, counts[d] / total, p)


def test_triangular_distribution_prefers_near_frames(frames_root):
    ds = build(frames_root, split='all', offset_range=(1, 4), offset_distribution='triangular')
    d, p = ds.clip_sampler.offset_candidates(0, 10)
    assert d.tolist() == [1, 2, 3, 4] and np.allclose(p, np.array([4, 3, 2, 1]) / 10)
    d, p = ds.clip_sampler.offset_candidates(8, 10)  # only d = 1 stays inside a 10-frame clip
    assert d.tolist() == [1] and p.tolist() == [1.0]


def test_anchors_without_any_partner_are_not_indexed(frames_root):
    ds = build(frames_root, split='all', offset_range=(2, 3))
    # frames 4 and 5 of each 6-frame clip have no partner at +2 or +3
    assert len(ds) == 4 * 4
    np.random.seed(0)
    for idx in range(len(ds)):
        i, j = ds[idx]['frame_inds']
        assert j - i in (2, 3) and j < 6


def test_baseline_mode_sees_the_same_frame_distribution_as_pair_mode(frames_root):
    kw = dict(split='all', offset_range=(1, 3))
    pair, single = build(frames_root, pair_mode=True, **kw), build(frames_root, pair_mode=False,
                                                                  **kw)
    assert len(pair) == len(single)
    np.random.seed(2)
    pair_frames = Counter(t for i in sample_indices(pair, 4000) for t in pair[i]['frame_inds'])
    np.random.seed(3)
    single_items = [single[i] for i in sample_indices(single, 8000, seed=1)]
    assert all(len(s['frame_inds']) == 1 and s['offset'] == 0 for s in single_items)
    single_frames = Counter(s['frame_inds'][0] for s in single_items)
    pf = np.array([pair_frames[t] for t in range(6)]) / sum(pair_frames.values())
    sf = np.array([single_frames[t] for t in range(6)]) / sum(single_frames.values())
    assert np.abs(pf - sf).max() < 0.02, (pf, sf)
    packed = build(frames_root, LOAD_AND_PACK, pair_mode=False, **kw)[0]
    assert packed['inputs'].shape == (1, 3, 32, 32)


def test_sampling_is_deterministic_for_a_seed(handco_root):
    ds = build(handco_root)
    draw = lambda: [tuple(ds[i]['frame_inds']) for i in range(len(ds))]  # noqa: E731
    np.random.seed(7)
    first = draw()
    np.random.seed(7)
    assert draw() == first
    np.random.seed(8)
    assert draw() != first


def test_test_mode_draws_depend_on_the_index_only(handco_root):
    ds = build(handco_root, split='val', test_mode=True)
    np.random.seed(0)
    first = [ds[i]['frame_inds'] for i in range(len(ds))]
    np.random.seed(123)
    assert [ds[i]['frame_inds'] for i in range(len(ds))] == first


def test_ranks_get_disjoint_samples_from_mmengine_sampler(handco_root, monkeypatch):
    from mmengine.dataset import sampler as sampler_mod
    ds = build(handco_root)
    seen = []
    for rank in range(2):
        monkeypatch.setattr(sampler_mod, 'get_dist_info', lambda r=rank: (r, 2))
        seen.append(list(sampler_mod.DefaultSampler(ds, shuffle=True, seed=0)))
    assert set(seen[0]).isdisjoint(seen[1])
    assert sorted(seen[0] + seen[1]) == list(range(len(ds)))


# -- sources and splits ------------------------------------------------------------------------
def test_handco_split_by_is_train_and_camera_selection(handco_root):
    meta = json.load(open(osp.join(handco_root, 'meta.json')))
    val_seqs = {f'{s:04d}' for s, v in enumerate(meta['is_train']) if not v[0]}
    train, val = build(handco_root, split='train'), build(handco_root, split='val')
    clips = lambda ds: [ds.get_data_info(i) for i in range(len(ds))]  # noqa: E731
    assert {c['sequence'] for c in clips(val)} == val_seqs
    assert not val_seqs & {c['sequence'] for c in clips(train)}
    assert build(handco_root, split='all').num_clips == 4 * 2
    cam1 = build(handco_root, cameras=[1])
    assert {c['camera'] for c in clips(cam1)} == {1} and cam1.num_clips == 3


@pytest.mark.parametrize('decoder', ['pyav', 'decord'])
def test_video_files_decode_pairs(videos_root, handco_root, decoder):
    ds = build(videos_root, LOAD_AND_PACK, split='train', video_decoder=decoder)
    assert ds.resolved_source == 'videos' and ds.num_clips == 3
    assert build(videos_root, split='val').num_clips == 1
    np.random.seed(0)
    out = ds[5]
    meta = out['data_samples'].metainfo
    i, j = meta['frame_inds']
    files = clip_frames(handco_root, int(meta['sequence'][4:]), 0)
    for k, t in enumerate((i, j)):
        expected = cv2.cvtColor(files[t], cv2.COLOR_BGR2RGB).astype(float)
        got = out['inputs'][k].permute(1, 2, 0).numpy().astype(float)
        assert np.abs(got - expected).mean() < 12  # lossy mp4v round trip
    # the reader stays open for the next pair of the same video, and the cache is bounded
    loader = ds.pipeline.transforms[1]  # after SampleClipFrames
    assert list(loader._readers) == [(ds.get_data_info(5)['video'], decoder)]
    loader.max_open_videos = 2
    for idx in range(len(ds)):
        ds[idx]
    assert len(loader._readers) == 2


def test_frame_folders_sorted_naturally_and_split_file(frames_root, tmp_path):
    ds = build(frames_root, split='all')
    assert ds.resolved_source == 'frames'
    names = [osp.basename(p) for p in ds.get_data_info(0)['frames']]
    assert names == [f'frame{2 * t}.png' for t in range(6)]
    split_file = tmp_path / 'split.json'
    split_file.write_text(json.dumps({'train': ['clip0', 'clip1'], 'val': ['clip3']}))
    train = build(frames_root, split='train', split_file=str(split_file))
    val = build(frames_root, split='val', split_file=str(split_file))
    assert {train.get_data_info(i)['sequence'] for i in range(len(train))} == {'clip0', 'clip1'}
    assert {val.get_data_info(i)['sequence'] for i in range(len(val))} == {'clip3'}


def test_split_undefined_without_subfolders_or_split_file(frames_root):
    with pytest.raises(ValueError, match='no train/ or val/ subfolder and no split_file'):
        build(frames_root, split='train')


# -- bad input ---------------------------------------------------------------------------------
def test_missing_data_root_names_the_path(tmp_path):
    missing = str(tmp_path / 'nope')
    with pytest.raises(FileNotFoundError, match=f'data_root {missing!r} does not exist'):
        build(missing)


@pytest.mark.parametrize('offset_range', [(0, 0), (3, 1), (1.5, 2), 'ab', (1, 2, 3)])
def test_bad_offset_range_is_an_error_naming_the_key(offset_range):
    with pytest.raises(ValueError, match='offset_range'):
        check_offset_range(offset_range)


def test_a_missing_handco_frame_is_a_gap_that_no_pair_straddles(handco_copy, mmlog):
    os.remove(osp.join(handco_copy, 'rgb', '0001', 'cam1', '00000003.jpg'))
    ds = build(handco_copy, LOAD_AND_PACK, split='all', offset_range=(-4, 4))
    clips = {ds.get_data_info(i)['clip_id']: ds.get_data_info(i)['frame_ids']
             for i in range(len(ds))}
    assert clips['0001/cam1@0'] == [0, 1, 2] and clips['0001/cam1@4'] == [4, 5]
    assert '0001/cam1' not in clips and clips['0001/cam0'] == list(range(6))
    assert ds.num_gaps == 1 and ds.scan_report.missing == ['0001/cam1: frame 3']
    assert any('1 gap(s) in frame ids' in m and '0001/cam1: frame 2 -> 4' in m for m in mmlog)
    np.random.seed(0)
    for idx in range(len(ds)):
        meta = ds[idx]['data_samples'].metainfo
        if meta['clip_id'].startswith('0001/cam1'):
            assert 3 not in meta['frame_ids']
            assert abs(meta['frame_ids'][1] - meta['frame_ids'][0]) == abs(meta['offset'])


def test_missing_handco_sequences_and_empty_cameras_are_named_unless_skipped(handco_copy,
                                                                          mmlog):
    """A sequence that meta.json lists but that has no folder, and a camera folder without
    frames, are an error naming them; on_missing='skip' trains on what is there, counted."""
    meta = json.load(open(osp.join(handco_copy, 'meta.json')))
    train = [s for s, flags in enumerate(meta['is_train']) if flags[0]]
    val = [s for s, flags in enumerate(meta['is_train']) if not flags[0]]
    gone, emptied = f'{train[1]:04d}', f'{train[0]:04d}'
    whole = build(handco_copy, split='train').num_clips
    shutil.rmtree(osp.join(handco_copy, 'rgb', gone))
    cam = osp.join(handco_copy, 'rgb', emptied, 'cam1')
    for name in os.listdir(cam):
        os.remove(osp.join(cam, name))
    with pytest.raises(ValueError, match=rf"2 sequence\(s\) or camera\(s\) of split 'train' "
                       rf"that .*meta.json lists hold no frames: \['sequence {gone}: no "
                       rf"folder', '{emptied}/cam1: no frames \(meta.json lists 6\)'\].*"
                       r"on_missing='skip'"):
        build(handco_copy, split='train')
    ds = build(handco_copy, split='train', on_missing='skip')
    assert ds.num_clips == whole - 3  # one sequence (2 cameras) and one camera of another
    assert any('2 sequence(s) or camera(s) that meta.json lists hold no frames' in m
               for m in mmlog)
    assert build(handco_copy, split='val').num_clips == 2 * len(val)  # the val split is whole
    with pytest.raises(ValueError, match=r"cam5: no folder"):
        build(handco_copy, split='val', cameras=[0, 5])
    with pytest.raises(ValueError, match="on_missing must be 'error' or 'skip'"):
        build(handco_copy, split='val', on_missing='ignore')


def test_a_frame_beyond_meta_json_is_an_error(handco_copy):
    cam_dir = osp.join(handco_copy, 'rgb', '0001', 'cam1')
    os.rename(osp.join(cam_dir, '00000005.jpg'), osp.join(cam_dir, '00000006.jpg'))
    with pytest.raises(ValueError, match=r'00000006.jpg is frame 6, but .*meta.json lists 6 '
                                         'frames for sequence 1'):
        build(handco_copy, split='all')


def make_clip(folder, names):
    os.makedirs(folder, exist_ok=True)
    for k, name in enumerate(names):
        path = osp.join(folder, name)
        if name.endswith('.txt'):
            open(path, 'w').write('notes')
        else:
            cv2.imwrite(path, np.full((8, 8, 3), 10 * k, np.uint8))


def test_frame_order_comes_from_ids_and_gaps_split_clips(tmp_path, mmlog):
    # listing order would put 10 before 9 (plain sort) or mix the prefixes; ids do not
    make_clip(tmp_path / 'a', ['f_10.png', 'f_9.png', 'x_8.png', 'f_12.png', 'f_11.png'])
    make_clip(tmp_path / 'b', ['0.png', '2.png', '4.png', '8.png', '10.png'])  # step 2
    ds = build(str(tmp_path), split='all', offset_range=(-1, 1))
    clips = {ds.get_data_info(i)['clip_id']: ds.get_data_info(i)['frame_ids']
             for i in range(len(ds))}
    assert clips == {'a/cam0': [8, 9, 10, 11, 12], 'b/cam0@0': [0, 2, 4], 'b/cam0@8': [8, 10]}
    names = [osp.basename(p) for p in ds.get_data_info(0)['frames']]
    assert names == ['x_8.png', 'f_9.png', 'f_10.png', 'f_11.png', 'f_12.png']
    assert ds.num_gaps == 1 and any("b: frame 4 -> 8 (step 2)" in m for m in mmlog)


def test_every_file_in_a_clip_folder_is_a_frame_or_reported(tmp_path, mmlog):
    make_clip(tmp_path / 'c', ['0.png', '1.tif', '2.webp', '3.bmp', 'notes.txt'])
    open(tmp_path / 'c' / '4.xyz', 'w').write('?')
    ds = build(str(tmp_path), LOAD_AND_PACK, split='all', offset_range=(1, 1))
    assert ds.get_data_info(0)['frame_ids'] == [0, 1, 2, 3]  # TIFF and WebP are frames too
    assert ds.num_not_frames == 2
    assert any('2 file(s) in clip folders are not images' in m and 'notes.txt' in m
               for m in mmlog)
    np.random.seed(0)
    for idx in range(len(ds)):
        out = ds[idx]
        i, j = out['data_samples'].metainfo['frame_ids']
        assert out['inputs'][:, 0, 0, 0].tolist() == [10 * i, 10 * j]  # the right files


@pytest.mark.parametrize('names, match', [
    (['3.png', '3.jpg', '4.png'], r'clip d is ambiguous: 3.jpg and 3.png .* are both frame 3'),
    (['0.png', 'cover.png'], r'clip d: .*cover.png has no frame number in its name'),
    # timestamps in seconds: 0.04 and 0.4 are not "both frame 4"
    (['0.0.png', '0.04.png', '0.08.png', '0.4.png'], r'clip d: .*0.0\.png is named by the '
     r'decimal number 0.0 \(a timestamp in seconds\?\), which is not a frame id.*Rename'),
    (['shot_1.50.jpg', 'shot_2.00.jpg'], r'decimal number 1.50'),
])
def test_frames_that_cannot_be_ordered_are_errors_naming_the_clip(tmp_path, names, match):
    make_clip(tmp_path / 'd', names)
    with pytest.raises(ValueError, match=match):
        build(str(tmp_path), split='all')


def test_numbers_inside_words_are_not_decimals(tmp_path):
    make_clip(tmp_path / 'd', ['cam1.0001.png', 'cam1.0002.png', 'cam1.0003.png'])
    assert build(str(tmp_path), split='all', offset_range=(-1, 1)).num_clips == 1


@pytest.mark.parametrize('value', ['false', 'true', 0.0, None])
def test_is_train_must_be_boolean(handco_copy, value):
    path = osp.join(handco_copy, 'meta.json')
    meta = json.load(open(path))
    meta['is_train'][2] = [value] * len(meta['is_train'][2])
    json.dump(meta, open(path, 'w'))
    with pytest.raises(ValueError, match=rf'meta.json: is_train\[2\] holds {value!r}'):
        build(handco_copy)


@pytest.mark.parametrize('table, match', [
    ({'train': ['clip0', 'clip1'], 'val': ['clip1']},
     r"lists clips in both train and val: \['clip1'\]"),
    ({'train': ['clip0', 'clip9']}, r"lists 1 train clip\(s\) that are not in .*\['clip9'\]"),
    ({'train': 'clip0'}, "'train' must be a list of clip names"),
    ({'train': ['clip0', 3]}, "'train' must be a list of clip names .* holds 3"),
])
def test_split_file_is_validated(frames_root, tmp_path, table, match):
    split_file = tmp_path / 'split.json'
    split_file.write_text(json.dumps(table))
    with pytest.raises(ValueError, match=match):
        build(frames_root, split='train', split_file=str(split_file))


def test_sequence_folder_missing_from_meta(handco_copy):
    os.makedirs(osp.join(handco_copy, 'rgb', '0009', 'cam0'))
    with pytest.raises(ValueError, match=r"sequence folders \['0009'\] that .*meta.json"):
        build(handco_copy, split='all')


def test_meta_json_missing_keys(handco_copy):
    path = osp.join(handco_copy, 'meta.json')
    meta = json.load(open(path))
    del meta['has_fit']
    json.dump(meta, open(path, 'w'))
    with pytest.raises(ValueError, match=r"meta.json lacks the keys \['has_fit'\]"):
        build(handco_copy)


def test_offsets_longer_than_every_clip_empty_the_dataset(frames_root):
    ds = build(frames_root, split='all', offset_range=(5, 8))  # 6-frame clips hold d = 5 only
    assert ds.num_short_clips == 0 and len(ds) == 4
    with pytest.raises(ValueError, match='empty after filtering: all 4 clips are shorter '
                                         'than 7 frames'):
        build(frames_root, split='all', offset_range=(6, 8))


def test_short_clips_are_left_out_with_one_counting_warning(tmp_path, mmlog):
    for name, n in (('long', 6), ('short1', 2), ('short2', 1)):
        os.makedirs(tmp_path / 'train' / name)
        for t in range(n):
            cv2.imwrite(str(tmp_path / 'train' / name / f'{t}.png'), np.zeros((8, 8, 3)))
    ds = build(str(tmp_path), offset_range=(3, 4))
    assert ds.num_short_clips == 2 and ds.num_clips == 1
    warnings = [m for m in mmlog if 'too short' in m]
    assert len(warnings) == 1 and '2 of 3 clips' in warnings[0]
    assert 'fewer than 4 frames' in warnings[0]


def _truncate(path, keep=0.5):
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:int(len(data) * keep)])


def test_broken_frame_is_skipped_counted_and_replaced(handco_copy, mmlog):
    broken = osp.join(handco_copy, 'rgb', '0000', 'cam0', '00000002.jpg')
    _truncate(broken)
    ds = build(handco_copy, LOAD_AND_PACK, split='all')
    np.random.seed(0)
    outs = [ds[i] for i in range(len(ds))]  # every anchor, so the broken file is hit
    loader = ds.pipeline.transforms[1]  # after SampleClipFrames
    assert loader.num_broken >= 1
    for out in outs:  # every returned sample is clean: the broken frame never appears
        meta = out['data_samples'].metainfo
        assert not (meta['clip_id'] == '0000/cam0' and 2 in meta['frame_inds'])
    warnings = [m for m in mmlog if 'skipping broken frame(s)' in m]
    assert len(warnings) == 1 and broken in warnings[0]  # warned once per file


def test_broken_frame_is_an_error_when_configured(handco_copy):
    _truncate(osp.join(handco_copy, 'rgb', '0000', 'cam0', '00000002.jpg'))
    ds = build(handco_copy, [dict(type='LoadClipFrames', on_broken='error'),
                             dict(type='PackFrames')], split='all')
    with pytest.raises(RuntimeError, match=r'cannot decode .*0000/cam0/00000002.jpg'):
        for i in range(len(ds)):
            ds[i]


def test_broken_video(videos_root, tmp_path):
    root = tmp_path / 'vids'
    (root / 'train').mkdir(parents=True)
    good = osp.join(videos_root, 'train', 'clip0.mp4')
    for name in ('a.mp4', 'b.mp4'):
        open(root / 'train' / name, 'wb').write(open(good, 'rb').read())
    open(root / 'train' / 'c.mp4', 'wb').write(b'not a video at all')
    ds = build(str(root), LOAD_AND_PACK)
    assert ds.num_unreadable == 1 and ds.num_clips == 2
    with pytest.raises(ValueError, match=r'cannot read video .*c.mp4'):
        build(str(root), LOAD_AND_PACK, on_broken='error')


def test_partly_damaged_video_skips_the_frames_that_fail(tmp_path, mmlog):
    """Bytes zeroed mid-file: the frames that no longer decode are skipped and counted."""
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(12)]
    (tmp_path / 'train').mkdir()
    path = str(tmp_path / 'train' / 'damaged.mp4')
    write_video(path, frames)
    data = bytearray(open(path, 'rb').read())
    data[int(len(data) * 0.3):int(len(data) * 0.6)] = bytes(int(len(data) * 0.3))
    open(path, 'wb').write(data)
    ds = build(str(tmp_path), LOAD_AND_PACK, offset_range=(1, 1))
    assert ds.num_clips == 1  # the container is intact: the video is indexed
    loader = ds.pipeline.transforms[1]  # after SampleClipFrames
    results = [loader(dict(ds.get_data_info(i), frame_inds=[ds.get_data_info(i)['anchor']]))
               for i in range(len(ds))]
    assert loader.num_broken > 0
    assert sum(r is None for r in results) == loader.num_broken
    assert all(r['img'][0].shape == (32, 32, 3) for r in results if r is not None)
    warnings = [m for m in mmlog if 'skipping broken frame(s)' in m]
    assert len(warnings) == 1 and path in warnings[0]  # once per file, however many frames


def test_config_retargets_to_another_source_by_data_root_alone(videos_root):
    from mmagic.registry import DATASETS
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(osp.dirname(__file__), '..', 'configs', '_base_', 'datasets',
                                   'synthetic_hands.py'))
    cfg.merge_from_dict({f'{split}_dataloader.dataset.data_root': videos_root
                         for split in ('train', 'val', 'test')})
    train = DATASETS.build(cfg.train_dataloader.dataset)
    val = DATASETS.build(cfg.val_dataloader.dataset)
    assert train.resolved_source == val.resolved_source == 'videos'
    assert (train.num_clips, val.num_clips) == (3, 1)
    assert sorted(os.listdir(videos_root)) == ['train', 'val']  # nothing generated there
    np.random.seed(0)
    assert train[0]['inputs'].shape == (2, 3, 32, 32)
    assert val[0]['inputs'].shape == (1, 3, 32, 32)


def test_runner_dataloader_is_deterministic_for_a_seed(handco_root):
    from mmengine.runner import Runner
    cfg = dict(batch_size=4, num_workers=1, sampler=dict(type='DefaultSampler', shuffle=True),
               dataset=dict(type='VideoFramePairDataset', data_root=handco_root,
                            pipeline=LOAD_AND_PACK))

    def first_batches(seed):
        loader = Runner.build_dataloader(cfg, seed=seed)
        batches = []
        for k, batch in enumerate(loader):
            batches.append([(s.clip_id, tuple(s.frame_inds)) for s in batch['data_samples']])
            if k == 2:
                return batches

    assert first_batches(0) == first_batches(0)
    assert first_batches(0) != first_batches(1)


@pytest.mark.parametrize('offset_range', [(-4, 4), (3, 4), (-7, -2), (0, 5), (-1, 0), (2, 2),
                                          (-2, 6), (4, 9)])
@pytest.mark.parametrize('num_frames', [2, 3, 4])
def test_the_shortest_clip_with_a_sample_is_what_the_pairing_rule_says(offset_range, num_frames):
    from vidreg_mm.datasets.clip_sampling import anchors_of, min_clip_length, num_offsets
    if num_offsets(offset_range) < num_frames - 1:
        return  # refused when the dataset is built (below)
    need = min_clip_length(offset_range, num_frames)
    assert len(anchors_of(need, offset_range, num_frames)) > 0
    assert len(anchors_of(need - 1, offset_range, num_frames)) == 0


# -- clips of T >= 3 frames --------------------------------------------------------------------
def test_clips_of_three_frames_are_distinct_ordered_frames_within_the_range(handco_root):
    ds = build(handco_root, LOAD_AND_PACK, num_frames=3, offset_range=(-2, 3))
    np.random.seed(0)
    spans = Counter()
    for idx in sample_indices(ds, 60):
        out = ds[idx]
        meta = out['data_samples'].metainfo
        inds = list(meta['frame_inds'])
        assert len(inds) == 3 and inds == sorted(set(inds))  # distinct, in time order
        assert all(0 <= t < TINY['clip_length'] for t in inds)
        # every frame is within the offsets of the sample's anchor: some frame a with
        # -2 <= t - a <= 3 for all t
        assert any(all(-2 <= t - a <= 3 for t in inds) for a in inds)
        assert meta['offset'] == inds[-1] - inds[0]
        spans[meta['offset']] += 1
        assert out['inputs'].shape == (3, 3, 32, 32)
        seq, cam = int(meta['sequence']), meta['camera']
        files = clip_frames(handco_root, seq, cam)
        for k, t in enumerate(inds):
            expected = cv2.cvtColor(files[t], cv2.COLOR_BGR2RGB)
            assert np.abs(out['inputs'][k].permute(1, 2, 0).numpy().astype(int)
                          - expected).max() <= 1
    assert len(spans) > 1  # not one fixed pattern


def test_a_clip_sample_and_its_single_frame_baseline_see_the_same_frames(frames_root):
    kw = dict(split='all', offset_range=(-2, 2), num_frames=3)
    clip, single = build(frames_root, **kw), build(frames_root, pair_mode=False, **kw)
    assert len(clip) == len(single)
    np.random.seed(4)
    clip_frames_seen = Counter(t for i in sample_indices(clip, 3000)
                               for t in clip[i]['frame_inds'])
    np.random.seed(5)
    items = [single[i] for i in sample_indices(single, 9000, seed=1)]
    assert all(len(s['frame_inds']) == 1 for s in items)
    single_seen = Counter(s['frame_inds'][0] for s in items)
    cf = np.array([clip_frames_seen[t] for t in range(6)]) / sum(clip_frames_seen.values())
    sf = np.array([single_seen[t] for t in range(6)]) / sum(single_seen.values())
    assert np.abs(cf - sf).max() < 0.02, (cf, sf)


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_frames=4, offset_range=(-1, 1)),
     r'num_frames=4 needs 3 distinct non-zero offsets beside the anchor, but '
     r'offset_range=\(-1, 1\) holds 2'),
    (dict(num_frames=1), 'num_frames must be an integer >= 2'),
    (dict(num_frames=2.5), 'num_frames must be an integer >= 2'),
])
def test_more_frames_than_the_offsets_allow_is_refused_naming_the_key(frames_root, kwargs,
                                                                      match):
    with pytest.raises(ValueError, match=match):
        build(frames_root, split='all', **kwargs)


def test_clips_longer_than_a_short_clip_leave_it_out_with_a_count(frames_root):
    # 6-frame clips: T = 6 needs a window of all six frames (offsets -5..5 allowed)
    ds = build(frames_root, split='all', num_frames=6, offset_range=(-5, 5))
    assert ds.num_short_clips == 0 and len(ds) == 4 * 6
    with pytest.raises(ValueError, match='all 4 clips are shorter than 7 frames'):
        build(frames_root, split='all', num_frames=7, offset_range=(-6, 6))


# -- layouts people have -----------------------------------------------------------------------
def test_class_folders_of_videos_in_any_container(handco_root, tmp_path):
    """UCF101's layout: train/<class>/<name>.avi; clip ids from the relative path."""
    frames = clip_frames(handco_root, 0, 0)
    write_video(str(tmp_path / 'a.mov'), frames)  # one .mov for both splits' classes
    for rel in ('train/Archery/v_Archery_g01.mov', 'train/Archery/v_Archery_g02.mov',
                'train/Bowling/deep/v_Bowling_g01.mov', 'val/Archery/v_Archery_g05.mov'):
        os.makedirs(osp.dirname(tmp_path / rel), exist_ok=True)
        shutil.copy(tmp_path / 'a.mov', tmp_path / rel)
    os.remove(tmp_path / 'a.mov')
    ds = build(str(tmp_path), LOAD_AND_PACK, split='train')
    assert ds.resolved_source == 'videos'
    assert sorted({ds.get_data_info(i)['clip_id'] for i in range(len(ds))}) == [
        'Archery/v_Archery_g01/cam0', 'Archery/v_Archery_g02/cam0',
        'Bowling/deep/v_Bowling_g01/cam0']
    assert ds[0]['inputs'].shape == (2, 3, 32, 32)  # decord reads the .mov container
    shutil.copy(tmp_path / 'train/Archery/v_Archery_g01.mov',
                tmp_path / 'train/Archery/v_Archery_g01.mp4')
    with pytest.raises(ValueError, match='clip Archery/v_Archery_g01 is ambiguous'):
        build(str(tmp_path), split='train')


def test_frames_one_folder_deeper_than_expected_is_a_clear_error(frames_root, tmp_path):
    shutil.copytree(frames_root, tmp_path / 'train' / 'ClassA')
    with pytest.raises(ValueError, match=r'clip folder .*ClassA holds no image files but the '
                       r"folders \['clip0', .*frames one level deeper than expected"):
        build(str(tmp_path), split='train')


def test_handco_without_meta_json_is_a_clear_error(handco_copy):
    os.remove(osp.join(handco_copy, 'meta.json'))
    with pytest.raises(ValueError, match='looks like HanCo .* but has no meta.json'):
        build(handco_copy)


def test_a_root_without_clips_says_what_it_holds_and_what_was_expected(tmp_path):
    os.makedirs(tmp_path / 'docs')
    for name in ('a.txt', 'b.txt', 'c.json'):
        open(tmp_path / 'docs' / name, 'w').write('x')
    with pytest.raises(ValueError, match=r"(?s)it holds 0 folder\(s\) \[\], 3 file\(s\) "
                       r"below it \{'.txt': 2, '.json': 1\}; expected one of: meta.json"):
        build(str(tmp_path / 'docs'), split='all', source='auto')
    os.makedirs(tmp_path / 'v' / 'train')
    open(tmp_path / 'v' / 'train' / 'notes.txt', 'w').write('x')
    with pytest.raises(ValueError, match=r"no video files .* under .*train \(split 'train'\): "
                       r"it holds 0 folder\(s\) \[\], 1 file\(s\) below it \{'.txt': 1\}"):
        build(str(tmp_path / 'v'), split='train', source='videos')


def test_every_pillow_mode_becomes_the_right_8bit_rgb_frame_or_is_refused(tmp_path):
    from PIL import Image
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 30
    folder = tmp_path / 'clip'
    os.makedirs(folder)
    Image.fromarray(rgb).save(folder / '0.png')
    Image.fromarray(rgb).quantize(4).save(folder / '1.png')  # palette
    Image.fromarray(np.dstack([rgb, np.full((8, 8), 7, np.uint8)])).save(folder / '2.png')  # RGBA
    cv2.imwrite(str(folder / '3.png'), np.full((8, 8), 40000, np.uint16))  # 16-bit grey
    Image.fromarray(np.full((8, 8), 90, np.uint8)).save(folder / '4.jpg')  # 8-bit grey
    ds = build(str(tmp_path), [dict(type='LoadClipFrames')], split='all', offset_range=(1, 1),
               test_mode=True)
    frames = {}
    for idx in range(len(ds)):
        out = ds[idx]
        for k, img in zip(out['frame_inds'], out['img']):
            frames[k] = img
    assert all(f.dtype == np.uint8 and f.shape == (8, 8, 3) for f in frames.values())
    assert np.array_equal(frames[0], rgb) and np.array_equal(frames[2], rgb)
    assert np.array_equal(frames[1], rgb)
    assert (frames[3] == round(40000 / 257)).all()  # scaled, not clipped to 255
    assert (np.abs(frames[4].astype(int) - 90) <= 1).all()
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(folder / '5.tif')  # mode F
    ds = build(str(tmp_path), [dict(type='LoadClipFrames')], split='all', offset_range=(1, 1),
               test_mode=True)
    with pytest.raises(ValueError, match=r"5.tif: Pillow mode 'F' \(floating-point pixels\) "
                       'has no agreed 8-bit reading'):
        for idx in range(len(ds)):
            ds[idx]


def test_a_huge_offset_range_is_bounded_by_the_clip_not_allocated(handco_root):
    ds = build(handco_root, offset_range=(-10**9, 10**9), offset_distribution='triangular')
    n = TINY['clip_length']
    for i in range(n):
        d, p = ds.clip_sampler.offset_candidates(i, n)  # only the offsets inside the clip
        assert len(d) == n - 1 and set(i + d) == set(range(n)) - {i}
        assert np.isclose(p.sum(), 1.0)
    np.random.seed(0)
    for k in range(len(ds)):
        i, j = ds.prepare_data(k)['frame_inds']
        assert 0 <= i < n and 0 <= j < n and i != j


def _scene(seed, n, size=64):
    """n frames of one shot: a textured image drifting by a pixel per frame."""
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), (size * 2, size),
                      interpolation=cv2.INTER_CUBIC)
    return [np.ascontiguousarray(base[:, t:t + size]) for t in range(n)]


def test_videos_are_split_at_shot_cuts_found_once_and_cached(tmp_path, monkeypatch, mmlog):
    from vidreg_mm.datasets import shots
    root = tmp_path / 'videos' / 'train'
    os.makedirs(root)
    write_video(str(root / 'edited.mp4'), _scene(0, 20) + _scene(1, 25))  # a cut at 20
    write_video(str(root / 'oneshot.mp4'), _scene(2, 30))
    cache = str(tmp_path / 'cache')
    opts = dict(shot_detection=dict(cache_dir=cache), offset_range=(-4, 4))
    ds = build(str(tmp_path / 'videos'), LOAD_AND_PACK, **opts)
    clips = {ds.get_data_info(i)['clip_id']: (ds.get_data_info(i)['start'],
                                              ds.get_data_info(i)['clip_length'])
             for i in range(len(ds))}
    assert clips == {'edited/cam0@0': (0, 20), 'edited/cam0@20': (20, 25),
                     'oneshot/cam0': (0, 30)}
    assert ds.num_cuts == 1 and any('1 shot cut(s)' in m and 'edited: frame 20' in m
                                    for m in mmlog)
    np.random.seed(0)
    second_shot = cv2.cvtColor(_scene(1, 25)[3], cv2.COLOR_BGR2RGB).astype(int)
    for idx in range(len(ds)):  # the frames read are those of the clip's own shot
        out = ds[idx]
        meta = out['data_samples'].metainfo
        if meta['clip_id'] == 'edited/cam0@20' and meta['frame_inds'][0] == 3:
            got = out['inputs'][0].permute(1, 2, 0).numpy().astype(int)
            assert np.abs(got - second_shot).mean() < 12  # mp4v is lossy
    assert len(os.listdir(cache)) == 2  # one result per video
    monkeypatch.setattr(shots, 'detect_cuts', lambda *a: pytest.fail('not cached'))
    assert len(build(str(tmp_path / 'videos'), **opts)) == len(ds)
    with pytest.raises(ValueError, match='shot_detection.threshold must be > 0'):
        build(str(tmp_path / 'videos'), shot_detection=dict(threshold=0))
    # the other detector finds the same cut; its result is cached apart from the first's
    monkeypatch.undo()
    content = build(str(tmp_path / 'videos'),
                    shot_detection=dict(detector='content', cache_dir=cache), offset_range=(-4, 4))
    assert content.num_cuts == 1 and len(os.listdir(cache)) == 4


@pytest.mark.parametrize('options, message', [
    (dict(detector='histogram'), "detector must be 'adaptive' or 'content', got 'histogram'"),
    (dict(detector='content', min_content_val=10), "applies to detector='adaptive' only"),
    (dict(min_content_val=-1), 'min_content_val must be >= 0'),
    (dict(window=3), r"unknown keys \['window'\]"),
    ('on', "shot_detection must be None or a dict, got 'on'"),
])
def test_bad_shot_detection_options_are_named(options, message):
    from vidreg_mm.datasets.shots import check_shot_detection
    with pytest.raises(ValueError, match=message):
        check_shot_detection(options)


def test_each_detector_has_its_own_default_threshold():
    from vidreg_mm.datasets.shots import check_shot_detection
    assert check_shot_detection({})['detector'] == 'adaptive'
    assert check_shot_detection({})['threshold'] == 2.0
    assert check_shot_detection(dict(detector='content'))['threshold'] == 27.0
    assert check_shot_detection(dict(detector='content', threshold=30))['threshold'] == 30


def test_the_clip_sampler_transform_draws_partners_in_time_order_deterministically_by_seed():
    from vidreg_mm.datasets import SampleClipFrames
    clip = dict(clip_length=10, frame_ids=list(range(100, 110)))
    sampler = SampleClipFrames(num_frames=3, offset_range=(-2, 2))
    for seed in range(20):
        out = sampler(dict(clip, anchor=5, sample_seed=seed))
        frames = out['frame_inds']
        assert frames == sorted(set(frames)) and len(frames) == 3 and 5 in frames
        assert max(abs(f - 5) for f in frames) <= 2 and out['offset'] == frames[-1] - frames[0]
        assert out['frame_ids'] == [100 + f for f in frames] and 'sample_seed' not in out
        assert sampler(dict(clip, anchor=5, sample_seed=seed))['frame_inds'] == frames
        # one frame of the same draw in single mode: both modes see the same frames
        single = SampleClipFrames(3, (-2, 2), pair_mode=False)(dict(clip, anchor=5,
                                                                    sample_seed=seed))
        assert len(single['frame_inds']) == 1 and single['frame_inds'][0] in frames
        assert single['offset'] == 0
    pair = SampleClipFrames(offset_range=(-3, 3))(dict(clip, anchor=0, sample_seed=1))
    i, j = pair['frame_inds']
    assert i == 0 and 0 < j <= 3 and pair['offset'] == j  # (anchor, partner), signed d
    with pytest.raises(ValueError, match='offset_distribution must be one of'):
        SampleClipFrames(offset_distribution='gauss')


def test_a_symlink_loop_in_the_data_root_is_named_and_skipped(videos_root, tmp_path, mmlog):
    """A link back to a folder above it would make the listing recurse until the OS refuses
    (ELOOP): it is skipped, named in the dataset's warning, and the videos around it are
    found."""
    root = tmp_path / 'vids'
    shutil.copytree(videos_root, root)
    os.symlink(str(root / 'train'), str(root / 'train' / 'again'))  # train/again -> train
    os.makedirs(root / 'train' / 'class_a')
    os.symlink('..', str(root / 'train' / 'class_a' / 'up'))  # relative loop, deeper
    ds = build(str(root), LOAD_AND_PACK, split='train', offset_range=(-1, 1))
    assert ds.num_clips == 3
    loops = [m for m in mmlog if 'symbolic link(s) lead back to a folder above them' in m]
    assert len(loops) == 1 and loops[0].count(' -> ') == 2, loops  # one warning, both named
    assert str(root / 'train' / 'again') in loops[0] and 'class_a/up' in loops[0]


def test_jpeg_frames_are_turned_upright_by_their_exif_orientation(tmp_path):
    """Cameras store the sensor's rows and an orientation tag: a frame tagged 'rotate 90'
    (orientation 6) loads as a viewer shows it, not sideways."""
    from PIL import Image

    from vidreg_mm.datasets.image_decoding import decode_image
    rng = np.random.default_rng(0)
    stored = np.kron(rng.integers(0, 255, (3, 5, 3)), np.ones((8, 8, 1))).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # the 0th row is the visual right-hand side: rotate 90 degrees clockwise
    path = tmp_path / 'f.jpg'
    Image.fromarray(stored).save(path, quality=95, exif=exif)
    img = decode_image(path.read_bytes(), str(path))
    Image.fromarray(stored).save(tmp_path / 'plain.jpg', quality=95)  # no tag: as stored
    plain = decode_image((tmp_path / 'plain.jpg').read_bytes())
    assert plain.shape == (24, 40, 3) and img.shape == (40, 24, 3)
    assert np.array_equal(img, np.rot90(plain, k=-1))  # the same pixels, turned clockwise
    assert np.abs(plain.astype(int) - stored).mean() < 8  # (JPEG's loss only)


def test_a_frame_over_max_pixels_is_refused_before_decoding(tmp_path):
    """A 10000 x 10000 frame would cost seconds per sample to decode with only Pillow's
    warning: refused from its header, naming the file and the key."""
    from vidreg_mm.datasets import LoadClipFrames, UnsupportedFrameError
    from vidreg_mm.datasets.image_decoding import DEFAULT_MAX_PIXELS
    big = tmp_path / 'big.png'
    cv2.imwrite(str(big), np.zeros((300, 400, 3), np.uint8))
    load = LoadClipFrames(max_pixels=100_000)
    with pytest.raises(UnsupportedFrameError, match=r"big.png: 400 x 300 pixels \(0 Mpx\) is "
                       r"over LoadClipFrames' max_pixels=100000.*Downscale"):
        load(dict(frames=[str(big)], frame_inds=[0], clip_id='c'))
    assert LoadClipFrames(max_pixels=120_000)(
        dict(frames=[str(big)], frame_inds=[0], clip_id='c'))['img'][0].shape == (300, 400, 3)
    assert DEFAULT_MAX_PIXELS >= 7680 * 4320  # 8K passes
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match='max_pixels must be a positive integer'):
            LoadClipFrames(max_pixels=bad)
