"""Hand-written campaign counters: one UpdateItem on the reference's shard for an event that went out."""

import hashlib
import time

SHARDS = 16
RETENTION_SECONDS = 180 * 86400


def add(dynamodb, table: str, reference: str, shard_key: str, counts: dict[str, int], at: str) -> None:
    shard = int.from_bytes(hashlib.sha256(shard_key.encode()).digest()[:2], "big") % SHARDS
    names = {f"#c{index}": name for index, name in enumerate(sorted(counts))}
    values = {f":n{alias[2:]}": {"N": str(counts[name])} for alias, name in names.items()}
    dynamodb.update_item(
        TableName=table,
        Key={"pk": {"S": f"SUMMARY#{reference}#{shard:02d}"}},
        UpdateExpression=f"ADD {', '.join(f'{alias} :n{alias[2:]}' for alias in names)} "
        "SET first_at = if_not_exists(first_at, :at), last_at = :at, expires_at = :exp",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={
            **values,
            ":at": {"S": at},
            ":exp": {"N": str(int(time.time()) + RETENTION_SECONDS)},
        },
    )
