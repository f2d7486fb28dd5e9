"""``emoedge listen``: live emotion from a microphone or a replayed file.

The path, one module each:

- :mod:`.capture`: audio sources. A sounddevice ``InputStream`` whose
  callback only copies each block into a bounded queue (counting PortAudio
  overflows and queue drops), or a file replayed into the same queue at
  real-time pace or as fast as the worker takes it.
- :mod:`.session`: the worker. It drains the queue, runs the
  :class:`~emoedge.StreamingRecognizer` (model layer), then the decision
  layer: the voice-activity gate (:mod:`.vad`) and smoothing
  (:mod:`.smoothing`), and hands one :class:`~.session.HopEvent` per hop to
  the outputs.
- :mod:`.output` (``--json`` lines, plain lines) and :mod:`.display` (the
  rich live view).

Configuration lives in :mod:`.config`; importing this package loads nothing
heavy (sounddevice and rich are imported when used).
"""
