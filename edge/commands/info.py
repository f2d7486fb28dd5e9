"""``emoedge info``: what a model file holds, its tensors, ops and checksums."""

from __future__ import annotations

import json
from typing import Any

import typer

from ..interpreter import InterpreterUnavailable, load_interpreter
from ..metadata import ModelConfigError
from ..model_file import ModelFile, read_model_file, read_operator_counts

# TFLite's BuiltinOperator codes for the ops small speech models use; the op
# list comes from the file itself so ``info`` works without an interpreter.
# Any other code prints as BUILTIN_<code>.
BUILTIN_OP_NAMES = {
    0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
    6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC", 16: "LSTM", 17: "MAX_POOL_2D",
    18: "MUL", 19: "RELU", 21: "RELU6", 22: "RESHAPE", 25: "SOFTMAX", 28: "TANH", 34: "PAD",
    35: "UNIDIRECTIONAL_SEQUENCE_RNN", 36: "GATHER", 39: "TRANSPOSE", 40: "MEAN", 41: "SUB",
    43: "SQUEEZE", 44: "UNIDIRECTIONAL_SEQUENCE_LSTM", 45: "STRIDED_SLICE", 49: "SPLIT",
    50: "LOG_SOFTMAX", 54: "PRELU", 55: "MAXIMUM", 56: "ARG_MAX", 57: "MINIMUM", 65: "SLICE",
    67: "TRANSPOSE_CONV", 70: "EXPAND_DIMS", 74: "SUM", 76: "RSQRT", 77: "SHAPE", 83: "PACK",
    88: "UNPACK", 98: "LEAKY_RELU", 99: "SQUARED_DIFFERENCE", 114: "QUANTIZE",
    117: "HARD_SWISH", 126: "BATCH_MATMUL", 132: "CONV_3D",
}


def run_info(model_path: str | None, as_json: bool) -> int:
    """Print a model file's metadata, tensors, ops, size and checksums.

    Args:
        model_path: the ``.tflite`` file; None for the packaged default model.
        as_json: print one JSON object instead of text.
    Returns:
        The exit code: 0, or 2 after printing a one-line error to stderr.
    """
    from ..recognizer import packaged_model_path

    try:
        report = build_report(read_model_file(model_path or packaged_model_path()))
    except ModelConfigError as error:
        typer.echo(f"emoedge: error: {error}", err=True)
        return 2
    typer.echo(json.dumps(report, indent=1) if as_json else format_report(report))
    return 0


def build_report(model: ModelFile) -> dict[str, Any]:
    """Everything ``info`` shows, as plain JSON-ready data."""
    tensors = _interpreter_tensors(model)
    size = len(model.content)
    return {
        "path": str(model.path),
        "size_bytes": size,
        "size_kb": round(size / 1024, 1),
        "file_sha256": model.file_sha256,
        "weights_sha256": model.weights_sha256,
        "metadata": json.loads(model.metadata.to_json()),
        "window_frames": model.metadata.window_frames,
        "hop_frames": model.metadata.hop_frames,
        "tensor_source": tensors["source"],
        "inputs": tensors["inputs"],
        "outputs": tensors["outputs"],
        "ops": [{"name": _op_name(code), "count": count}
                for code, count in read_operator_counts(model.content)],
    }


def _op_name(code: int | str) -> str:
    if isinstance(code, str):
        return f"CUSTOM:{code}"
    return BUILTIN_OP_NAMES.get(code, f"BUILTIN_{code}")


def _interpreter_tensors(model: ModelFile) -> dict[str, Any]:
    """Input and output tensors as the interpreter sees them.

    Without an interpreter installed, the metadata's copy of the tensor specs
    stands in, so ``info`` still works on a bare install.
    """
    try:
        interpreter, backend = load_interpreter(model.content)
    except InterpreterUnavailable:
        return {"source": "metadata (no TFLite interpreter installed)",
                "inputs": [{"name": "", **model.metadata.input.to_dict()}],
                "outputs": [{"name": "", **model.metadata.output.to_dict()}]}
    except (RuntimeError, ValueError) as error:
        detail = " ".join(str(error).split())  # interpreter messages span lines
        raise ModelConfigError(f"{model.path}: the interpreter cannot load it: {detail}") from None
    return {"source": f"{backend.name} {backend.version}",
            "inputs": [_tensor(d) for d in interpreter.get_input_details()],
            "outputs": [_tensor(d) for d in interpreter.get_output_details()]}


def _tensor(details: dict[str, Any]) -> dict[str, Any]:
    scale, zero_point = details["quantization"]
    return {"name": str(details["name"]), "shape": [int(d) for d in details["shape"]],
            "dtype": getattr(details["dtype"], "__name__", str(details["dtype"])),
            "scale": float(scale), "zero_point": int(zero_point)}


# --- text ------------------------------------------------------------------
def format_report(report: dict[str, Any]) -> str:
    """The human-readable form of :func:`build_report`'s data."""
    meta = report["metadata"]
    sections = [
        (report["path"], _file_lines(report)),
        ("model", _model_lines(report)),
        (f"tensors (from {report['tensor_source']})",
         [_tensor_line("input", t) for t in report["inputs"]]
         + [_tensor_line("output", t) for t in report["outputs"]]),
        ("ops (main subgraph)",
         [", ".join(f"{op['name']} x{op['count']}" for op in report["ops"])]),
        ("frontend", _pairs(meta["frontend"])),
        ("provenance", _pairs(meta["provenance"]) or ["(none)"]),
    ]
    return "\n".join(line for title, lines in sections
                     for line in [title, *(f"  {text}" for text in lines)])


def _file_lines(report: dict[str, Any]) -> list[str]:
    meta = report["metadata"]
    return [f"size            {report['size_bytes']} bytes ({report['size_kb']} KB)",
            f"file sha256     {report['file_sha256']}",
            f"weights sha256  {report['weights_sha256']}",
            f"written by      emoedge {meta['emoedge_version'] or '?'} "
            f"(metadata schema {meta['schema_version']})"]


def _model_lines(report: dict[str, Any]) -> list[str]:
    meta = report["metadata"]
    lines = [f"task            {meta['task']} ({meta['output_kind']})",
             f"labels          {', '.join(meta['labels'])}",
             f"window          {meta['window_ms']} ms ({report['window_frames']} frames), "
             f"hop {meta['hop_ms']} ms ({report['hop_frames']} frames)",
             f"short clips     padded to one window: {meta['short_clip_padding']}"]
    if meta.get("valence_arousal"):
        points = ", ".join(f"{label} ({v:+.2f}, {a:+.2f})"
                           for label, (v, a) in meta["valence_arousal"].items())
        lines.append(f"valence/arousal {points}")
    return lines


def _tensor_line(role: str, tensor: dict[str, Any]) -> str:
    quantization = (f"scale {tensor['scale']:.6g} zero_point {tensor['zero_point']}"
                    if tensor["scale"] else "not quantized")
    name = f" {tensor['name']}" if tensor["name"] else ""
    return f"{role:<7}{name} {tensor['dtype']} {tensor['shape']} {quantization}"


def _pairs(mapping: dict[str, Any]) -> list[str]:
    return [f"{key:<21} {value}" for key, value in mapping.items()]
