"""Reports computed from a study: the Plotly dashboard. Reads studies; never trains or measures."""
