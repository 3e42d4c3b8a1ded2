"""The QA console: the browser pages QA leads, technicians, approvers,
regulators and admins sign in to (Starlette, Jinja2 templates, no script
fetched from the network). Every page reads the database through kqc.store;
every decision is signed through kqc.store.reviews and
kqc.store.dispositions after the signer's password is checked again; every
role check is made on the server, for every route.

May import: kqc.store, kqc.files, kqc.report, kqc.config, kqc.core, kqc.errors,
Starlette and Jinja2. Never Prefect or DuckDB: `kqc serve` (kqc.service)
runs it beside the watch.
"""
