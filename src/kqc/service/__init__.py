"""The long-lived side of kqc: Prefect's server and the watch.

Owns starting Prefect's embedded server early (server_start), talking to a
Prefect API (prefect_api) and the `kqc watch` service that serves the watch
flow (watch).

May import: kqc.flows and everything below it, and Prefect. Only kqc.cli
imports it.
"""
