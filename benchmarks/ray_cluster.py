"""A real multi-node Ray cluster on this one machine, every node bound to 127.0.0.1, for benchmarks of
``--runtime ray`` (``ray start`` cannot add a second node on loopback: Ray rewrites the head's loopback address).

    .venv/bin/python benchmarks/ray_cluster.py --nodes 2 --cpus 1 > /tmp/cluster_addr &   # prints HOST:PORT
    asyncrl train --algo impala --runtime ray --ray-address "$(cat /tmp/cluster_addr)" --workers 2
    kill %1                                                                               # shuts it down

It runs until SIGTERM or SIGINT, then shuts every node down.
"""

from __future__ import annotations

import argparse
import signal
import threading

from ray.cluster_utils import Cluster


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=1, help="CPUs each node offers (a runner takes one)")
    ap.add_argument("--object-store-mb", type=int, default=300)
    args = ap.parse_args()
    node = dict(num_cpus=args.cpus, node_ip_address="127.0.0.1", object_store_memory=args.object_store_mb * 1024**2)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        for _ in range(args.nodes - 1):
            cluster.add_node(**node)
        cluster.wait_for_nodes()
        print(cluster.address, flush=True)
        done.wait()
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
