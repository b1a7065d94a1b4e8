"""The key-value store of docs/service.md, in Twisted: the twin of the Rust
example amp-tokio/examples/kv.rs. `kv.py server [HOST:PORT]` serves it and
prints `LISTENING <port>`; `kv.py client HOST:PORT` stores 1,000 keys at once
and reads them back."""
import sys
from datetime import datetime, timezone

from twisted.internet import defer, endpoints, protocol, reactor, task
from twisted.protocols import amp


class NotFound(Exception):
    pass


class Put(amp.Command):
    arguments = [(b"key", amp.Unicode()), (b"value", amp.String())]


class Get(amp.Command):
    arguments = [(b"key", amp.Unicode())]
    response = [(b"value", amp.String())]
    errors = {NotFound: b"NOT_FOUND"}


class Keys(amp.Command):
    response = [(b"keys", amp.ListOf(amp.Unicode()))]


class Stats(amp.Command):
    response = [(b"count", amp.Integer()), (b"since", amp.DateTime())]


class Store(amp.AMP):
    def __init__(self, data, since):
        super().__init__()
        self.data, self.since = data, since

    @Put.responder
    def put(self, key, value):
        self.data[key] = value
        return {}

    @Get.responder
    def get(self, key):
        if key not in self.data:
            raise NotFound(key)
        return {"value": self.data[key]}

    @Keys.responder
    def keys(self):
        return {"keys": sorted(self.data)}

    @Stats.responder
    def stats(self):
        return {"count": len(self.data), "since": self.since}


@defer.inlineCallbacks
def server(reactor, address="127.0.0.1:0"):
    host, port = address.rsplit(":", 1)
    data, since = {}, datetime.now(timezone.utc)
    factory = protocol.Factory.forProtocol(lambda: Store(data, since))
    endpoint = endpoints.TCP4ServerEndpoint(reactor, int(port), interface=host)
    listening = yield endpoint.listen(factory)
    print("LISTENING", listening.getHost().port, flush=True)
    yield defer.Deferred()


@defer.inlineCallbacks
def client(reactor, address):
    host, port = address.rsplit(":", 1)
    endpoint = endpoints.TCP4ClientEndpoint(reactor, host, int(port))
    peer = yield endpoints.connectProtocol(endpoint, amp.AMP())
    puts = [peer.callRemote(Put, key=f"k{i:03}", value=f"v{i}".encode()) for i in range(1000)]
    yield defer.gatherResults(puts, consumeErrors=True)
    answer = yield peer.callRemote(Get, key="k007")
    print("k007 =", answer["value"].decode())
    try:
        yield peer.callRemote(Get, key="nope")
        raise RuntimeError("expected NOT_FOUND")
    except NotFound as e:
        print(f"{e.args[0]}: NOT_FOUND")
    answer = yield peer.callRemote(Keys).addTimeout(5, reactor)
    keys = answer["keys"]
    print(f"{len(keys)} keys, from {keys[0]} to {keys[-1]}")
    stats = yield peer.callRemoteString(b"Stats")
    print("count", stats[b"count"].decode())
    peer.transport.loseConnection()


if __name__ == "__main__":
    task.react({"server": server, "client": client}[sys.argv[1]], sys.argv[2:])
