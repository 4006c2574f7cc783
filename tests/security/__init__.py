# A package, so that tests/security/conftest.py is imported as
# "security.conftest" and never shadows tests/e2e's "conftest" module (both
# directories run in one pytest invocation; e2e tests `from conftest import`).
