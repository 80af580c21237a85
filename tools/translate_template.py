"""Write template.yaml translated into plain CloudFormation (the SAM transform applied offline).

    python -m tools.translate_template --output .aws-sam/checkov/template.json [--region eu-west-1] [Name=Value ...]

checkov understands `AWS::Serverless::*` resources but does not apply the transform, so it never sees what SAM
generates from them: the functions' IAM roles and their expanded policy templates, the HTTP API's stage, the Lambda
permissions and event source mappings. `make checkov` scans both the SAM template and this translation. The
translation itself is local/template.py's (the one the local stack uses), so there is one way to translate.
SAM copies a function's `Metadata` (and so its `checkov: skip:` list) onto the generated `AWS::Lambda::Function`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from local.template import effective_parameters, load_template, translate

ROOT = Path(__file__).resolve().parents[1]


def translated(template_path: Path, region: str, overrides: dict[str, str] | None = None) -> dict:
    sam = load_template(template_path)
    return translate(sam, effective_parameters(sam, overrides), region)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.translate_template", description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--region", default="eu-west-1")
    parser.add_argument("--output", "-o", type=Path, help="file to write (default: standard output)")
    parser.add_argument("overrides", nargs="*", metavar="Name=Value", help="template parameter values")
    args = parser.parse_args(argv)
    if any("=" not in item for item in args.overrides):
        parser.error("parameter values are given as Name=Value")
    overrides = dict(item.split("=", 1) for item in args.overrides)
    text = json.dumps(translated(args.template, args.region, overrides), indent=1, sort_keys=False) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
