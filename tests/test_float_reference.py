"""Float reference: with NR and PCAN off, our log features track a float log-mel.

``python_speech_features.logfbank`` (0.6) is ``log(fbank(...))`` with a
rectangular window and no way to change it, so the matched-window reference
calls ``fbank`` with our Hann window and takes the log, as ``logfbank`` does.
Our features are 64 * ln(sqrt(energy)) = 32 * ln(energy) + const, so a linear
relation with correlation near 1 is expected. Values our fixed-point log
floors to 0 (digital silence, which RAVDESS has a lot of) are left out: there
the float log is just log(eps).
"""

from __future__ import annotations

import numpy as np

from emoedge import FrontendConfig, compute_features

BOUND = 0.98


def _hann(length: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(length) + 0.5) / length)


def _reference(pcm: np.ndarray, config: FrontendConfig, window=None) -> np.ndarray:
    import python_speech_features as psf

    common = dict(samplerate=config.sample_rate_hz, winlen=config.window_size_ms / 1000,
                  winstep=config.window_step_ms / 1000, nfilt=config.num_channels, nfft=512,
                  lowfreq=config.lower_band_limit_hz, highfreq=config.upper_band_limit_hz,
                  preemph=0)
    if window is None:
        return psf.logfbank(pcm.astype(np.float64), **common)
    energies, _ = psf.fbank(pcm.astype(np.float64), winfunc=window, **common)
    return np.log(energies)


def _pooled_correlation(clips, config, window) -> float:
    ours, theirs = [], []
    for pcm in clips:
        a = compute_features(pcm, config).astype(np.float64)
        b = _reference(pcm, config, window)
        frames = min(len(a), len(b))
        a, b = a[:frames], b[:frames]
        kept = a > 0
        ours.append(a[kept])
        theirs.append(b[kept])
    return float(np.corrcoef(np.concatenate(ours), np.concatenate(theirs))[0, 1])


def test_log_features_correlate_with_python_speech_features(real_clips):
    config = FrontendConfig()  # the SER default has NR and PCAN off
    assert not config.noise_reduction_active and not config.enable_pcan
    clips = list(real_clips.values())
    matched = _pooled_correlation(clips, config, _hann)
    rectangular = _pooled_correlation(clips, config, None)
    print(f"\ncorrelation with psf log-mel on {len(clips)} real clips: "
          f"Hann-matched {matched:.4f}, plain logfbank (rectangular) {rectangular:.4f}")
    assert matched >= BOUND


def test_generated_speech_correlates_too():
    """Runs without data. (A pure sweep is not speech: single tones fall
    between psf's bin-rounded triangles and ours, so it correlates less.)"""
    from signals import voiced_speech

    clips = [voiced_speech(1.0, pitch_hz=pitch, seed=i) for i, pitch in enumerate((110, 180, 240))]
    assert _pooled_correlation(clips, FrontendConfig(), _hann) >= BOUND
