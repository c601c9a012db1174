"""The documents generated from the schema: the JSON Schema of a results line (shipped as
flopbench/results/results.schema.json) and docs/results.md, field by field with unit and meaning. docs/generate.py
writes both (with what only the layers above the results know, such as the implementations)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from flopbench.results.schema import SCHEMA_VERSION, Footer, Header, Record, Resume


def json_schema() -> dict[str, Any]:
    """One JSON Schema for a results line: any of the line types, told apart by `type`."""
    from pydantic import TypeAdapter

    line = Annotated[Header | Record | Resume | Footer, Field(discriminator="type")]
    schema = TypeAdapter(line).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"flopbench results line, schema {SCHEMA_VERSION}"
    return schema


def _type_text(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in prop:
        return " or ".join(_type_text(p) for p in prop["anyOf"])
    if "const" in prop:
        return repr(prop["const"])
    if "enum" in prop:
        return " \\| ".join(map(str, prop["enum"]))
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type_text(prop.get('items', {}))}"
    if kind == "object" and "additionalProperties" in prop and isinstance(prop["additionalProperties"], dict):
        return f"map to {_type_text(prop['additionalProperties'])}"
    return {
        "integer": "int",
        "number": "float",
        "string": "str",
        "boolean": "bool",
        "null": "null",
        "object": "object",
    }.get(kind, kind)


def markdown(appendix: list[str] | None = None) -> str:
    """docs/results.md: every line type and nested object, field by field, with unit and meaning; `appendix`: lines
    of what the layers above the results declare (the implementations an `impl` names)."""
    schema = json_schema()
    defs = schema["$defs"]
    order = ["Header", "Record", "Resume", "Footer"] + sorted(set(defs) - {"Header", "Record", "Resume", "Footer"})
    lines = [
        "# Results files",
        "",
        "Generated from `flopbench/results/schema.py` by `python docs/generate.py`; do not edit by hand. The same",
        "definitions are shipped as a JSON Schema, `flopbench/results/results.schema.json`.",
        "",
        f"A results file is JSON Lines, schema **{SCHEMA_VERSION}**: a `Header` on line 1, then one `Record` per"
        " workload, flushed as it is measured; `Resume` marks where a run was continued and `Footer` where it"
        " ended. Files written by older versions are migrated when read (`flopbench upgrade` rewrites them);"
        " files from a newer flopbench are refused.",
        "",
        "Units: `FLOP` a count, `FLOP/s` a rate, `B` bytes, `s` seconds, `1` a ratio; an empty unit is a label or"
        " a structure.",
        "",
    ]
    for name in order:
        block = defs[name]
        lines += [f"## {name}", ""]
        if block.get("description"):
            lines += [" ".join(block["description"].split()), ""]
        lines += ["| field | type | unit | meaning |", "|---|---|---|---|"]
        for key, prop in block.get("properties", {}).items():
            required = " (required)" if key in block.get("required", []) else ""
            lines.append(
                f"| `{key}` | {_type_text(prop)} | {prop.get('unit', '')} | {prop.get('description', '')}{required} |"
            )
        lines.append("")
    return "\n".join([*lines, *(appendix or [])])
