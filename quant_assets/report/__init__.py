"""A study's report: pure frames (``frames``) and their figures and HTML page (``page``)."""
