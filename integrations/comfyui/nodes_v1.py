"""The node in ComfyUI's classic (V1) API, for ComfyUI versions without `comfy_api.latest`."""

from expander.integrations.comfyui import CATEGORY, DESCRIPTION, NODE_OUTPUTS, RUNNER, v1_input_types


class ExpandPromptV1:
    """Expand a short prompt for a target image model (`expander.integrations.comfyui`)."""

    DESCRIPTION = DESCRIPTION
    CATEGORY = CATEGORY
    RETURN_TYPES = tuple(kind for _, kind, _ in NODE_OUTPUTS)
    RETURN_NAMES = tuple(name for name, _, _ in NODE_OUTPUTS)
    OUTPUT_TOOLTIPS = tuple(tip for _, _, tip in NODE_OUTPUTS)
    FUNCTION = "expand"

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return v1_input_types()

    @classmethod
    def IS_CHANGED(cls, **inputs):
        return RUNNER.fingerprint(**inputs)

    def expand(self, **inputs) -> tuple:
        return RUNNER.run(**inputs).as_tuple()
