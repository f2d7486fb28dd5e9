"""Stage 2: block-floating-point real FFT, bit-equal to kissfft fixed16.

The reference (``fft.cc`` + kissfft 131 built with ``FIXED_POINT=16``)
computes a real FFT of ``n`` samples as a complex FFT of ``n/2`` packed
samples followed by a split step. Every value is Q1.15 int16; each radix-p
butterfly first divides its inputs by p (``C_FIXDIV``: multiply by
``32767 // p`` in Q15 and round), so the output is the DFT scaled by 1/n and
never overflows. Here the same butterflies run on all frames at once.

Rounding: ``sround(x) = (x + 2**14) >> 15`` (round half up, in int32).
Overflow: sums are stored to int16 with two's-complement wrap, as C does;
numpy int16 arithmetic wraps the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .bits import FFT_FRAC_BITS, INT16_MAX

_ROUND = np.int32(1 << (FFT_FRAC_BITS - 1))


def _twiddle(phase: float) -> tuple[int, int]:
    """kissfft ``kf_cexp`` in fixed16: floor(0.5 + 32767 * cos/sin)."""
    return (math.floor(0.5 + INT16_MAX * math.cos(phase)),
            math.floor(0.5 + INT16_MAX * math.sin(phase)))


def kissfft_factors(n: int) -> list[tuple[int, int]]:
    """kissfft ``kf_factor``: radix 4 first, then 2, then odd primes.

    Returns:
        list of (radix p, remaining length m) from the outermost stage in.
    """
    factors = []
    p = 4
    floor_sqrt = math.floor(math.sqrt(n))
    while True:
        while n % p:
            p = {4: 2, 2: 3}.get(p, p + 2)
            if p > floor_sqrt:
                p = n
        n //= p
        factors.append((p, n))
        if n <= 1:
            return factors


def _digit_reversal(n: int, factors: list[tuple[int, int]]) -> np.ndarray:
    """Input index read into each position by kissfft's recursive ``kf_work``."""
    order = np.empty(n, dtype=np.int64)

    def work(out: int, src: int, stride: int, stage: int) -> None:
        p, m = factors[stage]
        for q in range(p):
            if m == 1:
                order[out + q] = src + q * stride
            else:
                work(out + q * m, src + q * stride, stride * p, stage + 1)

    work(0, 0, 1, 0)
    return order


@dataclass(frozen=True)
class _Stage:
    radix: int
    m: int
    twiddles: tuple[tuple[np.ndarray, np.ndarray], ...]  # per q=1..p-1: (re, im) int32 (m,)


@dataclass(frozen=True)
class FixedRealFft:
    """Tables of a kissfft fixed16 real FFT of ``fft_size`` samples.

    Attributes:
        fft_size: real FFT length (a power of two, >= 4).
        order: digit-reversal gather of the packed complex input.
        stages: butterfly stages, innermost first.
        split_re/split_im: Q15 split twiddles for bins 1..fft_size/4, int32.
    """

    fft_size: int
    order: np.ndarray
    stages: tuple[_Stage, ...]
    split_re: np.ndarray
    split_im: np.ndarray

    @classmethod
    def build(cls, fft_size: int) -> "FixedRealFft":
        if fft_size < 4 or fft_size & (fft_size - 1):
            raise ValueError(f"fft_size must be a power of two >= 4, got {fft_size}")
        n = fft_size // 2
        tw = np.array([_twiddle(-2 * math.pi * i / n) for i in range(n)], dtype=np.int32)
        factors = kissfft_factors(n)
        stages = []
        stride = 1
        for p, m in factors:
            if p not in (2, 4):
                raise ValueError(f"radix {p} is not supported (fft_size {fft_size})")
            j = np.arange(m)
            per_q = tuple((tw[q * j * stride, 0].copy(), tw[q * j * stride, 1].copy())
                          for q in range(1, p))
            stages.append(_Stage(p, m, per_q))
            stride *= p
        split = np.array([_twiddle(-math.pi * ((k + 1) / n + 0.5)) for k in range(n // 2)],
                         dtype=np.int32)
        return cls(fft_size, _digit_reversal(n, factors), tuple(reversed(stages)),
                   split[:, 0].copy(), split[:, 1].copy())

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Real FFT of each row.

        Args:
            frames: int16, shape (frames, k) with k <= fft_size; zero padded.
        Returns:
            (real, imag) int16 arrays, shape (frames, fft_size // 2 + 1): the
            DFT divided by fft_size, Q1.15.
        """
        count, width = frames.shape
        padded = np.zeros((count, self.fft_size), dtype=np.int16)
        padded[:, :width] = frames
        packed_re = padded[:, 0::2][:, self.order]
        packed_im = padded[:, 1::2][:, self.order]
        re, im = packed_re, packed_im
        for stage in self.stages:
            re, im = _butterflies(re, im, stage)
        return _split_real(re, im, self.split_re, self.split_im)


def _fixdiv(x: np.ndarray, radix: int) -> np.ndarray:
    """``C_FIXDIV``: x * (32767 // radix) in Q15, rounded; int16 out."""
    return ((x.astype(np.int32) * np.int32(INT16_MAX // radix) + _ROUND) >> FFT_FRAC_BITS).astype(np.int16)


def _cmul(ar, ai, br, bi) -> tuple[np.ndarray, np.ndarray]:
    """``C_MUL`` of int16 a by int32 twiddle b; Q15 rounded, int16 out.

    |a.r*b.r - a.i*b.i| <= |a||b| < 1.52e9 < 2**31 for unit twiddles, so the
    int32 sums cannot overflow.
    """
    ar32 = ar.astype(np.int32)
    ai32 = ai.astype(np.int32)
    real = (ar32 * br - ai32 * bi + _ROUND) >> FFT_FRAC_BITS
    imag = (ar32 * bi + ai32 * br + _ROUND) >> FFT_FRAC_BITS
    return real.astype(np.int16), imag.astype(np.int16)


def _butterflies(re: np.ndarray, im: np.ndarray, stage: _Stage):
    count, n = re.shape
    shape = (count, n // (stage.radix * stage.m), stage.radix, stage.m)
    re = re.reshape(shape)
    im = im.reshape(shape)
    if stage.radix == 2:
        out_re, out_im = _radix2(re, im, stage)
    else:
        out_re, out_im = _radix4(re, im, stage)
    return out_re.reshape(count, n), out_im.reshape(count, n)


def _radix2(re, im, stage):
    a_re, a_im = _fixdiv(re[:, :, 0], 2), _fixdiv(im[:, :, 0], 2)
    b_re, b_im = _fixdiv(re[:, :, 1], 2), _fixdiv(im[:, :, 1], 2)
    (w_re, w_im), = stage.twiddles
    t_re, t_im = _cmul(b_re, b_im, w_re, w_im)
    out_re = np.stack([a_re + t_re, a_re - t_re], axis=2)
    out_im = np.stack([a_im + t_im, a_im - t_im], axis=2)
    return out_re, out_im


def _radix4(re, im, stage):
    f = [(_fixdiv(re[:, :, q], 4), _fixdiv(im[:, :, q], 4)) for q in range(4)]
    s0 = _cmul(*f[1], *stage.twiddles[0])
    s1 = _cmul(*f[2], *stage.twiddles[1])
    s2 = _cmul(*f[3], *stage.twiddles[2])
    s5_re, s5_im = f[0][0] - s1[0], f[0][1] - s1[1]
    f0_re, f0_im = f[0][0] + s1[0], f[0][1] + s1[1]
    s3_re, s3_im = s0[0] + s2[0], s0[1] + s2[1]
    s4_re, s4_im = s0[0] - s2[0], s0[1] - s2[1]
    out_re = np.stack([f0_re + s3_re, s5_re + s4_im, f0_re - s3_re, s5_re - s4_im], axis=2)
    out_im = np.stack([f0_im + s3_im, s5_im - s4_re, f0_im - s3_im, s5_im + s4_re], axis=2)
    return out_re, out_im


def _split_real(re, im, w_re, w_im):
    """kissfft ``kiss_fftr`` split step: n/2 complex bins -> n/2+1 real bins."""
    count, n = re.shape
    half = n // 2
    out_re = np.zeros((count, n + 1), dtype=np.int16)
    out_im = np.zeros((count, n + 1), dtype=np.int16)

    dc_re, dc_im = _fixdiv(re[:, 0], 2), _fixdiv(im[:, 0], 2)
    out_re[:, 0] = dc_re + dc_im
    out_re[:, n] = dc_re - dc_im

    k = np.arange(1, half + 1)
    fpk_re, fpk_im = _fixdiv(re[:, k], 2), _fixdiv(im[:, k], 2)
    fpnk_re, fpnk_im = _fixdiv(re[:, n - k], 2), _fixdiv(-im[:, n - k], 2)
    f1_re, f1_im = fpk_re + fpnk_re, fpk_im + fpnk_im
    f2_re, f2_im = fpk_re - fpnk_re, fpk_im - fpnk_im
    tw_re, tw_im = _cmul(f2_re, f2_im, w_re, w_im)
    f1_re, f1_im = f1_re.astype(np.int32), f1_im.astype(np.int32)
    tw_re, tw_im = tw_re.astype(np.int32), tw_im.astype(np.int32)
    # HALF_OF works on the int sum before the int16 store, so no wrap here.
    out_re[:, k] = (f1_re + tw_re) >> 1
    out_im[:, k] = (f1_im + tw_im) >> 1
    # Written second, so bin n/2 (where k == n-k) keeps these values.
    out_re[:, n - k] = (f1_re - tw_re) >> 1
    out_im[:, n - k] = (tw_im - f1_im) >> 1
    return out_re, out_im
