"""The incident's workspace: one folder per incident under $INCIDENT_HOME with its SQLite
database. `store` holds the database, the order lines and the append-only event log (every change
goes through `Store.change()`, which writes its event in the same transaction); `runbook` the
checklist copied from a runbook when the incident opens; `files` private, atomic file writes."""
