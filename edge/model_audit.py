"""What a ``.tflite`` model holds and costs: ops, tensor types, MACs, parameters,
sizes and a tensor-arena estimate. Needs an interpreter, not TensorFlow.

Integer-only means every tensor that carries data between ops is an integer
type (int8 activations and weights, int32 biases, int16 LSTM state). The int8
LSTM also lists float32 "intermediate" tensors that only hold quantization
parameters and carry no data; they are not counted.

MACs count multiply-accumulates of convolutions, fully connected layers and
LSTMs (FLOPs = 2 x MACs); element-wise ops and pooling are left out. The
arena estimate is the peak of the bytes of activation tensors alive at once
when ops run in order: a planner that reuses memory, as TFLite Micro's does,
needs about that much.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field

import numpy as np

FLOAT_TYPES = ("float16", "float32", "float64", "bfloat16")


@dataclass(frozen=True)
class ModelAudit:
    """Facts about one model file."""

    ops: tuple[str, ...]
    op_counts: dict[str, int]
    float_tensors: tuple[str, ...]
    input_dtype: str
    output_dtype: str
    macs: int
    parameters: int
    size_bytes: int
    gzip_bytes: int
    arena_bytes: int
    tensor_types: dict[str, int] = field(default_factory=dict)

    @property
    def integer_only(self) -> bool:
        return (not self.float_tensors and self.input_dtype == "int8"
                and self.output_dtype == "int8")

    def to_dict(self) -> dict:
        return {"integer_only": self.integer_only, "ops": list(self.ops),
                "op_counts": self.op_counts, "float_tensors": list(self.float_tensors),
                "input_dtype": self.input_dtype, "output_dtype": self.output_dtype,
                "macs": self.macs, "flops": 2 * self.macs, "parameters": self.parameters,
                "size_bytes": self.size_bytes, "gzip_bytes": self.gzip_bytes,
                "arena_bytes": self.arena_bytes, "tensor_types": self.tensor_types}


def audit_model(content: bytes) -> ModelAudit:
    """Audit a model held in memory."""
    from .interpreter import load_interpreter

    interpreter, _ = load_interpreter(content)
    ops = [op for op in interpreter._get_ops_details() if op["op_name"] != "DELEGATE"]
    tensors = {int(t["index"]): t for t in interpreter.get_tensor_details()}
    produced = {int(i) for op in ops for i in op["outputs"] if i >= 0}
    consumed = {int(i) for op in ops for i in op["inputs"] if i >= 0}
    graph_inputs = {int(d["index"]) for d in interpreter.get_input_details()}
    constants = consumed - produced - graph_inputs
    flowing = produced | consumed
    dtype = {i: np.dtype(t["dtype"]).name for i, t in tensors.items()}
    types: dict[str, int] = {}
    for index in sorted(flowing):
        types[dtype[index]] = types.get(dtype[index], 0) + 1
    counts: dict[str, int] = {}
    for op in ops:
        counts[op["op_name"]] = counts.get(op["op_name"], 0) + 1
    return ModelAudit(
        ops=tuple(op["op_name"] for op in ops), op_counts=counts,
        float_tensors=tuple(f"{tensors[i]['name']} ({dtype[i]})" for i in sorted(flowing)
                            if dtype[i] in FLOAT_TYPES),
        input_dtype=np.dtype(interpreter.get_input_details()[0]["dtype"]).name,
        output_dtype=np.dtype(interpreter.get_output_details()[0]["dtype"]).name,
        macs=sum(_macs(op, tensors) for op in ops),
        parameters=sum(int(np.prod(tensors[i]["shape"])) for i in constants),
        size_bytes=len(content), gzip_bytes=len(gzip.compress(content, compresslevel=9, mtime=0)),
        arena_bytes=_arena_bytes(ops, tensors, constants), tensor_types=types)


def _shape(tensors, index) -> tuple[int, ...]:
    return tuple(int(d) for d in tensors[int(index)]["shape"])


def _macs(op, tensors) -> int:
    name, inputs, outputs = op["op_name"], op["inputs"], op["outputs"]
    out = _shape(tensors, outputs[0]) if len(outputs) else ()
    if name == "CONV_2D":
        _, kh, kw, cin = _shape(tensors, inputs[1])
        return int(np.prod(out)) * kh * kw * cin
    if name == "DEPTHWISE_CONV_2D":
        _, kh, kw, _ = _shape(tensors, inputs[1])
        return int(np.prod(out)) * kh * kw
    if name == "FULLY_CONNECTED":
        return int(np.prod(out)) * _shape(tensors, inputs[1])[-1]
    if name == "UNIDIRECTIONAL_SEQUENCE_LSTM":
        batch, steps, features = _shape(tensors, inputs[0])
        hidden = _shape(tensors, inputs[5])[0] if inputs[5] >= 0 else _shape(tensors, inputs[6])[0]
        return batch * steps * 4 * hidden * (features + hidden)
    return 0


def _arena_bytes(ops, tensors, constants: set[int]) -> int:
    """Peak bytes of activations alive at once, ops run in order."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for step, op in enumerate(ops):
        for index in (*op["inputs"], *op["outputs"]):
            index = int(index)
            if index < 0 or index in constants:
                continue
            first.setdefault(index, step)
            last[index] = step
    peak = 0
    for step in range(len(ops)):
        alive = [i for i in first if first[i] <= step <= last[i]]
        size = sum(int(np.prod(tensors[i]["shape"])) * np.dtype(tensors[i]["dtype"]).itemsize
                   for i in alive)
        peak = max(peak, size)
    return peak
