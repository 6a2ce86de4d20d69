"""ComfyUI node pack of the expander: one node, "Expand Prompt (expander)" (category `expander`).

Install: put (or link) this folder into `ComfyUI/custom_nodes/`, and install the expander library into ComfyUI's
Python from its repository: `pip install '/path/to/expander[constraints,language]'` (the PyPI package named
`expander` is an unrelated project). What the node does lives in `expander.integrations.comfyui`; this folder only
declares it to ComfyUI, in both of ComfyUI's node APIs:

* V3 (`comfy_api.latest`, ComfyUI from late 2025): `nodes_v3.ExpandPrompt`, an `io.ComfyNode`, returned by
  `comfy_entrypoint()` and also listed in `NODE_CLASS_MAPPINGS`. ComfyUI's loader reads `NODE_CLASS_MAPPINGS`
  first and never calls `comfy_entrypoint` when it is there; a V3 class works through either path, so both name
  the same class and the node is the same whichever path a ComfyUI version takes.
* V1 (older ComfyUI, no `comfy_api`): `nodes_v1.ExpandPromptV1`, a classic node class, in `NODE_CLASS_MAPPINGS`.
"""

try:
    from expander.integrations.comfyui import DISPLAY_NAME, NODE_ID
except ImportError as exc:  # not installed, or the unrelated PyPI `expander`
    raise ImportError(
        "the expander node pack needs the expander library in ComfyUI's Python: "
        "pip install '/path/to/expander[constraints,language]' (the PyPI package `expander` is another project)"
    ) from exc

try:
    from comfy_api.latest import io as _io  # noqa: F401  (ComfyUI with the V3 node API)
except ImportError:
    _io = None

if _io is not None:
    from .nodes_v3 import ExpanderExtension, ExpandPrompt, comfy_entrypoint

    NODE_CLASS_MAPPINGS = {NODE_ID: ExpandPrompt}
    __all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "ExpanderExtension", "comfy_entrypoint"]
else:
    from .nodes_v1 import ExpandPromptV1

    NODE_CLASS_MAPPINGS = {NODE_ID: ExpandPromptV1}
    __all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]

NODE_DISPLAY_NAME_MAPPINGS = {NODE_ID: DISPLAY_NAME}
