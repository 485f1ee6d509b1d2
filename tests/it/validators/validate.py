"""Validates strata's attestations with independent validators.

    python validate.py spdx FILE        # spdx-tools: parse, then validate_full_spdx_document
    python validate.py cyclonedx FILE   # cyclonedx-python-lib: the 1.6 JSON schema, strict
    python validate.py intoto FILE      # in-toto-attestation: Statement v1 (and, for SLSA
                                        # provenance v1, the predicate's protobuf schema)

Exit 0 when valid; 1 with the validator's messages otherwise. Run with the
venv .ci/setup makes (/opt/strata-validators/bin/python).
"""
import json
import sys


def spdx(path):
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    return [m.validation_message for m in validate_full_spdx_document(parse_file(path))]


def cyclonedx(path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    with open(path) as f:
        error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(f.read())
    return [str(error)] if error else []


def intoto(path):
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
    from in_toto_attestation.v1.statement import Statement

    with open(path) as f:
        doc = json.load(f)
    try:
        pb = json_format.ParseDict(doc, statement_pb2.Statement())
        Statement.copy_from_pb(pb).validate()
        if doc.get("predicateType") == "https://slsa.dev/provenance/v1":
            from in_toto_attestation.predicates.provenance.v1 import provenance_pb2

            prov = json_format.ParseDict(doc["predicate"], provenance_pb2.Provenance())
            if not prov.build_definition.build_type or not prov.run_details.builder.id:
                return ["provenance: buildDefinition.buildType and runDetails.builder.id are required"]
            for rd in prov.build_definition.resolved_dependencies:
                ResourceDescriptor.copy_from_pb(rd).validate()
    except Exception as e:  # the validators raise ValueError or ParseError
        return [f"{type(e).__name__}: {e}"]
    return []


if __name__ == "__main__":
    kind, path = sys.argv[1], sys.argv[2]
    errors = {"spdx": spdx, "cyclonedx": cyclonedx, "intoto": intoto}[kind](path)
    for e in errors:
        print(e)
    print("valid" if not errors else f"{len(errors)} error(s)")
    sys.exit(1 if errors else 0)
