"""The SAM transform, offline: run by .venv-sam's Python, which has aws-sam-translator (`local.template.translate`).

Reads `{"template", "parameters", "region"}` as JSON on standard input (a SAM template whose code URIs are already
`s3://` URIs) and writes the plain CloudFormation template as JSON on standard output. The translator pins an older
pydantic than the layer ships, so it cannot run in the product's own virtualenv.
"""

import json
import os
import sys


class NoManagedPolicies:
    """Managed-policy loader for offline translation: the local stack never needs the managed policies' ARNs."""

    def load(self) -> dict[str, str]:
        return {}


def main() -> int:
    request = json.load(sys.stdin)
    os.environ["AWS_DEFAULT_REGION"] = request["region"]  # the translator reads it to build ARNs
    from samtranslator.translator.transform import transform

    json.dump(transform(request["template"], request["parameters"], NoManagedPolicies()), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
