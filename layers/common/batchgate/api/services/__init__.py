"""What the API does, behind its routes: each module one resource's rules, written against the
domain (``batchgate.core``) and the adapters (``batchgate.aws``, ``batchgate.lake``)."""
