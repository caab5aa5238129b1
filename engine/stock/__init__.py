"""The inventory engine: one append-only stock ledger for every app, driven by the documents' stock effects."""
