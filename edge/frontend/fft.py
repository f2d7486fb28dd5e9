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
class _Twiddle:
    """Q15 twiddles w of one butterfly leg, int32, shaped (m, 1).

    ``sum`` = re + im and ``diff`` = im - re let a complex product use three
    multiplications; in exact integer arithmetic the result is the same.
    ``unit`` is True when every w is kissfft's 1 (32767 + 0i).
    """

    re: np.ndarray
    im: np.ndarray
    sum: np.ndarray
    diff: np.ndarray
    unit: bool

    @classmethod
    def of(cls, re: np.ndarray, im: np.ndarray) -> "_Twiddle":
        re = re.astype(np.int32).reshape(-1, 1)
        im = im.astype(np.int32).reshape(-1, 1)
        unit = bool((re == INT16_MAX).all() and (im == 0).all())
        return cls(re, im, re + im, im - re, unit)


@dataclass(frozen=True)
class _Stage:
    radix: int
    m: int
    twiddles: tuple[_Twiddle, ...]  # legs q = 1..radix-1


@dataclass(frozen=True)
class FixedRealFft:
    """Tables of a kissfft fixed16 real FFT of ``fft_size`` samples.

    Attributes:
        fft_size: real FFT length (a power of two, >= 4).
        order: digit-reversal gather of the packed complex input.
        stages: butterfly stages, innermost first.
        split: Q15 split-step twiddles for bins 1..fft_size/4.
    """

    fft_size: int
    order: np.ndarray
    stages: tuple[_Stage, ...]
    split: _Twiddle

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
            per_q = tuple(_Twiddle.of(tw[q * j * stride, 0], tw[q * j * stride, 1])
                          for q in range(1, p))
            stages.append(_Stage(p, m, per_q))
            stride *= p
        split = np.array([_twiddle(-math.pi * ((k + 1) / n + 0.5)) for k in range(n // 2)],
                         dtype=np.int32)
        return cls(fft_size, _digit_reversal(n, factors), tuple(reversed(stages)),
                   _Twiddle.of(split[:, 0], split[:, 1]))

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Real FFT of each row.

        Args:
            frames: int16, shape (frames, k) with k <= fft_size; zero padded.
        Returns:
            (real, imag) int16 arrays, shape (frames, fft_size // 2 + 1): the
            DFT divided by fft_size, Q1.15. They are transposed views of
            (bins, frames) arrays.
        """
        count, width = frames.shape
        # Frames go on the last, contiguous axis so each butterfly operation
        # is one long SIMD-friendly run over all frames.
        padded = np.zeros((self.fft_size, count), dtype=np.int16)
        padded[:width] = frames.T
        re = padded[0::2][self.order].astype(np.int32)
        im = padded[1::2][self.order].astype(np.int32)
        for stage in self.stages:
            re, im = _butterflies(re, im, stage)
        real, imag = _split_real(re, im, self.split)
        return real.T, imag.T


def _fixdiv(x: np.ndarray, radix: int) -> np.ndarray:
    """``C_FIXDIV``: x * (32767 // radix) in Q15, rounded.

    Args:
        x: int32 holding int16 values.
    Returns:
        new int32 array; |result| <= 32768 // radix.
    """
    y = x * np.int32(INT16_MAX // radix)
    y += _ROUND
    y >>= FFT_FRAC_BITS
    return y


def _cmul(ar: np.ndarray, ai: np.ndarray, w: _Twiddle) -> tuple[np.ndarray, np.ndarray]:
    """``C_MUL``: a * w in Q15, each part rounded; int32 out, not wrapped.

    Every partial sum stays below 2**31 for |a| parts <= 2**15 and Q15 unit
    twiddles, so int32 is exact. The result leaves int16 only if |a| > 2**15,
    which happens only in the split step (the caller wraps there).
    """
    if w.unit:  # w == 32767 + 0i: each part is just scaled by 32767/32768
        return _fixdiv(ar, 1), _fixdiv(ai, 1)
    shared = ar + ai
    shared *= w.re
    shared += _ROUND
    real = ai * w.sum
    np.subtract(shared, real, out=real)
    real >>= FFT_FRAC_BITS
    imag = ar * w.diff
    imag += shared
    imag >>= FFT_FRAC_BITS
    return real, imag


def _wrap16(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int32 values to int16 range, in place."""
    x <<= 16
    x >>= 16
    return x


def _butterflies(re: np.ndarray, im: np.ndarray, stage: _Stage):
    """One radix-p pass over every block of every frame.

    Within a pass the butterfly intermediates stay inside int16 (fixdiv
    bounds them), so only the pass outputs can wrap; they are wrapped once,
    exactly where the reference's int16 stores wrap.

    Args:
        re, im: int32, shape (n, frames), int16-range values.
    Returns:
        (re, im) after the pass, same shape.
    """
    n, count = re.shape
    shape = (n // (stage.radix * stage.m), stage.radix, stage.m, count)
    re = re.reshape(shape)
    im = im.reshape(shape)
    out_re = np.empty(shape, dtype=np.int32)
    out_im = np.empty(shape, dtype=np.int32)
    radix = _radix2 if stage.radix == 2 else _radix4
    radix(re, im, stage, out_re, out_im)
    return _wrap16(out_re.reshape(n, count)), _wrap16(out_im.reshape(n, count))


def _radix2(re, im, stage, out_re, out_im):
    a_re, a_im = _fixdiv(re[:, 0], 2), _fixdiv(im[:, 0], 2)
    b_re, b_im = _fixdiv(re[:, 1], 2), _fixdiv(im[:, 1], 2)
    t_re, t_im = _cmul(b_re, b_im, stage.twiddles[0])
    np.add(a_re, t_re, out=out_re[:, 0])
    np.add(a_im, t_im, out=out_im[:, 0])
    np.subtract(a_re, t_re, out=out_re[:, 1])
    np.subtract(a_im, t_im, out=out_im[:, 1])


def _radix4(re, im, stage, out_re, out_im):
    a0_re, a0_im = _fixdiv(re[:, 0], 4), _fixdiv(im[:, 0], 4)
    s0 = _cmul(_fixdiv(re[:, 1], 4), _fixdiv(im[:, 1], 4), stage.twiddles[0])
    s1 = _cmul(_fixdiv(re[:, 2], 4), _fixdiv(im[:, 2], 4), stage.twiddles[1])
    s2 = _cmul(_fixdiv(re[:, 3], 4), _fixdiv(im[:, 3], 4), stage.twiddles[2])
    s5_re, s5_im = a0_re - s1[0], a0_im - s1[1]
    a0_re += s1[0]
    a0_im += s1[1]
    s3_re, s3_im = s0[0] + s2[0], s0[1] + s2[1]
    s4_re, s4_im = s0[0] - s2[0], s0[1] - s2[1]
    np.add(a0_re, s3_re, out=out_re[:, 0])
    np.add(a0_im, s3_im, out=out_im[:, 0])
    np.add(s5_re, s4_im, out=out_re[:, 1])
    np.subtract(s5_im, s4_re, out=out_im[:, 1])
    np.subtract(a0_re, s3_re, out=out_re[:, 2])
    np.subtract(a0_im, s3_im, out=out_im[:, 2])
    np.subtract(s5_re, s4_im, out=out_re[:, 3])
    np.add(s5_im, s4_re, out=out_im[:, 3])


def _split_real(re: np.ndarray, im: np.ndarray, w: _Twiddle):
    """kissfft ``kiss_fftr`` split step: n/2 complex bins -> n/2+1 real bins.

    Args:
        re, im: int32 complex FFT of the packed samples, (n, frames).
    Returns:
        (real, imag) int16, shape (n + 1, frames).
    """
    n, count = re.shape
    half = n // 2
    out_re = np.zeros((n + 1, count), dtype=np.int16)
    out_im = np.zeros((n + 1, count), dtype=np.int16)

    dc_re, dc_im = _fixdiv(re[0], 2), _fixdiv(im[0], 2)
    out_re[0] = dc_re + dc_im
    out_re[n] = dc_re - dc_im

    fpk_re, fpk_im = _fixdiv(re[1:half + 1], 2), _fixdiv(im[1:half + 1], 2)
    # Bins n-1 down to n/2, conjugated. Negating int16 -32768 wraps to itself.
    fpnk_re = _fixdiv(re[n - 1:half - 1:-1], 2)
    fpnk_im = _fixdiv(_wrap16(-im[n - 1:half - 1:-1]), 2)
    f1_re, f1_im = fpk_re + fpnk_re, fpk_im + fpnk_im
    fpk_re -= fpnk_re
    fpk_im -= fpnk_im
    # |f2| can reach 2**15 * sqrt(2), so the int16 store of tw may wrap.
    tw_re, tw_im = (_wrap16(part) for part in _cmul(fpk_re, fpk_im, w))
    # HALF_OF works on the int sum before the int16 store, so no wrap here.
    out_re[1:half + 1] = (f1_re + tw_re) >> 1
    out_im[1:half + 1] = (f1_im + tw_im) >> 1
    # Written second, so bin n/2 (where k == n-k) keeps these values.
    out_re[n - 1:half - 1:-1] = (f1_re - tw_re) >> 1
    out_im[n - 1:half - 1:-1] = (tw_im - f1_im) >> 1
    return out_re, out_im
