"""The layout every dashboard figure shares (template and margins), in one place for the
dashboard and its sections."""

LAYOUT = dict(template="plotly_white", margin=dict(t=60, l=60, r=20, b=50))
