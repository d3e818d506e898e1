"""The Python `kubernetes` client against metrics.k8s.io, as a dashboard or script would use it.

Called by the Rust integration tests; prints one JSON object per line so they can check it.

  watch --kubeconfig F --plural pods --seconds S     events of a watch stream, until S seconds pass
  page  --kubeconfig F --plural pods --limit N --pause P   a paged list, P seconds between pages
"""

import argparse
import json
import sys
import time

from kubernetes import client, config, watch

GROUP = "metrics.k8s.io"


def api(kubeconfig):
    config.load_kube_config(config_file=kubeconfig)
    return client.CustomObjectsApi()


def do_watch(args):
    objects = api(args.kubeconfig)
    w = watch.Watch()
    deadline = time.time() + args.seconds
    for event in w.stream(
        objects.list_cluster_custom_object,
        GROUP,
        args.version,
        args.plural,
        timeout_seconds=int(args.seconds),
    ):
        obj = event["object"]
        meta = obj.get("metadata", {})
        print(
            json.dumps(
                {
                    "type": event["type"],
                    "name": meta.get("name"),
                    "namespace": meta.get("namespace"),
                    "rv": meta.get("resourceVersion"),
                }
            ),
            flush=True,
        )
        if time.time() > deadline:
            w.stop()


def do_page(args):
    objects = api(args.kubeconfig)
    token = None
    while True:
        kwargs = {"limit": args.limit}
        if token:
            kwargs["_continue"] = token
        page = objects.list_cluster_custom_object(GROUP, args.version, args.plural, **kwargs)
        meta = page.get("metadata", {})
        print(
            json.dumps(
                {
                    "rv": meta.get("resourceVersion"),
                    "remaining": meta.get("remainingItemCount"),
                    "items": [
                        [
                            i["metadata"].get("namespace"),
                            i["metadata"]["name"],
                            i["metadata"]["resourceVersion"],
                        ]
                        for i in page.get("items", [])
                    ],
                }
            ),
            flush=True,
        )
        token = meta.get("continue")
        if not token:
            break
        time.sleep(args.pause)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["watch", "page"])
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--version", default="v1beta1")
    p.add_argument("--plural", default="pods")
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--pause", type=float, default=0.0)
    args = p.parse_args()
    if args.mode == "watch":
        do_watch(args)
    else:
        do_page(args)


if __name__ == "__main__":
    sys.exit(main())
