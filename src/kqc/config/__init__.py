"""Configuration: what the environment asks of kqc.

Owns the settings (`KQC_DB`, the inbox and its folders, the watch's timings),
the input limits (`KQC_MAX_*`) and the lab's own vocabulary file
(`KQC_VOCABULARY`). Each is read, checked and turned into a named structure
here, so a bad value stops a command with one sentence before any work.

May import: kqc.core, kqc.errors. Nothing above it.
"""
