#!/usr/bin/python3
# Managed by resilient_stack (cloud-init): Patroni's entry point on this host (the patroni unit's ExecStart).
#
# Debian bookworm's Patroni 3.0.2 renews the etcd3 leader key with an UNCONDITIONAL put whenever its cached view of
# the cluster shows it as the leader under another lease. A primary frozen past its key's ttl (a hung hypervisor, a
# live migration) wakes up with that stale view, gets a new lease, and overwrites the key of the member promoted
# meanwhile; that member demotes itself at once and the writes it acknowledged are rewound away (seen in the fire
# drill's `--fault pause`). Upstream fixed it in 3.0.3 (patroni/patroni commit 1c7bf2f5, pull request #2693): the key
# is updated only while it still names this member, or created when it is absent. This entry point applies that fix to
# Patroni 3.0.2 only (any other version starts as it is), then starts Patroni as /usr/bin/patroni does.
import sys

from patroni.version import __version__

if __version__ == "3.0.2":
    from patroni.dcs import catch_return_false_exception
    from patroni.dcs.etcd3 import Etcd3, Etcd3Error, base64_encode
    import time

    @catch_return_false_exception
    def _update_leader(self):
        retry = self._retry.copy()

        def _retry(*args, **kwargs):
            kwargs["retry"] = retry
            return retry(*args, **kwargs)

        self._run_and_handle_exceptions(self._do_refresh_lease, True, retry=_retry)
        if not self._lease:
            return False
        cluster = self.cluster
        leader = cluster.leader if cluster else None
        if getattr(leader, "session", None) == self._lease:
            return True
        retry.deadline = retry.stoptime - time.time()
        if retry.deadline < 1:
            raise Etcd3Error("update_leader timeout")
        fields = {"key": base64_encode(self.leader_path), "value": base64_encode(self._name), "lease": self._lease}
        request_put = {"request_put": fields}
        # the key still names this member: renew it under the new lease; else only if nobody holds it
        still_mine = {"key": fields["key"], "target": "VALUE", "value": fields["value"]}
        absent = {"key": fields["key"], "target": "CREATE", "create_revision": "0"}
        txn = {"compare": [still_mine], "success": [request_put],
               "failure": [{"request_txn": {"compare": [absent], "success": [request_put]}}]}
        ret = self._run_and_handle_exceptions(self._client.call_rpc, "/kv/txn", txn, retry=_retry) or {}
        return bool(ret.get("succeeded")
                    or ret.get("responses", [{}])[0].get("response_txn", {}).get("succeeded"))

    Etcd3._update_leader = _update_leader

if __name__ == "__main__":  # Patroni starts PostgreSQL through multiprocessing, which imports this file again
    from patroni.__main__ import main

    sys.exit(main())
