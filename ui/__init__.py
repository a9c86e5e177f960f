"""The Streamlit layer of the console: caching, shared filters and chart builders.

Kept apart from `metrics` so that the numbers stay testable without Streamlit, and apart from
`app_pages/` because Streamlit runs page files as scripts, not as importable modules.
"""
