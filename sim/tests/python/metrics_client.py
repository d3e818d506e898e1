"""The Python `kubernetes` client against metrics.k8s.io, as a dashboard or script would use it.

Called by the Rust integration tests; prints one JSON object per line so they can check it.

  watch --kubeconfig F --plural pods --seconds S     events of a watch stream, until S seconds pass
  page  --kubeconfig F --plural pods --limit N --pause P   a paged list, P seconds between pages
  list  --kubeconfig F --version V --plural P [--namespace NS] [--selector S]   one list
  get   --kubeconfig F --version V --plural P [--namespace NS] --name N         one object
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


def summary(obj):
    meta = obj.get("metadata", {})
    return {
        "kind": obj.get("kind"),
        "apiVersion": obj.get("apiVersion"),
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "labels": meta.get("labels", {}),
        "usage": obj.get("usage"),
        "containers": obj.get("containers"),
    }


def do_list(args):
    objects = api(args.kubeconfig)
    kwargs = {}
    if args.selector:
        kwargs["label_selector"] = args.selector
    if args.namespace:
        got = objects.list_namespaced_custom_object(
            GROUP, args.version, args.namespace, args.plural, **kwargs
        )
    else:
        got = objects.list_cluster_custom_object(GROUP, args.version, args.plural, **kwargs)
    print(
        json.dumps(
            {
                "kind": got.get("kind"),
                "apiVersion": got.get("apiVersion"),
                "rv": got.get("metadata", {}).get("resourceVersion"),
                "items": [summary(i) for i in got.get("items", [])],
            }
        ),
        flush=True,
    )


def do_get(args):
    objects = api(args.kubeconfig)
    if args.namespace:
        got = objects.get_namespaced_custom_object(
            GROUP, args.version, args.namespace, args.plural, args.name
        )
    else:
        got = objects.get_cluster_custom_object(GROUP, args.version, args.plural, args.name)
    print(json.dumps(summary(got)), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["watch", "page", "list", "get"])
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--version", default="v1beta1")
    p.add_argument("--plural", default="pods")
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--pause", type=float, default=0.0)
    p.add_argument("--namespace", default="")
    p.add_argument("--selector", default="")
    p.add_argument("--name", default="")
    args = p.parse_args()
    {"watch": do_watch, "page": do_page, "list": do_list, "get": do_get}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
