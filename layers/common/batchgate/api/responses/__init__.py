"""What the API answers, as pydantic models for the OpenAPI document, and the ``responses=``
declarations the routes hand to powertools, one module per resource (``common`` holds the
errors, paging and the declarations' helpers).

The routes still build their answers as dicts (``Batch.to_aep()``, ``dataset_to_aep``, …): these
models describe those dicts, they do not produce them, so declaring them changed no answer.
``tests/integration/api/test_openapi_contract.py`` validates real answers against them, which is
what keeps the two from drifting. Models are strict (``additionalProperties: false``) wherever
the shape is ours, so a field added to an answer fails that test until it is documented here;
user data (rows, tags, JSON Schema documents) stays open.
"""
