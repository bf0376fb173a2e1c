"""batchgate: serverless batch ingestion into Apache Iceberg, AEP-compatible."""

__version__ = "0.1.0"
