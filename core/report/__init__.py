"""What a study found, for people: its results as tables (:mod:`~core.report.results`), as charts
(:mod:`~core.report.charts`), and as one self-contained HTML file (:mod:`~core.report.html`).

The dashboard's pages draw from the same two modules, so a report and the Compare page never disagree.
"""
