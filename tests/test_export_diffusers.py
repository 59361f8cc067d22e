"""tools/export_diffusers.py: a pipeline folder that diffusers loads and that samples the
images tools/generate.py samples."""
import json
import os

import numpy as np
import pytest
import torch

from .conftest import load_tool
from .test_generate import checkpoint, small_config
from .test_model import SMALL_UNET2D

export = load_tool('tools/export_diffusers.py')
generate = load_tool('tools/generate.py')


def unet2d_config(tmp_path, base='configs/synthetic_hands_unet2d_temporal_cpu.py'):
    path = tmp_path / 'unet2d.py'
    path.write_text(f"_base_ = [{os.path.join(os.path.dirname(__file__), '..', base)!r}]\n"
                    f"model = dict(unet=dict(_delete_=True, **{SMALL_UNET2D!r}))\n")
    return str(path)


def pipeline_images(pipe, num, steps, seed=0, **kwargs):
    """The pipeline's images with generate.py's per-sample seeds, uint8 N x 3 x H x W."""
    gens = [torch.Generator().manual_seed(seed * 1_000_003 + i) for i in range(num)]
    out = pipe(batch_size=num, generator=gens, num_inference_steps=steps, output_type='np',
               **kwargs).images
    return torch.from_numpy((out * 255).round().astype(np.uint8)).permute(0, 3, 1, 2)


@pytest.mark.parametrize('prediction', ['epsilon', 'v_prediction'])
def test_exported_pipelines_sample_what_generate_samples(tmp_path, prediction):
    from diffusers import DDIMPipeline, DDPMPipeline
    config = unet2d_config(tmp_path)
    with open(config, 'a') as f:
        f.write(f"model['diffusion_scheduler'] = dict(prediction_type={prediction!r})\n")
    ckpt = str(tmp_path / 'c.pth')
    checkpoint(config, ckpt)
    out = str(tmp_path / 'pipe')
    export.main([config, ckpt, out])
    assert {'model_index.json', 'unet', 'scheduler'} <= set(os.listdir(out))
    assert 'diffusion_pytorch_model.safetensors' in os.listdir(os.path.join(out, 'unet'))
    assert json.load(open(os.path.join(out, 'vidreg_mm_export.json')))['weights'] == \
        'the EMA weights'

    ddim = DDIMPipeline.from_pretrained(out)
    assert ddim.scheduler.config.prediction_type == prediction
    ours = generate.main([config, ckpt, '--out', str(tmp_path / 'g'), '--num', '3',
                          '--steps', '5', '--sampler', 'ddim'])
    theirs = pipeline_images(ddim, 3, 5)
    assert (ours.int() - theirs.int()).abs().max() <= 1
    assert (ours.float().std(dim=(1, 2, 3)) > 1).all()  # images, not a blank

    ddpm = DDPMPipeline.from_pretrained(out)
    ours = generate.main([config, ckpt, '--out', str(tmp_path / 'p'), '--num', '2',
                          '--steps', '4', '--sampler', 'ddpm'])
    theirs = pipeline_images(ddpm, 2, 4)
    assert (ours.int() - theirs.int()).abs().max() <= 1


def test_the_trained_weights_export_with_no_ema(tmp_path):
    from diffusers import DDIMPipeline
    config = unet2d_config(tmp_path)
    ckpt = str(tmp_path / 'c.pth')
    checkpoint(config, ckpt)
    export.main([config, ckpt, str(tmp_path / 'ema')])
    export.main([config, ckpt, str(tmp_path / 'raw'), '--no-ema'])
    ema = DDIMPipeline.from_pretrained(str(tmp_path / 'ema')).unet.state_dict()
    raw = DDIMPipeline.from_pretrained(str(tmp_path / 'raw')).unet.state_dict()
    assert any(not torch.equal(ema[k], raw[k]) for k in ema)
    with pytest.raises(SystemExit, match=r"raw is not empty \(it holds \[.*'model_index.json'"
                       r".*mix old files into the pipeline.*--overwrite"):
        export.main([config, ckpt, str(tmp_path / 'raw')])


def test_an_export_never_mixes_into_old_files(tmp_path):
    """A folder with other files (an earlier export of a latent model, notes) is refused;
    --overwrite replaces it whole, so nothing of the old folder is left in the pipeline."""
    config = unet2d_config(tmp_path)
    ckpt = str(tmp_path / 'c.pth')
    checkpoint(config, ckpt)
    out = tmp_path / 'pipe'
    (out / 'vqvae').mkdir(parents=True)
    (out / 'vqvae' / 'config.json').write_text('{}')
    with pytest.raises(SystemExit, match=r"pipe is not empty \(it holds \['vqvae'\]\)"):
        export.main([config, ckpt, str(out)])
    assert os.listdir(out) == ['vqvae']  # untouched
    export.main([config, ckpt, str(out), '--overwrite'])
    assert 'vqvae' not in os.listdir(out) and 'model_index.json' in os.listdir(out)
    assert [n for n in os.listdir(tmp_path) if n.startswith('.')] == []  # no temporary left
    (tmp_path / 'empty').mkdir()
    export.main([config, ckpt, str(tmp_path / 'empty')])  # an empty folder is fine
    (tmp_path / 'file').write_text('x')
    with pytest.raises(SystemExit, match='file is a file, not a folder'):
        export.main([config, ckpt, str(tmp_path / 'file')])


def test_models_the_pipelines_cannot_hold_are_refused_with_the_reason(tmp_path):
    config = small_config(tmp_path)  # MMagic's DenoisingUnet
    ckpt = str(tmp_path / 'c.pth')
    checkpoint(config, ckpt)
    with pytest.raises(SystemExit, match="cannot export: model.unet is DenoisingUnet, which "
                       "diffusers cannot load(.|\n)*UNet2DModel"):
        export.main([config, ckpt, str(tmp_path / 'x')])
    flow = small_config(tmp_path, 'configs/synthetic_hands_flow_temporal_cpu.py', 'flow.py')
    checkpoint(flow, ckpt)
    with pytest.raises(SystemExit, match='flow matching.*no flow-matching scheduler'):
        export.main([flow, ckpt, str(tmp_path / 'y')])
    assert not os.path.exists(tmp_path / 'x') and not os.path.exists(tmp_path / 'y')
