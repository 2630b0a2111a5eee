"""``govgrid token ...``, ``govgrid audit verify``, ``govgrid serve`` and ``govgrid hub ...``,
registered through ``govgrid.commands``."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

# Registration imports nothing heavy (`govgrid --help` stays fast): the actions import the
# hub's modules when they run.
DEFAULT_AUDIENCE = "govgrid-hub"  # hub.identity.DEFAULT_AUDIENCE, checked by a test


def register_token(subparsers: argparse._SubParsersAction) -> None:
    token = subparsers.add_parser("token", help="issue signed tokens for the hub; make keys")
    actions = token.add_subparsers(dest="action", required=True, metavar="ACTION")

    issue_ = actions.add_parser("issue", help="print a token for one user of one department")
    issue_.add_argument("--department", required=True)
    issue_.add_argument("--user", required=True)
    issue_.add_argument("--province", help="two-digit GB/T 2260 province code (scope)")
    issue_.add_argument("--purpose", metavar="NAME", help="the purpose the token is issued for")
    issue_.add_argument("--expires", required=True, type=_duration, metavar="DURATION",
                        help="lifetime: 8h, 30m, 2d ...")
    issue_.add_argument("--key", required=True, metavar="HUB_KEY", help="PEM Ed25519 private key")
    issue_.add_argument("--audience", default=DEFAULT_AUDIENCE)
    issue_.set_defaults(run=_issue)

    keygen = actions.add_parser("keygen", help="write an Ed25519 key pair (private one 0600)")
    keygen.add_argument("--out", required=True, metavar="DIR")
    keygen.add_argument("--name", default="hub-key", help="file names: NAME.pem, NAME.pub.pem")
    keygen.set_defaults(run=_keygen)


def register_audit(subparsers: argparse._SubParsersAction) -> None:
    audit = subparsers.add_parser("audit", help="check the hub's audit log")
    actions = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify", help="verify the hash chain and checkpoints; exit 1 naming the first break"
    )
    verify.add_argument("directory", metavar="AUDIT_DIR")
    verify.add_argument("--key", required=True, metavar="PUB", help="PEM Ed25519 public key")
    verify.add_argument("--at-least", type=int, default=0, metavar="SEQ",
                        help="a sequence number known to be written (catches truncation)")
    verify.set_defaults(run=_verify)


def register_serve(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve", help="run the governed hub: Arrow Flight over TLS in front of the cluster",
        description="Serve SQL and the built-in jobs to analysts holding signed tokens, each "
                    "request decided by the policy, audited, and run on the closed cluster. "
                    "Without --scheduler a local, insecure cluster is started: development "
                    "only.")
    serve.add_argument("--data", required=True, metavar="DIR", help="the data directory")
    serve.add_argument("--scheduler", metavar="ADDRESS",
                       help="the closed cluster's scheduler, tls://HOST:PORT (needs --cluster-*)")
    serve.add_argument("--policy", required=True, metavar="POLICY.yaml")
    serve.add_argument("--audit", required=True, metavar="AUDIT_DIR")
    serve.add_argument("--audit-key", required=True, metavar="KEY",
                       help="PEM Ed25519 private key that signs the audit checkpoints")
    serve.add_argument("--token-key", required=True, metavar="PUB",
                       help="PEM Ed25519 public key that verifies analysts' tokens")
    serve.add_argument("--secret-file", required=True, metavar="FILE",
                       help="the pseudonym secret (at least 32 bytes)")
    serve.add_argument("--tls-cert", required=True, metavar="CERT",
                       help="the service's certificate (PEM) for its Flight endpoint")
    serve.add_argument("--tls-key", required=True, metavar="KEY")
    for name, what in (("ca", "CA certificate"), ("cert", "client certificate"),
                       ("key", "client key")):
        serve.add_argument(f"--cluster-{name}", metavar="FILE",
                           help=f"the cluster's TLS {what} (distributed's Security)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8815)
    serve.add_argument("--backend", choices=("auto", "cpu", "gpu"), default="auto")
    serve.add_argument("--audience", default=DEFAULT_AUDIENCE)
    serve.set_defaults(run=_serve)


def register_hub(subparsers: argparse._SubParsersAction) -> None:
    hub = subparsers.add_parser("hub", help="talk to a governed hub; make its certificates")
    actions = hub.add_subparsers(dest="action", required=True, metavar="ACTION")

    sql = actions.add_parser("sql", help="run SQL on the hub with your token; print or save it")
    sql.add_argument("url", metavar="URL", help="grpc+tls://HOST:PORT")
    sql.add_argument("query", metavar="QUERY")
    sql.add_argument("--token", required=True, metavar="T",
                     help="your signed token (or @FILE to read it from a file)")
    sql.add_argument("--purpose", metavar="P", help="the approved purpose of the request")
    sql.add_argument("--ca", metavar="CA", help="CA certificate (PEM) of the hub's certificate")
    sql.add_argument("--out", metavar="FILE", help="write the result: .parquet, .csv or .arrow")
    sql.set_defaults(run=_hub_sql)

    certs = actions.add_parser(
        "certs", help="write a CA and certificates for the cluster, the service and the platform")
    certs.add_argument("--out", required=True, metavar="DIR")
    certs.add_argument("--host", action="append", metavar="HOST",
                       help="a name or IP the certificates are valid for (repeat; default "
                            "127.0.0.1 and localhost)")
    certs.set_defaults(run=_hub_certs)


def _duration(text: str) -> timedelta:
    """argparse type: a positive duration such as 8h or 30m."""
    from dask.utils import parse_timedelta

    try:
        seconds = parse_timedelta(text)
    except (ValueError, KeyError) as exc:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r}") from exc
    if seconds is None or seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text!r}")
    return timedelta(seconds=seconds)


def _issue(args: argparse.Namespace) -> int:
    from hub.identity import issue, load_private_key

    print(issue(load_private_key(args.key), department=args.department, user=args.user,
                province=args.province, purpose=args.purpose, expires=args.expires,
                audience=args.audience))
    return 0


def _keygen(args: argparse.Namespace) -> int:
    from hub.identity import generate_key, write_key_pair

    private, public = write_key_pair(generate_key(), args.out, args.name)
    print(f"private key: {private} (keep it secret)\npublic key:  {public}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from hub.audit_verify import verify_log
    from hub.identity import load_public_key

    report = verify_log(args.directory, load_public_key(args.key), at_least=args.at_least)
    if not report.ok:
        print(f"govgrid audit verify: broken log: {report}", file=sys.stderr)
        return 1
    print(report)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from hub.server import open_service

    service = open_service(args)
    print(f"govgrid serve: listening on grpc+tls://{args.host}:{service.port}", flush=True)
    try:
        service.serve()
    except KeyboardInterrupt:
        pass
    finally:
        service.close()
    return 0


def _hub_sql(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hub.client import connect

    token = args.token
    if token.startswith("@"):
        token = Path(token[1:]).read_text().strip()
    with connect(args.url, token=token, ca=args.ca) as hub:
        table = hub.sql(args.query, purpose=args.purpose, as_arrow=True,
                        progress=sys.stderr.isatty())
    if args.out:
        _write_table(table, args.out)
        print(f"{table.num_rows:,} rows written to {args.out}", file=sys.stderr)
    else:
        print(table.to_pandas().to_string(index=False, max_rows=200))
    return 0


def _write_table(table, out: str) -> None:
    import pyarrow as pa
    import pyarrow.csv as csv
    import pyarrow.parquet as pq

    if out.endswith(".parquet"):
        pq.write_table(table, out)
    elif out.endswith(".csv"):
        csv.write_csv(table, out)
    elif out.endswith((".arrow", ".arrows")):
        with pa.OSFile(out, "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    else:
        raise ValueError(f"--out {out!r}: write .parquet, .csv or .arrow")


def _hub_certs(args: argparse.Namespace) -> int:
    from hub.tls import DEFAULT_HOSTS, write_certificates

    paths = write_certificates(args.out, hosts=args.host or DEFAULT_HOSTS)
    for name, path in paths.items():
        print(f"{name:<14} {path}")
    print("Scheduler and workers: --tls-ca-file ca.pem --tls-cert cluster.pem --tls-key "
          "cluster-key.pem; the service: --cluster-ca ca.pem --cluster-cert service.pem "
          "--cluster-key service-key.pem; keep ca-key.pem offline.")
    return 0
