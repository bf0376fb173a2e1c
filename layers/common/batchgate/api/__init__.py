"""The AEP-compatible REST API: a powertools resolver, routes split by resource, one error map."""
