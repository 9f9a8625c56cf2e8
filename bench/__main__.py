"""``python -m bench`` (``make bench``): every benchmark, on one local control plane it starts.

Order: for each store size (100, 1,000, 10,000 sandboxes) the queries and mutations on one
server process, then startup (1,000 and 10,000); then the subscriptions (10, 100, 1,000
subscribers). Each table is printed as soon as it is complete; progress goes to stderr.
"""

from __future__ import annotations

import time

from bench import mutations, queries, startup, subscriptions
from bench.cluster import admin_session, started_cluster
from bench.common import Table, machine_description, progress, report, run_async
from bench.server import ServerProcess
from devcluster.cluster import free_port

STARTUP_SIZES = (1_000, 10_000)


def main() -> None:
    began = time.monotonic()
    print(machine_description(), flush=True)
    with started_cluster() as cluster:
        print(f"control plane: kube-apiserver {cluster.version}, etcd, kwok nodes", flush=True)

        async def go() -> None:
            async with admin_session(cluster):
                query_runs: list[queries.QueryRun] = []
                mutation_runs: list[mutations.MutationRun] = []
                startup_runs: list[startup.StartupRun] = []
                for size in queries.SIZES:
                    await cluster.populate(size)
                    progress(f"queries and mutations at {size:,} sandboxes")
                    server = ServerProcess(cluster.manager_kubeconfig, free_port())
                    await server.start()
                    try:
                        query_runs.append(await queries.measure(server, size))
                        mutation_runs.append(await mutations.measure(server, cluster, size))
                    finally:
                        server.stop()
                    if size in STARTUP_SIZES:
                        progress(f"startup with {size:,} sandboxes")
                        startup_runs.append(await startup.measure(cluster, size))
                report(queries.table(query_runs))
                report(mutations.table(mutation_runs))
                report(startup.table(startup_runs))
                tables: Table = await subscriptions.run(cluster)
                report(tables)

        run_async(go())
    print(f"\nall benchmarks took {(time.monotonic() - began) / 60:.1f} minutes", flush=True)


if __name__ == "__main__":
    main()
