#!/usr/bin/env python3
"""Checks SQL with Google's own GoogleSQL analyzer (ZetaSQL), offline.

The BigQuery emulator runs SQL on DuckDB, which accepts what BigQuery refuses (DuckDB
functions, `::` casts, STRING = INT64, UNION without ALL). This script starts the
ZetaSQL local service (`remote_server.so`, from the npm package
`@fivetrandevelopers/zetasql`, which `scripts/test.sh` installs under
`.emulators/zetasql`) on a loopback port, analyses what it is given, and stops it.

Input (stdin), one JSON object:
  {"tables": [{"name": "p.d.t", "columns": [BigQuery JSON schema fields]}],
   "views": [{"name": "v_x", "full_name": "p.d.v_x", "sql": "SELECT ..."}],
   "statements": [{"id": "...", "sql": "...", "parameters": {"run_time": "TIMESTAMP"}}]}
Views are analysed in order, and each one that analyses joins the catalog with its output
columns, under its full and bare names (as tables are). A statement may be a script:
it is cut at its top-level semicolons; `DECLARE name TYPE DEFAULT expr` is checked
(the default must be of that type) and the name becomes a constant of that type for the
statements after it.

Output (stdout), one JSON object per view and statement, in order:
  {"id": "view v_x", "ok": false, "error": "No matching signature ... [at 3:7]"}
with the line:column in the text as given (a script's statement's place counted from
the script's start). Exit status 0 when the analyser ran, whatever it found.

    python googlesql.py --dir .emulators/zetasql < input.json
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time

BQ_TYPES = {
    "STRING": "TYPE_STRING", "BYTES": "TYPE_BYTES", "INTEGER": "TYPE_INT64",
    "INT64": "TYPE_INT64", "FLOAT": "TYPE_DOUBLE", "FLOAT64": "TYPE_DOUBLE",
    "NUMERIC": "TYPE_NUMERIC", "BIGNUMERIC": "TYPE_BIGNUMERIC", "BOOLEAN": "TYPE_BOOL",
    "BOOL": "TYPE_BOOL", "TIMESTAMP": "TYPE_TIMESTAMP", "DATE": "TYPE_DATE",
    "TIME": "TYPE_TIME", "DATETIME": "TYPE_DATETIME", "JSON": "TYPE_JSON",
    "GEOGRAPHY": "TYPE_GEOGRAPHY", "INTERVAL": "TYPE_INTERVAL",
}


def load_stubs(gen):
    sys.path.insert(0, gen)
    global pb, grpc_pb, type_pb2, catalog_pb2, table_pb2, options_pb2, zoptions_pb2, const_pb2, value_pb2
    import local_service_pb2 as pb  # noqa: E402
    import local_service_pb2_grpc as grpc_pb  # noqa: E402
    from zetasql.public import type_pb2, simple_table_pb2 as table_pb2, options_pb2 as zoptions_pb2  # noqa: E402
    from zetasql.public import simple_constant_pb2 as const_pb2, value_pb2  # noqa: E402
    from zetasql.proto import simple_catalog_pb2 as catalog_pb2, options_pb2  # noqa: E402


def type_of(field):
    """The TypeProto of a BigQuery JSON schema field (RECORD and REPEATED included)."""
    kind = field["type"].upper()
    if kind in ("RECORD", "STRUCT"):
        t = type_pb2.TypeProto(type_kind=type_pb2.TYPE_STRUCT)
        for f in field.get("fields", []):
            t.struct_type.field.add(field_name=f["name"], field_type=type_of(f))
    else:
        t = type_pb2.TypeProto(type_kind=type_pb2.TypeKind.Value(BQ_TYPES[kind]))
    if field.get("mode", "").upper() == "REPEATED":
        t = type_pb2.TypeProto(type_kind=type_pb2.TYPE_ARRAY, array_type=type_pb2.ArrayTypeProto(element_type=t))
    return t


def scalar(name):
    """The TypeProto of a parameter's or variable's type name: a scalar or ARRAY<scalar>."""
    m = re.fullmatch(r"ARRAY<(\w+)>", name.upper())
    if m:
        return type_pb2.TypeProto(type_kind=type_pb2.TYPE_ARRAY, array_type=type_pb2.ArrayTypeProto(element_type=scalar(m.group(1))))
    return type_pb2.TypeProto(type_kind=type_pb2.TypeKind.Value(BQ_TYPES[name.upper()]))


def some_value(t):
    """A value of scalar type `t` (a constant must carry one; which one does not matter)."""
    k = t.type_kind
    v = value_pb2.ValueProto()
    if k == type_pb2.TYPE_DATE:
        v.date_value = 0
    elif k == type_pb2.TYPE_TIMESTAMP:
        v.timestamp_value.seconds = 0
    elif k == type_pb2.TYPE_BOOL:
        v.bool_value = False
    elif k == type_pb2.TYPE_INT64:
        v.int64_value = 0
    elif k == type_pb2.TYPE_STRING:
        v.string_value = ""
    elif k == type_pb2.TYPE_DOUBLE:
        v.double_value = 0.0
    else:
        raise ValueError(f"no constant of type {type_pb2.TypeKind.Name(k)} can be declared here")
    return v


def split_statements(sql):
    """The top-level statements of a script, each with the line it starts on (0-based),
    cut at semicolons outside strings, quoted names and comments."""
    out, start, i, n = [], 0, 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i) or c == "#":
            j = sql.find("\n", i)
            i = n if j < 0 else j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c in "'\"`":
            triple = sql[i:i + 3] == c * 3
            q = c * 3 if triple else c
            i += len(q)
            while i < n and not sql.startswith(q, i):
                i += 2 if sql[i] == "\\" else 1
            i += len(q)
        elif c == ";":
            out.append((sql[start:i], sql.count("\n", 0, start)))
            start = i = i + 1
        else:
            i += 1
    if sql[start:].strip():
        out.append((sql[start:], sql.count("\n", 0, start)))
    return out


def first_line(text):
    """The 0-based line, within `text`, of its first character outside comments."""
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
        elif text.startswith("--", i) or text[i] == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            break
    return text.count("\n", 0, i)


def without_comments(sql):
    return re.sub(r"(--|#)[^\n]*|/\*.*?\*/", " ", sql, flags=re.S).strip()


def moved(message, lines):
    """An analyser message with its `[at L:C]` moved down by `lines` lines."""
    def shift(m):
        return f"[at {int(m.group(1)) + lines}:{m.group(2)}]"
    return re.sub(r"\[at (\d+):(\d+)\]", shift, message)


class Analyzer:
    def __init__(self, stub, language):
        self.stub = stub
        self.language = language
        self.tables = []
        self.constants = []

    def add_table(self, full_name, columns):
        """Registers a table (or an analysed view) under its full and its bare name."""
        for name in {full_name, full_name.split(".")[-1]}:
            t = table_pb2.SimpleTableProto(name=name)
            for col_name, col_type in columns:
                t.column.add(name=col_name, type=col_type)
            self.tables.append(t)

    def request(self, sql, parameters):
        opts = options_pb2.AnalyzerOptionsProto(
            language_options=self.language,
            error_message_mode=zoptions_pb2.ERROR_MESSAGE_ONE_LINE,
            default_timezone="UTC",
        )
        for name, kind in (parameters or {}).items():
            opts.query_parameters.add(name=name, type=scalar(kind))
        cat = catalog_pb2.SimpleCatalogProto(
            name="bigquery",
            table=self.tables,
            constant=self.constants,
            builtin_function_options=options_pb2.ZetaSQLBuiltinFunctionOptionsProto(language_options=self.language),
        )
        return pb.AnalyzeRequest(options=opts, simple_catalog=cat, sql_statement=sql)

    def analyze(self, sql, parameters=None):
        """The resolved statement, or raises with the analyser's message."""
        return self.stub.Analyze(self.request(sql, parameters))

    def output_columns(self, sql, parameters=None):
        resp = self.analyze(sql, parameters)
        node = resp.resolved_statement.resolved_query_stmt_node
        return [(c.name, c.column.type) for c in node.output_column_list]

    def script(self, sql, parameters):
        """Every statement of a script, DECLAREs included; the first error, or None."""
        saved = list(self.constants)
        try:
            for text, line in split_statements(sql):
                bare = without_comments(text)
                if not bare:
                    continue
                m = re.match(r"DECLARE\s+(\w+)\s+(\w+)\s+DEFAULT\s+(.*)\Z", bare, re.S | re.I)
                try:
                    if m:
                        name, kind, expr = m.groups()
                        got = self.output_columns(f"SELECT {expr}", parameters)[0][1]
                        want = scalar(kind)
                        if got.type_kind != want.type_kind:
                            return (f"DECLARE {name} {kind} has a DEFAULT of type "
                                    f"{type_pb2.TypeKind.Name(got.type_kind)[5:]} [at {line + first_line(text) + 1}:1]")
                        self.constants.append(const_pb2.SimpleConstantProto(
                            name_path=[name], type=want, value=some_value(want)))
                    else:
                        self.analyze(text, parameters)
                except grpc.RpcError as e:
                    return moved(e.details(), line)
            return None
        finally:
            self.constants = saved


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="where scripts/test.sh installed the analyzer (.emulators/zetasql)")
    args = ap.parse_args()
    package = os.path.join(args.dir, "node_modules", "@fivetrandevelopers", "zetasql", "lib", "zetasql")
    server = os.path.join(package, "remote_server.so")
    if not os.access(server, os.X_OK):
        sys.exit(f"googlesql: {server} is missing: run scripts/test.sh, which installs the GoogleSQL analyzer")
    load_stubs(os.path.join(args.dir, "gen"))
    global grpc
    import grpc  # noqa: E402

    data = json.load(sys.stdin)
    port = free_port()
    proc = subprocess.Popen([server, "127.0.0.1", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        try:
            grpc.channel_ready_future(channel).result(timeout=30)
        except grpc.FutureTimeoutError:
            sys.exit(f"googlesql: the analyzer did not listen on 127.0.0.1:{port} within 30 s")
        stub = grpc_pb.ZetaSqlLocalServiceStub(channel)
        language = stub.GetLanguageOptions(pb.LanguageOptionsRequest(maximum_features=True))
        language.product_mode = zoptions_pb2.PRODUCT_EXTERNAL
        del language.supported_statement_kinds[:]  # empty: every kind
        analyzer = Analyzer(stub, language)
        for t in data.get("tables", []):
            analyzer.add_table(t["name"], [(f["name"], type_of(f)) for f in t["columns"]])
        for v in data.get("views", []):
            out = {"id": f"view {v['name']}", "ok": True}
            try:
                analyzer.add_table(v["full_name"], analyzer.output_columns(v["sql"]))
            except grpc.RpcError as e:
                out = {"id": out["id"], "ok": False, "error": e.details()}
            print(json.dumps(out), flush=True)
        for s in data.get("statements", []):
            error = analyzer.script(s["sql"], s.get("parameters"))
            out = {"id": s["id"], "ok": error is None}
            if error:
                out["error"] = error
            print(json.dumps(out), flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
