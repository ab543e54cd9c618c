"""Static, self-contained HTML report for CSMs: ``report.render.render_report``."""
