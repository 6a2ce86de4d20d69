"""The expander HTTP API, in three layers: request/response models (`expander.protocol`) -> the service ->
thin routers.

    config.py          ServeConfig (`expander serve` settings)
    models.py          ServedModels: the served names (base model, LoRA adapters) and their revisions
    backends.py        async generation backends (vLLM AsyncLLM, a transformers worker) over `expander.engine`
    sample_batch.py    a `/v1/expand` batch's first draws made one engine call
    moderation.py      input and output moderation (lexicon policy, optional model, system-prompt leaks)
    request_checks.py  the language guard and the constraints report
    service.py         ExpanderService: the handlers, admission control, the per-request expansion steps
    streaming.py       server-sent events
    app.py             the FastAPI app: routers, errors as JSON, metrics, the playground
    metrics.py         Prometheus metrics; loadgen.py: load generators for benchmarks/serve_load.py
"""
