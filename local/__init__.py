"""The local stack: the whole gateway on one machine, without Docker or an AWS account (see local/stack.py)."""
