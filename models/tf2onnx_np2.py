# ruff: noqa
# Used by models/build_models.sh only (never imported by the agent): patches tf2onnx 1.17
# for numpy 2 and TensorFlow 2.21, then runs its CLI. From the project's research notes.
# tf2onnx 1.17 + numpy 2 + TF 2.21 shims, then run the tf2onnx CLI
import sys, numpy as np
if not hasattr(np, 'product'): np.product = np.prod
from tf2onnx import tfjs_utils
_orig = tfjs_utils.get_output_shapes
def _patched(node_def, input_dtypes, input_shapes, inp_consts):
    # tfjs graph models omit the TArgs attr of fused ops that newer TF requires
    if node_def.op in ('_FusedConv2D', '_FusedMatMul', 'FusedDepthwiseConv2dNative', '_FusedDepthwiseConv2dNative') and 'TArgs' not in node_def.attr:
        n = node_def.attr['num_args'].i if 'num_args' in node_def.attr else 0
        t = node_def.attr['T'].type
        node_def.attr['TArgs'].list.type.extend([t] * n)
    return _orig(node_def, input_dtypes, input_shapes, inp_consts)
tfjs_utils.get_output_shapes = _patched
_orig_names = tfjs_utils.get_output_names_and_dtypes
def _names(op_type, tf_attr, inp_dtypes):
    # fill attrs that newer TF op defs added (e.g. TopKV2.index_type) from the op def defaults
    try:
        op_def = tfjs_utils.tf_api_def_map.get_op_def(op_type)
        from tensorflow.python.framework import dtypes as _dt
        for a in op_def.attr:
            if a.name not in tf_attr and a.HasField('default_value') and a.default_value.WhichOneof('value') == 'type':
                tf_attr[a.name] = a.default_value.type
    except Exception:
        pass
    return _orig_names(op_type, tf_attr, inp_dtypes)
tfjs_utils.get_output_names_and_dtypes = _names
from tf2onnx import convert
sys.argv[0] = 'tf2onnx.convert'; convert.main()
