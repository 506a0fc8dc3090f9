# ruff: noqa
# Used by models/build_models.sh only (never imported by the agent).
# Stores the float32 weights of an ONNX model as float16 initializers, each followed by a
# Cast back to float32, when the float16 value is exact (the weights of the TensorFlow.js
# MoveNet models were published float16-quantised, so tf2onnx's float32 copies hold only
# float16 values): the file halves, the computation stays float32 and its outputs are
# bit-identical (ONNX Runtime folds the Casts when the session opens).
# Usage: python fp16_weights.py IN.onnx OUT.onnx
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

src, dst = sys.argv[1], sys.argv[2]
model = onnx.load(src)
g = model.graph
keep, casts, moved = [], [], 0
for init in g.initializer:
    arr = numpy_helper.to_array(init)
    if arr.dtype == np.float32 and arr.size >= 16:
        half = arr.astype(np.float16)
        if np.array_equal(half.astype(np.float32), arr):
            name = init.name
            keep.append(numpy_helper.from_array(half, name + "__f16"))
            casts.append(helper.make_node("Cast", [name + "__f16"], [name],
                                          to=onnx.TensorProto.FLOAT, name=name + "__cast"))
            moved += 1
            continue
    keep.append(init)
del g.initializer[:]
g.initializer.extend(keep)
nodes = list(g.node)
del g.node[:]
g.node.extend(casts + nodes)
onnx.checker.check_model(model)
onnx.save(model, dst)
print(f"{moved} initializers stored as float16 -> {dst}")
