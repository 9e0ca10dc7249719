# Probes a running Mosquitto for the ACL decisions of a list of cases and prints one line per
# case: "<index> <0|1>". Used by acl_mosquitto_test.cpp (run with Debian's python3-paho-mqtt).
# Every wait is bounded; a message's absence is decided by a marker published after it by the
# same client (Mosquitto keeps one publisher's order towards one subscriber).
import json
import sys
import threading

import paho.mqtt.client as mqtt

port = int(sys.argv[1])
cases = json.load(open(sys.argv[2]))
root_user, root_pass = sys.argv[3], sys.argv[4]
TIMEOUT = 5.0


class Peer:
    def __init__(self, client_id, user, password, subscribe=True):
        self.cond = threading.Condition()
        self.got = []
        self.acks = set()
        self.c = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv311)
        if user is not None:
            self.c.username_pw_set(user, password)
        self.c.on_message = self.on_message
        self.c.on_subscribe = self.on_ack
        self.c.on_publish = self.on_ack
        connected = threading.Event()
        self.c.on_connect = lambda c, u, f, rc: connected.set() if rc == 0 else None
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        if not connected.wait(TIMEOUT):
            raise SystemExit("connect failed for %r" % client_id)
        if subscribe:
            self.wait_ack(self.c.subscribe("#", 0)[1])

    def on_message(self, c, u, m):
        with self.cond:
            self.got.append(m.topic)
            self.cond.notify_all()

    def on_ack(self, c, u, mid, *rest):
        with self.cond:
            self.acks.add(mid)
            self.cond.notify_all()

    def wait_ack(self, mid):
        with self.cond:
            if not self.cond.wait_for(lambda: mid in self.acks, TIMEOUT):
                raise SystemExit("no ack")

    def publish(self, topic):
        self.wait_ack(self.c.publish(topic, b"x", qos=1).mid)

    def wait_marker(self, marker):
        # Returns the topics received before the marker, then forgets them.
        with self.cond:
            if not self.cond.wait_for(lambda: marker in self.got, TIMEOUT):
                raise SystemExit("marker %s not received" % marker)
            before = self.got[: self.got.index(marker)]
            self.got = []
            return before


root_pub = Peer("root-pub", root_user, root_pass, subscribe=False)
root_sub = Peer("root-sub", root_user, root_pass)
peers = {}
for i, case in enumerate(cases):
    key = (case["client_id"], case["user"])
    if key not in peers:
        peers[key] = Peer(case["client_id"], case["user"], case["password"])
    p = peers[key]
    # Unique per case, readable and writable by the peer through "pattern readwrite sync/%c/#".
    marker = "sync/%s/%d" % (case["client_id"], i)
    if case["access"] == "write":
        p.publish(case["topic"])
        p.publish(marker)
        seen = root_sub.wait_marker(marker)
        p.wait_marker(marker)  # drain the peer's own copies
    else:
        root_pub.publish(case["topic"])
        root_pub.publish(marker)
        seen = p.wait_marker(marker)
        root_sub.wait_marker(marker)
    print(i, 1 if case["topic"] in seen else 0, flush=True)
