"""Realistic lab files: the demo and the end-to-end golden test share them."""
