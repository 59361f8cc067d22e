"""One image file to an 8-bit RGB frame: upright (EXIF orientation), size-limited, any mode."""
import io
import warnings

import numpy as np

#: frames larger than this many pixels are refused (LoadClipFrames' ``max_pixels``): 8K
#: (7680 x 4320, 33 Mpx) passes; a 10000 x 10000 frame costs seconds per sample to decode
DEFAULT_MAX_PIXELS = 40_000_000


class BrokenFrameError(RuntimeError):
    """A frame or video that cannot be decoded (or only partly)."""


class UnsupportedFrameError(ValueError):
    """An image that decodes but has no single right 8-bit RGB reading (float or 32-bit
    integer pixels), or that is larger than the loader's limit: refused by name, never
    guessed."""


#: Pillow modes whose pixels are 16-bit unsigned integers (16-bit grayscale PNG and TIFF)
_MODES_16BIT = ('I;16', 'I;16L', 'I;16B', 'I;16N')


def image_to_rgb8(img, path: str = '') -> np.ndarray:
    """The 8-bit RGB array (H x W x 3, uint8) of a decoded Pillow image, whatever its mode.

    8-bit modes (L, P, RGB, RGBA, LA, PA, CMYK, YCbCr, 1, ...) go through Pillow's own
    conversion to RGB (alpha is dropped). 16-bit grayscale is scaled to 8 bits (v / 257,
    rounded), where Pillow's conversion would clip it to white. 32-bit integer and float
    images have no agreed range and raise :class:`UnsupportedFrameError` naming the file.
    """
    if img.mode in _MODES_16BIT:
        grey = np.asarray(img, dtype=np.float64)
        grey = np.clip(np.rint(grey / 257.0), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if img.mode in ('I', 'F') or img.mode.startswith(('I;32', 'F;')):
        kind = '32-bit integer' if img.mode.startswith('I') else 'floating-point'
        raise UnsupportedFrameError(
            f'{path}: Pillow mode {img.mode!r} ({kind} pixels) has no agreed 8-bit reading; '
            'convert the frames to 8- or 16-bit images')
    return np.ascontiguousarray(np.asarray(img.convert('RGB'), dtype=np.uint8))


def decode_image(content: bytes, path: str = '',
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The frame in an image file's bytes, as :func:`image_to_rgb8` gives it, turned upright
    by its EXIF orientation (as a photo viewer shows it; cameras store the sensor's rows and
    a tag). A file larger than ``max_pixels`` is refused from its header, before decoding
    (:class:`UnsupportedFrameError`); a file that does not decode whole raises
    :class:`BrokenFrameError`."""
    from PIL import Image, ImageOps
    try:
        with warnings.catch_warnings():  # the size is checked here, with the file named
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            pil = Image.open(io.BytesIO(content))
        with pil:
            w, h = pil.size
            if w * h > max_pixels:
                raise UnsupportedFrameError(
                    f'{path}: {w} x {h} pixels ({w * h / 1e6:.0f} Mpx) is over LoadClipFrames\' '
                    f'max_pixels={max_pixels}: decoding it costs seconds per sample. Downscale '
                    'the frames once beforehand, or raise max_pixels in the LoadClipFrames of '
                    'the pipeline')
            pil.load()  # a truncated file fails here
            ImageOps.exif_transpose(pil, in_place=True)  # no copy of an untagged frame
            img = image_to_rgb8(pil, path)
    except UnsupportedFrameError:
        raise
    except Exception as e:  # noqa: BLE001  Pillow raises OSError, ValueError, ...
        raise BrokenFrameError(f'{type(e).__name__}: {e}') from e
    if img is None or img.size == 0:
        raise BrokenFrameError('decoded to an empty image')
    return img
