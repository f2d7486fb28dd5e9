"""``emoedge audit MODEL``: is the model integer-only, and what does it cost?"""

from __future__ import annotations

import json
import sys

from ..model_audit import audit_model


def run_audit(model_path: str, *, allow_float: bool, as_json: bool) -> int:
    """Print the audit; exit 0 if integer-only (or allowed), 1 if not, 2 on errors."""
    try:
        with open(model_path, "rb") as handle:
            content = handle.read()
        audit = audit_model(content)
    except (OSError, ValueError, RuntimeError) as error:
        print(f"emoedge: error: {model_path}: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps({"model": model_path, **audit.to_dict()}, indent=1))
    else:
        _print_text(model_path, audit)
    if audit.integer_only or allow_float:
        return 0
    print(f"emoedge: {model_path} is not integer-only: {len(audit.float_tensors)} float "
          "tensor(s) between input and output (pass --allow-float to accept)", file=sys.stderr)
    return 1


def _print_text(path: str, audit) -> None:
    verdict = "integer-only" if audit.integer_only else "NOT integer-only"
    lines = [
        f"{path}: {verdict} (input {audit.input_dtype}, output {audit.output_dtype})",
        "ops          " + ", ".join(f"{name} x{count}" for name, count in audit.op_counts.items()),
        "tensors      " + ", ".join(f"{count} {dtype}" for dtype, count in audit.tensor_types.items()),
        f"MACs         {audit.macs:,} per window ({2 * audit.macs:,} FLOPs)",
        f"parameters   {audit.parameters:,}",
        f"size         {audit.size_bytes:,} bytes raw, {audit.gzip_bytes:,} bytes gzip -9",
        f"arena        ~{audit.arena_bytes:,} bytes of activations alive at once (estimate)",
    ]
    for tensor in audit.float_tensors:
        lines.append(f"float tensor {tensor}")
    print("\n".join(lines))
