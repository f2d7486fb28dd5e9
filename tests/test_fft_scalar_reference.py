"""The vectorised fixed-point FFT against a scalar transcription of kissfft.

``kissfft_fixed16_rfft`` below follows kissfft 131 (``kiss_fft.c``,
``kiss_fftr.c``, ``_kiss_fft_guts.h`` with ``FIXED_POINT=16``) statement by
statement, one frame at a time, storing every value to int16 where C does.
It is slow and obvious; ``FixedRealFft`` is fast and reorganised (stacked
parts, leg-major layout, int16 sums, skipped unit twiddles). Inputs include
full-scale and -32768 patterns, where the int16 stores wrap.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from emoedge.frontend.fft import FixedRealFft, kissfft_factors


def _s16(x: int) -> int:
    """Store to int16: two's-complement wrap."""
    return (x + 0x8000) % 0x10000 - 0x8000


def _sround(x: int) -> int:
    return _s16((x + (1 << 14)) >> 15)


def _fixdiv(c: list[int], div: int) -> None:
    c[0] = _sround(c[0] * (32767 // div))
    c[1] = _sround(c[1] * (32767 // div))


def _cmul(a: list[int], b: tuple[int, int]) -> list[int]:
    return [_sround(a[0] * b[0] - a[1] * b[1]), _sround(a[0] * b[1] + a[1] * b[0])]


def _cexp(phase: float) -> tuple[int, int]:
    return (math.floor(0.5 + 32767 * math.cos(phase)), math.floor(0.5 + 32767 * math.sin(phase)))


def _kiss_fft(data: list[list[int]]) -> list[list[int]]:
    """kiss_fft (forward) of one frame of int16 complex values."""
    nfft = len(data)
    twiddles = [_cexp(-2 * math.pi * i / nfft) for i in range(nfft)]
    factors = kissfft_factors(nfft)
    out = [[0, 0] for _ in range(nfft)]

    def work(fout: int, f: int, fstride: int, stage: int) -> None:
        p, m = factors[stage]
        if m == 1:
            for q in range(p):
                out[fout + q] = list(data[f + q * fstride])
        else:
            for q in range(p):
                work(fout + q * m, f + q * fstride, fstride * p, stage + 1)
        for k in range(m):
            if p == 2:
                a, b = out[fout + k], out[fout + k + m]
                _fixdiv(a, 2)
                _fixdiv(b, 2)
                t = _cmul(b, twiddles[k * fstride])
                out[fout + k + m] = [_s16(a[0] - t[0]), _s16(a[1] - t[1])]
                out[fout + k] = [_s16(a[0] + t[0]), _s16(a[1] + t[1])]
            else:
                legs = [out[fout + k + q * m] for q in range(4)]
                for leg in legs:
                    _fixdiv(leg, 4)
                s0 = _cmul(legs[1], twiddles[k * fstride])
                s1 = _cmul(legs[2], twiddles[2 * k * fstride])
                s2 = _cmul(legs[3], twiddles[3 * k * fstride])
                a0 = legs[0]
                s5 = [_s16(a0[0] - s1[0]), _s16(a0[1] - s1[1])]
                a0 = [_s16(a0[0] + s1[0]), _s16(a0[1] + s1[1])]
                s3 = [_s16(s0[0] + s2[0]), _s16(s0[1] + s2[1])]
                s4 = [_s16(s0[0] - s2[0]), _s16(s0[1] - s2[1])]
                out[fout + k + 2 * m] = [_s16(a0[0] - s3[0]), _s16(a0[1] - s3[1])]
                out[fout + k] = [_s16(a0[0] + s3[0]), _s16(a0[1] + s3[1])]
                out[fout + k + m] = [_s16(s5[0] + s4[1]), _s16(s5[1] - s4[0])]
                out[fout + k + 3 * m] = [_s16(s5[0] - s4[1]), _s16(s5[1] + s4[0])]

    work(0, 0, 1, 0)
    return out


def kissfft_fixed16_rfft(frame: np.ndarray, fft_size: int) -> tuple[list[int], list[int]]:
    """kiss_fftr of one zero-padded int16 frame: (real, imag), fft_size/2 + 1 bins."""
    samples = [int(v) for v in frame] + [0] * (fft_size - len(frame))
    ncfft = fft_size // 2
    tmp = _kiss_fft([[samples[2 * i], samples[2 * i + 1]] for i in range(ncfft)])
    super_twiddles = [_cexp(-math.pi * ((i + 1) / ncfft + 0.5)) for i in range(ncfft // 2)]
    freq = [[0, 0] for _ in range(ncfft + 1)]
    tdc = list(tmp[0])
    _fixdiv(tdc, 2)
    freq[0] = [_s16(tdc[0] + tdc[1]), 0]
    freq[ncfft] = [_s16(tdc[0] - tdc[1]), 0]
    for k in range(1, ncfft // 2 + 1):
        fpk = list(tmp[k])
        fpnk = [tmp[ncfft - k][0], _s16(-tmp[ncfft - k][1])]
        _fixdiv(fpk, 2)
        _fixdiv(fpnk, 2)
        f1k = [_s16(fpk[0] + fpnk[0]), _s16(fpk[1] + fpnk[1])]
        f2k = [_s16(fpk[0] - fpnk[0]), _s16(fpk[1] - fpnk[1])]
        tw = _cmul(f2k, super_twiddles[k - 1])
        freq[k] = [_s16((f1k[0] + tw[0]) >> 1), _s16((f1k[1] + tw[1]) >> 1)]
        freq[ncfft - k] = [_s16((f1k[0] - tw[0]) >> 1), _s16((tw[1] - f1k[1]) >> 1)]
    return [v[0] for v in freq], [v[1] for v in freq]


def _frames(width: int) -> np.ndarray:
    rng = np.random.default_rng(width)
    t = np.arange(width)
    rows = [
        rng.integers(-32768, 32768, width),
        np.full(width, -32768),
        np.full(width, 32767),
        np.where(t % 3 == 0, -32768, 32767),
        rng.choice([-32768, -16384, -1, 0, 1, 16384, 32767], width),
        np.round(32767 * np.sign(np.sin(0.3 * t))),
        rng.integers(-3, 4, width),
    ]
    return np.array(rows, dtype=np.int16)


@pytest.mark.parametrize("fft_size, width", [(4, 4), (8, 5), (64, 64), (256, 200), (512, 400),
                                             (512, 512), (1024, 1024)])
def test_fixed_fft_equals_scalar_kissfft(fft_size, width):
    frames = _frames(width)
    real, imag = FixedRealFft.build(fft_size)(frames)
    for row, frame in enumerate(frames):
        expected_real, expected_imag = kissfft_fixed16_rfft(frame, fft_size)
        assert real[row].tolist() == expected_real, (fft_size, row)
        assert imag[row].tolist() == expected_imag, (fft_size, row)


def test_fixed_fft_is_the_same_for_any_frame_count_and_memory_order():
    fft = FixedRealFft.build(512)
    frames = np.concatenate([_frames(400)] * 40)  # 280 frames
    real, imag = fft(frames)
    for count in (1, 7, 256):
        r, i = fft(np.asfortranarray(frames[:count]))
        np.testing.assert_array_equal(r, real[:count])
        np.testing.assert_array_equal(i, imag[:count])
