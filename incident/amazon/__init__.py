"""Everything that speaks Amazon's formats and APIs.

Formats: `reports` (Seller Central order report files) with `cells` (their values),
`marketplaces`. The SP-API: `spapi` (the connection: credentials, pacing, retries) and
`ratelimits` (token buckets), then one module per job: `live` (pulling orders), `feeds` (the
cancellation feed), `listings` (stop-sales). A new Amazon API gets its own module here, calling it
through `spapi.Connection` and python-amazon-sp-api's clients.
"""
