"""Plotly figure builders, one module per page's subject: pure functions, data in, go.Figure out."""
