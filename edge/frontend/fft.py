"""Stage 2: block-floating-point real FFT, bit-equal to kissfft fixed16.

The reference (``fft.cc`` + kissfft 131 built with ``FIXED_POINT=16``)
computes a real FFT of ``n`` samples as a complex FFT of ``n/2`` packed
samples followed by a split step. Every value is Q1.15 int16; each radix-p
butterfly first divides its inputs by p (``C_FIXDIV``: multiply by
``32767 // p`` in Q15 and round), so the output is the DFT scaled by 1/n and
never overflows. Here the same butterflies run on all frames at once.

Rounding: ``sround(x) = (x + 2**14) >> 15`` (round half up, in int32).
Overflow: the reference stores every butterfly value to int16 with
two's-complement wrap. Here a pass's input and output are int16 arrays;
products (C_FIXDIV, C_MUL) are formed in int32, where they are exact, and
rounded back into int16 range; the sums after them run in int16, where
numpy wraps exactly as the C stores do (additions and subtractions commute
with a wrap modulo 2**16, so every intermediate store that could wrap in
C wraps here too, or gives the same low 16 bits). The split step's sums
need 17 bits before ``HALF_OF``; they stay in int32 and are wrapped
(``_wrap16``) exactly where the reference stores to int16.

Layout: the complex state of a call is one int16 array (2, n, frames): real
and imaginary parts stacked on the first axis, frames on the last,
contiguous axis. Each pass keeps its legs in separate contiguous slabs
(leg-major order, ``_next_layout``), so every operation covers both parts,
every block and every frame at once, in a few long runs. The scratch
arrays come from a per-thread ``Workspace`` and are reused in place, so a
call allocates only its output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .bits import FFT_FRAC_BITS, INT16_MAX
from .workspace import Workspace

_ROUND = np.int32(1 << (FFT_FRAC_BITS - 1))
_FIXDIV = {p: np.int32(INT16_MAX // p) for p in (2, 4)}
"""``C_FIXDIV`` multipliers, Q15: 32767 // p."""


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
    """Q15 twiddles w, int32, shaped to broadcast over the legs they multiply.

    ``sum`` = re + im and ``diff`` = im - re let a complex product use three
    multiplications; in exact integer arithmetic the result is the same.
    ``unit`` is True when every w is kissfft's 1 (32767 + 0i).
    """

    re: np.ndarray
    sum: np.ndarray
    diff: np.ndarray
    unit: bool

    @classmethod
    def of(cls, re: np.ndarray, im: np.ndarray, shape: tuple[int, ...]) -> "_Twiddle":
        re = np.asarray(re, dtype=np.int32).reshape(shape)
        im = np.asarray(im, dtype=np.int32).reshape(shape)
        unit = bool((re == INT16_MAX).all() and (im == 0).all())
        return cls(re, re + im, im - re, unit)


@dataclass(frozen=True)
class _Stage:
    """One radix-p pass over blocks of p legs of m values.

    kissfft's in-place pass reads leg q, value j of block b at position
    b * p * m + q * m + j and writes its output there. Here the pass works
    in leg-major layout (2, p, blocks, m, frames), so every leg is one
    contiguous slab, and the next pass reads the output through a
    transposing view (``_next_layout``). ``twiddles`` holds legs
    q = 1..p-1 stacked, shape (p - 1, 1, m, 1), so one complex product
    covers every leg of every block of every frame.
    """

    radix: int
    m: int
    twiddles: _Twiddle


@dataclass(frozen=True)
class FixedRealFft:
    """Tables of a kissfft fixed16 real FFT of ``fft_size`` samples.

    Attributes:
        fft_size: real FFT length (a power of two, >= 4).
        order: digit-reversal gather of the packed complex input.
        sample_rows: for each input sample s, its row in the first pass's
            leg-major (2 * n) state: part s % 2, then leg and block of the
            position the packed sample s // 2 is read into.
        stages: butterfly stages, innermost first.
        split: Q15 split-step twiddles for bins 1..fft_size/4, (fft_size/4, 1).
    """

    fft_size: int
    order: np.ndarray
    sample_rows: np.ndarray
    stages: tuple[_Stage, ...]
    split: _Twiddle
    workspace: Workspace = field(default_factory=Workspace, compare=False, repr=False)

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
            index = np.outer(np.arange(1, p), np.arange(m)) * stride  # q * j * stride
            stages.append(_Stage(p, m, _Twiddle.of(tw[index, 0], tw[index, 1], (p - 1, 1, m, 1))))
            stride *= p
        split = np.array([_twiddle(-math.pi * ((k + 1) / n + 0.5)) for k in range(n // 2)],
                         dtype=np.int32)
        order = _digit_reversal(n, factors)
        position = np.argsort(order)  # position[packed index] = kissfft position it is read into
        first_radix = factors[-1][0]  # innermost pass: m == 1, position = block * p + leg
        blocks = n // first_radix
        samples = np.arange(fft_size)
        pos = position[samples // 2]
        sample_rows = (samples % 2) * n + (pos % first_radix) * blocks + pos // first_radix
        return cls(fft_size, order, sample_rows, tuple(reversed(stages)),
                   _Twiddle.of(split[:, 0], split[:, 1], (n // 2, 1)))

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Real FFT of each row.

        Args:
            frames: int16, shape (frames, k) with k <= fft_size; zero padded.
                Any memory order; fastest when frames.T is C-contiguous, as
                ``apply_window`` returns it.
        Returns:
            (real, imag) int16 arrays, shape (frames, fft_size // 2 + 1): the
            DFT divided by fft_size, Q1.15. They are transposed views of
            (bins, frames) arrays.
        """
        count, width = frames.shape
        n = self.fft_size // 2
        space = self.workspace
        # Pack, digit-reverse and zero pad in one scatter: sample s of every
        # frame goes to row sample_rows[s] of the stacked (2 * n, frames)
        # state; frames go on the last, contiguous axis.
        state = space.get("state", (2 * n, count), np.int16)
        state[self.sample_rows[:width]] = frames.T
        state[self.sample_rows[width:]] = 0
        state = state.reshape(2, n, count)
        source = state  # the first pass's input is already in its layout
        for index, stage in enumerate(self.stages):
            _butterflies(source, state, stage, space)
            if index + 1 < len(self.stages):
                source = _next_layout(state, stage, self.stages[index + 1].radix)
        real, imag = _split_real(state, self.split, space)
        return real.T, imag.T


def _fixdiv(x: np.ndarray, radix: int, out: np.ndarray) -> np.ndarray:
    """``C_FIXDIV`` of every value: x * (32767 // radix) in Q15, rounded.

    Args:
        x: int32 holding int16 values (already wrapped).
        out: int32 array of x's shape; may be x itself.
    Returns:
        ``out``; |result| <= 32767 // radix + 1 (8192 for radix 4, 16383
        for radix 2). |x * multiplier| < 2**29, so int32 is exact.
    """
    np.multiply(x, _FIXDIV[radix], out=out)
    out += _ROUND
    out >>= FFT_FRAC_BITS  # Q15 product -> Q0 again, floor after the +0.5: rounded
    return out


def _cmul_swapped(parts: np.ndarray, w: _Twiddle, shared: np.ndarray) -> np.ndarray:
    """``C_MUL`` in place: a * w in Q15, each part rounded; int32, not wrapped.

    Args:
        parts: int32 (2, ...) view, parts[0] = re(a), parts[1] = im(a), with
            |re(a)|, |im(a)| <= 2**15; overwritten.
        w: twiddles broadcasting against parts[0].
        shared: int32 scratch of parts[0]'s shape.
    Returns:
        ``parts[::-1]``, i.e. (re(a*w), im(a*w)): the products are written
        swapped, imaginary into parts[0], so that no copy is needed.

    Bounds: (re + im) * w.re + 2**14 <= 2**16 * 32767 + 2**14 < 2**31, and
    each finished part is at most 2**15 * sqrt(2) * 32767 + 2**14 < 2**31 in
    magnitude, so int32 is exact (an intermediate sum may wrap, but the
    finished part, which is what gets shifted, is in range and exact modulo
    2**32). The result leaves int16 only if |a| > 2**15 / sqrt(2), which
    happens only in the split step (the caller wraps there).
    """
    ar, ai = parts
    np.add(ar, ai, out=shared)
    shared *= w.re
    shared += _ROUND                # (re + im) * w.re + 0.5, Q15
    ar *= w.diff
    ar += shared                    # re * (im_w - re_w) + shared = im(a*w) + 0.5, Q15
    ai *= w.sum
    np.subtract(shared, ai, out=ai)  # shared - im * (re_w + im_w) = re(a*w) + 0.5, Q15
    parts >>= FFT_FRAC_BITS         # Q15 -> Q0, floor: round half up
    return parts[::-1]


def _wrap16(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int32 values to int16 range, in place."""
    x <<= 16
    x >>= 16
    return x


def _next_layout(state: np.ndarray, stage: _Stage, following: int) -> np.ndarray:
    """View of a pass's output in the next pass's leg-major layout.

    The next pass (radix p', m' = p * m) reads block b', leg q', value j' at
    kissfft position b' * p' * m' + q' * m' + j'. That is this pass's block
    b = b' * p' + q', leg q, value j with j' = q * m + j. This pass stores
    it at [:, q, b, j] of (2, p, blocks, m, frames); the view below puts the
    axes in the next pass's order (2, p', blocks / p', p, m, frames), where
    (p, m) together are the next pass's m'. (After the last pass there is
    one block, and the stored order is kissfft's.)
    """
    _, n, count = state.shape
    p, m = stage.radix, stage.m
    blocks = n // (p * m)
    split = state.reshape(2, p, blocks // following, following, m, count)
    return split.transpose(0, 3, 2, 1, 4, 5)


def _butterflies(source: np.ndarray, state: np.ndarray, stage: _Stage, space: Workspace) -> None:
    """One radix-p pass over every block of every frame.

    Products need int32; the sums after them do not. Every value a
    butterfly adds is in int16 range (C_FIXDIV and C_MUL bound them, see
    below), and additions and subtractions commute with a wrap modulo
    2**16, so the sums run in int16, where they wrap exactly as the
    reference's int16 stores do: no separate wrap is needed.

    Args:
        source: int16 pass input, a view (of ``state``) in the pass's
            leg-major layout (2, p, blocks, m, frames) or an axis-split
            form of it.
        state: int16 (2, n, frames); receives the pass's output in the same
            leg-major layout, contiguous.
        space: scratch buffers.
    """
    _, n, count = state.shape
    p, m = stage.radix, stage.m
    blocks = n // (p * m)
    # The one strided read of the pass: legs become contiguous int32 slabs.
    wide = space.get("wide", source.shape)
    np.copyto(wide, source)
    y = _fixdiv(wide, p, wide).reshape(2, p, blocks, m, count)  # |y| <= 32767 // p + 1
    narrow = space.get("narrow", y.shape, np.int16)
    legs = y[:, 1:]  # (2, p - 1, blocks, m, frames)
    if stage.twiddles.unit:
        # m == 1: every twiddle is 32767 + 0i, and C_MUL by it is
        # (v * 32767 + 2**14) >> 15 = v + ((2**14 - v) >> 15) = v for
        # -16383 <= v <= 16384, which holds after C_FIXDIV: skip it.
        np.copyto(narrow, y)
    else:
        shared = space.get("shared", legs[0].shape)
        # |a| <= 16383 per part, so |a * w| <= 16383 * sqrt(2) < 2**15: int16.
        np.copyto(narrow[:, 1:], _cmul_swapped(legs, stage.twiddles, shared))
        np.copyto(narrow[:, 0], y[:, 0])
    a0 = narrow[:, 0]  # (2, blocks, m, frames)
    s = narrow[:, 1:]
    out = state.reshape(2, p, blocks, m, count)
    if p == 2:
        np.add(a0, s[:, 0], out=out[:, 0])
        np.subtract(a0, s[:, 0], out=out[:, 1])
    else:  # kf_bfly4, forward; the int16 arithmetic wraps as the C stores do
        s0, s1, s2 = s[:, 0], s[:, 1], s[:, 2]
        s5 = np.subtract(a0, s1, out=space.get("s5", a0.shape, np.int16))
        a0 += s1
        s3 = np.add(s0, s2, out=s1)  # s1 is spent; its slot holds s3
        s4 = np.subtract(s0, s2, out=s2)
        np.add(a0, s3, out=out[:, 0])
        np.subtract(a0, s3, out=out[:, 2])
        np.add(s5[0], s4[1], out=out[0, 1])       # s5 - j * s4
        np.subtract(s5[1], s4[0], out=out[1, 1])
        np.subtract(s5[0], s4[1], out=out[0, 3])  # s5 + j * s4
        np.add(s5[1], s4[0], out=out[1, 3])


def _split_real(state: np.ndarray, w: _Twiddle, space: Workspace):
    """kissfft ``kiss_fftr`` split step: n/2 complex bins -> n/2+1 real bins.

    Args:
        state: int16 complex FFT of the packed samples, (2, n, frames);
            overwritten.
        space: scratch buffers.
    Returns:
        (real, imag) int16, shape (n + 1, frames).
    """
    _, n, count = state.shape
    half = n // 2
    mirror = slice(n - 1, half - 1, -1)  # rows n-1 down to n/2: row n-k for k = 1..n/2

    # Rows 0..n/2: fpk (k = 0..n/2); rows n/2+1..n: conj(fpnk) (k = 1..n/2).
    # One C_FIXDIV by 2 covers both: |.| <= 16383.
    halves = space.get("wide", (2, n + 1, count))
    np.copyto(halves[:, :half + 1], state[:, :half + 1])
    np.negative(state[1, half:], out=state[1, half:])  # int16: -(-32768) wraps to -32768, as in C
    np.copyto(halves[:, half + 1:], state[:, mirror])
    _fixdiv(halves, 2, halves)
    fpk, fnk = halves[:, 1:half + 1], halves[:, half + 1:]

    f1 = np.add(fpk, fnk, out=space.get("f1", fnk.shape))  # |f1| <= 32766: int16
    f2 = np.subtract(fpk, fnk, out=fpk)  # |f2| <= 32766
    shared = space.get("shared", (half, count))
    # |f2| can reach 32766 * sqrt(2), so the int16 store of tw may wrap.
    tw = _wrap16(_cmul_swapped(f2, w, shared))

    bins = space.get("bins", (2, n + 1, count))
    dc_re, dc_im = halves[0, 0], halves[1, 0]
    np.add(dc_re, dc_im, out=bins[0, 0])  # |.| <= 32766: no wrap
    np.subtract(dc_re, dc_im, out=bins[0, n])
    bins[1, 0] = 0
    bins[1, n] = 0
    # HALF_OF works on the int sum before the int16 store: each sum below
    # is at most 65533 in magnitude, so >> 1 (floor) lands in int16.
    np.add(f1, tw, out=bins[:, 1:half + 1])
    # Written second, so bin n/2 (where k == n-k) keeps these values.
    np.subtract(f1[0], tw[0], out=bins[0, mirror])
    np.subtract(tw[1], f1[1], out=bins[1, mirror])
    bins[:, 1:n] >>= 1
    out = bins.astype(np.int16)
    return out[0], out[1]
