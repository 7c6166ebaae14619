"""The 24-hour watch report: what happened, how fast staff answered, where the
watch is weak. `compute.build_report` is pure; `source` reads the alert store and the
readings; `render_html` / `render_csv` present it; `service` ties them to a running site.
"""
