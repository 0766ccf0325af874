"""Reports of a run: the records tests produce, and the files and summaries made from them.

A test's record is built on the worker that ran it, as plain JSON-ready data, and travels to the
controller on the test report (that is what pytest-xdist serialises). Everything downstream --
terminal summary, JSON, Markdown and HTML reports, JUnit properties -- reads these records only.
"""
