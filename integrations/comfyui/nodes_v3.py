"""The node in ComfyUI's V3 API (`comfy_api.latest.io`): schema and execution from `expander.integrations.comfyui`."""

from comfy_api.latest import ComfyExtension, io

from expander.integrations.comfyui import (
    CATEGORY,
    DESCRIPTION,
    DISPLAY_NAME,
    NODE_ID,
    NODE_INPUTS,
    NODE_OUTPUTS,
    RUNNER,
    NodeInput,
)


def _input(spec: NodeInput):
    common = {"optional": spec.optional, "tooltip": spec.tooltip, "default": spec.default}
    if spec.kind == "STRING":
        return io.String.Input(spec.name, multiline=spec.multiline, **common)
    if spec.kind == "INT":
        return io.Int.Input(
            spec.name,
            min=spec.minimum,
            max=spec.maximum,
            control_after_generate=spec.control_after_generate or None,
            **common,
        )
    if spec.kind == "BOOLEAN":
        return io.Boolean.Input(spec.name, **common)
    if spec.kind == "COMBO":
        return io.Combo.Input(spec.name, options=list(spec.options), **common)
    raise ValueError(f"input {spec.name!r} has a kind the node pack does not map: {spec.kind!r}")


_OUTPUT_TYPES = {"STRING": io.String, "INT": io.Int}


class ExpandPrompt(io.ComfyNode):
    """Expand a short prompt for a target image model (`expander.integrations.comfyui`)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id=NODE_ID,
            display_name=DISPLAY_NAME,
            category=CATEGORY,
            description=DESCRIPTION,
            inputs=[_input(spec) for spec in NODE_INPUTS],
            # Outputs keep ComfyUI's default ids: ids must differ from the inputs' (`negative_prompt`, `width`).
            outputs=[_OUTPUT_TYPES[kind].Output(display_name=name, tooltip=tip) for name, kind, tip in NODE_OUTPUTS],
        )

    @classmethod
    def execute(cls, **inputs) -> io.NodeOutput:
        return io.NodeOutput(*RUNNER.run(**inputs).as_tuple())

    @classmethod
    def fingerprint_inputs(cls, **inputs):
        return RUNNER.fingerprint(**inputs)


class ExpanderExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [ExpandPrompt]


async def comfy_entrypoint() -> ExpanderExtension:
    return ExpanderExtension()
