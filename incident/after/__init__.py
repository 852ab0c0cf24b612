"""After the incident: what is left to do once the orders are dealt with.

Modules by job: `record` (reading an incident, open or closed, and who cancelled what), `moments`
(the key moments and the timeline from the event log), `costs` (costs and fees entered, and the
money per currency), `chart` (orders per minute as an SVG chart), `report` (the post-incident
report, HTML and Markdown), `health` (the cancellation-rate what-if), `closing` (closing the
incident and when its personal data is due for purging) and `cards` (printed apology cards).
"""
