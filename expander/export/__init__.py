"""Export the expander for other runtimes: `expander export OUT_DIR --format hf|gguf|ollama`.

The model (a built-in name, a local directory or a hub id) is merged with its LoRA adapter
(`expander.models.merged_model_dir`) and written as a Hugging Face directory, as GGUF files (f16, q8_0) for
llama.cpp and friends, or as a GGUF plus an Ollama `Modelfile` whose TEMPLATE is the model's chat template,
whose SYSTEM is our expansion contract and whose PARAMETERs are the `medium` creativity's sampling.

    from expander.export import export_model
    export_model("out/expander-gguf", format="gguf")          # out/expander-gguf/expander-{f16,q8_0}.gguf

Where things are: `export_model.py` (the one entry point), `staging.py` (write to a temporary directory, then
rename: never a half-written export), `hf_dir.py`, `gguf_llama.py` (tensors, hyper-parameters, quantisation),
`gguf_vocab.py` (tokenizer metadata), `ollama.py` (Modelfile), `errors.py`.
"""

from expander.export.errors import ExportDirExistsError, ExportError
from expander.export.export_model import DEFAULT_GGUF_TYPES, FORMATS, MANIFEST, ExportResult, export_model
from expander.export.gguf_llama import GGUF_TYPES

__all__ = [
    "DEFAULT_GGUF_TYPES",
    "FORMATS",
    "GGUF_TYPES",
    "MANIFEST",
    "ExportDirExistsError",
    "ExportError",
    "ExportResult",
    "export_model",
]
