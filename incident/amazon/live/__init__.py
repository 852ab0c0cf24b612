"""Pulling the incident's orders live from the Selling Partner API.

Three ways, chosen by a plan made before pulling:
- `search`: Orders 2026-01-01 searchOrders, 100 orders with their items, buyer and promotions per
  call (the main path);
- `v0`: Orders v0 getOrders + getOrderItems per order, where 2026-01-01 is not open to the app;
- `report`: for windows so busy that paging searchOrders would take longer, the All Orders report
  plus getOrder for the affected orders only.
Every page is saved with its pagination token in one transaction, so a killed pull resumes
where it stopped, never losing or repeating a saved page.

Modules by job: `plan` (weighing the ways), `convert` (API orders to report-shaped lines),
`session` (what one pull shares, and saving a page), one module per way (`search`, `v0`,
`report`), and `pull` (LivePull: resume or plan, then run the chosen way).
"""

from incident.amazon.live.plan import ASSUMED_REPORT_SECONDS, LiveResult, Plan, estimate_seconds
from incident.amazon.live.pull import LivePull

__all__ = ["ASSUMED_REPORT_SECONDS", "LivePull", "LiveResult", "Plan", "estimate_seconds"]
