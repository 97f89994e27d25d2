#!/usr/bin/env python3
"""Parses a Prometheus text exposition from stdin with prometheus_client's own parser (the
reference implementation's rules, not ours) and prints every sample as one JSON object:
{"name{label=value,...}": value}. Exits non-zero, with the parser's complaint, if it cannot."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
if not text.endswith("\n"):
    sys.exit("the exposition does not end with a newline")
samples = {}
types = {}
for family in text_string_to_metric_families(text):
    types[family.name] = family.type
    for sample in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
        key = f"{sample.name}{{{labels}}}" if labels else sample.name
        if key in samples:
            sys.exit(f"sample {key} appears twice")
        samples[key] = sample.value
print(json.dumps({"samples": samples, "types": types}))
