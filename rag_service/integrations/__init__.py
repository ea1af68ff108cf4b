"""Integrations with other frameworks, each in its own module and each behind its own extra
(`pip install rag-service[langchain]`): nothing here is imported by the service itself, so the
core installs and runs without them."""
