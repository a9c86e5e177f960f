"""The metrics of AI adoption and usage: loading, the quota ledger and reports. Never imports streamlit."""
