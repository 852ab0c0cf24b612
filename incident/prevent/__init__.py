"""Prevention: preflight checks every running and planned promotion before it goes live.

`plan` and `prices` read the seller's files (through `fields`, which keeps file:line:column for
every value), `promotions_api` and `listing_prices` read the live account, `model` holds what they
read, `rules` the stacking rules (rules/stacking.yaml), `sweep` the worst stacked price per SKU and
stretch of time, `flags` and `naming` what is wrong, `approvals` the second person's approval, and
`preflight` runs it all and records the run in the account database (workspace.account).
"""
