"""Hand-written baselines: minimal plain-boto3 Lambda handlers, one per measured flow, that make exactly the AWS and
provider calls the gateway's handlers make for that flow (same operations, same count, same order), with no
Powertools and no pydantic. They are what the gateway's handlers are compared against in bench/report.md; they are
not production code (they skip most validation, the outbox recovery paths, metrics and structured logs).
"""
