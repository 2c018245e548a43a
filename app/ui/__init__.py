"""Small Streamlit helpers shared by the pages (sidebar, data, runs, job panel, widgets)."""
